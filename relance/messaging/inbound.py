"""Replies from people: STOP, START/OUI, INFO (R-30 … R-34).

`receive(inbound, provider=...)` is what a provider's inbound webhook calls; when it returns, the
webhook may answer 2xx.

Scope (R-31). The organisations concerned are those whose SMS sender is the one the reply was sent
to: on a dedicated sender, its organisation; on a shared sender, only those that messaged that number
from that sender in the last 30 days. A START also reaches the organisations where an earlier STOP
from this number on this sender put it on the suppression list (they stopped messaging it, so the
30 days may have passed).

STOP, in one transaction per organisation: the number's keyed hash goes on the suppression list;
every contact with that number gets a withdrawal (consent purposes) or an objection (other bases)
for SMS on every purpose; their pending SMS are suppressed, claimed ones included; an
InboundMessage (keyword and counts, never the text or the number) and `inbound.stop` are written.
Then (R-33) `receive()` waits, for a bounded time, until no SMS to those contacts is `sending`: a
worker moves a row from claimed to sending with a conditional UPDATE that a committed STOP defeats,
so rows already `sending` are the only ones that can still leave, and they must have left before
the provider hears 2xx. One acknowledgement is queued per STOP, from the organisation that last
messaged the number, never twice within 24 hours (R-32); it is a reply the person asked for
(`rights_request`), so nothing suppresses it.

START / OUI / YES. Our choice, from R-28, R-30 and R-31:
- a consent request is pending for the contact → `given` with method `sms_keyword` and the notice
  version that request carried (R-28);
- the number is on the suppression list because of a STOP → re-subscription: the entry is removed,
  never silently (audit `suppression.lifted`, reason "start"), and each purpose the STOP closed is
  restored (`restored`): a consent purpose only where the person had given consent before (the
  ledger refuses a `restored` without one, R-11), an objection only where it came from an SMS
  keyword. Objections and withdrawals expressed any other way (a form, a letter, staff), and
  suppression entries kept after an objection or an erasure, are never lifted by a text message.
- otherwise the START changes nothing and gets no answer (no unsolicited message).

INFO / AIDE / HELP: one reply with the controller's identity, the DPO's contact and the preference
link (R-30), at most once a day per number. Anything else is recorded as `other`.

Unknown numbers get a 2xx too: an InboundMessage without a contact is recorded in each organisation
in scope (a dedicated sender's organisation; on a shared sender nobody messaged them, so no one is
in scope). A STOP from an unknown number on a dedicated sender still puts it on the suppression list,
so that a later import never enrols it (R-31); it gets no acknowledgement, because the outbox holds
messages to contacts and we do not create a contact for someone who only asked us to stop.

R-34: after a STOP, an organisation whose STOP rate over 24 h (STOPs / SMS sent) is above its
threshold has its running campaigns paused and its admins alerted, at most once per 24 hours.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from relance.accounts.models import Membership, Role
from relance.audit import services as audit
from relance.audit.models import AuditEvent
from relance.audit.services import Actor
from relance.consent import ledger
from relance.consent import services as consent
from relance.consent.models import ConsentEvent, ConsentState, Notice, Purpose
from relance.consent.policy import Basis, ConsentStatus, MessageClass, Reason
from relance.contacts import services as contacts
from relance.contacts.models import Contact, SuppressionEntry
from relance.providers.base import Inbound

from . import keywords, outbox, replies
from .models import Campaign, InboundMessage, Message, SendingSettings
from .sending import settings_by_sender

log = logging.getLogger("relance.inbound")

SCOPE_DAYS = 30  # R-31, shared senders
ACK_INTERVAL = timedelta(hours=24)
DRAIN_TIMEOUT = 5.0  # seconds, R-33
DRAIN_POLL = 0.002  # seconds: a worker's `sending` rows leave within a batch's send time
METHOD = ConsentEvent.Method.SMS_KEYWORD
RATE_WINDOW = timedelta(hours=24)
STOP_RATE_ALERT = "organisation.stop_rate_alert"
ORGANISATION = Contact._meta.get_field("organisation")


@dataclass
class Target:
    """One organisation concerned by a reply, with the number's keyed hash in its key space."""

    org: object
    sending: SendingSettings
    phone_hash: str
    last_message: Message | None = None  # the last SMS it sent to that number from that sender
    people: list[Contact] = field(default_factory=list)


