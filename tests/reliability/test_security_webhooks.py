"""Webhook signature bypass attempts (R-66, R-63, R-33), issue 9 §4.

Every provider webhook URL (`/hooks/<kind>/<token>/receipts|inbound`, relance/urls.py, for each kind
of relance/providers/kinds.py that has webhooks) gets, for a delivery receipt and for an inbound STOP,
every forgery we could think of: no signature, an empty one, garbage, non-ASCII bytes, a signature
made with another secret, with the empty secret, with another organisation's account, over another
body, over the same body with a parameter added, removed or moved, over another URL (host, scheme,
hook, token, query), with the signature's case changed, a JWT with `alg: none`, the secret put
somewhere else than where the vendor puts it, and a valid call sent to another account's URL. Each
must be answered 403 and change nothing: the messages' statuses and events, the consent ledger and
states, the suppression list, the audit chain, the inbound records and the early receipts are counted
before and after. Then the genuine call, built with the vendor's documented algorithm, must work:
the forgeries were refused for their forgery, not for a mistake of the test.

What the vendors' schemes cannot see, and why it is acceptable:
- OVHcloud and Brevo sign nothing: the secret is in the callback URL (OVHcloud) or in an
  `Authorization` header (Brevo), so a changed body cannot be told from a genuine one; whoever holds
  the secret is the vendor. The tests for them try the secret's every neighbour instead.
- Twilio signs no timestamp and Vonage's SMS API documents no freshness window for its `timestamp`
  (both retry for hours): an old call is a replay, and a replay must change nothing more (receipts
  only move forward; a second STOP is a no-op, R-32). No vendor we use sends a JWT (Vonage's
  Messages API is not used), so a JWT, `alg: none` or not, authenticates nothing.
- HTTP header names are case-insensitive and WSGI upper-cases them before Django sees them: the case
  of a header's name cannot matter; the case of its value (a signature, a token) must, except where
  the vendor says otherwise (Vonage's hex `sig` is compared without regard to case).

The existing per-vendor tests (relance/providers/*/tests/test_webhooks.py) show each scheme working
on one forgery each; these try them all, on every vendor, with the full before/after count, plus a
cross-organisation STOP and our outgoing webhooks' signature (relance/webhooks/signing.py).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.audit.services import Actor
from relance.consent.models import ConsentEvent, ConsentState
from relance.contacts import services as contacts
from relance.contacts.models import Contact, SuppressionEntry
from relance.messaging import outbox
from relance.messaging.models import EarlyReceipt, InboundMessage, Message, MessageEvent, SendingSettings
from relance.messaging.sending import settings_for
from relance.messaging.tests.helpers import informed_contact, service_purpose
from relance.providers import kinds
from relance.providers.models import ProviderAccount
from relance.providers.services import create_account
from relance.providers.twilio.receipts import signature as twilio_signature
from relance.providers.vonage.receipts import signature as vonage_signature
from relance.testing import make_org
from relance.webhooks import signing
from tests.reliability.scale import record

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

PUBLIC = "https://relance.example"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
PERSON = "+33612345678"
SENDERS = {"a": "+33700000001", "b": "+33700000002"}
VENDORS = ("twilio", "vonage", "ovh", "brevo")
HOOKS = ("receipts", "inbound")
# A JWT whose header says `alg: none`, with no signature: what a forger sends to a JWT checker.
ALG_NONE = ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                    for part in ({"alg": "none", "typ": "JWT"}, {"iss": "vonage", "exp": 4102444800})) + "."


def secret_of(kind: str, side: str) -> str:
    return f"{side}-{kind}-webhook-secret-0123456789"


def credentials(kind: str, secret: str) -> dict:
    return {
        "twilio": {"account_sid": "AC" + "X" * 32, "auth_token": secret},
        "vonage": {"api_key": "abcd1234", "api_secret": "abcdef0123456789", "signature_secret": secret,
                   "signature_method": "md5hash"},
        "ovh": {"application_key": "7kbG7Bk7S9Nt7ZSV", "application_secret": "EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF",
                "consumer_key": "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1", "service_name": "sms-xx11111-1",
                "callback_secret": secret},
        "brevo": {"api_key": "xkeysib-0123456789abcdef", "webhook_token": secret},
    }[kind]


def reference(kind: str, side: str) -> str:
    """The provider's id of the one SMS each account sent (each vendor's own shape)."""
    n = "1" if side == "a" else "2"
    return {"twilio": "SM" + n * 32, "vonage": "0B00000127FDBC6" + n, "ovh": "2692992" + n,
            "brevo": "151188290017622" + n}[kind]


# --- the world: organisations A and B, each with one account per vendor and one sent SMS ------------
@dataclasses.dataclass
class Side:
    org: object
    contact: Contact
    accounts: dict[str, ProviderAccount]
    messages: dict[str, Message]


def build_side(side: str) -> Side:
    org = make_org(name=f"Organisation {side.upper()}")
    settings_for(org)
    SendingSettings.objects.for_org(org).update(sms_sender=SENDERS[side])
    purpose = service_purpose(org)
    contact = informed_contact(org, purpose, phone=PERSON)  # the same person is known to both
    accounts, messages = {}, {}
    for kind in VENDORS:
        account = create_account(org, name=kind, kind=kind, actor=Actor.system("test"),
                                 credentials=credentials(kind, secret_of(kind, side)))
        with transaction.atomic():
            message = outbox.enqueue(contact, purpose, "sms", due_at=timezone.now(), source="api")
        Message.objects.for_org(org).filter(pk=message.pk).update(
            status=Message.Status.SENT, provider=account.label, provider_ref=reference(kind, side),
            sent_at=timezone.now(), sender=SENDERS[side])
        accounts[kind], messages[kind] = account, message
    return Side(org, contact, accounts, messages)


@pytest.fixture
def sides(settings):
    settings.RELANCE_PUBLIC_URL = PUBLIC
    return {"a": build_side("a"), "b": build_side("b")}


def snapshot() -> dict:
    """Everything a webhook may change, counted over both organisations."""
    return {
        "messages": sorted(Message.unscoped.values_list("pk", "status", "reason")),
        "message_events": MessageEvent.unscoped.count(),
        "consent_events": ConsentEvent.unscoped.count(),
        "consent_states": sorted(ConsentState.unscoped.values_list("pk", "status")),
        "suppressions": SuppressionEntry.unscoped.count(),
        "audit": AuditEvent.objects.count(),
        "inbound": InboundMessage.unscoped.count(),
        "early_receipts": EarlyReceipt.objects.count(),
        "failures": sorted(Contact.unscoped.values_list("pk", "permanent_failures")),
    }


def changes(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after[name]]


# --- calls: what each vendor sends, signed as the vendor signs it --------------------------------
@dataclasses.dataclass
class Call:
    method: str
    path: str
    body: bytes = b""
    content_type: str = FORM
    headers: dict = dataclasses.field(default_factory=dict)


def send(client, call: Call):
    return client.generic(call.method, call.path, call.body, content_type=call.content_type, **call.headers)


def path_of(account: ProviderAccount, which: str, kind: str | None = None) -> str:
    return f"/hooks/{kind or account.kind}/{account.webhook_token}/{which}"


def params_for(kind: str, which: str, ref: str, to: str) -> dict:
    """The vendor's documented payload: a 'delivered' receipt for `ref`, or a STOP from PERSON to `to`."""
    if kind == "twilio":
        if which == "receipts":
            return {"ApiVersion": "2010-04-01", "AccountSid": "AC" + "X" * 32, "MessageSid": ref, "SmsSid": ref,
                    "MessageStatus": "delivered", "SmsStatus": "delivered", "From": to, "To": PERSON}
        return {"MessageSid": "SM" + "9" * 32, "AccountSid": "AC" + "X" * 32, "From": PERSON, "To": to,
                "Body": "STOP", "NumMedia": "0", "NumSegments": "1"}
    if kind == "vonage":
        signed = {"api-key": "abcd1234", "timestamp": "1582650446", "nonce": "ec11dd3e-1e7f-4db5-9467-82b02cd223b9"}
        if which == "receipts":
            return {"err-code": "0", "message-timestamp": "2018-10-25 12:10:29", "messageId": ref,
                    "msisdn": PERSON[1:], "network-code": "23410", "price": "0.03330000", "scts": "1810251310",
                    "status": "delivered", "to": "Nexmo CLI", **signed}
        return {"msisdn": PERSON[1:], "to": to[1:], "messageId": "0A0000000123ABCD1", "text": "STOP",
                "type": "text", "keyword": "STOP", "message-timestamp": "2020-01-01 12:00:00", **signed}
    if kind == "ovh":
        if which == "receipts":
            return {"id": ref, "ptt": "4", "date": "2020-06-25 10:12:31", "description": "1", "descriptionDlr": ""}
        return {"shortcode": to, "senderid": "00" + PERSON[1:], "message": "STOP", "id": "3204", "tag": ""}
    event = {"id": 26527, "msg_status": "delivered", "event": "delivered", "to": PERSON[1:], "ts_event": 1728459617,
             "date": "2024-10-09 13:10:17", "messageId": int(ref or "1511882900176229"), "type": "transactional"}
    if which == "inbound":
        event.update(msg_status="reply", event="reply", reply="STOP")
    return event


