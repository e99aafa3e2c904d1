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
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import AutoField, Count, Exists, F, JSONField, Min, OuterRef, Subquery
from django.db.models.functions import JSONObject
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation, Site
from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent.decision import purpose_facts, recipient_for
from relance.consent.models import LANGUAGES, ConsentState, Purpose
from relance.consent.policy import Basis, ContactFacts, MessageFacts, decide
from relance.contacts.models import Contact, SuppressionEntry

from . import outbox, sending
from .facts import _consent_facts, informed_ids, load_facts
from .models import Campaign, Message, MessageEvent, Template

BATCH = 10_000  # contacts judged, and their messages written, per batch (one transaction)
MAX_BATCHES_PER_ROUND = 20  # per campaign and call of run_campaigns(): other campaigns get their turn
MAX_RATE = 100_000
NO_ADDRESS = "no_address"
CANCELLED_REASON = "campaign_cancelled"
SYSTEM = Actor.system("campaigns")
# Contact fields a campaign never reads: not loaded (they stay sealed in the database).
UNREAD = ("first_name", "last_name", "phone", "email", "external_ref")
# What the audience reads of each contact, as values; birth_date and minor stay sealed (only whether
# they are set is looked at: the few contacts with one are judged through load_facts()).
ROW_FIELDS = ("id", "status", "number_valid", "email_valid", "phone_index", "email_index", "import_batch_id",
              "guardian_id", "language", "data_key_id", "birth_date", "minor")
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
    """The audience in chunks of `size` rows (values, not model instances: a million of them would cost
    more than judging them), in contact order from `after`. Each row says whether its number is on the
    suppression list (R-31) and carries the ledger's projection for the campaign's purpose and channel
    (`state`, None when there is none), both looked up by index for each contact: read apart, by the
    chunk's id range, the projection's planner chose the organisation's index and read all of it for
    every chunk."""
    org, channel = campaign.organisation_id, campaign.template.channel
    on_list = SuppressionEntry.objects.for_org(org).filter(channel="sms", phone_hash=OuterRef("phone_index"))
    state = ConsentState.objects.for_org(org).filter(contact_id=OuterRef("pk"), purpose_id=campaign.purpose_id,
                                                     channel=channel)
    rows = audience_contacts(campaign).annotate(
        on_list=Exists(on_list),
        state=Subquery(state.values(state=JSONObject(**{name: name for name in _State._fields}))[:1],
                       output_field=JSONField()),
    ).values_list(*ROW_FIELDS, "on_list", "state", named=True)
    while True:
        chunk = list((rows.filter(pk__gt=after) if after else rows)[:size])
        if not chunk:
            return
        yield chunk
        after = chunk[-1].id


class _State(NamedTuple):
    """What decide() reads of a ConsentState row (facts._consent_facts), from its JSON in the chunk."""

    status: str
    valid_until: datetime | None
    event_ref: str
    guardian_status: str
    guardian_valid_until: datetime | None

    @classmethod
    def of(cls, value) -> _State | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = json.loads(value)
        return cls(value["status"], _moment(value["valid_until"]), value["event_ref"], value["guardian_status"],
                   _moment(value["guardian_valid_until"]))


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite stores UTC, naive


