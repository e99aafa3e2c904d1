'use strict';
// The SMPP side of the simulator: binds, submit_sm, delivery receipts, MO, drops and outages.
// Hot path (submit_sm): a counter, a ring slot, one response and at most one deliver_sm. Nothing
// is formatted or logged per message; GET /stats formats the ring on demand.
const {smpp, encodeText, receiptText} = require('./codec');
const {Behaviour, bare} = require('./behaviour');

const RING = 2000;
const MO_TIMEOUT_MS = 5000;
const RECEIPT_RETRY_MS = 500;
const RECEIPT_ATTEMPTS = 5;
const BINDS = {bind_transmitter: 'transmitter', bind_receiver: 'receiver', bind_transceiver: 'transceiver'};
const ESME_RINVBNDSTS = 0x04;
const ESME_RALYBND = 0x05;
const ESME_RBINDFAIL = 0x0d;

function counters() {
  return {
    binds: 0, bind_failures: 0, submits: 0, accepted: 0, throttled: 0, errors: 0, dropped: 0,
    unanswered: 0, receipts_sent: 0, receipts_acked: 0, receipts_nacked: 0, receipts_requeued: 0,
    mo_sent: 0, mo_acked: 0,
  };
}

class Smsc {
  constructor({systemId = null, password = null, host = '127.0.0.1'} = {}) {
    this.auth = {systemId, password};
    this.host = host;
    this.port = null;
    this.listening = false;
    this.behaviour = new Behaviour();
    this.sessions = new Set();
    // Message ids keep growing across resets: a late receipt from an earlier test never names a
    // message of the current one.
    this.nextId = Math.floor(Math.random() * 0xffffffff) * 0x100;
    this.downTimer = null;
    this.reset();
    this.server = smpp.createServer((session) => this.attach(session));
  }

  // keepConnections: a long-lived client (Jasmin's connector) stays bound across tests.
  reset(keepConnections = false) {
    // Timers and closing connections of the previous test carry the old epoch and are ignored.
    this.epoch = (this.epoch || 0) + 1;
    this.behaviour.reset();
    this.stats = counters();
    this.ring = new Array(RING);
    // Every submit_sm since the last reset, per destination (GET /tally): the ring keeps only the
    // last RING, the fault-injection tests count each message's copies over tens of thousands.
    this.tally = new Map();
    this.acceptedTally = new Map();
    this.lastAt = new Map();  // destination → time of its last submit_sm (ms since the epoch)
    this.pending = [];
    if (!keepConnections) {
      this.drop();
    }
  }