def genuine(kind: str, account: ProviderAccount, which: str, params: dict, secret: str, *, to: str = "") -> Call:
    """The call exactly as the vendor makes it (the algorithms of relance/providers/*/receipts.py)."""
    path = path_of(account, which)
    if kind == "twilio":
        sig = twilio_signature(PUBLIC + path, params, secret)
        return Call("POST", path, urlencode(params).encode(), FORM, {"HTTP_X_TWILIO_SIGNATURE": sig})
    if kind == "vonage":
        body = {**params, "sig": vonage_signature(params, secret)}
        return Call("POST", path, json.dumps(body).encode(), JSON)
    if kind == "ovh":
        if which == "receipts":
            return Call("GET", f"{path}?{urlencode({**params, 'secret': secret})}", content_type="")
        return Call("POST", f"{path}?{urlencode({'secret': secret})}", urlencode(params).encode(), FORM)
    query = f"?{urlencode({'sender': to})}" if which == "inbound" else ""
    return Call("POST", path + query, json.dumps(params).encode(), JSON, {"HTTP_AUTHORIZATION": f"Bearer {secret}"})


def swapcase(text: str) -> str:
    return text.swapcase() if text.swapcase() != text else text + "A"


# --- the forgeries ---------------------------------------------------------------------------------
Forgery = tuple[str, Call]


