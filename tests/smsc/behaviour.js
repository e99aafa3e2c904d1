'use strict';
// The simulator's steerable behaviour: defaults, validation of POST /behaviour, and the decisions
// taken per submit_sm (which status to answer, which receipt to send).

const STATES = {DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8};
const FORMATS = ['full', 'minimal', 'tlv_only'];
const ESME_RTHROTTLED = 0x58;

function defaults() {
  return {
    receipts: true,
    receipt_delay_ms: 0,
    receipt_format: 'full',
    receipt_status: 'DELIVRD',
    // destination prefix -> "UNDELIV" or {"status": "UNDELIV", "err": "001"}
    receipt_destinations: {},
    throttle_next: 0,
    // [{"status": 11, "count": 2}], consumed in order
    error_next: [],
    // destination prefix -> command_status
    error_destinations: {},
    delay_ms: 0,
    // null, or N: N more submit_sm are answered, the next one closes the connection unanswered
    drop_after: null,
  };
}

const CHECKS = {
  receipts: (v) => typeof v === 'boolean',
  receipt_delay_ms: (v) => Number.isInteger(v) && v >= 0,
  receipt_format: (v) => FORMATS.includes(v),
  receipt_status: (v) => v in STATES,
  receipt_destinations: (v) => isObject(v) && Object.values(v).every(
    (o) => (typeof o === 'string' ? o : o && o.status) in STATES),
  throttle_next: (v) => Number.isInteger(v) && v >= 0,
  error_next: (v) => Array.isArray(v) && v.every(
    (e) => isObject(e) && Number.isInteger(e.status) && e.status > 0 && Number.isInteger(e.count ?? 1)),
  error_destinations: (v) => isObject(v) && Object.values(v).every((s) => Number.isInteger(s) && s > 0),
  delay_ms: (v) => Number.isInteger(v) && v >= 0,
  drop_after: (v) => v === null || (Number.isInteger(v) && v >= 0),
};

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// Numbers travel as "+33612345678" in our API and "33612345678" in SMPP (TON 1): compare without "+".
function bare(address) {
  return String(address || '').replace(/^\+/, '');
}

function byPrefix(table) {
  const entries = Object.entries(table).map(([prefix, value]) => [bare(prefix), value]);
  // Longest prefix first, so "337999" can override "33799".
  return entries.sort((a, b) => b[0].length - a[0].length);
}

class Behaviour {
  constructor() {
    this.reset();
  }

  reset() {
    this.current = defaults();
    this.compile();
  }

  // Merge a POST /behaviour body; throws with the offending key so that a typo fails the test.
  merge(changes) {
    if (!isObject(changes)) {
      throw new Error('the body must be a JSON object');
    }
    for (const [key, value] of Object.entries(changes)) {
      if (!(key in CHECKS)) {
        throw new Error(`unknown behaviour key: ${key}`);
      }
      if (!CHECKS[key](value)) {
        throw new Error(`invalid value for ${key}: ${JSON.stringify(value)}`);
      }
    }
    Object.assign(this.current, JSON.parse(JSON.stringify(changes)));
    this.current.error_next = this.current.error_next.map((e) => ({status: e.status, count: e.count ?? 1}));
    this.compile();
  }

  compile() {
    this.errorPrefixes = byPrefix(this.current.error_destinations);
    this.receiptPrefixes = byPrefix(this.current.receipt_destinations);
  }

  // The command_status a submit_sm gets (0: accepted), consuming one-shot injections.
  statusFor(destination) {
    const b = this.current;
    if (b.throttle_next > 0) {
      b.throttle_next -= 1;
      return ESME_RTHROTTLED;
    }
    if (b.error_next.length) {
      const next = b.error_next[0];
      next.count -= 1;
      if (next.count <= 0) {
        b.error_next.shift();
      }
      return next.status;
    }
    if (this.errorPrefixes.length) {
      const hit = match(this.errorPrefixes, destination);
      if (hit !== undefined) {
        return hit;
      }
    }
    return 0;
  }

  // True when this submit must close the connection instead of being answered (drop_after).
  dropNow() {
    const b = this.current;
    if (b.drop_after === null) {
      return false;
    }
    if (b.drop_after === 0) {
      b.drop_after = null;
      return true;
    }
    b.drop_after -= 1;
    return false;
  }

  // {stat, err, state} for the receipt of a message to `destination`.
  outcomeFor(destination) {
    let stat = this.current.receipt_status;
    let err = null;
    if (this.receiptPrefixes.length) {
      const hit = match(this.receiptPrefixes, destination);
      if (hit !== undefined) {
        stat = typeof hit === 'string' ? hit : hit.status;
        err = typeof hit === 'string' ? null : hit.err ?? null;
      }
    }
    if (err === null) {
      err = stat === 'DELIVRD' ? '000' : '001';
    }
    return {stat, err: String(err).padStart(3, '0'), state: STATES[stat]};
  }
}

function match(prefixes, destination) {
  const number = bare(destination);
  for (const [prefix, value] of prefixes) {
    if (number.startsWith(prefix)) {
      return value;
    }
  }
  return undefined;
}

module.exports = {Behaviour, bare};
