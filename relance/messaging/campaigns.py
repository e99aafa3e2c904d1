"""Campaigns: one message to an audience resolved against consent, enqueued in batches, throttled,
pausable, with counts of who was excluded and why (issue 4 item 6, R-20, R-21, R-25, R-34).

The audience is the organisation's contacts (of one site, filtered by language, source, creation
date), read in chunks ordered by id; each chunk's facts come from `facts.load_facts()` in a handful
of queries and each contact is judged by the pure `decide()`. Who would not receive is counted by
reason (`no_consent`, `withdrawn`, `objected`, `not_informed`... and `no_address` when the recipient
has no number or address on the channel); nobody is dropped without being counted (R-20).

A running campaign advances through `run_campaigns()`, which the worker calls every few seconds:
each `enqueue_next_batch()` writes the next chunk's messages through the outbox, due one after the
other at the campaign's rate (`rate_per_minute`). Pausing stops the enqueuing, and the worker does
not claim the scheduled messages of a paused campaign; resuming moves them (and the throttle's next
slot) forward by the pause's length, so the rate holds. Cancelling cancels what is still pending.
"""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Min
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation, Site
from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent.decision import recipient_for
from relance.consent.models import LANGUAGES, Purpose
from relance.consent.policy import MessageFacts, decide
from relance.contacts.models import Contact

from . import outbox, sending
from .facts import load_facts
from .models import Campaign, Message, Template

BATCH = 1000
MAX_BATCHES_PER_ROUND = 20  # per campaign and call of run_campaigns(): other campaigns get their turn
MAX_RATE = 100_000
NO_ADDRESS = "no_address"
CANCELLED_REASON = "campaign_cancelled"
SYSTEM = Actor.system("campaigns")
# Contact fields a campaign never reads: not loaded (they stay sealed in the database).
UNREAD = ("first_name", "last_name", "phone", "email", "external_ref")
FILTERS = ("language", "source", "created_after", "created_before")


@dataclass
class Audience:
    """Who a campaign reaches: `recipients` would receive, `excluded` counts the others by reason."""

    total: int = 0
    recipients: int = 0
    excluded: dict[str, int] = field(default_factory=dict)


# --- creating ------------------------------------------------------------------------------------
def clean_filters(filters: dict | None) -> tuple[dict, dict[str, list[str]]]:
    """The audience filters, normalised (dates as ISO strings), and a message for each bad one."""
    filters, cleaned, errors = dict(filters or {}), {}, {}
    for name in sorted(set(filters) - set(FILTERS)):
        errors[f"filters.{name}"] = [_("Unknown filter. Use: %(names)s.") % {"names": ", ".join(FILTERS)}]
    language, source = filters.get("language"), filters.get("source")
    if language not in (None, ""):
        if language not in dict(LANGUAGES):
            errors["filters.language"] = [_("Choose one of: %(values)s.") % {"values": ", ".join(dict(LANGUAGES))}]
        cleaned["language"] = language
    if source not in (None, ""):
        if source not in Contact.Source.values:
            errors["filters.source"] = [_("Choose one of: %(values)s.") % {"values": ", ".join(Contact.Source.values)}]
        cleaned["source"] = source
    for name in ("created_after", "created_before"):
        value = filters.get(name)
        if value in (None, ""):
            continue
        moment = value if isinstance(value, datetime) else parse_datetime(str(value))
        if moment is None:
            errors[f"filters.{name}"] = [_("Give a date and time in ISO 8601 format.")]
            continue
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        cleaned[name] = moment.isoformat()
    return cleaned, errors


def _check_template(org: Organisation, purpose: Purpose | None, template: Template | None) -> dict[str, list[str]]:
    errors = {}
    if purpose is None or purpose.organisation_id != org.pk:
        errors["purpose"] = [_("No such purpose in your organisation.")]
    if template is None or template.organisation_id != org.pk:
        errors["template"] = [_("No such template in your organisation.")]
    elif purpose is not None and template.purpose_id != purpose.pk:
        errors["template"] = [_("This template belongs to another purpose: choose one of the campaign's purpose.")]
    elif template.status != Template.Status.ACTIVE:
        errors["template"] = [_("This template is retired: choose an active one.")]
    elif purpose is not None and template.channel not in (purpose.channels or []):
        errors["template"] = [_("The purpose does not declare the %(channel)s channel: choose a template of one of "
                                "its channels.") % {"channel": template.channel}]
    return errors


