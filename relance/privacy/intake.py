"""Public intake of rights requests with a one-time code sent to the number concerned (R-40).

Identity is checked in proportion (no identity document by default): whoever receives SMS on the
number may ask about the data held for that number. The public page (issue 7) calls two services:

1. `request_code(org, phone)`: when a contact of the organisation has this number, a 6-digit code
   leaves by SMS through the outbox as an automatic reply of class `rights_request` (the person asked
   for it, so nothing suppresses it). The answer is the same whether or not the number is known, and
   so is the rate limit (a row is written either way; an unknown number's row can never match), so
   the page cannot be used to learn who is a contact (no enumeration).
2. `open_public_request(org, phone, code, ...)`: checks the code in constant time, consumes it, and
   opens one request (channel `public`) per contact of that number (families share numbers).

Only a keyed hash of each code is stored (HMAC-SHA-256 under the organisation's index key, salted
with the row id); a code lives 10 minutes and allows 5 tries; at most 3 codes per number per hour,
and at most 10 per hour from one truncated IP address (counted from the audit trail, so the limit
holds across web processes without another table).

The public consent form (issue 7) proves that the number belongs to the person the same way:
`request_consent_code(org, phone)` creates the contact (source `web_form`) when nobody has the
number yet — the code needs a recipient — and `confirm_consent_code` returns the number's contacts
once the code is right; the caller then records the consent with the notice shown.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation
from relance.audit import services as audit
from relance.audit.models import AuditEvent
from relance.audit.services import Actor
from relance.consent.policy import MessageClass
from relance.contacts import services as contacts
from relance.contacts import validation
from relance.contacts.models import Contact
from relance.keystore import services as keys
from relance.keystore.services import org_scope
from relance.lib.net import truncate_ip
from relance.messaging import outbox, replies
from relance.messaging.models import Message

from . import rights
from .models import RightsRequest, VerificationCode

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_CODES_PER_HOUR = 3
MAX_CODES_PER_IP_HOUR = 10
CODE_ACTIONS = ("privacy.code_requested", "consent.code_requested")
KEEP_CODES = timedelta(days=1)  # then purge_codes() deletes them: nothing needs them any more
PURPOSE = "rights_request"
CONSENT_PURPOSE = "consent_form"


def subject(ip: str = "") -> Actor:
    """The person acting on the public page: no id, a truncated address (R-65)."""
    return Actor("subject", "", truncate_ip(ip))


def _phone_hash(org: Organisation, phone) -> str:
    try:
        e164 = validation.clean_phone(org, phone, sms=True)
    except ValidationError as exc:
        raise ValidationError({"phone": exc.messages})
    if e164 is None:
        raise ValidationError({"phone": [_("Give your mobile phone number.")]})
    return contacts.index_for(org, "phone", e164)


def code_hash(org: Organisation, code_id: uuid.UUID, code: str) -> str:
    return keys.blind_index(org_scope(org.pk), "rights_code", f"{code_id}:{code}")


def _holders(org: Organisation, hashed: str) -> list[Contact]:
    living = Contact.objects.for_org(org).filter(phone_index=hashed).exclude(
        status__in=[Contact.Status.ERASED, Contact.Status.DECEASED])
    return list(living.order_by("created_at", "pk"))


def _too_many_codes() -> ValidationError:
    return ValidationError({"phone": ValidationError(
        _("Too many codes were asked for this number. Wait an hour, then ask again."), code="too_many_codes")})


def _too_many_from_ip() -> ValidationError:
    return ValidationError({"phone": ValidationError(
        _("Too many codes were asked from this connection. Wait an hour, then ask again."), code="too_many_from_ip")})


def check_ip_quota(org: Organisation, ip: str, now: datetime) -> None:
    """At most MAX_CODES_PER_IP_HOUR codes an hour from one truncated address (call under the chain lock)."""
    address = truncate_ip(ip)
    if not address:
        return
    sent = AuditEvent.objects.filter(organisation=org, action__in=CODE_ACTIONS, ip=address,
                                     created_at__gte=now - timedelta(hours=1)).count()
    if sent >= MAX_CODES_PER_IP_HOUR:
        raise _too_many_from_ip()


def _within_limits(org: Organisation, hashed: str, purpose: str, ip: str, now: datetime) -> None:
    """The limits of every one-time code: per connection, then per number (the chain lock serialises
    the counts, so two requests at the same instant cannot both slip under them)."""
    audit.lock_chain(audit.chain_for(org))
    check_ip_quota(org, ip, now)
    recent = VerificationCode.objects.for_org(org).filter(phone_hash=hashed, purpose=purpose,
                                                          created_at__gte=now - timedelta(hours=1))
    if recent.count() >= MAX_CODES_PER_HOUR:
        raise _too_many_codes()


def _new_code(org: Organisation, hashed: str, purpose: str, now: datetime, *, usable: bool = True):
    """A code row (not saved) and its 6 digits; only the keyed hash is kept, and none when the code is
    not `usable` (an unknown number gets the same answer and a row nothing can match)."""
    row = VerificationCode(id=uuid.uuid4(), organisation=org, phone_hash=hashed, purpose=purpose, created_at=now,
                           expires_at=now + CODE_TTL, code_hash="")
    code = f"{secrets.randbelow(10**6):06d}"
    if usable:
        row.code_hash = code_hash(org, row.id, code)
    return row, code


@transaction.atomic
def request_code(org: Organisation, phone, *, ip: str = "") -> None:
    """Send a one-time code to the number if a contact has it; answer the same either way."""
    hashed = _phone_hash(org, phone)
    now = timezone.now()
    _within_limits(org, hashed, PURPOSE, ip, now)
    holders = _holders(org, hashed)
    row, code = _new_code(org, hashed, PURPOSE, now, usable=bool(holders))
    if holders:
        _send(holders[0], row, code, now)
    row.save(force_insert=True)
    audit.record(org, subject(ip), "privacy.code_requested", target=row, details={"sent": bool(holders)})


def _send(contact: Contact, row: VerificationCode, code: str, now: datetime) -> Message:
    """The code goes as an automatic reply (no purpose, no template), sealed with the contact's key."""
    return outbox.enqueue(contact, None, "sms", due_at=now, valid_until=row.expires_at, source=Message.Source.REPLY,
                          source_id=str(row.id), message_class=MessageClass.RIGHTS_REQUEST,
                          params={"reply": replies.RIGHTS_CODE, "code": code},
                          language=contact.language or contact.organisation.default_language)


