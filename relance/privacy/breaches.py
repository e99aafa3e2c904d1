"""The breach register (R-71, GDPR Art. 33 and 34): every incident, notified or not.

- The clock is pure: `deadline()` is 72 hours after awareness, 24 hours for an organisation flagged
  as an electronic-communications provider (Regulation 611/2013; SPEC §9: only for them).
- Services write one transaction each with their audit event: record, update, assess the risk,
  record the notification to the CNIL (late ones need their reasons, Art. 33(1)), close (an
  unlikely-risk incident closes without notification and stays listed, Art. 33(5)).
- `compute_affected()` lists the organisation's contacts an incident concerns (BreachSubject rows);
  `notify_subjects()` tells them (Art. 34) through the normal outbox, class `breach_notice`.
The Art. 33(3) draft for the CNIL is in breach_notice.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation
from relance.audit.services import Actor, record
from relance.consent.decision import recipient_for
from relance.consent.models import DATA_CATEGORIES, Purpose
from relance.contacts.models import Contact
from relance.messaging import outbox
from relance.messaging.models import Message, Template
from relance.reminders.models import Event

from .models import Breach, BreachSubject

KINDS = ("confidentiality", "integrity", "availability")
NOTIFY_WINDOW = timedelta(hours=72)  # Art. 33(1)
ELECTRONIC_COMMUNICATIONS_WINDOW = timedelta(hours=24)  # Regulation (EU) 611/2013, Art. 2(2)
# Categories only present through what happened to a person (an event, a message): an incident on
# them concerns the people who had one in the period, not every contact.
ACTIVITY_CATEGORIES = {"appointment": {"appointment", "convocation"}, "health": {"appointment", "convocation"},
                       "loan": {"loan_due", "reserved_item"}}
EDITABLE = ("title", "nature", "kinds", "aware_at", "occurred_from", "occurred_to", "data_categories",
            "subject_categories", "approx_subjects", "approx_records", "consequences", "measures_taken",
            "measures_proposed")


# --- the clock (pure) ------------------------------------------------------------------------
def deadline(aware_at: datetime, *, electronic_communications: bool) -> datetime:
    """When the CNIL must have been notified (R-71)."""
    return aware_at + (ELECTRONIC_COMMUNICATIONS_WINDOW if electronic_communications else NOTIFY_WINDOW)


def deadline_of(breach: Breach) -> datetime:
    return deadline(breach.aware_at, electronic_communications=breach.organisation.electronic_communications_provider)


def needs_notification(breach: Breach) -> bool:
    """Every incident is notified unless assessed unlikely to result in a risk (Art. 33(1))."""
    return breach.risk != Breach.Risk.UNLIKELY


def time_left(breach: Breach, now: datetime) -> timedelta:
    """Until the deadline; negative once it has passed."""
    return deadline_of(breach) - now


def is_late(breach: Breach, now: datetime) -> bool:
    """Notified after the deadline, or still owed and past it."""
    if not needs_notification(breach):
        return False
    return (breach.notified_at or now) > deadline_of(breach)


def is_overdue(breach: Breach, now: datetime) -> bool:
    """Owed to the CNIL, not notified, and past the deadline: what `relance breaches list` exits 1 for."""
    return breach.notified_at is None and breach.status == Breach.Status.OPEN and is_late(breach, now)


def clock(breach: Breach, now: datetime) -> dict:
    """The clock as plain values, for the API, the command and the draft."""
    left = time_left(breach, now)
    return {"deadline": deadline_of(breach), "hours_left": round(left.total_seconds() / 3600, 1),
            "needs_notification": needs_notification(breach), "late": is_late(breach, now),
            "overdue": is_overdue(breach, now)}


# --- validation ------------------------------------------------------------------------------
def _check_values(values: dict, now: datetime) -> None:
    errors: dict[str, list[str]] = {}
    kinds = values.get("kinds")
    if kinds is not None and (not kinds or set(kinds) - set(KINDS)):
        errors["kinds"] = [_("Choose one or more of: %(kinds)s.") % {"kinds": ", ".join(KINDS)}]
    unknown = set(values.get("data_categories") or []) - set(DATA_CATEGORIES)
    if unknown:
        errors["data_categories"] = [_("Unknown data categories: %(names)s. Choose among: %(known)s.") % {
            "names": ", ".join(sorted(unknown)), "known": ", ".join(DATA_CATEGORIES)}]
    for name in ("title", "nature"):
        if name in values and not (values[name] or "").strip():
            errors[name] = [_("This field is required.")]
    if values.get("aware_at") and values["aware_at"] > now:
        errors["aware_at"] = [_("The moment you became aware cannot be in the future.")]
    start, end = values.get("occurred_from"), values.get("occurred_to")
    if start and end and start > end:
        errors["occurred_to"] = [_("The end of the period must come after its start.")]
    if errors:
        raise ValidationError(errors)


def _open(breach: Breach) -> None:
    if breach.status == Breach.Status.CLOSED:
        raise ValidationError({"status": [_("This incident is closed: it stays in the register and can no "
                                            "longer change. Record a new incident if something new happened.")]})


def _locked(breach: Breach) -> Breach:
    return Breach.objects.for_org(breach.organisation_id).select_for_update().get(pk=breach.pk)


# --- services --------------------------------------------------------------------------------
def _next_reference(org: Organisation, now: datetime) -> str:
    prefix = f"INC-{timezone.localtime(now).year}-"
    taken = Breach.objects.for_org(org).filter(reference__startswith=prefix).values_list("reference", flat=True)
    number = max((int(ref[len(prefix):]) for ref in taken if ref[len(prefix):].isdigit()), default=0) + 1
    return f"{prefix}{number:03d}"


def record_breach(org: Organisation, *, actor: Actor, title: str, nature: str, kinds: list[str],
                  aware_at: datetime, occurred_from: datetime | None = None, occurred_to: datetime | None = None,
                  data_categories: list[str] | None = None, **details) -> Breach:
    """Enter an incident in the register with its next reference, INC-YYYY-NNN (R-71)."""
    unknown = set(details) - set(EDITABLE)
    if unknown:
        raise TypeError(f"record_breach() got unknown fields: {sorted(unknown)}")
    values = {"title": title, "nature": nature, "kinds": list(kinds), "aware_at": aware_at,
              "occurred_from": occurred_from, "occurred_to": occurred_to,
              "data_categories": list(data_categories or []), **details}
    _check_values(values, timezone.now())
    for attempt in range(3):
        try:
            return _insert(org, actor, values)
        except IntegrityError:  # two incidents recorded at once took the same number
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def _insert(org: Organisation, actor: Actor, values: dict) -> Breach:
    # One writer at a time per organisation picks the next number.
    Organisation.objects.select_for_update().filter(pk=org.pk).first()
    breach = Breach(organisation=org, reference=_next_reference(org, timezone.now()),
                    created_by_kind=actor.kind, created_by_id=actor.id, **values)
    breach.save()
    record(org, actor, "privacy.breach_recorded", target=breach,
           details={"reference": breach.reference, "kinds": breach.kinds, "categories": breach.data_categories})
    return breach


@transaction.atomic
def update_breach(breach: Breach, *, actor: Actor, **changes) -> Breach:
    """Complete or correct an open incident (Art. 33(4): information may come in phases)."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise TypeError(f"update_breach() got unknown fields: {sorted(unknown)}")
    breach = _locked(breach)
    _open(breach)
    merged = {name: changes.get(name, getattr(breach, name)) for name in EDITABLE}
    _check_values(merged, timezone.now())
    changed = sorted(name for name, value in changes.items() if getattr(breach, name) != value)
    for name in changed:
        setattr(breach, name, changes[name])
    if changed:
        breach.save()
        record(breach.organisation, actor, "privacy.breach_updated", target=breach,
               details={"reference": breach.reference, "fields": changed})
    return breach


