"""Contacts: the list and search, the contact page, create and edit (R-61, R-65).

Every page that shows a contact's personal data reads it through the contacts services, which write
`contact.read` (one event per page); searches go through the keyed-hash lookups, which write
`contact.lookup`. Roles without contact.view_personal (the auditor) get masked values only: the
clear values never reach their templates.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from relance.accounts.models import User
from relance.backoffice.links import page_url
from relance.consent import services as consent
from relance.consent.models import ConsentEvent, ConsentState
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.messaging.models import Message
from relance.privacy.models import RightsRequest
from relance.reminders.models import Event

from ...access import requires
from ...forms import show_service_errors
from ...lists import paginate
from ...services import actor
from .display import display_name, sees_personal, shown
from .forms import ContactForm, DuplicatesForm, SearchForm

PHONE_LIKE = re.compile(r"^\+?[\d\s().-]{6,}$")
SHOWN_ROWS = 20


def owned_contact(request, contact_id) -> Contact:
    """The active organisation's contact, or 404 (another organisation's contact too, R-63)."""
    contact = contacts.get_contact(request.organisation, contact_id, actor=actor(request))
    if contact is None:
        raise Http404
    return contact


def _purpose_of_read(request, what: str) -> str:
    return f"backoffice.{what}" if sees_personal(request) else f"backoffice.{what}_masked"


def _rows(request, found: list[Contact], what: str) -> list[dict]:
    data = contacts.read_personal_data_of_many(found, actor=actor(request), purpose=_purpose_of_read(request, what))
    rows = []
    for contact in found:
        values = shown(request, data[contact.pk])
        rows.append({"contact": contact, "name": display_name(values), **values})
    return rows


# --- list and search -------------------------------------------------------------------------
def _search(request, form: SearchForm) -> list[Contact] | None:
    query, kind = form.cleaned_data["q"].strip(), form.cleaned_data.get("by") or "auto"
    org, who = request.organisation, actor(request)
    if kind == "auto":
        kind = "email" if "@" in query else "phone" if PHONE_LIKE.match(query) else "name_or_ref"
    try:
        if kind == "name_or_ref":
            found = contacts.find_by_last_name(org, query, actor=who)
            by_ref = contacts.find_by_external_ref(org, query, actor=who)
            found += [by_ref] if by_ref is not None and by_ref not in found else []
        elif kind == "external_ref":
            by_ref = contacts.find_by_external_ref(org, query, actor=who)
            found = [by_ref] if by_ref is not None else []
        else:
            found = {"last_name": contacts.find_by_last_name, "phone": contacts.find_by_phone,
                     "email": contacts.find_by_email}[kind](org, query, actor=who)
    except ValidationError as error:
        form.add_error("q", error.messages)
        return None
    return sorted(found, key=lambda c: c.created_at, reverse=True)


@requires("message.view")
def contact_list(request):
    """Newest contacts first; a search (POSTed, so that numbers and addresses stay out of URLs and
    logs) replaces the list by its results."""
    form = SearchForm(request.POST or None)
    results = None
    if request.method == "POST" and form.is_valid():
        found = _search(request, form)
        results = None if found is None else _rows(request, found, "search")
    page = None
    if results is None:
        page = paginate(request, Contact.objects.for_org(request.organisation).order_by("-created_at", "-pk"))
        page.rows = _rows(request, list(page.object_list), "list")
    return render(request, "backoffice/people/contacts.html", {
        "form": form, "results": results, "page": page, "clear": sees_personal(request)})


# --- create and edit -------------------------------------------------------------------------
def _duplicates(request, values: dict) -> list[dict]:
    found = contacts.find_duplicates(request.organisation, phone=values.get("phone"), email=values.get("email"))
    return [{"contact": c, "url": page_url("backoffice:contact_detail", contact_id=c.pk)} for c in found]


@requires("contact.edit")
def contact_create(request):
    org = request.organisation
    form_class = DuplicatesForm if request.POST.get("checked_duplicates") else ContactForm
    form = form_class(request.POST or None, organisation=org, initial={"language": org.default_language})
    duplicates = []
    if request.method == "POST" and form.is_valid():
        values = form.values()
        duplicates = _duplicates(request, values)
        if duplicates and not form.cleaned_data.get("confirm_new"):
            form = DuplicatesForm(request.POST, organisation=org)
            form.is_valid()
        else:
            try:
                contact = contacts.create_contact(org, actor=actor(request), source=Contact.Source.STAFF, **values)
            except ValidationError as error:
                show_service_errors(form, error)
            else:
                messages.success(request, _("Contact created."))
                return redirect("backoffice:contact_detail", contact_id=contact.pk)
    return render(request, "backoffice/people/contact_form.html", {
        "form": form, "duplicates": duplicates, "creating": True})


@requires("contact.edit")
def contact_edit(request, contact_id):
    contact = owned_contact(request, contact_id)
    if contact.status == Contact.Status.ERASED:
        messages.error(request, _("This contact was erased: nothing can be changed."))
        return redirect("backoffice:contact_detail", contact_id=contact.pk)
    org = request.organisation
    if request.method == "POST":
        form = ContactForm(request.POST, organisation=org)
        if form.is_valid():
            try:
                contacts.update_contact(contact, actor=actor(request), **form.values())
            except ValidationError as error:
                show_service_errors(form, error)
            else:
                messages.success(request, _("Changes saved."))
                return redirect("backoffice:contact_detail", contact_id=contact.pk)
    else:
        personal = contacts.read_personal_data(contact, actor=actor(request), purpose="backoffice.edit")
        form = ContactForm(organisation=org, initial=ContactForm.initial_from(personal, contact))
    return render(request, "backoffice/people/contact_form.html", {"form": form, "contact": contact})


# --- the contact page ------------------------------------------------------------------------
def _staff_names(events) -> dict:
    ids = {event.staff_user_id for event in events if event.staff_user_id}
    return {user.pk: user.full_name or "" for user in User.objects.filter(pk__in=ids)}


def _timeline(org, contact: Contact, language: str, role: str) -> list[dict]:
    events = list(ConsentEvent.objects.for_org(org).filter(contact=contact).select_related("purpose", "notice")
                  .order_by("-occurred_at", "-seq")[:100])
    staff = _staff_names(events)
    return [{
        "event": event, "purpose": event.purpose.label(language), "staff": staff.get(event.staff_user_id, ""),
        "notice_url": page_url("public:notice", notice_uid=event.notice.uid) if event.notice else "",
        "evidence_url": page_url("backoffice:contact_evidence", role=role, consentevent_id=event.pk),
    } for event in events]


def _states(org, contact: Contact, language: str) -> list[dict]:
    states = ConsentState.objects.for_org(org).filter(contact=contact).select_related("purpose")
    rows = [{"state": s, "purpose": s.purpose.label(language), "consent_based": s.purpose.consent_based}
            for s in states]
    return sorted(rows, key=lambda row: (row["purpose"], row["state"].channel))


def _activity(org, contact: Contact, language: str, role: str) -> dict:
    events = Event.objects.for_org(org).filter(contact=contact).select_related("purpose").order_by("-starts_at")
    sent = Message.objects.for_org(org).filter(contact=contact).select_related("purpose")
    requests = RightsRequest.objects.for_org(org).filter(contact=contact).order_by("-received_at")
    return {
        "events": [{"event": e, "purpose": e.purpose.label(language),
                    "url": page_url("backoffice:event_detail", role=role, event_id=e.pk)} for e in events[:SHOWN_ROWS]],
        "planned": [{"message": m, "purpose": m.purpose.label(language) if m.purpose else ""}
                    for m in sent.filter(status__in=Message.PENDING).order_by("due_at")[:SHOWN_ROWS]],
        "sent_messages": [{"message": m, "purpose": m.purpose.label(language) if m.purpose else "",
                      "url": page_url("backoffice:message_detail", role=role, message_id=m.pk)}
                     for m in sent.exclude(status__in=Message.PENDING).order_by("-created_at")[:SHOWN_ROWS]],
        "requests": [{"request": r, "url": page_url("backoffice:request_detail", role=role, rightsrequest_id=r.pk)}
                     for r in requests[:SHOWN_ROWS]],
    }


@requires("message.view")
def contact_detail(request, contact_id):
    contact = owned_contact(request, contact_id)
    org, language = request.organisation, get_language() or "fr"
    personal = contacts.read_personal_data(contact, actor=actor(request), purpose=_purpose_of_read(request, "view"))
    values = shown(request, personal)
    guardian = contact.guardian if contact.guardian_id else None
    return render(request, "backoffice/people/contact_detail.html", {
        "contact": contact, "person": values, "name": display_name(values), "clear": sees_personal(request),
        "guardian_url": page_url("backoffice:contact_detail", contact_id=guardian.pk) if guardian else "",
        "timeline": _timeline(org, contact, language, request.membership.role), "states": _states(org, contact, language),
        **_activity(org, contact, language, request.membership.role),
        "request_queue_url": page_url("backoffice:requests", role=request.membership.role),
    })


@requires("contact.view_personal")
def contact_evidence(request, consentevent_id):
    """One consent event's evidence (a form reference, a truncated IP...), read on demand: audited."""
    event = (ConsentEvent.objects.for_org(request.organisation).filter(pk=consentevent_id)
             .select_related("purpose", "organisation", "contact").first())
    if event is None:
        raise Http404
    evidence = consent.read_evidence(event, actor=actor(request))
    return render(request, "backoffice/people/evidence.html", {
        "contact": event.contact, "event": event, "purpose": event.purpose.label(get_language() or "fr"),
        "evidence": sorted((evidence or {}).items()), "destroyed": evidence is None})