@dataclass
class Outcome:
    action: str  # stop, start, info, other (the first organisation's reading when several)
    keyword: str = ""
    organisations: list[int] = field(default_factory=list)
    inbound_ids: list[str] = field(default_factory=list)
    replies: int = 0  # acknowledgements and answers queued (at most one)
    drained: bool = True  # no SMS to the number was still being sent when we returned
    counts: dict = field(default_factory=dict)


def actor_for(provider: str) -> Actor:
    return Actor("provider", (provider or "provider")[:64])


# --- scope (R-31) ------------------------------------------------------------------------------
def _hash(org, number: str) -> str:
    try:
        return contacts.phone_hash(org, number) or ""
    except ValidationError:
        return ""


def _last_message(org, phone_hash: str, sender: str, since: datetime) -> Message | None:
    return (Message.objects.for_org(org).filter(channel="sms", sender=sender, recipient__phone_index=phone_hash,
                                                sent_at__gte=since)
            .select_related("recipient").order_by("-sent_at").first())


def _stopped_here(org, phone_hash: str, sender: str) -> bool:
    return InboundMessage.objects.for_org(org).filter(
        action=InboundMessage.Action.STOP, phone_hash=phone_hash, to=sender).exists()


def scope(inbound: Inbound, now: datetime, *, start: bool = False, organisation_id: int | None = None) -> list[Target]:
    """The organisations this reply concerns (see the module docstring), most recent sender first.
    `organisation_id`: the reply came through that organisation's own provider account, so it can
    concern no other organisation (R-63), whatever sender it names."""
    targets = []
    since = now - timedelta(days=SCOPE_DAYS)
    for sending in settings_by_sender(inbound.to):
        org = sending.organisation
        if organisation_id is not None and org.pk != organisation_id:
            continue
        hashed = _hash(org, inbound.sender)
        last = _last_message(org, hashed, inbound.to, since) if hashed else None
        if sending.shared_sender and last is None and not (start and hashed and _stopped_here(org, hashed, inbound.to)):
            continue
        target = Target(org, sending, hashed, last)
        if hashed:
            target.people = list(Contact.objects.for_org(org).filter(phone_index=hashed)
                                 .exclude(status=Contact.Status.ERASED).order_by("created_at", "pk"))
            for person in target.people:  # their organisation is this one: no query to read it again
                ORGANISATION.set_cached_value(person, org)
        targets.append(target)
    far_past = now - timedelta(days=36500)
    targets.sort(key=lambda t: t.last_message.sent_at if t.last_message else far_past, reverse=True)
    return targets


def _answering(target: Target) -> Contact | None:
    """Who an answer goes to: the contact last messaged at that number, else the first with it."""
    if target.last_message is not None and target.last_message.recipient in target.people:
        return target.last_message.recipient
    return target.people[0] if target.people else None