@transaction.atomic
def assess_risk(breach: Breach, *, actor: Actor, risk: str, reason: str) -> Breach:
    """Unlikely (not notified), a risk (notify the CNIL) or a high risk (and tell the people, Art. 34)."""
    breach = _locked(breach)
    _open(breach)
    errors = {}
    if risk not in Breach.Risk.values:
        errors["risk"] = [_("Choose one of: %(values)s.") % {"values": ", ".join(Breach.Risk.values)}]
    if not (reason or "").strip():
        errors["reason"] = [_("Say why you assess the risk this way: the register keeps it (Art. 33(5)).")]
    if errors:
        raise ValidationError(errors)
    previous = breach.risk
    breach.risk, breach.risk_reason = risk, reason.strip()
    breach.save(update_fields=["risk", "risk_reason", "updated_at"])
    record(breach.organisation, actor, "privacy.breach_assessed", target=breach,
           details={"reference": breach.reference, "risk": risk, "previous": previous})
    return breach


@transaction.atomic
def mark_notified(breach: Breach, *, actor: Actor, notified_at: datetime, authority_reference: str,
                  delay_reason: str = "") -> Breach:
    """Record the notification made to the CNIL; after the deadline its reasons are required (Art. 33(1))."""
    breach = _locked(breach)
    _open(breach)
    errors = {}
    if notified_at > timezone.now():
        errors["notified_at"] = [_("The notification cannot be in the future: record it once it is made.")]
    elif notified_at < breach.aware_at:
        errors["notified_at"] = [_("The notification cannot come before you became aware of the incident.")]
    if not (authority_reference or "").strip():
        errors["authority_reference"] = [_("Give the reference the CNIL returned for the notification.")]
    late = notified_at > deadline_of(breach)
    if late and not (delay_reason or "").strip():
        errors["delay_reason"] = [_("The notification is past the deadline: give the reasons for the delay "
                                    "(Art. 33(1)).")]
    if errors:
        raise ValidationError(errors)
    breach.notified_at, breach.authority_reference = notified_at, authority_reference.strip()
    breach.delay_reason, breach.status = (delay_reason or "").strip(), Breach.Status.NOTIFIED
    breach.save(update_fields=["notified_at", "authority_reference", "delay_reason", "status", "updated_at"])
    record(breach.organisation, actor, "privacy.breach_notified", target=breach,
           details={"reference": breach.reference, "late": late})
    return breach


