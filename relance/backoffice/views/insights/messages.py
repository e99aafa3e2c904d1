"""The outbox: every message of the organisation, newest first, with filters; and one message's
timeline, provider and, for the roles allowed, the text as sent (R-20, R-21, R-65).

Personal data: the recipient's number or address is shown in clear only to roles with
`contact.view_personal`, each page being one audited read (`contact.read`, the contacts shown by id);
other roles see it masked without it ever being decrypted. The text sent is read through
`messaging.services.read_message_content` (audited `message.content_read`) when asked for.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.db import transaction
from django.shortcuts import get_object_or_404, render
from django.utils.dateparse import parse_datetime
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from relance.accounts.permissions import allowed
from relance.audit import services as audit
from relance.backoffice.links import page_url
from relance.consent.models import CHANNELS, Purpose
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.keystore.services import KeyDestroyed
from relance.messaging import services as messaging
from relance.messaging.models import Campaign, Message

from ...access import requires
from ...lists import paginate
from ...services import actor
from .labels import reason_label, timeline_label

PER_PAGE = 50


class OutboxFilters(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("All statuses")), *Message.Status.choices])
    channel = forms.ChoiceField(label=_("Channel"), required=False, choices=[("", _("All channels")), *CHANNELS])
    purpose = forms.ModelChoiceField(label=_("Purpose"), required=False, queryset=Purpose.objects.none(),
                                     empty_label=_("All purposes"))
    campaign = forms.ModelChoiceField(label=_("Campaign"), required=False, queryset=Campaign.objects.none(),
                                      empty_label=_("All campaigns"))
    source = forms.ChoiceField(label=_("Origin"), required=False, choices=[("", _("All origins")), *Message.Source.choices])
    created_from = forms.DateField(label=_("Created from"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(label=_("Created until"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, org, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.org = org
        self.fields["purpose"].queryset = Purpose.objects.for_org(org).order_by("code")
        self.fields["purpose"].label_from_instance = lambda p: p.label(get_language() or "fr")
        self.fields["campaign"].queryset = Campaign.objects.for_org(org).order_by("-created_at")
        self.fields["campaign"].label_from_instance = lambda c: c.name

    def filter(self, rows):
        """The rows matching the valid filters (an invalid one is reported on its field and ignored)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        for name in ("status", "channel", "purpose", "campaign", "source"):
            if data.get(name):
                rows = rows.filter(**{name: data[name]})
        zone = ZoneInfo(self.org.time_zone)
        if data.get("created_from"):
            rows = rows.filter(created_at__gte=datetime.combine(data["created_from"], time(0), tzinfo=zone))
        if data.get("created_to"):
            end = datetime.combine(data["created_to"] + timedelta(days=1), time(0), tzinfo=zone)
            rows = rows.filter(created_at__lt=end)
        return rows


def _sees_personal(request) -> bool:
    return allowed(request.membership.role, "contact.view_personal")


def _address(message: Message) -> str:
    """The recipient's number or e-mail in clear ("" when erased or missing)."""
    recipient = message.recipient
    if recipient.status == Contact.Status.ERASED:
        return ""
    try:
        return (recipient.phone if message.channel == "sms" else recipient.email) or ""
    except KeyDestroyed:
        return ""


def _decorate(message: Message, personal: bool) -> Message:
    message.reason_label = reason_label(message.reason)
    message.address = _address(message) if personal else ""
    message.for_guardian = message.recipient_id != message.contact_id
    return message


@requires("message.view")
def message_list(request):
    org = request.organisation
    form = OutboxFilters(org, request.GET or None)
    rows = form.filter(Message.objects.for_org(org)) if form.is_bound else Message.objects.for_org(org)
    rows = rows.select_related("purpose", "recipient", "campaign").order_by("-created_at", "-pk")
    page = paginate(request, rows, PER_PAGE)
    personal = _sees_personal(request)
    messages = [_decorate(message, personal) for message in page.object_list]
    if personal and messages:
        shown = sorted({str(m.recipient_id) for m in messages})
        with transaction.atomic():
            audit.record(org, actor(request), "contact.read",
                         details={"purpose": "outbox", "contacts": shown, "count": len(shown)})
    return render(request, "backoffice/insights/messages.html", {
        "form": form, "page": page, "messages_shown": messages, "personal": personal,
        "filtered": any(value for name, value in request.GET.items() if name != "page")})


@requires("message.view")
def message_detail(request, message_id):
    org = request.organisation
    message = get_object_or_404(Message.objects.for_org(org).select_related("purpose", "recipient", "contact",
                                                                             "campaign", "template"), pk=message_id)
    personal = _sees_personal(request)
    address, content = "", None
    if personal:
        fields = contacts.read_personal_data(message.recipient, actor=actor(request), purpose="message_view")
        address = (fields.get("phone") if message.channel == "sms" else fields.get("email")) or ""
        if request.GET.get("show") == "text":
            content = messaging.read_message_content(message, actor=actor(request))
    timeline = messaging.message_timeline(message)
    for line in timeline:
        line.label, line.reason_label = timeline_label(line.kind), reason_label(line.reason)
        line.until = parse_datetime(line.detail.get("until") or "") if isinstance(line.detail, dict) else None
    return render(request, "backoffice/insights/message_detail.html", {
        "message": message, "reason": reason_label(message.reason), "timeline": timeline, "personal": personal,
        "address": address, "content": content, "for_guardian": message.recipient_id != message.contact_id,
        "contact_url": page_url("backoffice:contact_detail", contact_id=message.contact_id),
        "campaign_url": page_url("backoffice:campaign_detail", campaign_id=message.campaign_id)
        if message.campaign_id else "",
    })
