"""Issue 9, hostile input: hypothesis on every parser of what comes from outside.

Properties: a parser raises nothing but its documented error (no IndexError, KeyError,
UnicodeError, OverflowError...); it round-trips where a writer exists; normalising is idempotent;
what must be refused is refused. The parsers' own test modules already cover some of it (random
bytes to read_table, clean_phone, keyword normalisation, seal/open and sign/verify round trips): this
file adds what they do not, the CSV header/cell/date round trips and the import of hostile dates, the
library's to_e164, keywords under an organisation's hostile configuration, the SMPP receipt text and
TLVs, every vendor's receipts and inbound parsers and signature checks, the outgoing webhook
signature's refusals, and the master keyring parser.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import string
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from relance.imports import csv_import
from relance.imports.csv_import import ALIASES, FIELDS, FileRefused, map_header, normalise_header, read_table
from relance.imports.rows import parse_date, parse_when
from relance.lib import crypto
from relance.lib.phone import PhoneError, to_e164
from relance.messaging import keywords
from relance.providers.base import Inbound, Receipt, WebhookRequest
from relance.providers.kinds import adapter
from relance.providers.smpp import pdu
from relance.providers.smpp import receipts as smpp
from relance.webhooks import signing
from tests.reliability.scale import scale

EXAMPLES = scale(100, 2000)
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
SOME = settings(max_examples=max(EXAMPLES // 4, 20), deadline=None, suppress_health_check=list(HealthCheck),
                database=None)

# Text that hurts: controls, NUL, surrogates are impossible in str but lone combining marks,
# bidi overrides, BOMs and every kind of space are not.
NASTY = st.sampled_from(["\x00", "\ufeff", "\u202e", "\u0301", "\u00a0", "\u2028", "\r", "\n", "\t", '"', ";", ",",
                         "'", "\\", "é", "ß", "İ", "ﬀ", "🙂", "𝟘", "٣", "²", "%", "{", "}", "[", "]", ":", "="])
hostile_text = st.one_of(st.text(max_size=60), st.lists(NASTY, max_size=20).map("".join),
                         st.lists(st.one_of(NASTY, st.text(max_size=3)), max_size=20).map("".join))
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
                           max_leaves=12)


# --- CSV import: header, cells, dates ------------------------------------------------------------
# No lone "\r": Python's writer leaves it unquoted before a "\n" line end (a spreadsheet would quote it).
SAFE_CELL = st.text(alphabet=string.ascii_letters + string.digits + " éèàçùôÉ-'+@./;,\t\"\n", max_size=20)


def _header_spelling(field: str) -> st.SearchStrategy[str]:
    spellings = [field, *ALIASES.get(field, [])]
    return st.sampled_from(spellings).flatmap(lambda alias: st.sampled_from([
        alias, alias.upper(), alias.title(), f"  {alias} ", alias.replace(" ", "_"), alias.replace("e", "é", 1)]))


@st.composite
def csv_files(draw):
    fields = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=6, unique=True))
    if "phone" not in fields:
        fields.insert(draw(st.integers(0, len(fields))), "phone")
    header = [draw(_header_spelling(name)) for name in fields]
    rows = draw(st.lists(st.lists(SAFE_CELL, min_size=len(fields), max_size=len(fields)), min_size=1, max_size=8))
    assume(any(any(c.strip() for c in row) for row in rows))
    delimiter = draw(st.sampled_from(csv_import.DELIMITERS))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    newline = draw(st.sampled_from(["\r\n", "\n"]))
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return fields, header, rows, delimiter, out.getvalue().encode(encoding)


@FAST
@given(csv_files())
def test_a_written_csv_reads_back_cell_for_cell(file):
    """SPEC §4 (import): whatever the separator, encoding (BOM or not, UTF-16, Windows-1252), line ends,
    header spelling (case, accents, aliases) and quoting, the reader gives back every cell of every
    non-blank row, in order, with its field."""
    fields, header, rows, delimiter, data = file
    assume(len(fields) > 1 or delimiter == ",")  # one column: no separator to sniff on the header line
    table = read_table(data)
    assert table.delimiter == delimiter
    assert table.header.fields == fields
    assert [cells for _line, cells in table.rows] == [row for row in rows if any(c.strip() for c in row)]
    lines = [line for line, _cells in table.rows]
    assert lines == sorted(set(lines)) and lines[0] >= 2


@FAST
@given(st.lists(hostile_text, max_size=8), st.one_of(st.none(), st.dictionaries(hostile_text, hostile_text, max_size=4)))
def test_any_header_maps_or_is_refused_with_a_reason(columns, mapping):
    """A header of any text, with any mapping, maps or is refused (FileRefused with a code), nothing else."""
    try:
        header = map_header(columns, mapping)
    except FileRefused as exc:
        assert exc.code and exc.message
        return
    assert len(header.fields) == len(columns)
    assert {"phone", "email"} & set(header.mapped.values())


@FAST
@given(hostile_text)
def test_header_normalisation_is_idempotent(text):
    once = normalise_header(text)
    assert normalise_header(once) == once
    assert set(once) <= set(string.ascii_lowercase + string.digits + " ")


@FAST
@given(st.one_of(hostile_text, json_values.map(json.dumps)))
def test_a_mapping_sent_as_json_is_a_dict_or_refused(text):
    try:
        mapping = csv_import.mapping_from_json(text)
    except FileRefused as exc:
        assert exc.code == "bad_mapping"
        return
    assert mapping is None or isinstance(mapping, dict)


@FAST
@given(hostile_text, st.sampled_from(["Europe/Paris", "UTC", "Pacific/Kiritimati", "America/St_Johns"]))
@example("31/12/9999 23:59", "Pacific/Kiritimati")
@example("0001-01-01T00:00:00+05:00", "UTC")
@example("29/02/2023", "UTC")
def test_any_cell_is_a_date_or_none(text, zone):
    """A date cell is an aware datetime or None (the row then reports invalid_date), never an exception."""
    value = parse_when(text, ZoneInfo(zone))
    assert value is None or value.tzinfo is not None
    iso = parse_date(text)
    assert (iso is None) == (value is None)


@FAST
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)).map(lambda d: d.replace(microsecond=0)))
def test_dates_read_back_in_french_and_iso_forms(moment):
    """The forms spreadsheets write (DD/MM/YYYY, DD-MM-YYYY HH:MM:SS, ISO) read back to the same moment."""
    tz = ZoneInfo("Europe/Paris")
    for text in (moment.strftime("%d/%m/%Y %H:%M:%S"), moment.strftime("%d-%m-%Y %H:%M:%S"), moment.isoformat()):
        assert parse_when(text, tz) == moment.replace(tzinfo=tz)
    assert parse_date(moment.strftime("%d/%m/%Y")) == moment.date().isoformat()


# --- phone numbers (relance/lib/phone.py) -------------------------------------------------------
@FAST
@given(st.one_of(hostile_text, st.text(alphabet="0123456789 +-.()", max_size=25)),
       st.sampled_from(["FR", "BE", "CH", "GB", "US", "fr", "ZZ", "XX", ""]), st.booleans())
@example("+" + "9" * 300, "FR", False)
@example("06 12 34 56 78", "fr", True)
def test_to_e164_gives_e164_or_phone_error_and_is_idempotent(raw, region, sms):
    try:
        result = to_e164(raw, region, sms=sms)
    except PhoneError as exc:
        assert str(exc)
        return
    assert result.startswith("+") and result[1:].isdigit()
    assert phonenumbers.is_valid_number(phonenumbers.parse(result))
    assert to_e164(result, "FR", sms=sms) == result


# --- inbound keywords (R-30) ------------------------------------------------------------------
@FAST
@given(hostile_text, st.one_of(st.none(), json_values,
                               st.dictionaries(st.sampled_from(keywords.KINDS), st.lists(json_values, max_size=4))))
@example("STOP", {"start": ["STOP", "arrêt"], "info": ["stop"]})
def test_keywords_under_any_configuration(text, configured):
    """R-30: any reply under any configured table (a JSON field an organisation edits) classifies
    without error; no configured word can turn a default STOP word into something else."""
    result = keywords.classify(text, configured)
    assert result.kind in (*keywords.KINDS, keywords.OTHER)
    assert len(result.keyword) <= keywords.MAX_KEYWORD
    for word in keywords.DEFAULTS[keywords.STOP]:
        assert keywords.classify(word, configured).kind == keywords.STOP


# --- SMPP delivery receipts ---------------------------------------------------------------------
tlvs = st.dictionaries(st.sampled_from([pdu.TLV_RECEIPTED_MESSAGE_ID, pdu.TLV_MESSAGE_STATE, pdu.TLV_NETWORK_ERROR_CODE,
                                        0x0000, 0xFFFF]), st.binary(max_size=70), max_size=3)
receipt_words = st.lists(st.one_of(
    st.sampled_from(["id:", "sub:", "dlvrd:", "submit date:", "done date:", "stat:", "err:", "text:", "ID:", "Stat:",
                     "DELIVRD", "UNDELIV", "REJECTD", "000", "001", "999999999999999999999", " ", "\x00"]),
    hostile_text), max_size=14).map("".join)


@FAST
@given(st.one_of(receipt_words, hostile_text), tlvs)
def test_any_receipt_text_and_tlvs_parse_or_give_none(text, tlv):
    """SMPP 3.4 App. B: any text and TLVs give a Receipt with a known status, or None; never an exception."""
    receipt = smpp.parse_receipt(text, tlv)
    if receipt is None:
        return
    assert receipt.provider_ref
    assert receipt.status in {*smpp.STAT.values(), "unknown"}
    assert len(receipt.error) <= 40 and isinstance(receipt.permanent, bool)
    if receipt.status == "delivered":
        assert not receipt.error and not receipt.permanent


@FAST
@given(st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=40),
       st.sampled_from(sorted(smpp.STAT)), st.integers(0, 999), st.text(max_size=20))
def test_an_appendix_b_receipt_reads_back(ident, stat, err, tail):
    """The receipt SMSCs write reads back to its id and state, with `text:` free to hold anything."""
    text = (f"id:{ident} sub:001 dlvrd:001 submit date:2611231200 done date:2611231201 stat:{stat} "
            f"err:{err:03d} text:{tail}")
    receipt = smpp.parse_receipt(text)
    assert receipt.provider_ref == ident
    assert receipt.status == smpp.STAT[stat]
    assert receipt.permanent == (stat == "REJECTD" or (stat == "UNDELIV" and err in smpp.PERMANENT_ERR))


# --- vendor webhooks: receipts, inbound, signatures (R-66) ---------------------------------------
VENDORS = ["twilio", "vonage", "ovh", "brevo"]
FIELD_NAMES = st.sampled_from(["MessageSid", "SmsSid", "MessageStatus", "ErrorCode", "From", "To", "Body", "messageId",
                               "status", "err-code", "msisdn", "to", "text", "concat", "concat-part", "sig", "api-key",
                               "id", "description", "ptt", "senderid", "shortcode", "message", "secret", "sender",
                               "msg_status", "event", "reply"]) | hostile_text
params = st.dictionaries(FIELD_NAMES, hostile_text, max_size=8)
bodies = st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                   st.lists(st.dictionaries(FIELD_NAMES, json_values, max_size=6), max_size=3).map(
                       lambda v: json.dumps(v).encode()))


@st.composite
def webhook_requests(draw):
    return WebhookRequest(method=draw(st.sampled_from(["GET", "POST"])), url="https://relance.example/hooks/x/t/r",
                          headers=draw(st.dictionaries(st.sampled_from(["authorization", "x-twilio-signature",
                                                                         "content-type"]) | hostile_text,
                                                       hostile_text, max_size=3)),
                          body=draw(bodies), form=draw(params), query=draw(params))


credentials = st.fixed_dictionaries({}, optional={
    "auth_token": hostile_text, "signature_secret": hostile_text, "signature_method": hostile_text,
    "api_key": hostile_text, "callback_secret": hostile_text, "webhook_token": hostile_text,
    "webhook_username": hostile_text, "webhook_password": hostile_text})


@FAST
@pytest.mark.parametrize("kind", VENDORS)
@given(call=webhook_requests(), secrets=credentials)
def test_vendor_webhooks_parse_or_raise_value_error(kind, call, secrets):
    """R-66, SPEC §4: any request to a vendor webhook gives receipts/inbound messages or ValueError
    (answered 400); the signature check answers True or False, never raises."""
    vendor = adapter(kind)
    assert vendor.verify(call, secrets) in (True, False)
    for parse, made in ((vendor.parse_receipts, Receipt), (vendor.parse_inbound, Inbound)):
        try:
            items = parse(call)
        except ValueError:
            continue
        assert all(isinstance(item, made) for item in items)
        for item in items:
            assert all(isinstance(value, str) for value in vars(item).values() if not isinstance(value, bool))


@SOME
@given(st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=30),
       st.dictionaries(st.text(alphabet=string.ascii_letters, min_size=1, max_size=10), hostile_text, max_size=5),
       hostile_text)
def test_twilio_signature_round_trip_and_tamper(token, form, extra):
    """R-66: Twilio's own signature verifies; one changed parameter does not."""
    url = "https://relance.example/hooks/twilio/t/receipts"
    from relance.providers.twilio import receipts as twilio

    call = WebhookRequest("POST", url, {"x-twilio-signature": twilio.signature(url, form, token)}, form=form)
    assert twilio.verify(call, {"auth_token": token})
    tampered = {**form, "Body": (form.get("Body") or "") + extra + "x"}
    assert not twilio.verify(WebhookRequest("POST", url, call.headers, form=tampered), {"auth_token": token})