@transaction.atomic
def close_breach(breach: Breach, *, actor: Actor, reason: str = "") -> Breach:
    """Close an incident; it stays in the register. One that must be notified closes once it was."""
    breach = _locked(breach)
    _open(breach)
    if not breach.risk:
        raise ValidationError({"risk": [_("Assess the risk before closing the incident.")]})
    if needs_notification(breach) and breach.notified_at is None:
        raise ValidationError({"status": [_("This incident must be notified to the CNIL: record the "
                                            "notification before closing it.")]})
    untold = breach.risk == Breach.Risk.HIGH and breach.subjects_notified_at is None
    if untold and not (reason or "").strip():
        raise ValidationError({"reason": [_("A high-risk incident closes once the people were told (Art. 34), "
                                            "or give the Art. 34(3) reason they were not.")]})
    if reason:
        breach.risk_reason = f"{breach.risk_reason}\n{reason.strip()}".strip()
    breach.status, breach.closed_at = Breach.Status.CLOSED, timezone.now()
    breach.save(update_fields=["status", "closed_at", "risk_reason", "updated_at"])
    record(breach.organisation, actor, "privacy.breach_closed", target=breach,
           details={"reference": breach.reference, "risk": breach.risk, "notified": breach.notified_at is not None})
    return breach


# --- affected contacts -----------------------------------------------------------------------
def _period(breach: Breach) -> tuple[datetime | None, datetime]:
    return breach.occurred_from, breach.occurred_to or breach.aware_at


def _between(start, end, field_name: str) -> Q:
    q = Q(**{f"{field_name}__lte": end})
    return q & Q(**{f"{field_name}__gte": start}) if start else q


def affected_contacts(breach: Breach):
    """The organisation's contacts the incident concerns: those that existed in the period (created
    before its end, not erased); for categories that exist only through events and messages
    (appointments, loans, health), only those with one in the period. No category: every contact."""
    org = breach.organisation
    start, end = _period(breach)
    existing = Contact.objects.for_org(org).filter(created_at__lte=end).exclude(status=Contact.Status.ERASED)
    categories = set(breach.data_categories or [])
    if not categories or categories - set(ACTIVITY_CATEGORIES):
        return existing
    kinds = set().union(*(ACTIVITY_CATEGORIES[c] for c in categories))
    purposes = [p.pk for p in Purpose.objects.for_org(org).only("pk", "data_categories")
                if categories & set(p.data_categories or [])]
    events = Event.objects.for_org(org).filter(Q(kind__in=kinds) | Q(purpose_id__in=purposes)).filter(
        _between(start, end, "starts_at") | _between(start, end, "created_at"))
    messages = Message.objects.for_org(org).filter(purpose_id__in=purposes).filter(
        _between(start, end, "created_at"))
    return existing.filter(Q(pk__in=events.values("contact_id")) | Q(pk__in=messages.values("contact_id")))


@transaction.atomic
def compute_affected(breach: Breach, *, actor: Actor) -> int:
    """Write the BreachSubject rows; rows whose notice left are kept, others follow the new answer."""
    breach = _locked(breach)
    _open(breach)
    org = breach.organisation
    wanted = set(affected_contacts(breach).values_list("pk", flat=True))
    rows = BreachSubject.objects.for_org(org).filter(breach=breach)
    have = set(rows.values_list("contact_id", flat=True))
    removed, _count = rows.filter(notice_message_id__isnull=True).exclude(contact_id__in=wanted).delete()
    BreachSubject.objects.bulk_create(
        [BreachSubject(organisation=org, breach=breach, contact_id=pk) for pk in wanted - have], batch_size=1000)
    total = rows.count()
    if breach.approx_subjects is None:
        breach.approx_subjects = total
        breach.save(update_fields=["approx_subjects", "updated_at"])
    record(org, actor, "privacy.breach_subjects_computed", target=breach,
           details={"reference": breach.reference, "count": total, "added": len(wanted - have), "removed": removed})
    return total


