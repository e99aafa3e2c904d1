"""The preferences page behind the signed link of each message (R-12: withdrawing is as easy as
giving), and the STOP confirmation. Every change goes through relance.consent.services with the
method `web_form`, the notice shown, and the evidence of the form (R-10)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from relance.consent import services as consent
from relance.consent.models import ConsentEvent, ConsentState
from relance.consent.policy import ConsentStatus
from relance.contacts import links

from . import pages
from .views import purposes_of

WEB = ConsentEvent.Method.WEB_FORM
SUBJECT = ConsentEvent.ExpressedBy.SUBJECT


def _expired(request):
    return render(request, "public/link_invalid.html", status=404)


def _state_text(consent_based: bool, status: str) -> str:
    if consent_based:
        return {ConsentStatus.GIVEN: _("You receive them: you gave your consent."),
                ConsentStatus.WITHDRAWN: _("You do not receive them: you withdrew your consent."),
                ConsentStatus.REFUSED: _("You do not receive them: you refused."),
                ConsentStatus.EXPIRED: _("You do not receive them: your consent has expired.")}.get(
            status, _("You do not receive them: you have not given your consent."))
    if status == ConsentStatus.OBJECTED:
        return _("You do not receive them: you objected.")
    return _("You receive them, unless you object.")


def _action_of(item: dict, status: str) -> str:
    """What the person may do from this state: consent purposes (R-10, R-12), other bases (R-04)."""
    if item["consent_based"]:
        if status == ConsentStatus.GIVEN:
            return "withdraw"
        return "" if item["purpose"].refresh_per_event else "give"
    return "restore" if status == ConsentStatus.OBJECTED else "object"


def _rows(contact) -> list[dict]:
    states = {(s.purpose_id, s.channel): s.status for s in
              ConsentState.objects.for_org(contact.organisation_id).filter(contact=contact)}
    rows = []
    for item in purposes_of(contact.organisation):
        item["lines"] = []
        for channel in item["purpose"].channels or []:
            status = states.get((item["purpose"].pk, channel), ConsentStatus.NONE)
            item["lines"].append({"channel": channel, "channel_name": pages.CHANNEL_NAMES.get(channel, channel),
                                  "status": status, "text": _state_text(item["consent_based"], status),
                                  "action": _action_of(item, status),
                                  "receiving": status == ConsentStatus.GIVEN or (
                                      not item["consent_based"] and status != ConsentStatus.OBJECTED)})
        item["notice"] = consent.current_notice(item["purpose"], pages.language()) or consent.current_notice(
            item["purpose"], contact.organisation.default_language)
        rows.append(item)
    return rows


def _page(request, contact, token, status=200):
    phone = pages.sealed(lambda: contact.phone)
    return render(request, "public/preferences.html", {
        "org": contact.organisation, "token": token, "rows": _rows(contact), "phone": pages.masked_phone(phone)},
        status=status)


ACTIONS = {
    "give": ConsentEvent.Action.GIVEN, "withdraw": ConsentEvent.Action.WITHDRAWN,
    "object": ConsentEvent.Action.OBJECTED, "restore": ConsentEvent.Action.RESTORED,
}
DONE = {
    "give": gettext_lazy("Recorded: you will receive “%(purpose)s” by %(channel)s."),
    "withdraw": gettext_lazy("Recorded: you will no longer receive “%(purpose)s” by %(channel)s."),
    "object": gettext_lazy("Recorded: you will no longer receive “%(purpose)s” by %(channel)s."),
    "restore": gettext_lazy("Recorded: you will receive “%(purpose)s” by %(channel)s again."),
}


def _change(request, contact, token):
    rows = {row["purpose"].code: row for row in _rows(contact)}
    row = rows.get(request.POST.get("purpose", ""))
    channel, wanted = request.POST.get("channel", ""), request.POST.get("action", "")
    line = next((ln for ln in (row or {}).get("lines", []) if ln["channel"] == channel), None)
    if row is None or line is None or line["action"] != wanted:
        messages.error(request, _("This choice is no longer offered. Look at the page again, then choose."))
        return redirect(request.path)
    notice = row["notice"] if wanted == "give" else None
    try:
        consent.record_consent(contact, row["purpose"], channel, ACTIONS[wanted], actor=pages.actor(request),
                               expressed_by=SUBJECT, method=WEB, notice=notice, language=pages.language(),
                               evidence=pages.evidence(request, reverse("public:index")))
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
        return redirect(request.path)
    messages.success(request, str(DONE[wanted]) % {"purpose": row["label"], "channel": line["channel_name"]})
    return redirect(request.path)


@require_http_methods(["GET", "POST"])
@pages.public_page
def preferences(request, token):
    contact = links.resolve(token, actor=pages.actor(request) if request.method == "GET" else None)
    if contact is None:
        return _expired(request)
    if request.method == "POST":
        return _change(request, contact, token)
    return _page(request, contact, token)


@require_http_methods(["GET", "POST"])
@pages.public_page
def stop(request, token):
    """Stop everything: a withdrawal (consent) or an objection (other bases) on every channel (R-12, R-31)."""
    contact = links.resolve(token)
    if contact is None:
        return _expired(request)
    rows = [row for row in _rows(contact) if any(line["receiving"] for line in row["lines"])]
    context = {"org": contact.organisation, "token": token, "rows": rows}
    if request.method == "POST":
        channels = sorted({channel for row in _rows(contact) for channel in row["purpose"].channels or []})
        for channel in channels:
            consent.withdraw_everywhere(contact, channel, actor=pages.actor(request), method=WEB,
                                        evidence=pages.evidence(request, reverse("public:index")))
        return render(request, "public/stopped.html", context)
    return render(request, "public/stop.html", context)
