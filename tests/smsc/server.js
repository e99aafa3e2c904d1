'use strict';
// SMPP 3.4 SMSC simulator for Relance's tests. Usage:
//   node tests/smsc/server.js --port 2775 --control-port 2776 [--host 127.0.0.1]
//                             [--system-id ID] [--password PW]
// Port 0 picks a free port. One line on stdout once both ports listen (the harness waits for it):
//   smsc-simulator listening smpp=<port> control=<port>
// Nothing else is printed per message: the simulator must sustain thousands of submit_sm per second.
const {keepRaw} = require('./codec');
const {Smsc} = require('./smsc');
const {createControl} = require('./control');

function parseArgs(argv) {
  const options = {port: 2775, controlPort: 2776, host: '127.0.0.1', systemId: null, password: null};
  const names = {'--port': 'port', '--control-port': 'controlPort', '--host': 'host',
    '--system-id': 'systemId', '--password': 'password'};
  for (let i = 0; i < argv.length; i += 2) {
    const name = names[argv[i]];
    if (!name || argv[i + 1] === undefined) {
      throw new Error(`unknown or incomplete option: ${argv[i]}`);
    }
    options[name] = argv[i + 1];
  }
  options.port = Number(options.port);
  options.controlPort = Number(options.controlPort);
  return options;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  keepRaw();
  const smsc = new Smsc(options);
  const port = await smsc.listen(options.port);
  const control = createControl(smsc);
  await new Promise((resolve) => control.listen(options.controlPort, options.host, resolve));
  process.stdout.write(`smsc-simulator listening smpp=${port} control=${control.address().port}\n`);
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  process.stderr.write(`smsc-simulator: ${error.message}\n`);
  process.exit(1);
});