def forgeries(kind: str, which: str, sides: dict[str, Side]) -> Iterator[Forgery]:
    a, b = sides["a"], sides["b"]
    account, secret, to = a.accounts[kind], secret_of(kind, "a"), SENDERS["a"]
    params = params_for(kind, which, reference(kind, "a"), to)
    call = genuine(kind, account, which, params, secret, to=to)

    def signed(with_secret: str, sent: dict | None = None, signed_params: dict | None = None) -> Call:
        """A's URL, `sent` as the body, signed over `signed_params` with `with_secret`."""
        made = genuine(kind, account, which, signed_params or params, with_secret, to=to)
        if sent is None:
            return made
        unsigned = genuine(kind, account, which, sent, with_secret, to=to)
        if kind == "twilio":
            return dataclasses.replace(made, body=unsigned.body)
        if kind == "vonage":
            sig = json.loads(made.body)["sig"]
            return dataclasses.replace(made, body=json.dumps({**sent, "sig": sig}).encode())
        return unsigned  # OVHcloud, Brevo: the body is not signed

    # What every vendor must refuse.
    yield "signed with another secret", signed("not-the-secret")
    yield "signed with the empty secret", signed("")
    yield "signed with organisation B's account secret", signed(secret_of(kind, "b"))
    yield "A's genuine call sent to B's webhook URL", dataclasses.replace(
        call, path=call.path.replace(account.webhook_token, b.accounts[kind].webhook_token))
    other_kind = next(k for k in VENDORS if k != kind)
    yield f"A's genuine call sent under /hooks/{other_kind}/", dataclasses.replace(
        call, path=call.path.replace(f"/hooks/{kind}/", f"/hooks/{other_kind}/"))
    yield "a token that is no account's", dataclasses.replace(
        call, path=call.path.replace(account.webhook_token, "A" * len(account.webhook_token)))

    if kind == "twilio":
        path = path_of(account, which)
        bare = dataclasses.replace(call, headers={})
        other = {**params, **({"MessageStatus": "undelivered", "SmsStatus": "undelivered", "ErrorCode": "30006"}
                              if which == "receipts" else {"Body": "STOP ALL"})}
        yield "no X-Twilio-Signature", bare
        yield "an empty signature", dataclasses.replace(call, headers={"HTTP_X_TWILIO_SIGNATURE": ""})
        yield "garbage signature", dataclasses.replace(call, headers={"HTTP_X_TWILIO_SIGNATURE": "x" * 28})
        yield "a non-ASCII signature", dataclasses.replace(call, headers={"HTTP_X_TWILIO_SIGNATURE": "é" * 28})
        yield "the signature's case changed", dataclasses.replace(
            call, headers={"HTTP_X_TWILIO_SIGNATURE": swapcase(call.headers["HTTP_X_TWILIO_SIGNATURE"])})
        yield "a valid signature of another body", signed(secret, sent=other)
        yield "a parameter added", signed(secret, sent={**params, "Extra": "1"})
        yield "a parameter removed", signed(secret, sent={k: v for k, v in params.items() if k != "AccountSid"})
        yield "two values swapped", signed(secret, sent={**params, "From": params["To"], "To": params["From"]})
        for label, url in (("another host", "https://evil.example" + path), ("http instead of https",
                           PUBLIC.replace("https", "http") + path),
                           ("the other hook", PUBLIC + path_of(account, "inbound" if which == "receipts" else "receipts")),
                           ("B's URL", PUBLIC + path_of(b.accounts[kind], which))):
            yield f"signed over {label}", dataclasses.replace(
                call, headers={"HTTP_X_TWILIO_SIGNATURE": twilio_signature(url, params, secret)})
        yield "a query parameter added to the signed URL", dataclasses.replace(call, path=path + "?x=1")
        body = json.dumps(params).encode()
        query = f"?bodySHA256={hashlib.sha256(b'{}').hexdigest()}"
        yield "a JSON body that does not hash to bodySHA256", Call(
            "POST", path + query, body, JSON, {"HTTP_X_TWILIO_SIGNATURE": twilio_signature(PUBLIC + path + query, {}, secret)})
        yield "a JSON body with no bodySHA256, signed over the URL only", Call(
            "POST", path, body, JSON, {"HTTP_X_TWILIO_SIGNATURE": twilio_signature(PUBLIC + path, {}, "guess")})
        yield "a JWT with alg none", dataclasses.replace(bare, headers={"HTTP_AUTHORIZATION": f"Bearer {ALG_NONE}"})

    if kind == "vonage":
        body = json.loads(call.body)
        sig = body["sig"]

        def with_body(data: dict) -> Call:
            return dataclasses.replace(call, body=json.dumps(data).encode())

        other = {**params, **({"status": "failed", "err-code": "3"} if which == "receipts" else {"text": "STOP ALL"})}
        yield "no sig", with_body(params)
        yield "an empty sig", with_body({**params, "sig": ""})
        yield "garbage sig", with_body({**params, "sig": "0" * 32})
        yield "a non-ASCII sig", with_body({**params, "sig": "é" * 32})
        yield "a valid sig of another body", signed(secret, sent=other)
        yield "a parameter added", with_body({**body, "extra": "1"})
        yield "a parameter removed", with_body({k: v for k, v in body.items() if k != "nonce"})
        yield "two values swapped", with_body({**body, "msisdn": params["to"], "to": params["msisdn"]})
        yield "an '&' smuggled into a value", with_body({**body, "nonce": body["nonce"] + "&status=delivered"})
        yield "another api-key, signed with A's secret", with_body(
            {**params, "api-key": "ffff0000", "sig": vonage_signature({**params, "api-key": "ffff0000"}, "")})
        yield "signed with another method (sha256 HMAC for md5hash)", with_body(
            {**params, "sig": vonage_signature(params, secret, "sha256")})
        yield "the sig in the query, the parameters in the body", dataclasses.replace(
            call, path=f"{call.path}?{urlencode({'sig': sig})}", body=json.dumps(params).encode())
        yield "a GET whose query carries another body's sig", Call(
            "GET", f"{call.path}?{urlencode({**other, 'sig': sig})}", content_type="")
        yield "a JWT with alg none", dataclasses.replace(
            with_body(params), headers={"HTTP_AUTHORIZATION": f"Bearer {ALG_NONE}"})

    if kind == "ovh":
        path = path_of(account, which)

        def with_secret(value: str | None, *, name: str = "secret") -> Call:
            query = {name: value} if value is not None else {}
            if which == "receipts":
                return Call("GET", f"{path}?{urlencode({**params, **query})}", content_type="")
            return Call("POST", f"{path}?{urlencode(query)}", urlencode(params).encode(), FORM)

        yield "no secret", with_secret(None)
        yield "an empty secret", with_secret("")
        yield "a wrong secret", with_secret("guessed")
        yield "a non-ASCII secret", with_secret("é" * len(secret))
        yield "the secret's case changed", with_secret(swapcase(secret))
        yield "the secret cut short", with_secret(secret[:-1])
        yield "the secret with a character more", with_secret(secret + "x")
        yield "the secret with a space more", with_secret(secret + " ")
        yield "the secret under another name (SECRET=)", with_secret(secret, name="SECRET")
        yield "B's callback secret", with_secret(secret_of(kind, "b"))
        if which == "inbound":
            yield "the secret in the form body, not the URL", Call(
                "POST", path, urlencode({**params, "secret": secret}).encode(), FORM)
        yield "the secret in a header", dataclasses.replace(with_secret(None), headers={"HTTP_X_SECRET": secret})
        yield "a JWT with alg none", dataclasses.replace(
            with_secret(None), headers={"HTTP_AUTHORIZATION": f"Bearer {ALG_NONE}"})

    if kind == "brevo":
        def auth(value: str | None) -> Call:
            return dataclasses.replace(call, headers={} if value is None else {"HTTP_AUTHORIZATION": value})

        basic = base64.b64encode(f"{secret}:{secret}".encode()).decode()
        yield "no Authorization", auth(None)
        yield "Bearer and nothing", auth("Bearer ")
        yield "a wrong bearer token", auth("Bearer guessed")
        yield "a non-ASCII bearer token", auth("Bearer " + "é" * len(secret))
        yield "the token's case changed", auth(f"Bearer {swapcase(secret)}")
        yield "the token cut short", auth(f"Bearer {secret[:-1]}")
        yield "the token with a character more", auth(f"Bearer {secret}x")
        yield "the token under another scheme", auth(f"Token {secret}")
        yield "the token as a Basic user and password", auth(f"Basic {basic}")
        yield "the token in the query string", dataclasses.replace(
            auth(None), path=call.path + ("&" if "?" in call.path else "?") + urlencode({"token": secret}))
        yield "a JWT with alg none", auth(f"Bearer {ALG_NONE}")


