"""Events and their reminders (R-20..R-23, R-27): the list of upcoming events with the next
reminders due, one event with "what will be sent when and why", creating, moving and cancelling.

Every write goes through relance.reminders.services (its audit event, its outbox rows); people are
found through contacts.services.lookup() and named through read_personal_data() (audited, R-65).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Min
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from relance.accounts.models import Site
from relance.backoffice.links import page_url
from relance.consent.models import Purpose
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.messaging import sending
from relance.messaging.models import Message, MessageEvent
from relance.reminders import planning
from relance.reminders import services as reminders
from relance.reminders.models import Event

from ... import lists
from ...access import requires
from ...forms import show_service_errors
from ...services import actor
from . import explain
from .common import contact_labels, in_org_zone
from .forms import EventFilterForm, EventForm, RescheduleForm

PER_PAGE = 25
NEXT_REMINDERS = 10


def _events(org):
    return Event.objects.for_org(org)


def _reminders(org, event_ids):
    return Message.objects.for_org(org).filter(source=Message.Source.EVENT, source_id__in=[str(i) for i in event_ids])


def _filtered(org, form: EventFilterForm):
    rows = _events(org).select_related("purpose", "site", "contact")
    data = form.cleaned_data if form.is_valid() else {}
    now = timezone.now()
    when = data.get("when") or "upcoming"
    if when == "upcoming":
        rows = rows.filter(starts_at__gte=now - timedelta(hours=1)).order_by("starts_at", "pk")
    elif when == "past":
        rows = rows.filter(starts_at__lt=now).order_by("-starts_at", "pk")
    else:
        rows = rows.order_by("-starts_at", "pk")
    for name, column in (("kind", "kind"), ("purpose", "purpose_id"), ("site", "site_id"), ("status", "status")):
        if data.get(name):
            rows = rows.filter(**{column: data[name]})
    return rows


@requires("message.view")
@in_org_zone
def event_list(request):
    """R-27: upcoming events and, for each, its next reminder; the next reminders due across them."""
    org = request.organisation
    form = EventFilterForm(org, request.GET or None)
    page = lists.paginate(request, _filtered(org, form), per_page=PER_PAGE)
    events = list(page.object_list)
    pending = (_reminders(org, [e.pk for e in events]).filter(status__in=Message.PENDING)
               .values("source_id").annotate(n=Count("id"), next=Min("due_at")))
    by_event = {row["source_id"]: row for row in pending}
    labels = contact_labels(request, [e.contact for e in events], "backoffice.events")
    rows = [{"event": e, "pending": by_event.get(str(e.pk), {}).get("n", 0),
             "next": by_event.get(str(e.pk), {}).get("next"), "contact": labels[e.contact_id],
             "purpose": e.purpose.label(request.LANGUAGE_CODE)} for e in events]
    due = (Message.objects.for_org(org).filter(source=Message.Source.EVENT, status__in=Message.PENDING)
           .select_related("template").order_by("due_at")[:NEXT_REMINDERS])
    return render(request, "backoffice/sending/events.html", {
        "form": form, "page": page, "rows": rows, "due": [_due_row(m) for m in due],
        "filtered": any(request.GET.get(n) for n in ("kind", "purpose", "site", "status")),
    })


def _due_row(message: Message) -> dict:
    return {"message": message, "event_id": message.source_id,
            "template": message.template.code if message.template_id else ""}


# --- one event -------------------------------------------------------------------------------
def _planned(org, event: Event) -> list[dict]:
    """Each reminder of the event with its step, time and the decision in words (R-21, R-22)."""
    rows = list(_reminders(org, [event.pk]).select_related("template", "purpose").order_by("step", "due_at",
                                                                                            "created_at"))
    lines: dict = {}
    for line in MessageEvent.objects.for_org(org).filter(message__in=rows).order_by("at", "id"):
        lines.setdefault(line.message_id, []).append(line)
    settings = sending.settings_for(org)
    steps = event.rule.steps if event.rule_id else []
    planned = []
    for message in rows:
        timeline = lines.get(message.pk, [])
        message.closing_line = timeline[-1] if timeline else None
        not_before = None
        if message.status in Message.PENDING:
            not_before = sending.not_before(org, message.message_class, settings, message.due_at)
        step = steps[message.step] if message.step is not None and message.step < len(steps) else None
        offset = step["offset_minutes"] if step else None
        planned.append({
            "message": message, "offset": offset,
            "offset_text": explain.offset_text(offset) if offset is not None else "",
            "short": explain.short_offset(offset) if offset is not None else "",
            "decision": explain.decision(message, timeline[0] if timeline else None, not_before),
            "url": page_url("backoffice:message_detail", message_id=message.pk),
        })
    return planned


def _unplanned_steps(event: Event, planned: list[dict]) -> list[dict]:
    """Steps of the rule with no reminder: their time had already passed when the event came (R-27)."""
    if not event.rule_id:
        return []
    have = {row["message"].step for row in planned}
    return [{"index": i, "text": explain.offset_text(step["offset_minutes"]),
             "short": explain.short_offset(step["offset_minutes"]), "channel": step["channel"]}
            for i, step in enumerate(event.rule.steps) if i not in have]


@requires("message.view")
@in_org_zone
def event_detail(request, event_id):
    org = request.organisation
    event = get_object_or_404(_events(org).select_related("purpose", "site", "rule", "contact"), pk=event_id)
    planned = _planned(org, event)
    label = contact_labels(request, [event.contact], "backoffice.event")[event.contact_id]
    return render(request, "backoffice/sending/event_detail.html", {
        "event": event, "planned": planned, "unplanned": _unplanned_steps(event, planned), "contact": label,
        "purpose_label": event.purpose.label(request.LANGUAGE_CODE), "open": event.status == Event.Status.SCHEDULED,
        "rule_url": page_url("backoffice:reminder_rules"),
    })


# --- creating, moving, cancelling --------------------------------------------------------------
def _contact_from_query(request) -> Contact | None:
    raw = request.GET.get("contact") or request.POST.get("contact")
    if not raw:
        return None
    contact = contacts.get_contact(request.organisation, raw, actor=actor(request))
    if contact is None:
        raise Http404
    return contact


def _find_contact(request, form: EventForm) -> Contact | None:
    """The one person the phone, e-mail or reference names; errors on the form otherwise."""
    kind, value = form.cleaned_data.get("find_by") or "phone", (form.cleaned_data.get("find_value") or "").strip()
    if not value:
        form.add_error("find_value", _("Give the person's phone number, e-mail address or your reference."))
        return None
    try:
        found = contacts.lookup(request.organisation, actor=actor(request), **{kind: value})
    except ValidationError as error:
        form.add_error("find_value", error.messages)
        return None
    if not found:
        form.add_error("find_value", _("Nobody in your organisation has this %(what)s. Check it, or add the person "
                                       "first.") % {"what": dict(form.fields["find_by"].choices)[kind].lower()})
        return None
    if len(found) > 1:
        form.add_error("find_value", _("Several people share this %(what)s: use their e-mail address or your "
                                       "reference, or start from the person's page.")
                       % {"what": dict(form.fields["find_by"].choices)[kind].lower()})
        return None
    return found[0]


def _owned(model, org, pk):
    if pk in (None, ""):
        return None
    return model.objects.for_org(org).filter(pk=pk).first()


@requires("contact.edit")
@in_org_zone
def event_create(request):
    org = request.organisation
    fixed = _contact_from_query(request)
    initial = {"contact": fixed.pk if fixed else None, "starts_at": _next_hour()}
    form = EventForm(org, request.POST or None, initial=initial, contact_fixed=fixed is not None)
    if request.method == "POST" and form.is_valid():
        contact = fixed or _find_contact(request, form)
        if contact is not None:
            event = _create(request, form, contact)
            if event is not None:
                return redirect("backoffice:event_detail", event_id=event.pk)
    label = contact_labels(request, [fixed], "backoffice.event")[fixed.pk] if fixed else None
    return render(request, "backoffice/sending/event_form.html", {"form": form, "contact": label})


def _next_hour():
    now = timezone.localtime()
    return (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


def _create(request, form: EventForm, contact: Contact) -> Event | None:
    org, data = request.organisation, form.cleaned_data
    try:
        event, _created = reminders.upsert_event(
            org, actor=actor(request), external_id=data["external_id"] or f"BO-{uuid.uuid4().hex[:12]}",
            kind=data["kind"], contact=contact, purpose=_owned(Purpose, org, data["purpose"]),
            starts_at=data["starts_at"], ends_at=data["ends_at"], site=_owned(Site, org, data["site"]),
            params=form.params())
    except ValidationError as error:
        show_service_errors(form, error)
        return None
    plan = event.plan
    count = len(plan.messages) if plan else 0
    if event.rule_id is None:
        messages.warning(request, _("Event saved, but no reminder rule exists for this kind of event and purpose: "
                                    "no reminder will be sent."))
    else:
        messages.success(request, ngettext("Event saved: %(n)d reminder planned.", "Event saved: %(n)d reminders planned.",
                                           count) % {"n": count})
    return event


@requires("contact.edit")
@in_org_zone
def event_edit(request, event_id):
    """Move the event: its pending reminders are cancelled and the new ones planned at once (R-27)."""
    org = request.organisation
    event = get_object_or_404(_events(org).select_related("purpose", "contact", "site"), pk=event_id)
    initial = {"starts_at": timezone.localtime(event.starts_at),
               "ends_at": timezone.localtime(event.ends_at) if event.ends_at else None, "site": event.site_id}
    if event.status != Event.Status.SCHEDULED:
        messages.error(request, _("This event is %(status)s: it cannot be moved any more.")
                       % {"status": event.get_status_display().lower()})
        return redirect("backoffice:event_detail", event_id=event.pk)
    form = RescheduleForm(org, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            reminders.upsert_event(org, actor=actor(request), external_id=event.external_id, kind=event.kind,
                                   contact=event.contact, purpose=event.purpose, starts_at=data["starts_at"],
                                   ends_at=data["ends_at"], site=_owned(Site, org, data["site"]),
                                   params=planning.event_params(event))
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Event moved: its reminders were planned again."))
            return redirect("backoffice:event_detail", event_id=event.pk)
    return render(request, "backoffice/sending/event_edit.html", {"form": form, "event": event})


@requires("contact.edit")
@in_org_zone
def event_cancel(request, event_id):
    org = request.organisation
    event = get_object_or_404(_events(org).select_related("purpose"), pk=event_id)
    pending = _reminders(org, [event.pk]).filter(status__in=Message.PENDING).count()
    error = ""
    if request.method == "POST":
        try:
            reminders.cancel_event(event, actor=actor(request))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, ngettext("Event cancelled: %(n)d reminder will not be sent.",
                                               "Event cancelled: %(n)d reminders will not be sent.", pending)
                             % {"n": pending})
            return redirect("backoffice:event_detail", event_id=event.pk)
    return render(request, "backoffice/sending/event_cancel.html",
                  {"event": event, "pending": pending, "error": error})