  listen(port) {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.host, () => {
        this.server.removeListener('error', reject);
        this.port = this.server.address().port;
        this.listening = true;
        resolve(this.port);
      });
    });
  }

  attach(session) {
    session.socket.setNoDelay(true);
    session.bound = false;
    session.mode = null;
    session.systemId = null;
    session.outstanding = new Map();
    this.sessions.add(session);
    session.on('pdu', (pdu) => this.dispatch(session, pdu));
    // A reset peer or a malformed PDU ends this connection only, never the simulator.
    session.on('error', () => session.destroy());
    session.on('close', () => this.detach(session));
  }

  detach(session) {
    this.sessions.delete(session);
    session.bound = false;
    for (const entry of session.outstanding.values()) {
      if (entry.receipt && entry.receipt.epoch === this.epoch) {
        // Never acknowledged: a real SMSC keeps the receipt and delivers it on the next bind.
        this.stats.receipts_requeued += 1;
        this.pending.push(entry.receipt);
      } else if (entry.done) {
        entry.done({delivered: false, reason: 'connection closed before deliver_sm_resp'});
      }
    }
    session.outstanding.clear();
    // Another session of the same system_id that can receive takes them now, as a real SMSC
    // retries on any bind it holds (else they wait for the next bind).
    const other = session.systemId === null ? null : this.receiverFor(session.systemId);
    if (other && this.pending.length) {
      this.flushPending(other);
    }
  }

  dispatch(session, pdu) {
    const command = pdu.command;
    if (command === 'submit_sm') {
      this.submit(session, pdu);
    } else if (command === 'enquire_link') {
      session.send(pdu.response());
    } else if (command in BINDS) {
      this.bind(session, pdu, BINDS[command]);
    } else if (command === 'unbind') {
      session.send(pdu.response(), () => session.close());
      session.bound = false;
    } else if (command === 'unknown') {
      session.send(pdu.response());
    } else if (!pdu.isResponse()) {
      session.send(pdu.response({command_status: 0x03}));  // ESME_RINVCMDID
    }
  }

  bind(session, pdu, mode) {
    if (session.bound) {
      session.send(pdu.response({command_status: ESME_RALYBND}));
      return;
    }
    const {systemId, password} = this.auth;
    if ((systemId !== null && pdu.system_id !== systemId) || (password !== null && pdu.password !== password)) {
      this.stats.bind_failures += 1;
      session.send(pdu.response({command_status: ESME_RBINDFAIL}));
      return;
    }
    session.bound = true;
    session.mode = mode;
    session.systemId = pdu.system_id;
    this.stats.binds += 1;
    session.send(pdu.response({system_id: 'RELANCESIM'}));
    if (mode !== 'transmitter') {
      this.flushPending(session);
    }
  }

  submit(session, pdu) {
    if (!session.bound || session.mode === 'receiver') {
      session.send(pdu.response({command_status: ESME_RINVBNDSTS}));
      return;
    }
    const record = {
      index: this.stats.submits, epoch: this.epoch, pdu, systemId: session.systemId, id: null, status: null,
    };
    this.ring[record.index % RING] = record;
    this.stats.submits += 1;
    const destination = pdu.destination_addr;
    this.tally.set(destination, (this.tally.get(destination) || 0) + 1);
    this.lastAt.set(destination, Date.now());
    if (this.behaviour.dropNow()) {
      record.status = 'dropped';
      this.stats.dropped += 1;
      session.destroy();
      return;
    }
    const status = this.behaviour.statusFor(pdu.destination_addr);
    const delay = this.behaviour.current.delay_ms;
    if (delay > 0) {
      setTimeout(() => this.answer(session, pdu, record, status), delay);
    } else {
      this.answer(session, pdu, record, status);
    }
  }

  answer(session, pdu, record, status) {
    if (record.epoch !== this.epoch) {
      return;
    }
    if (session.socket.destroyed) {
      record.status = 'unanswered';
      this.stats.unanswered += 1;
      return;
    }
    record.command_status = status;
    if (status !== 0) {
      record.status = status === 0x58 ? 'throttled' : 'error';
      this.stats[status === 0x58 ? 'throttled' : 'errors'] += 1;
      session.send(pdu.response({command_status: status}));
      return;
    }
    record.id = (this.nextId++).toString(16);
    record.status = 'accepted';
    this.stats.accepted += 1;
    const destination = pdu.destination_addr;
    this.acceptedTally.set(destination, (this.acceptedTally.get(destination) || 0) + 1);
    session.send(pdu.response({message_id: record.id}));
    if ((pdu.registered_delivery & 1) && this.behaviour.current.receipts) {
      const receipt = this.receiptFor(record);
      const wait = this.behaviour.current.receipt_delay_ms;
      if (wait > 0) {
        setTimeout(() => this.deliverReceipt(session, receipt), wait);
      } else {
        this.deliverReceipt(session, receipt);
      }
    }
  }

  receiptFor(record) {
    const pdu = record.pdu;
    const outcome = this.behaviour.outcomeFor(pdu.destination_addr);
    const format = this.behaviour.current.receipt_format;
    const date = minuteStamp();
    let text = '';
    if (format === 'full') {
      const dlvrd = outcome.stat === 'DELIVRD' ? '001' : '000';
      const body = pdu.short_message && pdu.short_message.length ? pdu.short_message : pdu.message_payload;
      text = `id:${record.id} sub:001 dlvrd:${dlvrd} submit date:${date} done date:${date} ` +
        `stat:${outcome.stat} err:${outcome.err} text:${receiptText(body)}`;
    } else if (format === 'minimal') {
      text = `id:${record.id} stat:${outcome.stat} err:${outcome.err}`;
    }
    return {
      id: record.id, epoch: record.epoch, systemId: record.systemId, state: outcome.state, text, attempts: 0,
      handset: pdu.destination_addr, handsetTon: pdu.dest_addr_ton, handsetNpi: pdu.dest_addr_npi,
      sender: pdu.source_addr, senderTon: pdu.source_addr_ton, senderNpi: pdu.source_addr_npi,
    };
  }

  // To the session that submitted when it can receive, else another receiver of the same system_id,
  // else kept until one binds.
  deliverReceipt(preferred, receipt) {
    if (receipt.epoch !== this.epoch) {
      return;
    }
    const target = canReceive(preferred, receipt.systemId) ? preferred : this.receiverFor(receipt.systemId);
    if (!target) {
      this.pending.push(receipt);
      return;
    }
    const pdu = new smpp.PDU('deliver_sm', {
      source_addr_ton: receipt.handsetTon, source_addr_npi: receipt.handsetNpi, source_addr: receipt.handset,
      dest_addr_ton: receipt.senderTon, dest_addr_npi: receipt.senderNpi, destination_addr: receipt.sender,
      esm_class: 0x04, data_coding: 0, short_message: Buffer.from(receipt.text, 'latin1'),
      receipted_message_id: receipt.id, message_state: receipt.state,
    });
    if (!target.send(pdu, (resp) => this.receiptAnswered(target, pdu, receipt, resp))) {
      this.pending.push(receipt);
      return;
    }
    receipt.attempts += 1;
    this.stats.receipts_sent += 1;
    target.outstanding.set(pdu.sequence_number, {receipt});
  }

  receiptAnswered(session, pdu, receipt, resp) {
    session.outstanding.delete(pdu.sequence_number);
    if (receipt.epoch !== this.epoch) {
      return;
    }
    if (resp.command_status === 0) {
      this.stats.receipts_acked += 1;
      return;
    }
    // A refused receipt is offered again a little later, as an SMSC retries (bounded here).
    this.stats.receipts_nacked += 1;
    if (receipt.attempts < RECEIPT_ATTEMPTS) {
      setTimeout(() => this.deliverReceipt(session, receipt), RECEIPT_RETRY_MS);
    }
  }

  flushPending(session) {
    const waiting = this.pending;
    this.pending = [];
    for (const receipt of waiting) {
      if (receipt.systemId === session.systemId) {
        this.deliverReceipt(session, receipt);
      } else {
        this.pending.push(receipt);
      }
    }
  }

  receiverFor(systemId) {
    let found = null;
    for (const session of this.sessions) {
      if (canReceive(session, systemId === undefined ? session.systemId : systemId)) {
        found = session;  // the most recently connected wins
      }
    }
    return found;
  }

  // POST /mo: a deliver_sm (esm_class 0) to a bound receiver; resolves once it is answered.
  mo(body) {
    const target = this.receiverFor(body.system_id);
    if (!target) {
      return Promise.resolve({delivered: false, reason: 'no receiver or transceiver session is bound'});
    }
    const options = moOptions(body);
    const pdu = new smpp.PDU('deliver_sm', options);
    this.stats.mo_sent += 1;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        target.outstanding.delete(pdu.sequence_number);
        resolve({delivered: false, reason: `no deliver_sm_resp within ${MO_TIMEOUT_MS / 1000} s`});
      }, MO_TIMEOUT_MS);
      const done = (result) => {
        clearTimeout(timer);
        resolve(result);
      };
      const sent = target.send(pdu, (resp) => {
        target.outstanding.delete(pdu.sequence_number);
        if (resp.command_status === 0) {
          this.stats.mo_acked += 1;
        }
        done({delivered: resp.command_status === 0, command_status: resp.command_status,
          system_id: target.systemId, data_coding: options.data_coding});
      });
      if (sent) {
        target.outstanding.set(pdu.sequence_number, {done});
      } else {
        done({delivered: false, reason: 'the connection is not writable'});
      }
    });
  }

  drop() {
    const count = this.sessions.size;
    for (const session of this.sessions) {
      session.destroy();
    }
    return count;
  }

  // Stop listening for `seconds` (connections refused), then listen again on the same port.
  down(seconds) {
    const dropped = this.drop();
    clearTimeout(this.downTimer);
    if (this.listening) {
      this.listening = false;
      this.server.close();
    }
    this.downTimer = setTimeout(() => this.up(), seconds * 1000);
    return dropped;
  }

  async up() {
    clearTimeout(this.downTimer);
    this.downTimer = null;
    if (!this.listening) {
      await this.listen(this.port);
    }
  }

  snapshot(since = 0) {
    const bound = [...this.sessions].filter((s) => s.bound);
    return {
      ...this.stats,
      bound: bound.length,
      sessions: bound.map((s) => ({system_id: s.systemId, mode: s.mode})),
      connections: this.sessions.size,
      listening: this.listening,
      receipts_pending: this.pending.length,
      messages: this.messages(since),
    };
  }

  // {submits: {destination: n}, accepted: {destination: n}, last_at: {destination: ms}} since the
  // last reset; a multipart message counts once per part.
  tallies() {
    return {submits: Object.fromEntries(this.tally), accepted: Object.fromEntries(this.acceptedTally),
      last_at: Object.fromEntries(this.lastAt)};
  }

  messages(since = 0) {
    const first = Math.max(since, this.stats.submits - RING, 0);
    const out = [];
    for (let index = first; index < this.stats.submits; index++) {
      out.push(describe(this.ring[index % RING]));
    }
    return out;
  }
}