def attempt(client, kind: str, which: str, sides: dict[str, Side]) -> tuple[int, list[str]]:
    """Every forgery of this hook; returns (how many were tried, what got through)."""
    tried, failures = 0, []
    for name, call in forgeries(kind, which, sides):
        before = snapshot()
        response = send(client, call)
        changed = changes(before, snapshot())
        tried += 1
        if response.status_code != 403 or changed:
            failures.append(f"{kind}/{which}: {name}: {response.status_code}, changed {changed}")
    return tried, failures


def genuine_call(kind: str, which: str, sides: dict[str, Side]) -> Call:
    params = params_for(kind, which, reference(kind, "a"), SENDERS["a"])
    return genuine(kind, sides["a"].accounts[kind], which, params, secret_of(kind, "a"), to=SENDERS["a"])


def test_it_enumerates_every_provider_webhook():
    """The vendors tried here are every kind with webhooks (a new vendor must be added to VENDORS)."""
    with_webhooks = {kind for kind in kinds.VENDOR_KINDS if kinds.adapter(kind).webhooks}
    assert with_webhooks == set(VENDORS)


@pytest.mark.parametrize("which", HOOKS)
@pytest.mark.parametrize("kind", VENDORS)
def test_it_refuses_every_forgery_and_changes_nothing(client, sides, kind, which):
    """R-66: each forged call is answered 403 and changes nothing; then the genuine call works once,
    and its replay changes nothing more (a receipt applied twice; a STOP received twice, R-32)."""
    tried, failures = attempt(client, kind, which, sides)
    assert not failures, "\n".join(failures)
    assert tried >= 9
    a = sides["a"]
    call = genuine_call(kind, which, sides)
    answer = send(client, call)
    assert 200 <= answer.status_code < 300, (answer.status_code, answer.content[:200])
    if which == "receipts":
        assert Message.unscoped.get(pk=a.messages[kind].pk).status == Message.Status.DELIVERED
    else:
        assert contacts.is_suppressed(a.org, PERSON)
    before = snapshot()
    replay = send(client, call)
    assert 200 <= replay.status_code < 300
    after = snapshot()
    # The replayed STOP is recorded (one InboundMessage and its `inbound.stop` audit event, both
    # without effect); no consent event, suppression, message or state moves.
    allowed = {"inbound", "audit"} if which == "inbound" else set()
    assert set(changes(before, after)) <= allowed, changes(before, after)
    if which == "inbound":
        assert after["inbound"] - before["inbound"] == 1 and after["audit"] - before["audit"] == 1
        assert AuditEvent.objects.order_by("-pk").values_list("action", flat=True)[0] == "inbound.stop"
    record(f"security-webhooks-{kind}-{which}", {"forgeries_tried": tried, "accepted": len(failures),
                                                  "replay_changes": sorted(set(changes(before, after)) - allowed)})


