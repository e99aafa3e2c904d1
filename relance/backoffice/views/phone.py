"""The simulated phone of the demo: the SMS the console provider "sent" to the organisation's
contacts, and a way to answer them (STOP, OUI, INFO...) through the real inbound path.

Demo mode only (RELANCE_DEMO): it shows message texts, which a real deployment never displays in
bulk. Reading them is personal data: each view is one audit event.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from relance.audit import services as audit
from relance.contacts.models import Contact
from relance.messaging import inbound
from relance.messaging.models import InboundMessage, Message
from relance.messaging.sending import settings_for
from relance.providers.base import Inbound

from ..access import requires
from ..services import actor

SHOWN = 200
QUICK_REPLIES = ("STOP", "OUI", "INFO")


def _sender(org) -> str:
    return settings_for(org).sms_sender


@requires("contact.view_personal")
def phone_view(request):
    if not settings.RELANCE_DEMO:
        raise Http404
    org = request.organisation
    if request.method == "POST":
        return _reply(request, org)
    sms = list(Message.objects.for_org(org).filter(channel="sms").exclude(status__in=Message.PENDING)
               .select_related("recipient").order_by("-created_at")[:SHOWN])
    replies = InboundMessage.objects.for_org(org).order_by("-received_at")[:SHOWN]
    phones = _conversations(sms, replies)
    with transaction.atomic():
        audit.record(org, actor(request), "message.content_read", details={"view": "simulated_phone", "count": len(sms)})
    return render(request, "backoffice/phone.html", {
        "phones": phones, "sender": _sender(org), "quick_replies": QUICK_REPLIES})


def _conversations(sms: list[Message], replies) -> list[dict]:
    """One entry per number, newest first; each with its messages and replies in time order."""
    phones: dict[str, dict] = {}
    for message in sms:
        recipient = message.recipient
        entry = phones.setdefault(recipient.phone_index or str(recipient.pk), {
            "contact": recipient, "number": recipient.phone or "—", "items": [], "latest": message.created_at,
            "name": " ".join(part for part in (recipient.first_name, recipient.last_name) if part)})
        entry["items"].append({"at": message.sent_at or message.created_at, "out": True, "message": message,
                               "text": message.body if message.status in ("sent", "delivered") else ""})
    for reply in replies:
        entry = phones.get(reply.phone_hash)
        if entry is not None:
            entry["items"].append({"at": reply.received_at, "out": False, "reply": reply})
    for entry in phones.values():
        entry["items"].sort(key=lambda item: item["at"])
    return sorted(phones.values(), key=lambda entry: entry["latest"], reverse=True)


def _reply(request, org):
    text = (request.POST.get("text") or "").strip()[:160]
    contact = Contact.objects.for_org(org).filter(pk=request.POST.get("contact") or None).first()
    if contact is None or not contact.phone:
        messages.error(request, _("Choose a phone of the list."))
    elif not text:
        messages.error(request, _("Write a reply, for example STOP, OUI or INFO."))
    elif not _sender(org):
        messages.error(request, _("Set the organisation's SMS sender first: replies are addressed to it."))
    else:
        outcome = inbound.receive(Inbound(sender=contact.phone, to=_sender(org), text=text), provider="console")
        messages.success(request, _("Reply received and handled: %(action)s.") % {"action": outcome.action})
    return redirect("backoffice:phone")