function canReceive(session, systemId) {
  return session && session.bound && session.mode !== 'transmitter' && !session.socket.destroyed &&
    session.systemId === systemId;
}

function address(value) {
  const text = String(value || '');
  if (/^\+?\d+$/.test(text)) {
    return {addr: bare(text), ton: text.startsWith('+') ? 1 : 0, npi: 1};
  }
  return {addr: text, ton: 5, npi: 0};  // alphanumeric
}

function moOptions(body) {
  const source = address(body.source);
  const destination = address(body.destination);
  let bytes;
  let dataCoding = body.data_coding;
  if (body.short_message_hex !== undefined) {
    bytes = Buffer.from(body.short_message_hex, 'hex');
    dataCoding = dataCoding ?? 0;
  } else {
    ({bytes, dataCoding} = encodeText(String(body.text ?? ''), dataCoding));
  }
  const options = {
    source_addr_ton: source.ton, source_addr_npi: source.npi, source_addr: source.addr,
    dest_addr_ton: destination.ton, dest_addr_npi: destination.npi, destination_addr: destination.addr,
    esm_class: body.esm_class ?? 0, data_coding: dataCoding,
  };
  // Over 254 octets does not fit short_message: message_payload carries it (or when asked).
  if (body.payload || bytes.length > 254) {
    options.short_message = Buffer.alloc(0);
    options.message_payload = bytes;
  } else {
    options.short_message = bytes;
  }
  return options;
}

