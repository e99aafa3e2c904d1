"""Data-subject requests (R-40, R-41): open, start, extend, complete (doing what the kind asks), refuse.

Every write is one transaction with its audit event (R-65); completion and refusal also queue the
outgoing webhook `request.completed` / `request.refused` in that transaction. Statuses only move
forward (received → in progress → extended → completed or refused); a move that is not allowed is a
ValidationError on `status` whose code names the problem, so the API can answer 409 with it.

The person's own words (`details`) are sealed with the contact's data key: erasing the person shreds
them, while the row (kind, dates, outcome) stays as proof the request was answered (Art. 5(2)).
Reading them is an audited read (`privacy.request_read`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation
from relance.audit import services as audit
from relance.audit.services import Actor
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.keystore import services as keys
from relance.lib.logs import looks_personal

from . import deadlines, rights_actions
from .models import ControllerProfile, RightsRequest

Status, Kind = RightsRequest.Status, RightsRequest.Kind
MAX_DETAILS = 5000
MAX_REASON = 2000
LANGUAGES = [code for code, _label in settings.LANGUAGES]


# --- errors ----------------------------------------------------------------------------------
def status_error(message: str, code: str) -> ValidationError:
    return ValidationError({"status": ValidationError(message, code=code)})


def _closed_error() -> ValidationError:
    return status_error(_("This request is closed (completed or refused): it cannot change any more."),
                        "request_closed")


def _require_open(req: RightsRequest) -> None:
    if not req.is_open:
        raise _closed_error()


# --- helpers ---------------------------------------------------------------------------------
def _locked(req: RightsRequest) -> RightsRequest:
    """The request's row, locked until the end of the transaction, copied into the caller's instance."""
    fresh = RightsRequest.objects.for_org(req.organisation_id).select_for_update().get(pk=req.pk)
    for name in [name for name in req.__dict__ if name.startswith("_sealed_clear_")]:
        del req.__dict__[name]
    req.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "_state"})
    return req


def _tz(req_or_org) -> str:
    org = req_or_org if isinstance(req_or_org, Organisation) else req_or_org.organisation
    return org.time_zone or "Europe/Paris"


def clean_text(value, limit: int, field: str, errors: dict, *, required: bool = False) -> str:
    value = (value or "").strip() if isinstance(value, str) or value is None else None
    if value is None:
        errors[field] = [_("Give a text value.")]
        return ""
    if required and not value:
        errors[field] = [_("This field is required.")]
    elif len(value) > limit:
        errors[field] = [_("Give at most %(limit)d characters.") % {"limit": limit}]
    return value


def check_choice(value: str, choices, field: str, errors: dict) -> None:
    if value not in choices:
        errors[field] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)}]


def next_reference(org: Organisation, year: int) -> str:
    """DR-YYYY-NNNNN, numbered per organisation and year. The caller holds the organisation's audit
    chain lock, which serialises concurrent openings."""
    prefix = f"DR-{year}-"
    last = (RightsRequest.objects.for_org(org).filter(reference__startswith=prefix)
            .order_by("-reference").values_list("reference", flat=True).first())
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{number:05d}"


def _summary(req: RightsRequest) -> dict:
    return {"reference": req.reference, "kind": req.kind, "contact": str(req.contact_id or "")}


def _webhook(req: RightsRequest, event: str, outcome: str) -> None:
    """Art. 19: connected systems hear about the outcome (ids and codes only)."""
    from relance.webhooks.services import emit

    profile = ControllerProfile.objects.for_org(req.organisation_id).first()
    if profile is not None and not profile.webhook_events_enabled:
        return
    emit(req.organisation, event, {"request": str(req.pk), "reference": req.reference, "kind": req.kind,
                                   "contact": str(req.contact_id) if req.contact_id else None, "outcome": outcome})


# --- open ------------------------------------------------------------------------------------
def _check_contact(org: Organisation, contact: Contact | None, errors: dict) -> None:
    if contact is None:
        return
    if contact.organisation_id != org.pk:
        errors["contact"] = [_("Unknown in your organisation.")]
    elif contact.status == Contact.Status.ERASED:
        errors["contact"] = [_("This contact was erased: Relance holds nothing more about the person.")]


GDPR_APPLIES = datetime(2018, 5, 25, tzinfo=UTC)


@transaction.atomic
def open_request(org: Organisation, *, actor: Actor, kind: str, contact: Contact | None = None, channel: str,
                 requested_by: str = RightsRequest.RequestedBy.SUBJECT, language: str | None = None,
                 details: str = "", received_at: datetime | None = None) -> RightsRequest:
    """Record a request (R-40) with its deadline: one calendar month after receipt (R-41)."""
    now = timezone.now()
    received_at = received_at or now
    errors: dict[str, list[str]] = {}
    check_choice(kind, Kind.values, "kind", errors)
    check_choice(channel, RightsRequest.Channel.values, "channel", errors)
    check_choice(requested_by, RightsRequest.RequestedBy.values, "requested_by", errors)
    _check_contact(org, contact, errors)
    language = language or (contact.language if contact is not None else org.default_language)
    check_choice(language, LANGUAGES, "language", errors)
    details = clean_text(details, MAX_DETAILS, "details", errors)
    if received_at.tzinfo is None:
        errors["received_at"] = [_("Give a date and time with its time zone.")]
    elif received_at > now + timedelta(minutes=5):
        errors["received_at"] = [_("This moment is in the future.")]
    elif received_at < GDPR_APPLIES:  # year 394 was accepted, its due date written in local mean time
        errors["received_at"] = [_("This moment is before the GDPR applied (25 May 2018).")]
    if errors:
        raise ValidationError(errors)
    audit.lock_chain(audit.chain_for(org))  # one numbering at a time per organisation
    req = RightsRequest(organisation=org, kind=kind, contact=contact, channel=channel, requested_by=requested_by,
                        language=language, received_at=received_at, created_by_kind=actor.kind,
                        created_by_id=actor.id, due_at=deadlines.due_date(received_at, tz=_tz(org)),
                        reference=next_reference(org, deadlines.local_day(received_at, _tz(org)).year))
    if contact is not None:
        contacts.ensure_data_key(contact)
        req.data_key_id = contact.data_key_id
    req.details = details
    req.save()
    audit.record(org, actor, "privacy.request_received", target=req,
                 details={**_summary(req), "channel": channel, "requested_by": requested_by})
    return req


@transaction.atomic
def link_contact(req: RightsRequest, contact: Contact, *, actor: Actor) -> RightsRequest:
    """Say whom an open request is about, once identified; its details move under the contact's key."""
    _locked(req)
    _require_open(req)
    errors: dict[str, list[str]] = {}
    _check_contact(req.organisation, contact, errors)
    if req.contact_id is not None and req.contact_id != contact.pk:
        errors["contact"] = [_("This request is already about another contact: open a new request.")]
    if errors:
        raise ValidationError(errors)
    if req.contact_id == contact.pk:
        return req
    clear, old_key = read_details_unaudited(req), req.data_key_id
    contacts.ensure_data_key(contact)
    req.contact, req.data_key_id = contact, contact.data_key_id
    req.details = clear or ""
    req.save(update_fields=["contact", "data_key_id", "details", "updated_at"])
    if old_key is not None and old_key != contact.data_key_id:
        keys.destroy_subject_key(old_key)  # the row's own key sealed nothing else
    audit.record(req.organisation, actor, "privacy.request_linked", target=req, details=_summary(req))
    return req