def judge(campaign: Campaign, rows: list, now: datetime) -> tuple[list, Counter, dict]:
    """The rows of the contacts who would receive the campaign's message now, the others counted by
    reason, and the recipient of each receiving row (the guardian's id under R-14, else the contact's).

    The facts are those `facts.load_facts()` reads. Most contacts are judged from their row (with its
    projection and suppression-list flag, see _chunks) and one query on the chunk's id range for the
    information records (R-04); the few whose facts need more — a sealed birth date or minor
    flag to open, a guardian to write to, no data key yet — are loaded as contacts and go through
    load_facts() itself. Every contact is judged by the pure `decide()` (R-21)."""
    if not rows:
        return [], Counter(), {}
    org, purpose, channel = campaign.organisation, campaign.purpose, campaign.template.channel
    message = MessageFacts(channel=channel, country=org.country, organisation_paused=org.paused)
    purpose_f = purpose_facts(purpose)
    to_guardian = purpose.legal_basis != Basis.CONSENT
    special = {row.id for row in rows if row.birth_date is not None or row.minor is not None
               or row.data_key_id is None or (row.guardian_id and to_guardian)}
    informed = informed_ids(org, purpose, now, rows, id_range=True)
    loaded, addresses = {}, {}
    if special:
        contacts = _contacts(org, special)
        loaded = load_facts(org, contacts, purpose, channel, now)
        for contact in contacts:
            recipient = recipient_for(contact, purpose)
            addresses[contact.pk] = (recipient.pk, _address(recipient, channel))
    receiving, excluded, recipients = [], Counter(), {}
    for row in rows:
        if row.id in loaded:
            facts = loaded[row.id]
            recipient_id, reachable = addresses[row.id]
        else:
            facts = (ContactFacts(status=row.status, number_valid=row.number_valid, email_valid=row.email_valid,
                                  on_suppression_list=row.on_list),
                     purpose_f, _consent_facts(_State.of(row.state), None, row.id in informed))
            recipient_id, reachable = row.id, _address(row, channel)
        decision = decide(*facts, message, now)
        if decision.action == "suppress":
            excluded[str(decision.reason)] += 1
        elif not reachable:
            excluded[NO_ADDRESS] += 1
        else:
            receiving.append(row)
            recipients[row.id] = recipient_id
    return receiving, excluded, recipients


def _address(recipient, channel: str) -> bool:
    return bool(recipient.phone_index if channel == "sms" else recipient.email_index)


def _contacts(org: Organisation, ids) -> list[Contact]:
    ids, found = list(ids), []
    for start in range(0, len(ids), 500):  # SQLite's limit on a statement's parameters
        found += Contact.objects.for_org(org).defer(*UNREAD).filter(pk__in=ids[start:start + 500])
    return found


def audience(campaign: Campaign, now: datetime | None = None) -> Audience:
    """The preview before launch: the whole audience judged as of `now`; nothing is written. Works for
    a campaign not saved yet too (the back-office's create form counts while the filters change)."""
    now = now or timezone.now()
    campaign = _loaded(campaign) if campaign.pk else campaign
    result, excluded = Audience(), Counter()
    for chunk in _chunks(campaign):
        receiving, left_out, _recipients = judge(campaign, chunk, now)
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


def _write(campaign: Campaign, receiving: list, recipients: dict, base: datetime) -> None:
    """The messages of the receiving rows, due one after the other from `base` at the campaign's rate,
    each with its `scheduled` timeline line. On PostgreSQL, one INSERT of rows that are
    `outbox.build()`'s for the first contact with only the per-contact columns varying (see
    _insert_rows); elsewhere, outbox.build() and enqueue_many() for each."""
    if not receiving:
        return
    if connection.vendor != "postgresql":
        contacts = {contact.pk: contact for contact in _contacts(campaign.organisation, [r.id for r in receiving])}
        outbox.enqueue_many(_build(campaign, [contacts[row.id] for row in receiving], base), decided=True)
        return
    interval = timedelta(seconds=60 / campaign.rate_per_minute)
    templates = _templates_by_language(campaign)
    first = _contacts(campaign.organisation, [receiving[0].id])[0]
    prototype = outbox.build(first, campaign.purpose, campaign.template.channel, template=campaign.template,
                             due_at=base, source=Message.Source.CAMPAIGN, source_id=str(campaign.pk),
                             campaign=campaign)
    columns = {"id": [], "contact_id": [], "recipient_id": [], "template_id": [], "language": [], "due_at": [],
               "data_key_id": []}
    for i, row in enumerate(receiving):
        template = templates.get(row.language, campaign.template)
        for name, value in (("id", uuid.uuid4()), ("contact_id", row.id), ("recipient_id", recipients[row.id]),
                            ("template_id", template.pk), ("language", template.language),
                            ("due_at", base + i * interval), ("data_key_id", row.data_key_id)):
            columns[name].append(value)
    _insert_rows(prototype, columns, timezone.now())