function hex(buffer) {
  return buffer ? Buffer.from(buffer).toString('hex') : '';
}

function describe(record) {
  const pdu = record.pdu;
  const out = {
    index: record.index, id: record.id, status: record.status, command_status: record.command_status ?? null,
    system_id: record.systemId, source_addr: pdu.source_addr, source_addr_ton: pdu.source_addr_ton,
    source_addr_npi: pdu.source_addr_npi, destination_addr: pdu.destination_addr,
    dest_addr_ton: pdu.dest_addr_ton, dest_addr_npi: pdu.dest_addr_npi, data_coding: pdu.data_coding,
    esm_class: pdu.esm_class, registered_delivery: pdu.registered_delivery,
    short_message_hex: hex(pdu.short_message),
  };
  const body = pdu.short_message && pdu.short_message.length ? pdu.short_message : pdu.message_payload;
  if ((pdu.esm_class & 0x40) && body && body.length) {
    out.udh_hex = hex(body.subarray(0, body[0] + 1));
  }
  for (const tlv of ['sar_msg_ref_num', 'sar_total_segments', 'sar_segment_seqnum']) {
    if (pdu[tlv] !== undefined) {
      out[tlv] = pdu[tlv];
    }
  }
  if (pdu.message_payload !== undefined) {
    out.message_payload_hex = hex(pdu.message_payload);
  }
  return out;
}

// YYMMDDhhmm (UTC), recomputed once a minute at most.
let stampMinute = -1;
let stampText = '';
function minuteStamp() {
  const minute = Math.floor(Date.now() / 60000);
  if (minute !== stampMinute) {
    stampMinute = minute;
    stampText = new Date(minute * 60000).toISOString().replace(/[-T:]/g, '').slice(2, 12);
  }
  return stampText;
}

module.exports = {Smsc};
