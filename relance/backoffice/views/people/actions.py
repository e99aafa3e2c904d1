"""What staff do for a contact: record a decision on their behalf, restrict, mark deceased, start a
rights request, erase. Each is a real form, calls one service (which writes its audit event), and
says in plain words what happened. Destructive ones ask for confirmation first."""

from __future__ import annotations

from datetime import datetime, time

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from relance.accounts.permissions import allowed
from relance.backoffice.links import page_url
from relance.consent import services as consent
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.privacy import erasure, rights
from relance.privacy.models import RightsRequest

from ...access import requires
from ...forms import show_service_errors
from ...services import actor
from .forms import ConsentForm, DeceasedForm, EraseForm, RequestForm
from .pages import owned_contact


def _back(contact: Contact):
    return redirect("backoffice:contact_detail", contact_id=contact.pk)


def _refuse_erased(request, contact: Contact):
    if contact.status == Contact.Status.ERASED:
        messages.error(request, _("This contact was erased: nothing can be changed."))
        return _back(contact)
    return None


@requires("consent.record")
def contact_consent(request, contact_id):
    contact = owned_contact(request, contact_id)
    refused = _refuse_erased(request, contact)
    if refused:
        return refused
    form = ConsentForm(request.POST or None, organisation=request.organisation, language=get_language() or "fr")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        guardian = contact.guardian if data["expressed_by"] == "guardian" else None
        try:
            event = consent.record_consent(
                contact, form.purposes[data["purpose"]], data["channel"], data["action"], actor=actor(request),
                expressed_by=data["expressed_by"], method=data["method"], notice=form.notices.get(data["notice"]),
                evidence=form.evidence(), event_ref=data["event_ref"], guardian=guardian, staff_user=request.user)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Recorded: %(action)s for “%(purpose)s” by %(channel)s.") % {
                "action": event.get_action_display().lower(), "channel": event.get_channel_display(),
                "purpose": event.purpose.label(get_language() or "fr")})
            return _back(contact)
    return render(request, "backoffice/people/consent_form.html", {
        "form": form, "contact": contact, "has_guardian": bool(contact.guardian_id)})


@requires("contact.edit")
def contact_restrict(request, contact_id):
    """R-44: restrict (nothing is sent) or lift the restriction, after a confirmation page."""
    contact = owned_contact(request, contact_id)
    refused = _refuse_erased(request, contact)
    if refused:
        return refused
    lifting = contact.status == Contact.Status.RESTRICTED
    error = None
    if request.method == "POST":
        service = contacts.lift_restriction if lifting else contacts.restrict_contact
        try:
            service(contact, actor=actor(request))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, _("The restriction is lifted: messages may be sent again.") if lifting else
                             _("The contact is restricted: nothing will be sent to them until the restriction is "
                               "lifted."))
            return _back(contact)
    return render(request, "backoffice/people/confirm.html", {
        "contact": contact, "error": error, "action": "lift" if lifting else "restrict"})


@requires("contact.edit")
def contact_deceased(request, contact_id):
    """R-45: sending stops at once; with the person's directive (and the right to erase), erased now."""
    contact = owned_contact(request, contact_id)
    refused = _refuse_erased(request, contact)
    if refused:
        return refused
    may_erase = allowed(request.membership.role, "contact.erase")
    form = DeceasedForm(request.POST or None)
    if not may_erase:
        del form.fields["erase_now"]
    error = None
    if request.method == "POST" and form.is_valid():
        erase_now = may_erase and form.cleaned_data.get("erase_now", False)
        try:
            erasure.mark_deceased(contact, actor=actor(request), erase_now=erase_now)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, _("Marked as deceased and erased.") if erase_now else
                             _("Marked as deceased: nothing more will be sent."))
            return _back(contact)
    return render(request, "backoffice/people/confirm.html", {
        "contact": contact, "error": error, "action": "deceased", "form": form})


def _received_at(day):
    if day is None or day == timezone.localdate():
        return None  # now
    return timezone.make_aware(datetime.combine(day, time(12, 0)))


@requires("rights.manage")
def contact_request(request, contact_id):
    """Staff intake of a rights request for this contact (R-40); the deadline starts (R-41)."""
    contact = owned_contact(request, contact_id)
    refused = _refuse_erased(request, contact)
    if refused:
        return refused
    form = RequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            req = rights.open_request(request.organisation, actor=actor(request), kind=data["kind"], contact=contact,
                                      channel=RightsRequest.Channel.STAFF, requested_by=data["requested_by"],
                                      details=data["details"], received_at=_received_at(data["received_on"]))
        except ValidationError as error:
            if hasattr(error, "error_dict") and "received_at" in error.error_dict:
                error = ValidationError({"received_on": error.error_dict.pop("received_at"), **error.error_dict})
            show_service_errors(form, error)
        else:
            messages.success(request, _("Request %(reference)s recorded. It is due by %(due)s.") % {
                "reference": req.reference, "due": timezone.localtime(req.due_at).strftime("%d/%m/%Y")})
            target = page_url("backoffice:request_detail", rightsrequest_id=req.pk)
            return redirect(target) if target else _back(contact)
    return render(request, "backoffice/people/request_form.html", {"form": form, "contact": contact})


@requires("contact.erase")
def contact_erase(request, contact_id):
    """R-43: crypto-shredding, after a confirmation that says it cannot be undone."""
    contact = owned_contact(request, contact_id)
    refused = _refuse_erased(request, contact)
    if refused:
        return refused
    form = EraseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            erasure.erase_contact(contact, actor=actor(request), reason="staff")
        except erasure.AlreadyErased as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The contact's data is erased. Only an anonymous record is left."))
        return _back(contact)
    return render(request, "backoffice/people/confirm.html", {"contact": contact, "action": "erase", "form": form})
