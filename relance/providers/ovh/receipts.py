"""OVHcloud SMS webhooks as pure functions: the secret check, delivery reports, replies (R-29, R-33, R-66).

What protects these webhooks. OVHcloud signs neither its delivery-report callback nor its reply
callback: it calls a URL we give it, nothing more. Two things stand between a forger and our data:
the account's unguessable webhook token in the path (`/hooks/ovh/<token>/…`, checked by the view)
and a second secret, the account's `callback_secret` credential, that we put in the query string of
the URL we register at OVHcloud (`…/receipts?secret=<callback_secret>`), compared here in constant
time. The second secret can be rotated without changing the token, and an account without one
refuses every call: an unsigned call is never accepted by default. Both travel in the URL, so the
URL must be HTTPS end to end and never logged (Relance logs no query string). OVHcloud documents
no source-IP list for its callbacks, so no IP check is possible.

Delivery reports. The callback URL is set per SMS user (control panel, or PUT
/sms/{serviceName}/users/{login}); OVHcloud calls it with a query string of `id` (the SMS id the job
answered), `ptt` (a status code), `date`, `description` (the DLR status: 0, 1, 2, 4, 8, 16) and
`descriptionDlr`. Source: "Everything you need to know about SMS users", step 5 and its two tables,
https://help.ovhcloud.com/csm/en-ie-sms-users?id=kb_article_view&sysparm_article=KB0051414
(github.com/ovh/docs, pages/web_cloud/messaging/sms/tout_savoir_sur_les_utilisateurs_sms/guide.en-gb.md).

Replies (two-way SMS, France only, with `senderForResponse`): the reply callback is set with PUT
/sms/{serviceName} ("API SMS Cookbook", section "SMS réponse",
https://docs.ovh.com/fr/sms/api_sms_cookbook/). OVHcloud's guides do not list the fields of that
call; we read the ones a public integration of the French administration relies on (a form with
`shortcode`, the short number written to, `senderid`, the person's number, `message`, `id` and `tag`;
github.com/betagouv/Aidants_Connect, aidants_connect_web/views/sms.py) and accept them from the form
or the query string.
"""

from __future__ import annotations

import hmac

from relance.providers.base import Inbound, Receipt, WebhookReply, WebhookRequest

# DLR status ("description") → what relance/messaging/receipts.py understands. Source: the "DLR IDs"
# table of the SMS users guide cited above.
DLR_STATUSES = {
    "0": "accepted",  # creating or pending
    "1": "delivered",  # success
    "2": "failed",  # failed
    "4": "accepted",  # pending
    "8": "accepted",  # buffered
    "16": "failed",  # error / not billed
}
# ptt codes after which another try to the same number cannot succeed: the number or the handset is
# wrong for good, or the content is refused. Source: the "ptt codes" table of the same guide (20: the
# message is undeliverable in its form; 23: invalid / barred MSISDN, "should not be used again"; 27:
# handset permanently incompatible; 28: rejected as spam; 29: content not permitted; 33: parental
# lock; 76 and 202: ported destination blocked for the client).
PERMANENT_PTT = frozenset({20, 23, 27, 28, 29, 33, 76, 202})
EXPIRED_PTT = 8  # expired in the operator's SMSC, no reason given


def verify(request: WebhookRequest, credentials: dict) -> bool:
    """R-66: the `secret` of the callback URL is the account's `callback_secret` (constant time)."""
    expected = str(credentials.get("callback_secret") or "")
    given = str(request.query.get("secret") or "")
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def _params(request: WebhookRequest) -> dict:
    """OVHcloud calls with GET and a query string; a form body is read too (POST callbacks)."""
    return {**request.query, **request.form}


def _ptt(value) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdigit() else None


def receipt_of(params: dict) -> Receipt:
    """One delivery report; ValueError when it names no SMS or carries an unknown DLR status."""
    ref = str(params.get("id") or "").strip()
    if not ref.isdigit():
        raise ValueError("OVHcloud delivery report without a numeric SMS id")
    dlr = str(params.get("description") or "").strip()
    if dlr not in DLR_STATUSES:
        raise ValueError("OVHcloud delivery report with an unknown DLR status")
    status, ptt = DLR_STATUSES[dlr], _ptt(params.get("ptt"))
    if status != "failed":
        return Receipt(ref, status)
    error = f"ovh_ptt_{ptt}" if ptt is not None else f"ovh_dlr_{dlr}"
    if ptt in PERMANENT_PTT:
        return Receipt(ref, "failed", error=error, permanent=True)
    # Absent subscriber, network trouble, no credit on the phone, unknown outcome: final for this
    # message, but the number may work tomorrow, so it does not count as a hard failure.
    return Receipt(ref, "expired" if ptt == EXPIRED_PTT else "undeliverable", error=error)


def parse_receipts(request: WebhookRequest) -> list[Receipt]:
    return [receipt_of(_params(request))]


def e164(number: str) -> str:
    """`+33612345678` from the forms OVHcloud uses (`+33…`, `0033…`, `33…`); ValueError otherwise."""
    text = "".join(str(number or "").split())
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.isdigit():
        text = "+" + text
    if not (text.startswith("+") and text[1:].isdigit() and 8 <= len(text) <= 16):
        raise ValueError("OVHcloud reply from a number that is not international")
    return text


def parse_inbound(request: WebhookRequest) -> list[Inbound]:
    params = _params(request)
    if "message" not in params or not str(params.get("shortcode") or "").strip():
        raise ValueError("OVHcloud reply without a message or the short number written to")
    return [Inbound(sender=e164(params.get("senderid")), to=str(params["shortcode"]).strip(),
                    text=str(params["message"]), provider_ref=str(params.get("id") or ""))]


def reply(which: str) -> WebhookReply:
    """OVHcloud only looks at the status: an empty 200."""
    return WebhookReply(status=200, content_type="text/plain", body=b"")