# --- outgoing webhooks: the signature an integrator checks -------------------------------------
@FAST
@given(hostile_text)
@example("t=²,v1=ab")
@example("t=1,v1=")
def test_any_signature_header_parses_or_is_refused(value):
    try:
        timestamp, signatures = signing.parse(value)
    except signing.SignatureError:
        return
    assert isinstance(timestamp, int) and signatures


@FAST
@given(st.binary(max_size=300), st.integers(0, 2**33), st.text(min_size=1, max_size=40), st.data())
def test_a_changed_body_secret_time_or_signature_is_refused(body, timestamp, secret, data):
    """SPEC §4: verify refuses a tampered body, another secret, a replay outside the tolerance, and a
    header whose signature was altered, with SignatureError only."""
    value = signing.header(secret, timestamp, body)
    assert signing.verify(secret, value, body, now=timestamp) == timestamp
    other = data.draw(st.binary(max_size=300).filter(lambda b: b != body))
    attempts = [
        (secret, value, other, timestamp),
        (secret + "x", value, body, timestamp),
        (secret, value, body, timestamp + signing.TOLERANCE + 1 + data.draw(st.integers(0, 10**6))),
        (secret, value[:-1] + ("0" if value[-1] != "0" else "1"), body, timestamp),
        (secret, value.replace(f"t={timestamp}", f"t={timestamp + 1}"), body, timestamp),
        (secret, data.draw(hostile_text), body, timestamp),
    ]
    for key, header, payload, now in attempts:
        with pytest.raises(signing.SignatureError):
            signing.verify(key, header, payload, now=now)


