"""Small helpers shared by the privacy pages."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from relance.accounts.models import Membership
from relance.audit.models import AuditEvent

# Audit action codes in plain words, for the histories shown on the pages.
ACTIONS = {
    "privacy.request_received": _("Request recorded"),
    "privacy.request_started": _("Work on the request started"),
    "privacy.request_extended": _("Deadline extended by two months, the person told"),
    "privacy.request_completed": _("Request completed"),
    "privacy.request_refused": _("Request refused"),
    "privacy.request_read": _("The person's words were read"),
    "privacy.request_linked": _("Linked to a contact"),
    "privacy.export_created": _("Access export created"),
    "privacy.export_read": _("Access export read"),
    "privacy.breach_recorded": _("Incident recorded"),
    "privacy.breach_updated": _("Incident completed or corrected"),
    "privacy.breach_assessed": _("Risk assessed"),
    "privacy.breach_notified": _("Notification to the CNIL recorded"),
    "privacy.breach_closed": _("Incident closed"),
    "privacy.breach_subjects_computed": _("People concerned listed"),
    "privacy.breach_subjects_notified": _("People concerned told (Art. 34)"),
}

ACTORS = {"api_key": _("Integration (API key)"), "system": _("Relance (automatic)"), "subject": _("The person"),
          "provider": _("Provider")}


def history(org, target_type: str, target_id) -> list[AuditEvent]:
    """The audit events about one object, oldest first, with the member's name and a plain label."""
    events = list(AuditEvent.objects.filter(organisation=org, target_type=target_type, target_id=str(target_id))
                  .order_by("created_at", "seq"))
    ids = {event.actor_id for event in events if event.actor_kind == "user"}
    names = {str(m.user_id): m.user.full_name or m.user.email for m in
             Membership.objects.for_org(org).filter(user_id__in=ids).select_related("user")}
    for event in events:
        event.label = ACTIONS.get(event.action, event.action)
        event.actor_name = names.get(event.actor_id, "") if event.actor_kind == "user" else \
            ACTORS.get(event.actor_kind, event.actor_kind)
    return events



def done(request, text: str, to: str, **kwargs):
    messages.success(request, text)
    return redirect(to, **kwargs)


def error_messages(error: ValidationError) -> list[str]:
    return error.messages