# --- moves -----------------------------------------------------------------------------------
@transaction.atomic
def start_request(req: RightsRequest, *, actor: Actor) -> RightsRequest:
    """received → in progress."""
    _locked(req)
    _require_open(req)
    if req.status != Status.RECEIVED:
        raise status_error(_("This request is already in progress."), "request_already_started")
    req.status = Status.IN_PROGRESS
    req.save(update_fields=["status", "updated_at"])
    audit.record(req.organisation, actor, "privacy.request_started", target=req, details=_summary(req))
    return req


@transaction.atomic
def extend_request(req: RightsRequest, *, actor: Actor, reason: str, told_via: str,
                   told_at: datetime | None = None) -> RightsRequest:
    """Two further months (Art. 12(3), R-41), only inside the first month and only once the person
    was told, with the reasons."""
    _locked(req)
    _require_open(req)
    now = timezone.now()
    told_at = told_at or now
    if req.status == Status.EXTENDED:
        raise status_error(_("This request was already extended: a request is extended once."),
                           "request_already_extended")
    if not deadlines.can_extend(req.received_at, now, tz=_tz(req)):
        raise status_error(_("The first month is over: an extension had to be decided and told to the person "
                             "before %(due)s. Answer the request now.") % {"due": req.due_at.date().isoformat()},
                           "extension_too_late")
    errors: dict[str, list[str]] = {}
    reason = clean_text(reason, MAX_REASON, "reason", errors, required=True)
    told_via = clean_text(told_via, 32, "told_via", errors, required=True)
    if told_via and looks_personal(told_via):
        errors["told_via"] = [_("Say how (sms, email, letter, a message id), not the address or number.")]
    if told_at > now + timedelta(minutes=5) or told_at < req.received_at:
        errors["told_at"] = [_("The person was told between the receipt and now.")]
    if errors:
        raise ValidationError(errors)
    req.status, req.extended_at, req.extension_reason = Status.EXTENDED, now, reason
    req.person_told_at, req.person_told_via = told_at, told_via
    req.due_at = deadlines.extended_due(req.received_at, tz=_tz(req))
    req.save(update_fields=["status", "extended_at", "extension_reason", "person_told_at", "person_told_via",
                            "due_at", "updated_at"])
    audit.record(req.organisation, actor, "privacy.request_extended", target=req,
                 details={**_summary(req), "due": req.due_at.isoformat()})
    return req


