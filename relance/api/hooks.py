"""Vendor webhooks: `/hooks/<kind>/<token>/receipts|inbound` (SPEC §4, R-66).

Each provider account has its own unguessable `webhook_token`, so the URL names the account; the
vendor's own scheme (Twilio's X-Twilio-Signature, Vonage's signed JWT, Brevo's and OVH's secrets)
is checked on top by the adapter's `verify`. A call that fails either check is answered 403 and
changes nothing; a well-formed call about an unknown message is answered 2xx, so that the vendor
stops retrying. A STOP is answered only once in effect (R-33: `inbound.receive` returns then).
Plain Django views: vendors post forms or JSON and expect their own kind of answer (TwiML…).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from relance.messaging import inbound, receipts
from relance.providers.base import WebhookRequest
from relance.providers.kinds import VENDOR_KINDS, adapter
from relance.providers.models import ProviderAccount

log = logging.getLogger("relance.hooks")


def _refuse(status: int, code: str) -> JsonResponse:
    return JsonResponse({"code": code}, status=status)


def webhook_request(request) -> WebhookRequest:
    """The call as the vendor made it; the URL is the public one we gave the vendor (it signs it)."""
    body = request.body
    form = {}
    if request.content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    url = settings.RELANCE_PUBLIC_URL.rstrip("/") + request.get_full_path()
    return WebhookRequest(method=request.method, url=url, body=body, form=form, query=request.GET.dict(),
                          headers={k.lower(): v for k, v in request.headers.items()})


def _account(kind: str, token: str) -> ProviderAccount | None:
    if kind not in VENDOR_KINDS:
        return None
    return ProviderAccount.unscoped.filter(kind=kind, webhook_token=token).first()


@csrf_exempt
def hook(request, kind: str, token: str, which: str):
    if request.method not in ("GET", "POST"):
        return _refuse(405, "method_not_allowed")
    account = _account(kind, token)
    if account is None:
        return _refuse(403, "webhook_forbidden")
    vendor = adapter(kind)
    try:
        call = webhook_request(request)
    except RequestDataTooBig:  # over DATA_UPLOAD_MAX_MEMORY_SIZE: the vendor's JSON answer, not an HTML 400
        return _refuse(413, "payload_too_large")
    if not vendor.verify(call, account.secrets()):
        log.warning("webhook signature refused", extra={"provider": account.label, "hook": which})
        return _refuse(403, "webhook_forbidden")
    try:
        items = vendor.parse_receipts(call) if which == "receipts" else vendor.parse_inbound(call)
    except (ValueError, KeyError, TypeError):
        log.warning("webhook body malformed", extra={"provider": account.label, "hook": which})
        return _refuse(400, "malformed_body")
    known = 0
    for item in items:
        if which == "receipts":
            known += receipts.apply_receipt(account.label, item)
        else:
            # An organisation's own account speaks for that organisation only.
            inbound.receive(item, provider=account.label, organisation_id=account.organisation_id)
            known += 1
    log.info("webhook handled", extra={"provider": account.label, "hook": which, "items": len(items), "known": known})
    reply = vendor.reply(which)
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