@transaction.atomic
def create_campaign(org: Organisation, *, actor: Actor, name: str, purpose: Purpose, template: Template,
                    site: Site | None = None, filters: dict | None = None, rate_per_minute: int = 600,
                    starts_at: datetime | None = None) -> Campaign:
    """A draft campaign; nothing is sent before start_campaign()."""
    name = (name or "").strip()
    filters, errors = clean_filters(filters)
    errors.update(_check_template(org, purpose, template))
    if not name or len(name) > 200:
        errors["name"] = [_("Give a name of 1 to 200 characters.")]
    if site is not None and site.organisation_id != org.pk:
        errors["site"] = [_("No such site in your organisation.")]
    if not isinstance(rate_per_minute, int) or not 1 <= rate_per_minute <= MAX_RATE:
        errors["rate_per_minute"] = [_("Give a whole number of messages per minute from 1 to %(max)d.")
                                     % {"max": MAX_RATE}]
    if errors:
        raise ValidationError(errors)
    campaign = Campaign.objects.create(
        organisation=org, name=name, purpose=purpose, template=template, site=site, filters=filters,
        rate_per_minute=rate_per_minute, starts_at=starts_at,
        created_by=actor.id if actor.kind == "user" else None)
    audit.record(org, actor, "campaign.created", target=campaign, details={
        "purpose": purpose.code, "template": template.pk, "channel": template.channel,
        "site": site.pk if site else None, "filters": sorted(filters), "rate_per_minute": rate_per_minute})
    return campaign


# --- the audience ----------------------------------------------------------------------------------
def audience_contacts(campaign: Campaign):
    """The campaign's contacts before consent is looked at, ordered by id (the batches' cursor)."""
    contacts = Contact.objects.for_org(campaign.organisation_id).defer(*UNREAD)
    if campaign.site_id:
        contacts = contacts.filter(site_id=campaign.site_id)
    filters = campaign.filters or {}
    if filters.get("language"):
        contacts = contacts.filter(language=filters["language"])
    if filters.get("source"):
        contacts = contacts.filter(source=filters["source"])
    if filters.get("created_after"):
        contacts = contacts.filter(created_at__gte=parse_datetime(filters["created_after"]))
    if filters.get("created_before"):
        contacts = contacts.filter(created_at__lt=parse_datetime(filters["created_before"]))
    return contacts.order_by("pk")


def _chunks(campaign: Campaign, after: str = "", size: int = BATCH):
    contacts = audience_contacts(campaign)
    while True:
        chunk = list((contacts.filter(pk__gt=after) if after else contacts)[:size])
        if not chunk:
            return
        yield chunk
        after = chunk[-1].pk


def judge(campaign: Campaign, contacts: list[Contact], now: datetime) -> tuple[list[Contact], Counter]:
    """The contacts who would receive the campaign's message now, and the others counted by reason."""
    org, purpose, channel = campaign.organisation, campaign.purpose, campaign.template.channel
    facts = load_facts(org, contacts, purpose, channel, now)
    message = MessageFacts(channel=channel, country=org.country, organisation_paused=org.paused)
    receiving, excluded = [], Counter()
    for contact in contacts:
        decision = decide(*facts[contact.pk], message, now)
        if decision.action == "suppress":
            excluded[str(decision.reason)] += 1
        elif not _address(recipient_for(contact, purpose), channel):
            excluded[NO_ADDRESS] += 1
        else:
            receiving.append(contact)
    return receiving, excluded


def _address(recipient: Contact, channel: str) -> bool:
    return bool(recipient.phone_index if channel == "sms" else recipient.email_index)