# --- the master keyring (RELANCE_MASTER_KEYS) ---------------------------------------------------
key_ids = st.text(alphabet=string.ascii_letters + string.digits + "_.-", min_size=1, max_size=crypto.KEY_ID_MAX)


@FAST
@given(st.lists(st.tuples(key_ids, st.binary(min_size=crypto.KEY_BYTES, max_size=crypto.KEY_BYTES)), min_size=1,
                max_size=5, unique_by=lambda entry: entry[0]),
       st.sampled_from([",", "\n", "\r\n", " , ", "\n# a comment, with commas\n"]), st.booleans())
def test_a_written_keyring_reads_back(entries, separator, padded):
    """R-60: `kid:base64` entries, any separator and comments, padded or not: the same keys, the first primary."""
    def encode(raw):
        text = base64.urlsafe_b64encode(raw).decode()
        return text if padded else text.rstrip("=")

    ring = crypto.parse_master_keyring(separator.join(f"{kid}:{encode(raw)}" for kid, raw in entries))
    assert ring.primary_id == entries[0][0]
    assert ring.keys == dict(entries)


@FAST
@given(st.one_of(hostile_text, st.lists(st.one_of(key_ids, hostile_text, st.just(":"), st.just(","),
                                                  st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())),
                                        max_size=8).map("".join)))