# --- entry point -------------------------------------------------------------------------------
def receive(inbound: Inbound, *, provider: str, now: datetime | None = None,
            organisation_id: int | None = None) -> Outcome:
    """Handle one reply (see the module docstring); returns once a STOP is in effect (R-33).
    `organisation_id`: the organisation whose own provider account received it (None: a platform one)."""
    now = now or timezone.now()
    first = keywords.classify(inbound.text)
    targets = scope(inbound, now, start=first.kind == keywords.START, organisation_id=organisation_id)
    readings = [keywords.classify(inbound.text, t.sending.keywords or {}) for t in targets]
    # One answer per reply: from the organisation that last messaged the number.
    answering = next((t for t in targets if _answering(t) is not None), None)
    outcome = Outcome(readings[0].kind if readings else first.kind, readings[0].keyword if readings else first.keyword)
    for target, reading in zip(targets, readings, strict=True):
        record = HANDLERS[reading.kind](target, inbound, reading, provider=provider, now=now,
                                        may_reply=target is answering)
        _add(outcome, target, record)
    stopped = [(t, r) for t, r in zip(targets, readings, strict=True) if r.kind == keywords.STOP]
    if stopped:
        outcome.drained = wait_until_sent([c.pk for t, _r in stopped for c in t.people])
        for target, _reading in stopped:
            check_stop_rate(target.org, target.sending, now=now)
    log.info("inbound handled", extra={"action": outcome.action, "organisations": len(outcome.organisations),
                                       "provider": provider, "drained": outcome.drained})
    return outcome


def _add(outcome: Outcome, target: Target, record: InboundMessage) -> None:
    outcome.organisations.append(target.org.pk)
    outcome.inbound_ids.append(str(record.pk))
    outcome.replies += int(bool(record.outcome.get("replied")))
    for key, value in record.outcome.items():
        if isinstance(value, int) and not isinstance(value, bool):
            outcome.counts[key] = outcome.counts.get(key, 0) + value


def _record(target: Target, inbound: Inbound, reading, *, provider: str, now: datetime, outcome: dict) -> InboundMessage:
    return InboundMessage.objects.create(
        organisation=target.org, contact=_answering(target), phone_hash=target.phone_hash, to=inbound.to[:64],
        provider=provider[:32], provider_ref=(inbound.provider_ref or "")[:100], keyword=reading.keyword,
        action=reading.kind, outcome=outcome, received_at=now)


def _audit(target: Target, record: InboundMessage, provider: str, details: dict) -> None:
    audit.record(target.org, actor_for(provider), f"inbound.{record.action}", target=record,
                 details={"keyword": record.keyword, **details})


def _queue_reply(target: Target, inbound: Inbound, kind: str, record: InboundMessage, now: datetime) -> bool:
    contact = _answering(target)
    if contact is None:
        return False
    outbox.enqueue(contact, None, "sms", due_at=now, valid_until=now + ACK_INTERVAL, source=Message.Source.REPLY,
                   source_id=str(record.pk), message_class=MessageClass.RIGHTS_REQUEST, params={"reply": kind},
                   language=contact.language or target.org.default_language, sender=inbound.to)
    return True


# --- STOP (R-31 … R-33) ------------------------------------------------------------------------
def _answered_lately(target: Target, action: str, now: datetime) -> bool:
    """R-32: one acknowledgement (or INFO answer) a day per number, however often it is asked."""
    return InboundMessage.objects.for_org(target.org).filter(
        action=action, phone_hash=target.phone_hash, received_at__gte=now - ACK_INTERVAL,
        outcome__replied=True).exists()


def _suppress_messages(target: Target, purposes: list[Purpose]) -> int:
    by_basis: dict[str, list[int]] = {Reason.WITHDRAWN: [], Reason.OBJECTED: []}
    for purpose in purposes:
        by_basis[Reason.WITHDRAWN if purpose.legal_basis == Basis.CONSENT else Reason.OBJECTED].append(purpose.pk)
    ids = [c.pk for c in target.people]
    return sum(outbox.suppress_pending(target.org, recipient_ids=ids, channel="sms", reason=reason, rule="R-33",
                                       purpose_ids=ids_) for reason, ids_ in by_basis.items() if ids_)


