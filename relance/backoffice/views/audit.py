"""The audit trail of the active organisation, and its verification (R-65)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from relance.accounts.models import Membership
from relance.audit import services as audit
from relance.audit.models import AuditEvent

from ..access import requires
from ..lists import paginate
from ..services import actor
from .insights.labels import action_label

PAGE_SIZE = 50
KINDS = {"api_key": gettext_lazy("An API key"), "system": gettext_lazy("Relance itself"),
         "subject": gettext_lazy("The person concerned"), "provider": gettext_lazy("A provider's callback")}


class AuditFilters(forms.Form):
    action = forms.ChoiceField(label=gettext_lazy("Action"), required=False)
    actor = forms.ChoiceField(label=gettext_lazy("Who"), required=False)
    day_from = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    day_to = forms.DateField(label=gettext_lazy("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, org, events, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.org = org
        codes = sorted(set(events.values_list("action", flat=True).distinct().order_by()))
        self.fields["action"].choices = [("", gettext_lazy("All actions")),
                                         *sorted(((c, action_label(c)) for c in codes), key=lambda kv: str(kv[1]))]
        members = Membership.objects.for_org(org).select_related("user").order_by("user__full_name")
        self.fields["actor"].choices = [("", gettext_lazy("Everyone")),
                                        *((f"user:{m.user_id}", m.user.full_name or str(m.user_id)) for m in members),
                                        *((f"{kind}:", label) for kind, label in KINDS.items())]

    def filter(self, events):
        if not self.is_valid():
            return events
        data, zone = self.cleaned_data, ZoneInfo(self.org.time_zone)
        if data["action"]:
            events = events.filter(action=data["action"])
        if data["actor"]:
            kind, _sep, ident = data["actor"].partition(":")
            events = events.filter(actor_kind=kind, **({"actor_id": ident} if ident else {}))
        if data["day_from"]:
            events = events.filter(created_at__gte=datetime.combine(data["day_from"], time(0), tzinfo=zone))
        if data["day_to"]:
            events = events.filter(created_at__lt=datetime.combine(data["day_to"] + timedelta(days=1), time(0),
                                                                   tzinfo=zone))
        return events


@requires("audit.view")
def audit_list(request):
    chain = audit.chain_for(request.organisation)
    events = AuditEvent.objects.filter(chain=chain)
    form = AuditFilters(request.organisation, events, request.GET or None)
    page = paginate(request, (form.filter(events) if form.is_bound else events).order_by("-seq"), PAGE_SIZE)
    names = _actor_names(request, page)
    for event in page:
        event.actor_name = names.get(event.actor_id, "")
        event.action_label = action_label(event.action)
        event.kind_label = KINDS.get(event.actor_kind, event.actor_kind)
    last_check = events.filter(action="audit.verified").order_by("-seq").first()
    if last_check is not None:
        last_check.actor_name = _actor_names(request, [last_check]).get(last_check.actor_id, "")
    return render(request, "backoffice/audit.html", {
        "page": page, "form": form, "last_check": last_check,
        "filtered": any(value for name, value in request.GET.items() if name != "page")})


def _actor_names(request, page) -> dict[str, str]:
    """Members' names for the user ids on this page; other actors keep their id."""
    ids = {event.actor_id for event in page if event.actor_kind == "user"}
    memberships = Membership.objects.for_org(request.organisation).filter(user_id__in=ids).select_related("user")
    return {str(m.user_id): m.user.full_name or str(m.user_id) for m in memberships}


@requires("audit.view")
@require_POST
def audit_verify(request):
    chain = audit.chain_for(request.organisation)
    broken = [found for _chain, found in audit.verify([chain]) if found is not None]
    with transaction.atomic():
        audit.record(request.organisation, actor(request), "audit.verified", details={"intact": not broken})
    if broken:
        messages.error(request, _("The audit trail is broken at event %(seq)s: %(reason)s. Tell your platform operator.")
                       % {"seq": broken[0].seq or "—", "reason": broken[0].reason})
    else:
        messages.success(request, _("The audit trail is intact: no event was changed, removed or inserted."))
    return redirect("backoffice:audit")
