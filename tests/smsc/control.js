'use strict';
// The HTTP control API the Python harness (relance/providers/testing/smsc.py) steers the simulator
// with. JSON in, JSON out; a wrong call answers 400 with {"error": ...} so that a test fails loudly.
const http = require('http');

function routes(smsc) {
  return {
    'GET /stats': (body, query) => smsc.snapshot(Number(query.get('since') || 0)),
    'GET /messages': (body, query) => ({
      submits: smsc.stats.submits, messages: smsc.messages(Number(query.get('since') || 0)),
    }),
    'GET /tally': () => smsc.tallies(),
    'GET /behaviour': () => smsc.behaviour.current,
    'POST /behaviour': (body) => {
      smsc.behaviour.merge(body);
      return smsc.behaviour.current;
    },
    'POST /mo': (body) => smsc.mo(body),
    'POST /drop': () => ({dropped: smsc.drop()}),
    'POST /down': (body) => {
      const seconds = Number(body.seconds);
      if (!(seconds > 0)) {
        throw new Error('seconds must be a positive number');
      }
      return {dropped: smsc.down(seconds), seconds};
    },
    'POST /up': async () => {
      await smsc.up();
      return {listening: smsc.listening};
    },
    'POST /reset': async (body) => {
      smsc.reset(body.keep_connections === true);
      await smsc.up();
      return {reset: true};
    },
  };
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text ? JSON.parse(text) : {});
      } catch (error) {
        reject(new Error(`invalid JSON: ${error.message}`));
      }
    });
    request.on('error', reject);
  });
}

function createControl(smsc) {
  const table = routes(smsc);
  return http.createServer(async (request, response) => {
    const url = new URL(request.url, 'http://control');
    const handler = table[`${request.method} ${url.pathname}`];
    let status = 200;
    let result;
    if (!handler) {
      status = 404;
      result = {error: `no route ${request.method} ${url.pathname}`};
    } else {
      try {
        result = await handler(await readBody(request), url.searchParams);
      } catch (error) {
        status = 400;
        result = {error: error.message};
      }
    }
    const payload = JSON.stringify(result);
    response.writeHead(status, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload)});
    response.end(payload);
  });
}

module.exports = {createControl};