def _insert_rows(prototype: Message, columns: dict[str, list], now: datetime) -> None:
    """PostgreSQL: the messages and their `scheduled` lines in one statement. Every column holds the
    value `bulk_create([prototype, …])` would write (each field's pre_save() then
    get_db_prep_save()), except `columns`, given one value per message; no Message instance per row
    (building and preparing them was most of the enqueuing's time, SPEC §7)."""
    if any(prototype._meta.get_field(name).attname != name for name in columns):
        raise ValueError("columns are given by their attribute names")
    first_line = outbox.line(prototype, "scheduled", at=now)
    quote = connection.ops.quote_name
    arrays, varying, params = [], [], []
    for name, values in columns.items():
        arrays.append(f"%s::{prototype._meta.get_field(name).db_type(connection)}[]")
        varying.append(quote(name))
        params.append(values)
    message_columns, message_values, message_params = _constants(prototype, set(columns), "r")
    line_columns, line_values, line_params = _constants(first_line, {"message_id"}, "m", id_of="message_id")
    # Made of the models' table and column names and their types only; every value is a parameter.
    sql = (f"WITH m AS (INSERT INTO {quote(Message._meta.db_table)} ({', '.join(message_columns)}) "  # noqa: S608
           f"SELECT {', '.join(message_values)} FROM unnest({', '.join(arrays)}) AS r({', '.join(varying)}) "
           f"RETURNING id) "
           f"INSERT INTO {quote(MessageEvent._meta.db_table)} ({', '.join(line_columns)}) "
           f"SELECT {', '.join(line_values)} FROM m")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*message_params, *params, *line_params])


def _constants(obj, varying: set[str], alias: str, *, id_of: str = "") -> tuple[list[str], list[str], list]:
    """Columns, SELECT expressions and parameters for a row like `obj`: the `varying` columns from
    `alias` (`id_of`: that column from the alias's id), the others `obj`'s own prepared value; an
    automatic primary key is left to the database."""
    quote, opts = connection.ops.quote_name, obj._meta
    columns, values, params = [], [], []
    for column in opts.concrete_fields:
        if column.generated or (column.primary_key and isinstance(column, AutoField)):
            continue
        columns.append(quote(column.column))
        if column.attname in varying:
            values.append(f"{alias}.id" if column.attname == id_of else f"{alias}.{quote(column.attname)}")
        else:
            values.append(f"%s::{column.db_type(connection)}")
            params.append(column.get_db_prep_save(column.pre_save(obj, True), connection=connection))
    return columns, values, params


def enqueue_next_batch(campaign: Campaign, now: datetime | None = None, batch: int = BATCH) -> int:
    """Judge the next `batch` contacts of the audience and enqueue the messages of those who would
    receive, spread at the campaign's rate; returns how many were enqueued. A campaign whose audience
    is exhausted completes. Safe with several workers: the campaign row is locked meanwhile."""
    now = now or timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A batch is written whole or not at all, with the campaign's cursor and its audit line: one
            # lost in a crash (its commit not yet flushed) is simply enqueued again, and none of its
            # messages can have been sent, as the worker's claim commits synchronously, which flushes
            # the log up to it. So its thousands of rows need not wait for the disk at commit.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        campaign = _locked(campaign)
        if campaign.status != Campaign.Status.RUNNING:
            return 0
        if campaign.organisation.paused:  # the organisation's sending is paused
            _pause_for_organisation(campaign)
            return 0
        chunk = next(_chunks(campaign, campaign.cursor, batch), [])
        receiving, excluded, recipients = judge(campaign, chunk, now)
        base = max(now, campaign.next_due_at or now, campaign.starts_at or now)
        _write(campaign, receiving, recipients, base)
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


def _count(campaign: Campaign, chunk: list, receiving: list, excluded: Counter, base: datetime) -> None:
    campaign.audience += len(chunk)
    campaign.enqueued += len(receiving)
    campaign.excluded = dict(sorted((Counter(campaign.excluded or {}) + excluded).items()))
    if chunk:
        campaign.cursor = str(chunk[-1].id)
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