@transaction.atomic
def handle_stop(target: Target, inbound: Inbound, reading, *, provider: str, now: datetime,
                may_reply: bool) -> InboundMessage:
    """One organisation's STOP, in one transaction (R-31 … R-33): what must be true when the provider
    hears 2xx, written with as few statements as the rules allow (SPEC §7: p99 ≤ 100 ms). The
    ledger's lock comes first (withdraw_many, as every consent write), then the audit chain's."""
    org, actor = target.org, actor_for(provider)
    counts = {"contacts": len(target.people), "withdrawn": 0, "objected": 0, "suppressed_messages": 0}
    if target.people:  # withdraw_many takes the ledger's lock
        purposes = list(Purpose.objects.for_org(org))  # read once: the ledger and the outbox both need them
        for event in consent.withdraw_many(target.people, "sms", actor=actor, method=METHOD, purposes=purposes,
                                           organisation=org, evidence={"keyword": reading.keyword}):
            counts[event.action] += 1
        counts["suppressed_messages"] = _suppress_messages(target, purposes)
    if target.phone_hash:
        contacts.suppress_hash(org, target.phone_hash, actor=actor, reason=SuppressionEntry.Reason.STOP)
    # The record's id is known before it is written: the acknowledgement names it, and the record is
    # written once with its final outcome.
    record = InboundMessage(organisation=org, contact=_answering(target), phone_hash=target.phone_hash,
                            to=inbound.to[:64], provider=provider[:32],
                            provider_ref=(inbound.provider_ref or "")[:100], keyword=reading.keyword,
                            action=reading.kind, received_at=now)
    counts["replied"] = bool(may_reply and not _answered_lately(target, InboundMessage.Action.STOP, now)
                             and _queue_reply(target, inbound, replies.STOP_ACK, record, now))
    record.outcome = counts
    record.save(force_insert=True)
    _audit(target, record, provider, {k: v for k, v in counts.items() if not isinstance(v, bool)})
    return record


def wait_until_sent(recipient_ids: list, *, timeout: float = DRAIN_TIMEOUT) -> bool:
    """R-33: return once no SMS to these contacts is being handed to a provider (bounded wait)."""
    if not recipient_ids:
        return True
    sending = Message.unscoped.filter(recipient_id__in=recipient_ids, channel="sms",
                                      status=Message.Status.SENDING).exclude(purpose__isnull=True)
    deadline = time.monotonic() + timeout
    while sending.exists():
        if time.monotonic() >= deadline:
            log.warning("STOP acknowledged while messages were still being sent", extra={"timeout": timeout})
            return False
        time.sleep(DRAIN_POLL)
    return True


# --- START / OUI / YES (R-28, R-30) ------------------------------------------------------------
def _pending_request(org, contact: Contact, now: datetime):
    from .consent_requests import pending_request_for  # written beside the consent-request sending

    return pending_request_for(org, contact, now)


def _give(contact: Contact, request: Message, reading, actor: Actor) -> bool:
    """R-28: the consent the request asked for, with the notice version it carried."""
    notice = Notice.objects.for_org(contact.organisation_id).filter(pk=request.source_id or None).first()
    purpose = request.purpose
    try:
        with transaction.atomic():
            consent.record_consent(
                contact, purpose, "sms", ConsentEvent.Action.GIVEN, actor=actor, expressed_by="subject",
                method=METHOD, notice=notice, evidence={"keyword": reading.keyword, "message_ref": str(request.pk)},
                event_ref=request.event_ref or None)
    except ValidationError as exc:
        log.warning("consent by SMS keyword refused", extra={"fields": sorted(exc.message_dict)})
        return False
    return True


def _answered(contact: Contact, request: Message) -> bool:
    """A second OUI to the same request adds nothing: consent was given since it was sent."""
    return ConsentState.objects.for_org(contact.organisation_id).filter(
        contact=contact, purpose=request.purpose, channel="sms", status=ConsentStatus.GIVEN,
        last_occurred_at__gte=request.sent_at).exists()