def test_the_check_catches_a_planted_fault(client, sides, monkeypatch):
    """The detector can fail: with Twilio's check replaced by one that trusts everything, the
    forgeries get through and change the message."""
    real = kinds.adapter("twilio")
    monkeypatch.setitem(kinds._cache, "twilio", dataclasses.replace(real, verify=lambda request, creds: True))
    tried, failures = attempt(client, "twilio", "receipts", sides)
    assert failures and any("changed ['messages'" in failure for failure in failures), failures


@pytest.mark.parametrize("kind", VENDORS)
def test_an_authenticated_call_about_an_unknown_message_changes_nothing(client, sides, kind):
    """R-66: a genuine receipt naming no message of ours is answered 2xx (the vendor stops retrying);
    no message, event, consent or audit row moves. (A final receipt is kept as an early receipt for
    a day, in case the worker is still recording the message: relance/messaging/receipts.py.)"""
    a = sides["a"]
    unknown = {"twilio": "SM" + "7" * 32, "vonage": "0B000001FFFFFFFF", "ovh": "99999", "brevo": "1511882900176999"}
    params = params_for(kind, "receipts", unknown[kind], SENDERS["a"])
    before = snapshot()
    answer = send(client, genuine(kind, a.accounts[kind], "receipts", params, secret_of(kind, "a")))
    assert 200 <= answer.status_code < 300
    assert set(changes(before, snapshot())) <= {"early_receipts"}