@example("a:" + "A" * 43 + ",a:" + "B" * 43)
@example("é:" + "A" * 43)
@example("a:" + "é" * 43)
def test_any_keyring_text_parses_or_is_refused(text):
    """R-60: a keyring setting of any text is read or refused with MasterKeyError (the process refuses
    to start, with the reason); never binascii.Error or UnicodeError."""
    try:
        ring = crypto.parse_master_keyring(text)
    except crypto.MasterKeyError as exc:
        assert str(exc)
        return
    assert ring.primary_id in ring.keys
    assert all(len(raw) == crypto.KEY_BYTES for raw in ring.keys.values())


def test_a_keyring_refuses_what_it_must():
    """R-60: a duplicate id, a short key, a bad id and an empty setting are refused."""
    good = base64.urlsafe_b64encode(b"k" * crypto.KEY_BYTES).decode()
    for text in (f"a:{good},a:{good}", "a:" + base64.urlsafe_b64encode(b"k" * 31).decode(), f"bad id:{good}",
                 "", "# only a comment", f"{'x' * 33}:{good}"):
        with pytest.raises(crypto.MasterKeyError):
            crypto.parse_master_keyring(text)


# --- the import of hostile dates end to end ------------------------------------------------------
@pytest.mark.django_db(databases=["default", "keys"])
@SOME
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)),
                                               timezone(timedelta(hours=5, minutes=45))])),
       st.sampled_from(["iso", "dmy"]))
