#!/usr/bin/env node
// Oracle for relance/lib/sms_text.py: Twilio's sms-segments-calculator, which nobody on the
// team wrote. One JSON object per line on stdin: {"text": "...", "smart": false}; one answer per
// line on stdout: {"encoding", "segments", "parts": [text of each segment], "bits": message size without headers,
// "lastFreeBits": free bits in the last segment, "graphemes": [UTF-16 length of each grapheme
// cluster], "nonGsm": [graphemes], and with "smart": true also "smart": the text after Twilio's
// Smart Encoding}. The library is O(n²) (about 10 ms for 450 characters): ask only what you need.
// A bad line gets {"error": "..."} so the caller never waits forever.
'use strict';

const readline = require('readline');
const { SegmentedMessage } = require('sms-segments-calculator');

function partText(segment) {
  // A segment holds EncodedChar objects (with .raw) and UserDataHeader placeholders (without).
  // Array.from: Segment subclasses Array, and its species constructor would add placeholders back.
  return Array.from(segment).filter((item) => typeof item.raw === 'string').map((item) => item.raw).join('');
}

function answer(text, withSmart) {
  const message = new SegmentedMessage(text, 'auto');
  const out = {
    encoding: message.encodingName,
    segments: message.segmentsCount,
    parts: message.segments.map(partText),
    bits: message.messageSize,
    lastFreeBits: message.segments[message.segments.length - 1].freeSizeInBits(),
    graphemes: message.graphemes.map((g) => g.length),
    nonGsm: message.getNonGsmCharacters(),
  };
  if (withSmart) {
    out.smart = new SegmentedMessage(text, 'auto', true).graphemes.join('');
  }
  return out;
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
lines.on('line', (line) => {
  let out;
  try {
    const question = JSON.parse(line);
    out = answer(question.text, Boolean(question.smart));
  } catch (err) {
    out = { error: String(err && err.stack ? err.stack : err) };
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
});