def _restorable(contact: Contact, state: ConsentState) -> bool:
    last = state.last_event
    if last is None or last.method != METHOD or state.status not in (ConsentStatus.WITHDRAWN, ConsentStatus.OBJECTED):
        return False
    if not state.purpose.consent_based:
        return True
    return ConsentEvent.objects.for_org(contact.organisation_id).filter(
        contact=contact, purpose=state.purpose, channel="sms", action__in=["given", "renewed"]).exists()


def _restore(contact: Contact, reading, actor: Actor) -> int:
    states = (ConsentState.objects.for_org(contact.organisation_id).filter(contact=contact, channel="sms")
              .select_related("purpose", "last_event"))
    restored = 0
    for state in states:
        if _restorable(contact, state):
            consent.record_consent(contact, state.purpose, "sms", ConsentEvent.Action.RESTORED, actor=actor,
                                   expressed_by="subject", method=METHOD, evidence={"keyword": reading.keyword})
            restored += 1
    return restored


def _lift(target: Target, actor: Actor) -> bool:
    entry = SuppressionEntry.objects.for_org(target.org).filter(
        channel="sms", phone_hash=target.phone_hash, reason=SuppressionEntry.Reason.STOP).first()
    if entry is None:
        return False
    audit.record(target.org, actor, "suppression.lifted", target=entry, details={"reason": "start", "channel": "sms"})
    SuppressionEntry.objects.for_org(target.org).filter(pk=entry.pk).delete()
    return True


@transaction.atomic
def handle_start(target: Target, inbound: Inbound, reading, *, provider: str, now: datetime,
                 may_reply: bool) -> InboundMessage:
    org, actor = target.org, actor_for(provider)
    audit.lock_chain(ledger.chain_name(org.pk))
    counts = {"contacts": len(target.people), "given": 0, "restored": 0, "lifted": False, "replied": False}
    for person in target.people:
        request = _pending_request(org, person, now)
        if request is not None and not _answered(person, request) and _give(person, request, reading, actor):
            counts["given"] += 1
    if target.phone_hash and _lift(target, actor):
        counts["lifted"] = True
        counts["restored"] = sum(_restore(person, reading, actor) for person in target.people)
    record = _record(target, inbound, reading, provider=provider, now=now, outcome=counts)
    if may_reply and (counts["given"] or counts["lifted"]):
        counts["replied"] = _queue_reply(target, inbound, replies.START_ACK, record, now)
        record.outcome = counts
        record.save(update_fields=["outcome"])
    _audit(target, record, provider, {k: v for k, v in counts.items() if not isinstance(v, bool)}
           | {"lifted": int(counts["lifted"])})
    return record


# --- INFO and the rest -------------------------------------------------------------------------
@transaction.atomic
def handle_info(target: Target, inbound: Inbound, reading, *, provider: str, now: datetime,
                may_reply: bool) -> InboundMessage:
    counts = {"contacts": len(target.people), "replied": False}
    record = _record(target, inbound, reading, provider=provider, now=now, outcome=counts)
    if may_reply and not _answered_lately(target, InboundMessage.Action.INFO, now):
        counts["replied"] = _queue_reply(target, inbound, replies.INFO, record, now)
        record.outcome = counts
        record.save(update_fields=["outcome"])
    _audit(target, record, provider, {"contacts": counts["contacts"]})
    return record


@transaction.atomic
def handle_other(target: Target, inbound: Inbound, reading, *, provider: str, now: datetime,
                 may_reply: bool) -> InboundMessage:
    record = _record(target, inbound, reading, provider=provider, now=now, outcome={"contacts": len(target.people)})
    _audit(target, record, provider, {"contacts": len(target.people)})
    return record


HANDLERS = {keywords.STOP: handle_stop, keywords.START: handle_start, keywords.INFO: handle_info,
            keywords.OTHER: handle_other}


# --- the STOP rate -----------------------------------------------------------------------
def _stops(org, now: datetime) -> int:
    since = now - RATE_WINDOW
    return (InboundMessage.objects.for_org(org).filter(action=InboundMessage.Action.STOP, received_at__gt=since,
                                                       received_at__lte=now)
            .values("phone_hash").distinct().count())