def audience(campaign: Campaign, now: datetime | None = None) -> Audience:
    """The preview before launch: the whole audience judged as of `now`; nothing is written. Works for
    a campaign not saved yet too (the back-office's create form counts while the filters change)."""
    now = now or timezone.now()
    campaign = _loaded(campaign) if campaign.pk else campaign
    result, excluded = Audience(), Counter()
    for chunk in _chunks(campaign):
        receiving, left_out = judge(campaign, chunk, now)
        result.total += len(chunk)
        result.recipients += len(receiving)
        excluded.update(left_out)
    result.excluded = dict(sorted(excluded.items()))
    return result


def _loaded(campaign: Campaign) -> Campaign:
    return (Campaign.objects.for_org(campaign.organisation_id).select_related("organisation", "purpose", "template")
            .get(pk=campaign.pk))


# --- starting, pausing, resuming, cancelling --------------------------------------------------------
def _lint_errors(campaign: Campaign) -> list[str]:
    """R-24/R-25: the template linter (messaging.lint, when installed) finds no error in the template."""
    try:
        lint = importlib.import_module("relance.messaging.lint")
    except ImportError:
        return []
    org, template = campaign.organisation, campaign.template
    settings = sending.settings_for(org)
    problems = lint.lint(template.body, template.subject, channel=template.channel,
                         message_class=campaign.purpose.message_class,
                         processes_health_data=org.processes_health_data, org_kind=org.kind,
                         overrides=template.lint_override or (), stop_mention=settings.stop_mention,
                         sender=settings.sms_sender, org_name=org.name, language=template.language,
                         transliterate=template.transliterate)
    return [problem.message for problem in lint.errors_of(problems)]


def _locked(campaign: Campaign) -> Campaign:
    Campaign.objects.for_org(campaign.organisation_id).select_for_update().filter(pk=campaign.pk).first()
    return _loaded(campaign)


def _refuse_unless(campaign: Campaign, statuses: tuple[str, ...], message: str) -> None:
    if campaign.status not in statuses:
        raise ValidationError({"status": [message % {"status": campaign.get_status_display().lower()}]})


@transaction.atomic
def start_campaign(campaign: Campaign, *, actor: Actor, now: datetime | None = None) -> Campaign:
    """Checks the purpose is active and the template still fits it and passes the linter (R-01, R-24,
    R-25), then lets run_campaigns() enqueue it batch by batch."""
    now = now or timezone.now()
    campaign = _locked(campaign)
    _refuse_unless(campaign, (Campaign.Status.DRAFT,),
                   _("This campaign is %(status)s: only a draft campaign can be started."))
    errors = _check_template(campaign.organisation, campaign.purpose, campaign.template)
    if not campaign.purpose.is_active:
        errors.setdefault("purpose", []).append(_("The purpose is not active: activate it before starting (R-01)."))
    if "template" not in errors:
        problems = _lint_errors(campaign)
        if problems:
            errors["template"] = problems
    if errors:
        raise ValidationError(errors)
    campaign.status, campaign.started_at = Campaign.Status.RUNNING, now
    campaign.next_due_at = max(now, campaign.starts_at or now)
    campaign.save(update_fields=["status", "started_at", "next_due_at"])
    audit.record(campaign.organisation, actor, "campaign.started", target=campaign,
                 details={"rate_per_minute": campaign.rate_per_minute})
    return campaign


@transaction.atomic
def pause_campaign(campaign: Campaign, *, actor: Actor, reason: str = "") -> Campaign:
    """No more batches, and the worker leaves its scheduled messages alone until it resumes (R-34
    pauses campaigns this way too, with its reason). A resumed campaign whose audience was all
    enqueued completes again at the next round."""
    campaign = _locked(campaign)
    _refuse_unless(campaign, _still_sending(campaign, Campaign.Status.RUNNING),
                   _("This campaign is %(status)s: only a campaign still sending can be paused."))
    campaign.status, campaign.pause_reason = Campaign.Status.PAUSED, (reason or "")[:200]
    campaign.save(update_fields=["status", "pause_reason"])
    audit.record(campaign.organisation, actor, "campaign.paused", target=campaign,
                 details={"with_reason": bool(reason), "pending": _pending(campaign).count()})
    return campaign