def _wrong_code() -> ValidationError:
    return ValidationError({"code": ValidationError(
        _("This code is wrong or has expired. Check the last SMS you received, or ask for a new code."),
        code="code_invalid")})


def _too_many_tries() -> ValidationError:
    return ValidationError({"code": ValidationError(
        _("Too many wrong codes. Ask for a new code."), code="too_many_attempts")})


def _check_request(org: Organisation, kind: str, details: str, language: str | None) -> None:
    """The request's own fields, before any code is spent on it."""
    errors: dict[str, list[str]] = {}
    rights.check_choice(kind, RightsRequest.Kind.values, "kind", errors)
    rights.clean_text(details, rights.MAX_DETAILS, "details", errors)
    if language is not None:
        rights.check_choice(language, rights.LANGUAGES, "language", errors)
    if errors:
        raise ValidationError(errors)


def _latest_code(org: Organisation, hashed: str, now: datetime, purpose: str = PURPOSE) -> VerificationCode | None:
    codes = VerificationCode.objects.for_org(org).filter(phone_hash=hashed, purpose=purpose, consumed_at__isnull=True,
                                                         expires_at__gt=now).order_by("-created_at")
    return codes.select_for_update().first()


def open_public_request(org: Organisation, phone, code, *, kind: str, details: str = "", language: str | None = None,
                        ip: str = "") -> list[RightsRequest]:
    """Check the code, consume it, and open one request per contact of the number. A wrong code
    counts as a try even though the error aborts the request (its count is committed first)."""
    _check_request(org, kind, details, language)
    hashed = _phone_hash(org, phone)
    code = str(code or "").strip()
    with transaction.atomic():
        failure, opened = _verify_and_open(org, hashed, code, kind=kind, details=details, language=language, ip=ip)
    if failure is not None:
        raise failure
    return opened