@transaction.atomic
def complete_request(req: RightsRequest, *, actor: Actor, **kind_specific) -> RightsRequest:
    """Do what the request asks (see rights_actions), then close it as completed.

    access/portability: an access export (R-42); erasure: crypto-shredding (R-43); restriction (R-44);
    objection: an objection or withdrawal for every purpose and channel; rectification: `changes`."""
    _locked(req)
    _require_open(req)
    if req.contact_id is None:
        raise ValidationError({"contact": ValidationError(
            _("Say whom the request is about first (link a contact), or refuse it (no_data or "
              "identity_not_confirmed)."), code="request_without_contact")})
    contact = Contact.objects.for_org(req.organisation_id).get(pk=req.contact_id)
    outcome = rights_actions.perform(req, contact, actor=actor, **kind_specific)
    req.status, req.completed_at = Status.COMPLETED, timezone.now()
    req.outcome = outcome
    req.save(update_fields=["status", "completed_at", "outcome", "updated_at"])
    audit.record(req.organisation, actor, "privacy.request_completed", target=req,
                 details={**_summary(req), "outcome": outcome, "late": deadlines.is_late(req.due_at, req.completed_at)})
    _webhook(req, "request.completed", outcome.get("action", req.kind))
    return req


@transaction.atomic
def refuse_request(req: RightsRequest, *, actor: Actor, code: str, reason: str = "") -> RightsRequest:
    """Close a request without doing it, with a reason the person is given (Art. 12(4))."""
    _locked(req)
    _require_open(req)
    errors: dict[str, list[str]] = {}
    check_choice(code, RightsRequest.Refusal.values, "code", errors)
    reason = clean_text(reason, MAX_REASON, "reason", errors, required=code == RightsRequest.Refusal.OTHER)
    if errors:
        raise ValidationError(errors)
    req.status, req.completed_at = Status.REFUSED, timezone.now()
    req.refusal_code, req.refusal_reason = code, reason
    req.save(update_fields=["status", "completed_at", "refusal_code", "refusal_reason", "updated_at"])
    audit.record(req.organisation, actor, "privacy.request_refused", target=req, details={**_summary(req), "code": code})
    _webhook(req, "request.refused", code)
    return req


# --- reads -----------------------------------------------------------------------------------
def read_details_unaudited(req: RightsRequest) -> str | None:
    """For services only; None once the data key was destroyed (the person was erased)."""
    try:
        return req.details
    except keys.KeyDestroyed:
        return None


@transaction.atomic
def read_details(req: RightsRequest, *, actor: Actor) -> str | None:
    """The person's own words, as an audited read of personal data (R-65)."""
    audit.record(req.organisation, actor, "privacy.request_read", target=req, details=_summary(req))
    return read_details_unaudited(req)


def get_request(org: Organisation, request_id) -> RightsRequest | None:
    """Another organisation's request is None, like an unknown one (R-63)."""
    try:
        return RightsRequest.objects.for_org(org).select_related("organisation").filter(pk=request_id).first()
    except (ValueError, ValidationError):
        return None


def open_requests(org: Organisation):
    return RightsRequest.objects.for_org(org).filter(status__in=RightsRequest.OPEN).order_by("due_at", "reference")


def overdue(org: Organisation, now: datetime):
    return open_requests(org).filter(due_at__lt=now)


def due_within(org: Organisation, days: int, now: datetime):
    """Open requests due in the next `days` days, not yet late."""
    return open_requests(org).filter(due_at__gte=now, due_at__lte=now + timedelta(days=days))