@transaction.atomic
def resume_campaign(campaign: Campaign, *, actor: Actor, now: datetime | None = None) -> Campaign:
    """Running again. Scheduled messages whose time passed during the pause move forward by as
    much, the earliest being due now, so the campaign keeps its rate instead of sending a burst."""
    now = now or timezone.now()
    campaign = _locked(campaign)
    _refuse_unless(campaign, (Campaign.Status.PAUSED,),
                   _("This campaign is %(status)s: only a paused campaign can be resumed."))
    pending = _pending(campaign).filter(status=Message.Status.SCHEDULED)
    earliest = pending.aggregate(first=Min("due_at"))["first"]
    shift = max(now - earliest, timedelta(0)) if earliest else timedelta(0)
    moved = pending.update(due_at=F("due_at") + shift) if shift else 0
    campaign.status, campaign.pause_reason = Campaign.Status.RUNNING, ""
    campaign.next_due_at = max((campaign.next_due_at or now) + shift, now)
    campaign.save(update_fields=["status", "pause_reason", "next_due_at"])
    audit.record(campaign.organisation, actor, "campaign.resumed", target=campaign,
                 details={"moved": moved, "shift_seconds": int(shift.total_seconds())})
    return campaign


@transaction.atomic
def cancel_campaign(campaign: Campaign, *, actor: Actor, now: datetime | None = None) -> Campaign:
    """No more batches; its pending messages (scheduled or claimed) are cancelled with their reason."""
    now = now or timezone.now()
    campaign = _locked(campaign)
    _refuse_unless(campaign, _still_sending(campaign, Campaign.Status.DRAFT, Campaign.Status.RUNNING,
                                            Campaign.Status.PAUSED),
                   _("This campaign is %(status)s and has nothing left to send: it cannot be cancelled."))
    cancelled = outbox.cancel_pending(campaign.organisation, source=Message.Source.CAMPAIGN,
                                      source_id=str(campaign.pk), reason=CANCELLED_REASON, rule="")
    campaign.status, campaign.finished_at = Campaign.Status.CANCELLED, now
    campaign.save(update_fields=["status", "finished_at"])
    audit.record(campaign.organisation, actor, "campaign.cancelled", target=campaign,
                 details={"cancelled_messages": cancelled})
    return campaign


def _still_sending(campaign: Campaign, *statuses: str) -> tuple[str, ...]:
    """`statuses`, and `completed` while messages of the campaign still wait: a completed campaign has
    its whole audience enqueued, but its throttled messages may be due for hours yet."""
    if campaign.status == Campaign.Status.COMPLETED and _pending(campaign).exists():
        return (*statuses, Campaign.Status.COMPLETED)
    return statuses


def _pending(campaign: Campaign):
    return Message.objects.for_org(campaign.organisation_id).filter(
        source=Message.Source.CAMPAIGN, source_id=str(campaign.pk), status__in=Message.PENDING)


# --- enqueuing -----------------------------------------------------------------------------------------
def _templates_by_language(campaign: Campaign) -> dict[str, Template]:
    """The campaign's template in each language it exists in (same purpose, code and channel)."""
    template = campaign.template
    siblings = Template.objects.for_org(campaign.organisation_id).filter(
        purpose_id=template.purpose_id, code=template.code, channel=template.channel, status=Template.Status.ACTIVE)
    return {t.language: t for t in siblings} | {template.language: template}


def _build(campaign: Campaign, receiving: list[Contact], base: datetime) -> list[Message]:
    interval = timedelta(seconds=60 / campaign.rate_per_minute)
    templates = _templates_by_language(campaign)
    messages = []
    for i, contact in enumerate(receiving):
        template = templates.get(contact.language, campaign.template)
        messages.append(outbox.build(contact, campaign.purpose, template.channel, template=template,
                                     due_at=base + i * interval, source=Message.Source.CAMPAIGN,
                                     source_id=str(campaign.pk), campaign=campaign))
    return messages