def _sent(org, now: datetime):
    since = now - RATE_WINDOW
    return (Message.objects.for_org(org).filter(channel="sms", sent_at__gt=since, sent_at__lte=now)
            .exclude(source=Message.Source.REPLY))


def stop_rate(org, now: datetime) -> float:
    """STOPs (distinct numbers) over the SMS sent in the last 24 hours, in percent; 0 when none was sent.
    Automatic replies are not counted as sent: acknowledging STOPs must not dilute their rate."""
    stops = _stops(org, now)
    sent = _sent(org, now).count() if stops else 0
    return 100.0 * stops / sent if sent else 0.0


def check_stop_rate(org, sending: SendingSettings, *, now: datetime) -> bool:
    """Pause the running campaigns and alert the admins when the rate is above the threshold; True
    when it did. At most once per 24 hours, so that an admin who resumes a campaign is not overruled
    by the same STOPs.

    It runs after every STOP, so it never counts a day of sending: the rate is above the threshold
    exactly when fewer than 100 × STOPs / threshold SMS were sent, so the count stops there."""
    threshold = float(sending.stop_rate_threshold)
    stops = _stops(org, now)
    if not stops:
        return False
    limit = int(100.0 * stops / threshold) + 1 if threshold > 0 else 1
    sent = _sent(org, now)[:limit].count()
    rate = 100.0 * stops / sent if sent else 0.0  # exact whenever sent < limit, below the threshold otherwise
    if rate <= threshold:
        return False
    alerted = AuditEvent.objects.filter(organisation=org, action=STOP_RATE_ALERT, created_at__gt=now - RATE_WINDOW)
    if alerted.exists():  # the usual case once alerted: no lock taken
        return False
    with transaction.atomic():
        audit.lock_chain(audit.chain_for(org))  # one alert even when two STOPs arrive at once
        if alerted.exists():
            return False
        running = Campaign.objects.for_org(org).filter(status=Campaign.Status.RUNNING)
        paused = [str(pk) for pk in running.values_list("pk", flat=True)]
        reason = f"R-34: STOP rate {rate:.2f} % over 24 h, above {threshold:.2f} %"
        Campaign.objects.for_org(org).filter(pk__in=paused, status=Campaign.Status.RUNNING).update(
            status=Campaign.Status.PAUSED, pause_reason=reason)
        audit.record(org, Actor.system("stop_rate"), STOP_RATE_ALERT, target_type="accounts.organisation",
                     target_id=str(org.pk), details={"rate": f"{rate:.2f}", "threshold": f"{threshold:.2f}",
                                                     "paused": len(paused), "campaigns": paused})
        _alert_admins(org, rate, threshold, len(paused))
    return True


def _alert_admins(org, rate: float, threshold: float, paused: int) -> None:
    """An e-mail to each admin, in their language, once the pause is committed."""
    admins = Membership.objects.for_org(org).filter(role=Role.ADMIN, user__is_active=True).select_related("user")
    for membership in admins:
        user = membership.user
        with translation.override(user.language if user.language in ("fr", "en") else "fr"):
            subject = _("Relance: %(org)s's campaigns are paused (STOP rate)") % {"org": org.name}
            body = _("Over the last 24 hours, %(rate)s %% of the people %(org)s sent SMS to answered STOP; the "
                     "threshold is %(threshold)s %%. %(count)d running campaign(s) were paused (R-34).\n\n"
                     "Check the audience of your campaigns and the consent they rely on before resuming them.") % {
                "rate": f"{rate:.2f}", "threshold": f"{threshold:.2f}", "org": org.name, "count": paused}
        address = user.email
        transaction.on_commit(lambda s=subject, b=body, a=address: send_mail(s, b, None, [a]), robust=True)