@pytest.mark.parametrize("kind", VENDORS)
def test_a_receipt_signed_by_another_organisations_account_changes_nothing_of_ours(client, sides, kind):
    """R-63, R-66: B's account, genuinely signed by B, naming A's message reference: A's message
    stays sent (receipts are matched on the account that sent the message)."""
    a, b = sides["a"], sides["b"]
    params = params_for(kind, "receipts", reference(kind, "a"), SENDERS["a"])
    answer = send(client, genuine(kind, b.accounts[kind], "receipts", params, secret_of(kind, "b")))
    assert 200 <= answer.status_code < 300
    assert Message.unscoped.get(pk=a.messages[kind].pk).status == Message.Status.SENT


@pytest.mark.parametrize("kind", VENDORS)
def test_a_stop_through_another_organisations_account_does_not_withdraw_our_consent(client, sides, kind):
    """R-63, R-66, R-33: an administrator of B configures B's own provider account (so B knows its
    secret) and posts a genuinely signed STOP *to A's sender* from A's contact's number. It may stop
    B's messages to that person, never A's: A's contact is not suppressed, A's ledger is unchanged."""
    a, b = sides["a"], sides["b"]
    params = params_for(kind, "inbound", "", SENDERS["a"])
    consent_a = ConsentEvent.unscoped.filter(organisation=a.org).count()
    answer = send(client, genuine(kind, b.accounts[kind], "inbound", params, secret_of(kind, "b"), to=SENDERS["a"]))
    assert 200 <= answer.status_code < 300
    assert not contacts.is_suppressed(a.org, PERSON)
    assert ConsentEvent.unscoped.filter(organisation=a.org).count() == consent_a
    assert not InboundMessage.unscoped.filter(organisation=a.org).exists()