def _verify_and_open(org, hashed, code, *, kind, details, language, ip):
    now = timezone.now()
    row = _latest_code(org, hashed, now)
    if row is None:
        return _wrong_code(), []
    if row.attempts >= MAX_ATTEMPTS:
        return _too_many_tries(), []
    holders = _holders(org, hashed)
    valid = bool(row.code_hash) and hmac.compare_digest(row.code_hash, code_hash(org, row.id, code)) and holders
    if not valid:
        row.attempts += 1
        row.save(update_fields=["attempts"])
        audit.record(org, subject(ip), "privacy.code_rejected", target=row, details={"attempts": row.attempts})
        return (_too_many_tries() if row.attempts >= MAX_ATTEMPTS else _wrong_code()), []
    row.consumed_at = now
    row.save(update_fields=["consumed_at"])
    opened = [rights.open_request(org, actor=subject(ip), kind=kind, contact=contact,
                                  channel=RightsRequest.Channel.PUBLIC, language=language or contact.language,
                                  details=details, received_at=now) for contact in holders]
    return None, opened


def purge_codes(now: datetime | None = None) -> int:
    """Delete codes older than a day, in every organisation (a housekeeping job: hourly)."""
    cutoff = (now or timezone.now()) - KEEP_CODES
    deleted, _by_model = VerificationCode.unscoped.filter(created_at__lt=cutoff).delete()
    return deleted


# --- the public consent form (issue 7) -----------------------------------------------------------
@transaction.atomic
def request_consent_code(org: Organisation, phone, *, language: str = "fr", ip: str = "") -> None:
    """Send a code that proves the number is the person's; a number nobody has yet becomes a contact
    (source `web_form`) so that the code has a recipient. Same limits as the rights codes."""
    hashed = _phone_hash(org, phone)
    now = timezone.now()
    _within_limits(org, hashed, CONSENT_PURPOSE, ip, now)
    holders = _holders(org, hashed)
    if not holders:
        e164 = validation.clean_phone(org, phone, sms=True)
        holders = [contacts.create_contact(org, actor=subject(ip), phone=e164, language=language, source="web_form")]
    row, code = _new_code(org, hashed, CONSENT_PURPOSE, now)
    outbox.enqueue(holders[0], None, "sms", due_at=now, valid_until=row.expires_at, source=Message.Source.REPLY,
                   source_id=str(row.id), message_class=MessageClass.CONSENT_REQUEST,
                   params={"reply": replies.CONSENT_CODE, "code": code}, language=language)
    row.save(force_insert=True)
    audit.record(org, subject(ip), "consent.code_requested", target=row, details={})


def confirm_consent_code(org: Organisation, phone, code, *, ip: str = "") -> list[Contact]:
    """The living contacts of the number once its code is right (the code is consumed); a wrong
    code counts as a try and raises, like open_public_request."""
    hashed = _phone_hash(org, phone)
    code = str(code or "").strip()
    with transaction.atomic():
        now = timezone.now()
        row = _latest_code(org, hashed, now, CONSENT_PURPOSE)
        if row is None:
            failure, holders = _wrong_code(), []
        elif row.attempts >= MAX_ATTEMPTS:
            failure, holders = _too_many_tries(), []
        else:
            holders = _holders(org, hashed)
            if holders and hmac.compare_digest(row.code_hash, code_hash(org, row.id, code)):
                row.consumed_at = now
                row.save(update_fields=["consumed_at"])
                audit.record(org, subject(ip), "consent.code_confirmed", target=row, details={})
                failure = None
            else:
                row.attempts += 1
                row.save(update_fields=["attempts"])
                audit.record(org, subject(ip), "consent.code_rejected", target=row, details={"attempts": row.attempts})
                failure, holders = (_too_many_tries() if row.attempts >= MAX_ATTEMPTS else _wrong_code()), []
    if failure is not None:
        raise failure
    return holders