# --- Art. 34: telling the people -------------------------------------------------------------
@dataclass
class NoticeReport:
    enqueued: int = 0
    already: int = 0
    none: list[tuple[str, str]] = field(default_factory=list)  # (contact id, reason): who got no notice


def _why_none(contact: Contact, purpose: Purpose, channel: str) -> str:
    if contact.status in (Contact.Status.ERASED, Contact.Status.DECEASED):
        return contact.status
    recipient = recipient_for(contact, purpose)
    if channel == "sms" and (not recipient.phone_index or not recipient.number_valid):
        return "no_number"
    if channel == "email" and (not recipient.email_index or not recipient.email_valid):
        return "no_email"
    return ""


def _check_notice(breach: Breach, purpose: Purpose, template, dpo_decision: str) -> None:
    errors = {}
    if breach.risk != Breach.Risk.HIGH and not (dpo_decision or "").strip():
        errors["risk"] = [_("People are told when the risk is high (Art. 34), or when the DPO decides it: give "
                            "the reason for that decision.")]
    if purpose.organisation_id != breach.organisation_id or purpose.status != Purpose.Status.ACTIVE or \
            purpose.message_class != "breach_notice":
        errors["purpose"] = [_("Choose an active purpose of your organisation of the class 'Breach notice (Art. 34)'.")]
    elif template.purpose_id != purpose.pk:
        errors["template"] = [_("Choose a template of that purpose.")]
    if errors:
        raise ValidationError(errors)


def _template_for(template, language: str):
    """The same template code in the person's language when the purpose has one."""
    found = Template.objects.for_org(template.organisation_id).filter(
        purpose_id=template.purpose_id, code=template.code, channel=template.channel, language=language).first()
    return found or template


@transaction.atomic
def notify_subjects(breach: Breach, *, actor: Actor, purpose: Purpose, template, dpo_decision: str = "") -> NoticeReport:
    """One Art. 34 notice per affected contact through the outbox; never a second one to the same person."""
    breach = _locked(breach)
    _open(breach)
    _check_notice(breach, purpose, template, dpo_decision)
    subjects = list(BreachSubject.objects.for_org(breach.organisation).filter(breach=breach)
                    .select_related("contact", "contact__guardian"))
    if not subjects:
        raise ValidationError({"subjects": [_("No affected contact is listed: compute them first.")]})
    report, now = NoticeReport(), timezone.now()
    for subject in subjects:
        if subject.notice_message_id:
            report.already += 1
            continue
        reason = _why_none(subject.contact, purpose, template.channel)
        if reason:
            report.none.append((str(subject.contact_id), reason))
            continue
        chosen = _template_for(template, subject.contact.language)
        message = outbox.enqueue(subject.contact, purpose, template.channel, template=chosen, due_at=now,
                                 source=Message.Source.SYSTEM, source_id=str(breach.pk),
                                 message_class="breach_notice", language=chosen.language)
        subject.notice_message_id = message.pk
        subject.save(update_fields=["notice_message_id"])
        report.enqueued += 1
    if report.enqueued and breach.subjects_notified_at is None:
        breach.subjects_notified_at = now
        breach.save(update_fields=["subjects_notified_at", "updated_at"])
    record(breach.organisation, actor, "privacy.breach_subjects_notified", target=breach,
           details={"reference": breach.reference, "enqueued": report.enqueued, "already": report.already,
                    "none": len(report.none), "purpose": purpose.pk, "high_risk": breach.risk == Breach.Risk.HIGH})
    return report


def _no_notice(contact: Contact) -> str:
    if contact.status in (Contact.Status.ERASED, Contact.Status.DECEASED):
        return contact.status
    return "" if contact.phone_index or contact.email_index else "no_address"


def subjects_status(breach: Breach) -> list[dict]:
    """Each affected contact with its notice and where that notice stands (or why there is none)."""
    org = breach.organisation
    subjects = list(BreachSubject.objects.for_org(org).filter(breach=breach).select_related("contact")
                    .order_by("created_at", "pk"))
    ids = [s.notice_message_id for s in subjects if s.notice_message_id]
    messages = {m.pk: m for m in Message.objects.for_org(org).filter(pk__in=ids).only("pk", "status", "reason")}
    rows = []
    for subject in subjects:
        message = messages.get(subject.notice_message_id)
        rows.append({"contact_id": subject.contact_id, "contact_status": subject.contact.status,
                     "message_id": subject.notice_message_id, "message_status": message.status if message else "",
                     "reason": message.reason if message else _no_notice(subject.contact)})
    return rows
