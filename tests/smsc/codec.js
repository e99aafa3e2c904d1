'use strict';
// What the simulator needs from the `smpp` package beyond its defaults, and the text helpers.
//
// The package decodes short_message / message_payload into text through its own GSM table, which
// loses the bytes our tests must check (UDH, GSM escapes, UCS-2): the simulator keeps them raw.
// It also parses validity times into Date objects on every submit_sm, work we never look at.
const smpp = require('smpp');

const raw = {encode: (value) => value, decode: (value) => value};

function keepRaw() {
  for (const command of ['submit_sm', 'deliver_sm']) {
    const params = smpp.commands[command].params;
    params.short_message.filter = raw;
    params.schedule_delivery_time.filter = raw;
    params.validity_period.filter = raw;
  }
  smpp.tlvs.message_payload.filter = raw;
}

// GSM 03.38 default alphabet, one septet per octet (how SMPP carries data_coding 0 unpacked).
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENDED = {'\f': 0x0a, '^': 0x14, '{': 0x28, '}': 0x29, '\\': 0x2f, '[': 0x3c, '~': 0x3d,
  ']': 0x3e, '|': 0x40, '€': 0x65};

function gsmEncode(text) {
  const out = [];
  for (const char of text) {
    const basic = GSM_BASIC.indexOf(char);
    if (basic >= 0 && char !== '\x1b') {
      out.push(basic);
    } else if (char in GSM_EXTENDED) {
      out.push(0x1b, GSM_EXTENDED[char]);
    } else {
      return null;
    }
  }
  return Buffer.from(out);
}

function ucs2Encode(text) {
  const le = Buffer.from(text, 'utf16le');
  return le.swap16();
}

// {bytes, data_coding} for an MO text: GSM-7 when it fits (or when asked), UCS-2 otherwise.
function encodeText(text, dataCoding) {
  if (dataCoding === 8) {
    return {bytes: ucs2Encode(text), dataCoding: 8};
  }
  if (dataCoding === 3) {
    return {bytes: Buffer.from(text, 'latin1'), dataCoding: 3};
  }
  const gsm = gsmEncode(text);
  if (gsm) {
    return {bytes: gsm, dataCoding: dataCoding || 0};
  }
  if (dataCoding === 0) {
    throw new Error('text is not in the GSM 03.38 alphabet; use data_coding 8');
  }
  return {bytes: ucs2Encode(text), dataCoding: 8};
}

// The receipt's "text:" field: the first 20 octets, printable ASCII only (what SMSCs echo varies).
function receiptText(bytes) {
  let text = '';
  const end = Math.min(bytes ? bytes.length : 0, 20);
  for (let i = 0; i < end; i++) {
    const octet = bytes[i];
    text += octet >= 0x20 && octet < 0x7f ? String.fromCharCode(octet) : '.';
  }
  return text;
}

module.exports = {smpp, keepRaw, encodeText, receiptText};