@pytest.mark.parametrize("kind", VENDORS)
def test_an_account_without_a_secret_refuses_everything(client, sides, kind):
    """R-66: an account whose webhook secret is empty accepts no call, not even one 'signed' with the
    empty secret (nothing unsigned is ever accepted by default)."""
    a = sides["a"]
    account = a.accounts[kind]
    blank = {**credentials(kind, ""), **({"webhook_username": "", "webhook_password": ""} if kind == "brevo" else {})}
    account.credentials = json.dumps(blank)
    account.save()
    for which in HOOKS:
        params = params_for(kind, which, reference(kind, "a"), SENDERS["a"])
        call = genuine(kind, account, which, params, "", to=SENDERS["a"])
        if kind == "brevo":
            call = dataclasses.replace(call, headers={"HTTP_AUTHORIZATION": "Bearer "})
        before = snapshot()
        assert send(client, call).status_code == 403, which
        assert not changes(before, snapshot()), which


def test_an_smpp_account_has_no_webhook(client, sides):
    """SMPP receipts arrive on the SMPP session: its account's token opens no webhook."""
    account = create_account(sides["a"].org, name="smpp", kind="smpp", actor=Actor.system("test"),
                             credentials={"host": "127.0.0.1", "port": 2775, "system_id": "x", "password": "y"})
    for which in HOOKS:
        before = snapshot()
        answer = client.post(path_of(account, which), urlencode({"id": "1"}), content_type=FORM)
        assert answer.status_code == 403 and not changes(before, snapshot())


# --- our own outgoing webhooks: an integrator's check refuses tampered deliveries -----------------
def test_a_receivers_documented_check_refuses_tampered_deliveries():
    """R-66 for our side (SPEC §4): the check relance/webhooks/signing.py documents for integrators
    refuses every tampering of a genuine delivery, and hostile headers raise SignatureError only
    (never another exception an integrator's code would not expect)."""
    secret, body, now = "whsec_integrator", b'{"type":"contact.erased","id":"1"}', int(time.time())
    good = signing.header(secret, now, body)
    assert signing.verify(secret, good, body, now=now) == now
    t, v1 = good.split(",")
    tampered = {
        "body changed": (good, body.replace(b"1", b"2")),
        "a byte appended": (good, body + b" "),
        "timestamp changed, signature kept": (f"t={now + 1},{v1}", body),
        "timestamp repeated after the signature": (f"{t},{v1},t={now + 1}", body),
        "signed with another secret": (signing.header("whsec_other", now, body), body),
        "signed with the empty secret": (signing.header("", now, body), body),
        "too old": (signing.header(secret, now - 301, body), body),
        "too far in the future": (signing.header(secret, now + 301, body), body),
        "signature's case changed": (f"{t},v1={v1[3:].upper()}", body),
        "another scheme": (f"{t},v0={v1[3:]}", body),
        "no header": ("", body),
        "a non-ASCII signature": (f"{t},v1={'é' * 64}", body),
        "a non-ASCII timestamp": (f"t=\u00b2,{v1}", body),
        "Unicode digits as timestamp": (f"t={''.join(chr(0x0660 + int(d)) for d in str(now))},{v1}", body),
    }
    let_through = []
    for name, (header, sent) in tampered.items():
        try:
            signing.verify(secret, header, sent, now=now)
            let_through.append(name)
        except signing.SignatureError:
            pass
    assert not let_through, let_through
