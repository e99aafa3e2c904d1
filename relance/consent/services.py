"""Every write on purposes, notices, the consent ledger and information records (R-01..R-04,
R-10..R-14, R-72), each in one transaction with its audit event (R-65).

Order of locks, always the same: the ledger's chain head (`ledger:org:<id>`) first, then the audit
chain head (inside `audit.record`), so two writers can never wait on each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.accounts.models import Membership, Organisation, User
from relance.audit import services as audit
from relance.audit.chain import GENESIS, row_digest
from relance.audit.services import Actor
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.keystore import services as keys
from relance.lib.net import truncate_ip

from . import ledger
from .decision import is_below_consent_age
from .models import (
    CHANNELS,
    DATA_CATEGORIES,
    LANGUAGES,
    ConsentEvent,
    ConsentState,
    Information,
    Notice,
    Purpose,
)
from .policy import Basis, ConsentStatus, MessageClass

SYSTEM = Actor.system("consent")
CHANNEL_CODES = [code for code, _label in CHANNELS]
LANGUAGE_CODES = [code for code, _label in LANGUAGES]
HEALTH_KINDS = {"health", "occupational_health", "answering_service"}
FUTURE_SKEW = timedelta(minutes=5)

# What a consent event's evidence may hold; anything else is refused, so that no free-form
# personal data slips into the ledger. Sealed with the contact's key; the IP is truncated first.
EVIDENCE_KEYS = {
    "ip": 64, "user_agent": 500, "form_url": 500, "import_batch": 64, "original_collector": 200,
    "source": 300, "collected_at": 40, "form_ref": 200, "keyword": 40, "message_ref": 100, "note": 500,
}

PURPOSE_FIELDS = {
    "label_fr", "label_en", "message_class", "legal_basis", "art9_condition", "data_categories", "recipients",
    "retention", "retention_days", "channels", "consent_validity_days", "refresh_per_event", "balancing_test_ref",
    "existing_customer_exception", "existing_customer_scope", "dpia_ref", "dpia_not_needed_reason",
}


def _required() -> str:
    return _("This field is required to activate the purpose.")


# --- purposes ------------------------------------------------------------------------------
def _clean_purpose(values: dict) -> dict:
    """Shape checks on the given fields (every problem at once); completeness is activation's job."""
    errors: dict[str, list[str]] = {}
    cleaned = dict(values)
    for name in ("label_fr", "label_en", "retention", "balancing_test_ref", "existing_customer_scope", "dpia_ref",
                 "dpia_not_needed_reason"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
    choices = {"message_class": [v for v, _label in Purpose._meta.get_field("message_class").choices],
               "legal_basis": [v for v, _label in Purpose._meta.get_field("legal_basis").choices],
               "art9_condition": Purpose.Art9.values}
    for name, allowed in choices.items():
        if name in cleaned:
            cleaned[name] = cleaned[name] or ""
            if cleaned[name] and cleaned[name] not in allowed:
                errors[name] = [_("Choose one of: %s.") % ", ".join(allowed)]
    if "channels" in cleaned:
        channels = cleaned["channels"] or []
        if not isinstance(channels, list) or set(channels) - set(CHANNEL_CODES):
            errors["channels"] = [_("Choose among: %s.") % ", ".join(CHANNEL_CODES)]
        else:
            cleaned["channels"] = [c for c in CHANNEL_CODES if c in channels]
    if "data_categories" in cleaned:
        categories = cleaned["data_categories"] or []
        if not isinstance(categories, list) or set(categories) - DATA_CATEGORIES.keys():
            errors["data_categories"] = [_("Choose among: %s.") % ", ".join(DATA_CATEGORIES)]
        else:
            cleaned["data_categories"] = list(dict.fromkeys(categories))
    if "recipients" in cleaned:
        recipients = cleaned["recipients"] or []
        if not isinstance(recipients, list) or not all(isinstance(r, str) and r.strip() for r in recipients):
            errors["recipients"] = [_("Give a list of recipients (names of the recipients or their categories).")]
        else:
            cleaned["recipients"] = [r.strip() for r in recipients]
    for name in ("retention_days", "consent_validity_days"):
        if name in cleaned and cleaned[name] is not None:
            if not isinstance(cleaned[name], int) or isinstance(cleaned[name], bool) or not 1 <= cleaned[name] <= 36500:
                errors[name] = [_("Give a number of days between 1 and 36500.")]
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def create_purpose(org: Organisation, *, actor: Actor, code: str, **values) -> Purpose:
    """A new purpose, in draft: it sends nothing until activate_purpose() accepts it (R-01)."""
    unknown = set(values) - PURPOSE_FIELDS
    if unknown:
        raise ValidationError({name: [_("This field is unknown or cannot be changed.")] for name in sorted(unknown)})
    code = (code or "").strip()
    if Purpose.objects.for_org(org).filter(code=code).exists():
        raise ValidationError({"code": [_("A purpose with this code already exists.")]})
    purpose = Purpose(organisation=org, code=code, **_clean_purpose(values))
    purpose.full_clean(exclude=["organisation"], validate_unique=False)
    purpose.save()
    audit.record(org, actor, "purpose.created", target=purpose, details={"code": code})
    return purpose


@transaction.atomic
def update_purpose(purpose: Purpose, *, actor: Actor, **changes) -> Purpose:
    """Change the given fields. An active purpose must stay complete: the same checks as activation."""
    unknown = set(changes) - PURPOSE_FIELDS
    if unknown:
        raise ValidationError({name: [_("This field is unknown or cannot be changed.")] for name in sorted(unknown)})
    purpose = Purpose.objects.for_org(purpose.organisation_id).select_for_update().get(pk=purpose.pk)
    for name, value in _clean_purpose(changes).items():
        setattr(purpose, name, value)
    purpose.full_clean(exclude=["organisation"], validate_unique=False)
    if purpose.is_active:
        _raise_activation_errors(purpose)
    purpose.save()
    audit.record(purpose.organisation, actor, "purpose.updated", target=purpose, details={"fields": sorted(changes)})
    return purpose


def activation_errors(purpose: Purpose) -> dict[str, list[str]]:
    """Everything that keeps a purpose from being activated, by field (R-01, R-02, R-03, R-13, R-72)."""
    org = purpose.organisation
    errors: dict[str, list[str]] = {}

    def need(name: str, message: str | None = None) -> None:
        errors.setdefault(name, []).append(message or _required())

    for language in org.languages or ["fr"]:
        if language in ("fr", "en") and not getattr(purpose, f"label_{language}"):
            need(f"label_{language}")
    if not purpose.message_class:
        need("message_class")
    if not purpose.legal_basis:
        need("legal_basis")
    if org.processes_health_data and not purpose.art9_condition:
        need("art9_condition", _("This organisation processes health data: state the Art. 9(2) condition, or "
                                 "'none' if this purpose involves no health data (R-01)."))
    if not purpose.data_categories:
        need("data_categories")
    if not purpose.recipients:
        need("recipients")
    if not purpose.retention:
        need("retention")
    if not purpose.retention_days:
        need("retention_days")
    if not purpose.channels:
        need("channels")
    if purpose.legal_basis == Basis.CONSENT and not purpose.consent_validity_days and not purpose.refresh_per_event:
        need("consent_validity_days", _("A consent purpose needs a validity in days, or refresh_per_event (R-13)."))
    if purpose.legal_basis == Basis.LEGITIMATE_INTEREST:
        if org.kind == Organisation.Kind.PUBLIC_AUTHORITY:
            need("legal_basis", _("A public authority cannot rely on legitimate interests for its tasks: use "
                                  "public_task or consent (Art. 6(1), last subparagraph; R-02)."))
        elif not purpose.balancing_test_ref:
            need("balancing_test_ref", _("Legitimate interests need a reference to the balancing test (R-02)."))
    if purpose.message_class == MessageClass.PROMOTIONAL_COMMERCIAL and purpose.legal_basis != Basis.CONSENT:
        if not purpose.existing_customer_exception:
            need("legal_basis", _("Commercial promotion needs consent, or the existing-customer exception (R-03)."))
        elif not purpose.existing_customer_scope:
            need("existing_customer_scope", _("Describe the sale and the similar products of the existing-customer "
                                              "exception (R-03)."))
    if org.processes_health_data and purpose.involves_health_data and not (
            purpose.dpia_ref or purpose.dpia_not_needed_reason):
        need("dpia_ref", _("A purpose with health data needs a DPIA reference, or a justification in "
                           "dpia_not_needed_reason (R-72)."))
    published = set(Notice.objects.for_org(org).filter(purpose=purpose).values_list("language", flat=True))
    missing = [language for language in org.languages or ["fr"] if language not in published]
    if missing:
        need("notices", _("Publish the notice in: %s (R-04, R-11).") % ", ".join(missing))
    return errors


def _raise_activation_errors(purpose: Purpose) -> None:
    errors = activation_errors(purpose)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def activate_purpose(purpose: Purpose, *, actor: Actor) -> Purpose:
    """Refused with a ValidationError naming EVERY missing or invalid field (R-01)."""
    purpose = Purpose.objects.for_org(purpose.organisation_id).select_for_update().get(pk=purpose.pk)
    if purpose.is_active:
        return purpose
    _raise_activation_errors(purpose)
    purpose.status, purpose.activated_at, purpose.retired_at = Purpose.Status.ACTIVE, timezone.now(), None
    purpose.save(update_fields=["status", "activated_at", "retired_at", "updated_at"])
    audit.record(purpose.organisation, actor, "purpose.activated", target=purpose, details={"code": purpose.code})
    return purpose


@transaction.atomic
def retire_purpose(purpose: Purpose, *, actor: Actor) -> Purpose:
    """Stop a purpose: decide() suppresses its messages (purpose_inactive); its ledger stays."""
    purpose = Purpose.objects.for_org(purpose.organisation_id).select_for_update().get(pk=purpose.pk)
    if purpose.status != Purpose.Status.RETIRED:
        purpose.status, purpose.retired_at = Purpose.Status.RETIRED, timezone.now()
        purpose.save(update_fields=["status", "retired_at", "updated_at"])
        audit.record(purpose.organisation, actor, "purpose.retired", target=purpose, details={"code": purpose.code})
    return purpose


# --- notices -------------------------------------------------------------------------------
def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@transaction.atomic
def publish_notice(purpose: Purpose, *, actor: Actor, language: str, text: str) -> Notice:
    """Publish the next version of a purpose's notice in one language; its SHA-256 is of the exact
    text, byte for byte (UTF-8), as people will see it (R-10, R-11)."""
    errors = {}
    if language not in LANGUAGE_CODES:
        errors["language"] = [_("Choose one of: %s.") % ", ".join(LANGUAGE_CODES)]
    if not isinstance(text, str) or not text.strip():
        errors["text"] = [_("The notice needs a text.")]
    if errors:
        raise ValidationError(errors)
    purpose = Purpose.objects.for_org(purpose.organisation_id).select_for_update().get(pk=purpose.pk)
    if purpose.status == Purpose.Status.RETIRED:
        raise ValidationError({"purpose": [_("This purpose is retired: no new notice can be published.")]})
    current = Notice.objects.for_org(purpose.organisation_id).filter(purpose=purpose, language=language)
    version = (current.aggregate(v=Max("version"))["v"] or 0) + 1
    notice = Notice(organisation_id=purpose.organisation_id, purpose=purpose, language=language, version=version,
                    text=text, sha256=text_sha256(text), published_at=timezone.now())
    notice.save()
    audit.record(purpose.organisation, actor, "notice.published", target=notice,
                 details={"purpose": purpose.code, "language": language, "version": version, "sha256": notice.sha256})
    return notice


def current_notice(purpose: Purpose, language: str) -> Notice | None:
    return (Notice.objects.for_org(purpose.organisation_id).filter(purpose=purpose, language=language)
            .order_by("-version").first())


# --- the ledger ----------------------------------------------------------------------------
def _evidence_json(evidence: dict | None, errors: dict) -> str | None:
    if not evidence:
        return None
    if not isinstance(evidence, dict):
        errors["evidence"] = [_("Give the evidence as a JSON object.")]
        return None
    problems, clean = [], {}
    for key, value in evidence.items():
        limit = EVIDENCE_KEYS.get(key)
        if limit is None:
            problems.append(_("Unknown evidence field %(key)s: use %(keys)s.") % {
                "key": key, "keys": ", ".join(sorted(EVIDENCE_KEYS))})
            continue
        if value is None:
            continue
        value = str(value).strip()
        if key == "ip":
            value = truncate_ip(value)  # the IP is kept truncated, never whole
        if len(value) > limit:
            problems.append(_("Evidence field %(key)s is longer than %(limit)d characters.") % {"key": key, "limit": limit})
        clean[key] = value
    if problems:
        errors["evidence"] = problems
        return None
    return json.dumps(clean, sort_keys=True, ensure_ascii=False) if clean else None


def _check_staff(org, staff_user: User | None, expressed_by: str, errors: dict) -> None:
    if expressed_by == ConsentEvent.ExpressedBy.STAFF_ON_BEHALF and staff_user is None:
        errors["staff_user"] = [_("Say which staff member recorded it on the person's behalf.")]
    if staff_user is not None and not Membership.objects.for_org(org).filter(user=staff_user).exists():
        errors["staff_user"] = [_("This user is not a member of the organisation.")]


def _check_guardian(contact: Contact, guardian: Contact | None, expressed_by: str, consent_based: bool, when: datetime,
                    action: str, errors: dict) -> None:
    if action == ConsentEvent.Action.EXPIRED:  # Relance notes a lapse; nobody expressed anything
        if guardian is not None and guardian.organisation_id != contact.organisation_id:
            errors["guardian"] = [_("The guardian must be another contact of the same organisation.")]
        return
    if expressed_by != ConsentEvent.ExpressedBy.GUARDIAN:
        if guardian is not None:
            errors["guardian"] = [_("A guardian is given only when the guardian expressed it (expressed_by=guardian).")]
        return
    if guardian is None:
        errors["guardian"] = [_("Say which guardian expressed it.")]
    elif guardian.organisation_id != contact.organisation_id or guardian.pk == contact.pk:
        errors["guardian"] = [_("The guardian must be another contact of the same organisation.")]
    elif guardian.status in (Contact.Status.ERASED, Contact.Status.DECEASED):
        errors["guardian"] = [_("This contact cannot act as a guardian: it is deceased or erased.")]
    elif consent_based and not is_below_consent_age(contact, when.date()):
        errors["expressed_by"] = [_("This contact is not below the age of digital consent: a guardian's consent "
                                    "applies to minors only (R-14). Record the birth date or the minor flag first.")]


def _validity(purpose: Purpose, action: str, occurred_at: datetime, valid_until: datetime | None,
              errors: dict) -> datetime | None:
    if action not in ledger.GIVING or not purpose.consent_based:
        if valid_until is not None:
            errors["valid_until"] = [_("Only a given, renewed or restored consent has a validity.")]
        return None
    limit = occurred_at + timedelta(days=purpose.consent_validity_days) if purpose.consent_validity_days else None
    if valid_until is None:
        return limit
    if valid_until <= occurred_at:
        errors["valid_until"] = [_("The validity must end after the consent was given.")]
    elif limit is not None and valid_until > limit:
        errors["valid_until"] = [_("The purpose limits consent to %(days)d days: the validity cannot end later.")
                                 % {"days": purpose.consent_validity_days}]
    return valid_until


def _check_action(purpose: Purpose, action: str, method: str, errors: dict) -> None:
    if action not in ConsentEvent.Action.values:
        errors["action"] = [_("Choose one of: %s.") % ", ".join(ConsentEvent.Action.values)]
        return
    if (action == ConsentEvent.Action.EXPIRED) != (method == ConsentEvent.Method.SYSTEM):
        errors["action" if action == ConsentEvent.Action.EXPIRED else "method"] = [
            _("Only Relance records expiries (method 'system'), and only expiries.")]
    consent_only = {"given", "refused", "withdrawn", "renewed", "expired"}
    if not purpose.consent_based and action in consent_only:
        errors["action"] = [_("This purpose does not rest on consent (basis: %(basis)s): record an objection, "
                              "not a consent decision (R-04, R-31).") % {"basis": purpose.legal_basis or "-"}]
    if action in ledger.GIVING and purpose.status == Purpose.Status.RETIRED:
        errors["purpose"] = [_("This purpose is retired: it can no longer collect consent.")]


def _check_notice(purpose: Purpose, action: str, notice: Notice | None, errors: dict) -> None:
    if notice is None:
        if action in (ConsentEvent.Action.GIVEN, ConsentEvent.Action.RENEWED):
            errors["notice"] = [_("A consent is recorded with the notice the person saw: give the notice (R-11).")]
        return
    if notice.organisation_id != purpose.organisation_id or notice.purpose_id != purpose.pk:
        errors["notice"] = [_("This notice belongs to another purpose.")]


def _check_import(method: str, action: str, evidence: str | None, errors: dict) -> None:
    """R-15: an imported consent carries its proof: the source and the original collector."""
    if method != ConsentEvent.Method.IMPORT or action not in ledger.GIVING:
        return
    held = json.loads(evidence) if evidence else {}
    missing = [key for key in ("source", "original_collector") if not held.get(key)]
    if missing:
        errors.setdefault("evidence", []).append(
            _("An imported consent needs its proof: %s (R-15).") % ", ".join(missing))


def _previous_giving(org_id: int, contact: Contact, purpose: Purpose, channel: str, expressed_by: str):
    events = ConsentEvent.objects.for_org(org_id).filter(contact=contact, purpose=purpose, channel=channel,
                                                         action__in=["given", "renewed"])
    if expressed_by == ConsentEvent.ExpressedBy.GUARDIAN:
        events = events.filter(expressed_by=expressed_by)
    else:
        events = events.exclude(expressed_by=ConsentEvent.ExpressedBy.GUARDIAN)
    return events.order_by("-occurred_at", "-seq").first()


@transaction.atomic
def record_consent(contact: Contact, purpose: Purpose, channel: str, action: str, *, actor: Actor, expressed_by: str,
                   method: str, notice: Notice | None = None, language: str | None = None, evidence: dict | None = None,
                   valid_until: datetime | None = None, event_ref: str | None = None, guardian: Contact | None = None,
                   staff_user: User | None = None, occurred_at: datetime | None = None) -> ConsentEvent:
    """Append one event to the organisation's consent ledger and update the projection (R-10..R-14).

    Checked, every problem reported at once: the action fits the purpose's basis; `given`/`renewed`
    carry the purpose's notice (R-11) — there is no default action, so nothing is pre-ticked; a
    guardian's decision concerns a minor (R-14); `restored` needs an earlier consent to restore; the
    validity follows the purpose (R-13); an event for one appointment carries its reference when the
    purpose asks again at each event."""
    now = timezone.now()
    event = _checked_event(contact, purpose, channel, action, actor=actor, expressed_by=expressed_by, method=method,
                           notice=notice, language=language, evidence=evidence, valid_until=valid_until,
                           event_ref=event_ref, guardian=guardian, staff_user=staff_user, occurred_at=occurred_at,
                           now=now)
    head = audit.lock_chain(ledger.chain_name(contact.organisation_id))
    if action == ConsentEvent.Action.RESTORED and purpose.consent_based:
        previous = _previous_giving(contact.organisation_id, contact, purpose, channel, expressed_by)
        if previous is None:
            raise ValidationError({"action": [_("There is no earlier consent to restore: record a new consent with "
                                                "its notice (R-11).")]})
        if event.notice is None:
            event.notice = previous.notice
            event.notice_version, event.notice_sha256 = previous.notice.version, previous.notice.sha256
    _append(head, contact.organisation, [(contact, purpose, event)], actor)
    return event


def _checked_event(contact: Contact, purpose: Purpose, channel: str, action: str, *, actor: Actor, expressed_by: str,
                   method: str, notice: Notice | None, language: str | None, evidence: dict | None,
                   valid_until: datetime | None, event_ref: str | None, guardian: Contact | None,
                   staff_user: User | None, occurred_at: datetime | None, now: datetime) -> ConsentEvent:
    """One ledger event, checked (see record_consent) but not yet chained: no seq, no hashes. Its
    evidence is a clear value, sealed when the event is chained (the hash covers the ciphertext)."""
    occurred_at = occurred_at or now
    org_id = contact.organisation_id
    errors: dict[str, list[str]] = {}
    if purpose.organisation_id != org_id:
        errors["purpose"] = [_("The purpose and the contact belong to different organisations (R-05).")]
    if contact.status == Contact.Status.ERASED:
        errors["contact"] = [_("This contact was erased: nothing can be recorded for it.")]
    if channel not in (purpose.channels or []):
        errors["channel"] = [_("The purpose does not use this channel: %s.") % ", ".join(purpose.channels or ["-"])]
    if expressed_by not in ConsentEvent.ExpressedBy.values:
        errors["expressed_by"] = [_("Choose one of: %s.") % ", ".join(ConsentEvent.ExpressedBy.values)]
    if method not in ConsentEvent.Method.values:
        errors["method"] = [_("Choose one of: %s.") % ", ".join(ConsentEvent.Method.values)]
    if occurred_at > now + FUTURE_SKEW:
        errors["occurred_at"] = [_("This moment is in the future.")]
    _check_action(purpose, action, method, errors)
    _check_notice(purpose, action, notice, errors)
    _check_staff(org_id, staff_user, expressed_by, errors)
    _check_guardian(contact, guardian, expressed_by, purpose.consent_based, occurred_at, action, errors)
    language = language or (notice.language if notice else contact.language)
    if language not in LANGUAGE_CODES:
        errors["language"] = [_("Choose one of: %s.") % ", ".join(LANGUAGE_CODES)]
    event_ref = (event_ref or "").strip()
    if len(event_ref) > 200:
        errors["event_ref"] = [_("Give at most 200 characters.")]
    if purpose.refresh_per_event and action in ("given", "renewed") and not event_ref:
        errors["event_ref"] = [_("This purpose asks again at each event: say which event (R-13).")]
    until = _validity(purpose, action, occurred_at, valid_until, errors)
    sealed = _evidence_json(evidence, errors)
    _check_import(method, action, sealed, errors)
    if errors:
        raise ValidationError(errors)
    event = ConsentEvent(
        organisation_id=org_id, contact=contact, purpose=purpose, channel=channel,
        action=action, expressed_by=expressed_by, guardian=guardian,
        staff_user_id=staff_user.pk if staff_user else None, method=method, notice=notice,
        notice_version=notice.version if notice else None, notice_sha256=notice.sha256 if notice else "",
        language=language, occurred_at=occurred_at, recorded_at=now, valid_until=until, event_ref=event_ref,
        actor_kind=actor.kind, actor_id=actor.id,
    )
    event._sealed_evidence = sealed
    return event


def _append(head, organisation: Organisation, items: list[tuple[Contact, Purpose, ConsentEvent]], actor: Actor,
            *, states: dict | None = None) -> None:
    """Chain checked events onto the locked ledger head, in order: each gets the next seq and the
    previous hash (the evidence sealed first: the hash covers the ciphertext), then one INSERT for
    all, the head moved once, the projection updated (_project_many) and one audit event each."""
    field = ConsentEvent._meta.get_field("evidence")
    for contact, _purpose, event in items:
        sealed = event.__dict__.pop("_sealed_evidence", None)
        if sealed is not None:
            contacts.ensure_data_key(contact)
            event.evidence = sealed
        event.data_key_id = contact.data_key_id
        if sealed is not None:
            field.pre_save(event, True)  # seal now
        event.seq = head.last_seq + 1
        event.prev_hash = head.last_hash or head.base_hash or GENESIS
        event.hash = row_digest(ledger.hashed_fields(event))
        head.last_seq, head.last_hash = event.seq, event.hash
    events = [event for _c, _p, event in items]
    if len(events) == 1:
        events[0].save(force_insert=True)
    else:
        ConsentEvent.unscoped.bulk_create(events)
        for event in events:
            event._state.adding = False
    head.save(update_fields=["last_seq", "last_hash"])
    _project_many([(event, purpose.consent_based) for _c, purpose, event in items], states=states)
    for contact, purpose, event in items:
        audit.record(organisation, actor, "consent.recorded", target=event, details={
            "contact": str(contact.pk), "purpose": purpose.code, "channel": event.channel, "action": event.action,
            "expressed_by": event.expressed_by, "method": event.method, "seq": event.seq})


def _project_many(events: list[tuple[ConsentEvent, bool]], *, states: dict | None = None) -> list[ConsentState]:
    """Apply events (in seq order, with their purpose's consent_based) to their ConsentStates, in the
    events' transaction (see ledger.fold): the states read and locked in one query (or given, already
    locked, keyed by (contact_id, purpose_id, channel) and holding every existing state of these
    events), the new ones inserted in one. States are created only here, under the organisation's
    ledger lock, so no other writer can insert the same state meanwhile."""
    if not events:
        return []
    org_id = events[0][0].organisation_id
    keys = {(e.contact_id, e.purpose_id, e.channel) for e, _b in events}
    if states is None:
        rows = ConsentState.unscoped.select_for_update().filter(
            organisation_id=org_id, contact_id__in={k[0] for k in keys}, purpose_id__in={k[1] for k in keys},
            channel__in={k[2] for k in keys}).order_by("pk")
        states = {(s.contact_id, s.purpose_id, s.channel): s for s in rows}
    states = {key: state for key, state in states.items() if key in keys}
    created, changed = [], []
    for event, consent_based in events:
        key = (event.contact_id, event.purpose_id, event.channel)
        state = states.get(key)
        if state is None:
            state = states[key] = ConsentState(organisation_id=org_id, contact_id=event.contact_id,
                                               purpose_id=event.purpose_id, channel=event.channel)
            created.append(state)
        if _apply_event(state, event, consent_based) and state not in created and state not in changed:
            changed.append(state)
    if created:
        ConsentState.unscoped.bulk_create(created)
    for state in changed:
        state.save()
    return [states[(e.contact_id, e.purpose_id, e.channel)] for e, _b in events]


def _project(event: ConsentEvent, consent_based: bool) -> ConsentState:
    """Apply one event to its ConsentState, in the event's transaction (see ledger.fold)."""
    return _project_many([(event, consent_based)])[0]


def _apply_event(state: ConsentState, event: ConsentEvent, consent_based: bool) -> bool:
    """Move one state's track by one event; True when it changed."""
    if ledger.track_of(event.expressed_by, consent_based) == "guardian":
        track = ledger.Track(state.guardian_status, state.guardian_valid_until, "", state.guardian_occurred_at,
                             state.guardian_seq)
        after = ledger.apply(track, event, consent_based)
        if after is track:
            return False
        state.guardian_status, state.guardian_valid_until = after.status, after.valid_until
        state.guardian_occurred_at, state.guardian_seq, state.guardian_event = after.occurred_at, after.seq, event
        return True
    track = ledger.Track(state.status, state.valid_until, state.event_ref, state.last_occurred_at, state.last_seq)
    after = ledger.apply(track, event, consent_based)
    if after is track:
        return False
    state.status, state.valid_until, state.event_ref = after.status, after.valid_until, after.event_ref
    state.last_occurred_at, state.last_seq, state.last_event = after.occurred_at, after.seq, event
    return True


def evidence_of(event: ConsentEvent) -> dict | None:
    """The event's evidence in clear (None once the contact's key was destroyed)."""
    try:
        raw = event.evidence
    except keys.KeyDestroyed:
        return None
    return json.loads(raw) if raw else {}


@transaction.atomic
def read_evidence(event: ConsentEvent, *, actor: Actor) -> dict | None:
    """The evidence of one event in clear, as an audited read of personal data (R-65)."""
    audit.record(event.organisation, actor, "consent.evidence_read", target=event,
                 details={"contact": str(event.contact_id)})
    return evidence_of(event)


@transaction.atomic
def withdraw_everywhere(contact: Contact, channel: str, *, actor: Actor, method: str,
                        expressed_by: str = ConsentEvent.ExpressedBy.SUBJECT, evidence: dict | None = None,
                        staff_user: User | None = None) -> list[ConsentEvent]:
    """STOP (R-12, R-31): for every purpose of the organisation that uses this channel, a withdrawal
    where the purpose rests on consent and an objection elsewhere. Purposes already withdrawn or
    objected for this contact are left as they are (a second STOP adds nothing)."""
    return withdraw_many([contact], channel, actor=actor, method=method, expressed_by=expressed_by, evidence=evidence,
                         staff_user=staff_user)


def withdraw_many(people: list[Contact], channel: str, *, actor: Actor, method: str,
                  expressed_by: str = ConsentEvent.ExpressedBy.SUBJECT, evidence: dict | None = None,
                  staff_user: User | None = None, purposes: list[Purpose] | None = None,
                  organisation: Organisation | None = None) -> list[ConsentEvent]:
    """withdraw_everywhere() for several contacts of one organisation (every contact with the number
    that sent STOP), written together: the same events in the same order (contact by contact,
    purposes by code), one INSERT for the ledger rows and one for the new states (SPEC §7, STOP
    latency). `purposes`: the organisation's purposes when the caller already read them. Inside a
    caller's transaction it adds no savepoint: an error (an erased contact) fails the caller's."""
    if not people:
        return []
    org_id = people[0].organisation_id
    if any(person.organisation_id != org_id for person in people):
        raise ValueError("withdraw_many() takes the contacts of one organisation")
    if organisation is None or organisation.pk != org_id:
        organisation = people[0].organisation
    if purposes is None:
        purposes = list(Purpose.objects.for_org(org_id))
    purposes = sorted((p for p in purposes if p.organisation_id == org_id and channel in (p.channels or [])),
                      key=lambda p: p.code)
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        head = audit.lock_chain(ledger.chain_name(org_id))  # one STOP at a time per organisation, like every event
        # Their states on this channel, locked: read once for what is already withdrawn and for the projection.
        states = {(s.contact_id, s.purpose_id, s.channel): s for s in ConsentState.unscoped.select_for_update().filter(
            organisation_id=org_id, contact_id__in=[person.pk for person in people], channel=channel).order_by("pk")}
        done = {(key[0], key[1]) for key, state in states.items()
                if state.status in (ConsentStatus.WITHDRAWN, ConsentStatus.OBJECTED)}
        items = []
        for person in people:
            for purpose in purposes:
                if (person.pk, purpose.pk) in done:
                    continue
                action = ConsentEvent.Action.WITHDRAWN if purpose.consent_based else ConsentEvent.Action.OBJECTED
                items.append((person, purpose, _checked_event(
                    person, purpose, channel, action, actor=actor, expressed_by=expressed_by, method=method,
                    notice=None, language=None, evidence=evidence, valid_until=None, event_ref=None, guardian=None,
                    staff_user=staff_user, occurred_at=None, now=now)))
        if items:
            _append(head, organisation, items, actor, states=states)
    return [event for _c, _p, event in items]


def expiring_states(now: datetime):
    """Consents (own or guardian's) whose validity has passed but whose state still says given (R-13)."""
    lapsed = (Q(status=ConsentStatus.GIVEN, valid_until__lte=now)
              | Q(guardian_status=ConsentStatus.GIVEN, guardian_valid_until__lte=now))
    return ConsentState.unscoped.filter(lapsed).order_by("organisation_id", "pk")


def expire_consents(now: datetime | None = None, *, progress: Callable[[int, int], None] | None = None,
                    batch: int = 500) -> int:
    """The expiry sweep (R-13): an `expired` event for every consent past its validity, each in its
    own transaction so that a long run never holds the ledger. Returns how many events were written."""
    now = now or timezone.now()
    ids = list(expiring_states(now).values_list("pk", flat=True))
    written = 0
    for start in range(0, len(ids), batch):
        for state_id in ids[start:start + batch]:
            written += _expire_one(state_id, now)
        if progress:
            progress(min(start + batch, len(ids)), len(ids))
    return written


@transaction.atomic
def _expire_one(state_id: int, now: datetime) -> int:
    state = ConsentState.unscoped.select_related("contact", "purpose", "contact__organisation").get(pk=state_id)
    audit.lock_chain(ledger.chain_name(state.organisation_id))
    state = ConsentState.unscoped.select_related("contact", "purpose", "contact__organisation").get(pk=state_id)
    lapsed = []
    if state.status == ConsentStatus.GIVEN and state.valid_until and state.valid_until <= now:
        lapsed.append((ConsentEvent.ExpressedBy.SUBJECT, state.valid_until))
    if state.guardian_status == ConsentStatus.GIVEN and state.guardian_valid_until and state.guardian_valid_until <= now:
        lapsed.append((ConsentEvent.ExpressedBy.GUARDIAN, state.guardian_valid_until))
    for expressed_by, at in lapsed:
        guardian = None
        if expressed_by == ConsentEvent.ExpressedBy.GUARDIAN and state.guardian_event_id:
            guardian = ConsentEvent.unscoped.get(pk=state.guardian_event_id).guardian
        record_consent(state.contact, state.purpose, state.channel, ConsentEvent.Action.EXPIRED, actor=SYSTEM,
                       expressed_by=expressed_by, method=ConsentEvent.Method.SYSTEM, occurred_at=at, guardian=guardian)
    return len(lapsed)


# --- information (R-04) --------------------------------------------------------------------
@transaction.atomic
def record_information(purpose: Purpose, notice: Notice, *, actor: Actor, method: str, contact: Contact | None = None,
                       import_batch_id=None, source: str = "", informed_at: datetime | None = None) -> Information:
    """A notice version given to one contact, or to a whole import batch with its stated source (R-04)."""
    now = timezone.now()
    informed_at = informed_at or now
    errors: dict[str, list[str]] = {}
    if (contact is None) == (import_batch_id is None):
        errors["contact"] = [_("Give either a contact or an import batch.")]
    if contact is not None and contact.organisation_id != purpose.organisation_id:
        errors["contact"] = [_("The contact belongs to another organisation.")]
    if notice.organisation_id != purpose.organisation_id or notice.purpose_id != purpose.pk:
        errors["notice"] = [_("This notice belongs to another purpose.")]
    if method not in Information.Method.values:
        errors["method"] = [_("Choose one of: %s.") % ", ".join(Information.Method.values)]
    source = (source or "").strip()
    if import_batch_id is not None and not source:
        errors["source"] = [_("An imported batch is informed only with its stated source (R-04).")]
    if len(source) > 300:
        errors["source"] = [_("Give at most 300 characters.")]
    if informed_at > now + FUTURE_SKEW:
        errors["informed_at"] = [_("This moment is in the future.")]
    if errors:
        raise ValidationError(errors)
    record = Information.objects.create(
        organisation_id=purpose.organisation_id, contact=contact, import_batch_id=import_batch_id, purpose=purpose,
        notice=notice, notice_version=notice.version, notice_sha256=notice.sha256, method=method, source=source,
        informed_at=informed_at)
    target = {"contact": str(contact.pk)} if contact is not None else {"import_batch": str(import_batch_id)}
    audit.record(purpose.organisation, actor, "information.recorded", target=record,
                 details={"purpose": purpose.code, "notice_version": notice.version, "method": method, **target})
    return record


# --- verification (R-11) -------------------------------------------------------------------
def verify_ledger(head):
    """The first break of one organisation's ledger chain, or None: registered with
    `audit.services.register_ledger` so that `relance audit verify` walks it with the audit chains."""
    from relance.audit.chain import first_break

    rows = (ConsentEvent.unscoped.filter(organisation_id=ledger.organisation_of(head.chain))
            .order_by("seq").iterator(chunk_size=2000))
    return first_break(head.chain, rows, head.last_seq, head.last_hash, head.base_seq, head.base_hash,
                       fields=ledger.hashed_fields)