@example(datetime(1, 1, 1, 0, 10, tzinfo=timezone(timedelta(hours=5))), "iso")
@example(datetime(394, 3, 1), "iso")
@example(datetime(9999, 12, 31, 23, 59), "dmy")
def test_an_import_with_any_consent_or_birth_date_never_fails(moment, form):
    """R-15, SPEC §4: a consent or birth date of any year and offset is imported or reported on its
    line (invalid_date, future_date, too_old...), never an exception (the whole file lost)."""
    from relance.consent.tests.helpers import make_consent_purpose
    from relance.imports import services
    from relance.testing import SYSTEM, make_org

    org = make_org()
    purpose = make_consent_purpose(org, consent_validity_days=36500)  # the longest: old dates get through
    text = moment.isoformat() if form == "iso" else moment.strftime("%d/%m/") + f"{moment.year:04d}"
    data = ("téléphone;date de naissance;source du consentement;date du consentement;référence du consentement;"
            f"collecteur\n06 12 34 56 78;{text};Formulaire;{text};F-1;Accueil\n").encode()
    batch = services.import_contacts(org, data, actor=SYSTEM, purpose=purpose)
    assert batch.created + len(batch.report["problems"]) >= 1


def test_the_webhook_property_catches_a_planted_key_error():
    """The detector can fail: a parser that indexes a field it was not given is caught (KeyError)."""

    def planted(call):  # a naive parser: the field is assumed present
        return [Receipt(call.form["MessageSid"], "delivered")]

    @settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(call=webhook_requests())
    def check(call):
        try:
            planted(call)
        except ValueError:
            pass

    with pytest.raises(KeyError):
        check()