def enqueue_next_batch(campaign: Campaign, now: datetime | None = None, batch: int = BATCH) -> int:
    """Judge the next `batch` contacts of the audience and enqueue the messages of those who would
    receive, spread at the campaign's rate; returns how many were enqueued. A campaign whose audience
    is exhausted completes. Safe with several workers: the campaign row is locked meanwhile."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = _locked(campaign)
        if campaign.status != Campaign.Status.RUNNING:
            return 0
        if campaign.organisation.paused:  # the organisation's sending is paused
            _pause_for_organisation(campaign)
            return 0
        chunk = next(_chunks(campaign, campaign.cursor, batch), [])
        receiving, excluded = judge(campaign, chunk, now) if chunk else ([], Counter())
        base = max(now, campaign.next_due_at or now, campaign.starts_at or now)
        outbox.enqueue_many(_build(campaign, receiving, base), decided=True)
        _count(campaign, chunk, receiving, excluded, base)
        if len(chunk) < batch:
            campaign.status, campaign.finished_at = Campaign.Status.COMPLETED, now
        campaign.save(update_fields=["audience", "enqueued", "excluded", "cursor", "next_due_at", "status",
                                     "finished_at"])
        if chunk:
            audit.record(campaign.organisation, SYSTEM, "campaign.batch_enqueued", target=campaign, details={
                "contacts": len(chunk), "enqueued": len(receiving), "excluded": dict(excluded)})
        if campaign.status == Campaign.Status.COMPLETED:
            audit.record(campaign.organisation, SYSTEM, "campaign.completed", target=campaign, details={
                "audience": campaign.audience, "enqueued": campaign.enqueued})
        return len(receiving)


def _count(campaign: Campaign, chunk: list[Contact], receiving: list[Contact], excluded: Counter,
           base: datetime) -> None:
    campaign.audience += len(chunk)
    campaign.enqueued += len(receiving)
    campaign.excluded = dict(sorted((Counter(campaign.excluded or {}) + excluded).items()))
    if chunk:
        campaign.cursor = str(chunk[-1].pk)
    campaign.next_due_at = base + timedelta(seconds=60 / campaign.rate_per_minute) * len(receiving)


def _pause_for_organisation(campaign: Campaign) -> None:
    campaign.status, campaign.pause_reason = Campaign.Status.PAUSED, "organisation_paused (R-34)"
    campaign.save(update_fields=["status", "pause_reason"])
    audit.record(campaign.organisation, SYSTEM, "campaign.paused", target=campaign,
                 details={"reason": "organisation_paused"})


def run_campaigns(now: datetime | None = None, *, batch: int = BATCH, max_batches: int = MAX_BATCHES_PER_ROUND) -> int:
    """Advance every running campaign of the platform by up to `max_batches` batches (the worker's
    housekeeping); returns how many messages were enqueued."""
    now = now or timezone.now()
    total = 0
    # Platform-wide on purpose: every organisation's running campaigns.
    for campaign in Campaign.unscoped.filter(status=Campaign.Status.RUNNING).order_by("pk"):
        for _round in range(max_batches):
            total += enqueue_next_batch(campaign, now, batch)
            campaign.refresh_from_db(fields=["status"])
            if campaign.status != Campaign.Status.RUNNING:
                break
    return total


def paused_campaign_ids() -> set[int]:
    """Campaigns whose scheduled messages the worker must leave alone (platform-wide)."""
    return set(Campaign.unscoped.filter(status=Campaign.Status.PAUSED).values_list("pk", flat=True))


def message_counts(campaign: Campaign) -> dict[str, int]:
    """The campaign's messages by status (scheduled, sent, delivered, suppressed...)."""
    rows = (Message.objects.for_org(campaign.organisation_id).filter(source=Message.Source.CAMPAIGN,
                                                                     source_id=str(campaign.pk))
            .values("status").annotate(n=Count("id")).order_by("status"))
    return {row["status"]: row["n"] for row in rows}
