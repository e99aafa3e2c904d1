"""`relance bench audience` (SPEC §7: a campaign to 1,000,000 contacts filtered by consent and
enqueued in ≤ 60 s).

Builds ONE organisation of the library profile (relance/bench/generate.py: a service purpose and the
consent purpose "newsletter", 55 % of the contacts gave their consent, 8 % of those withdrew it later)
with `--contacts` contacts (default 1,000,000) and its consent ledger, by COPY with the secondary
indexes rebuilt after the load and the tables analysed (setup, timed apart). Then, through the
services: a campaign on the newsletter purpose with its SMS template, at the highest rate allowed;
`audience()` (the preview: counts by reason, timed); `start_campaign()` and `run_campaigns()` called
back to back until the campaign has enqueued its whole audience (what the worker's housekeeping does
every few seconds; the time between its rounds is not counted).

Checked (R-20, R-21): the recipients and the excluded add up to the audience, the campaign's counts
match the preview and the messages written, and no message went to a contact whose consent to the
purpose is not `given` in the ledger's projection. Cleaned up unless --keep (messages, contacts and
their data keys deleted; contacts named in the append-only ledger kept as erased rows, their keys
destroyed like every other, R-60).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import sys
import time
import uuid

from django.core.management.base import CommandError
from django.db import connection, connections, router, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from relance.consent.models import ConsentEvent, ConsentState, Information
from relance.contacts.models import Contact
from relance.keystore.models import SubjectKey
from relance.messaging import campaigns
from relance.messaging.models import Campaign, Message, MessageEvent, SendingSettings

from . import generate, scenario
from .world import BENCH

DEFAULT_CONTACTS = 1_000_000
GOAL_SECONDS = 60
KEY_CHUNK = 100_000

ARGUMENTS = [
    ("--audience-profile", {"default": "", "help": "audience: write a cProfile of the enqueuing (text) to this file"}),
]


def run(command, options) -> dict:
    if connection.vendor != "postgresql":
        raise CommandError("The audience benchmark fills PostgreSQL by COPY (relance/bench/generate.py): set "
                           "DATABASE_URL (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/relance_bench).")
    contacts = options.get("contacts") or DEFAULT_CONTACTS
    if contacts < 1:
        raise CommandError("--contacts must be at least 1")
    progress = scenario.progress_for(command, "audience")
    return measure(contacts, progress, keep=options.get("keep", False), seed=options.get("seed") or 1,
                   profile=options.get("audience_profile") or "")


def measure(contacts: int, progress, *, keep: bool = False, seed: int = 1, profile: str = "") -> dict:
    started = timezone.now()
    t0 = time.perf_counter()
    org = build(contacts, progress, seed=seed)
    setup = time.perf_counter() - t0
    purpose = org.marketing
    template = org.templates[(purpose.pk, "sms")]
    campaign = campaigns.create_campaign(org.org, actor=BENCH, name="Agenda culturel (bench)", purpose=purpose,
                                         template=template, rate_per_minute=campaigns.MAX_RATE)

    progress(f"audience preview of {contacts} contacts")
    t1 = time.perf_counter()
    preview = campaigns.audience(campaign)
    preview_seconds = time.perf_counter() - t1
    progress(f"  {preview.recipients} recipients, excluded {preview.excluded} ({preview_seconds:.1f} s)")

    progress("start and enqueue")
    profiler = cProfile.Profile() if profile else None
    t2 = time.perf_counter()
    if profiler:
        profiler.enable()
    rounds, enqueued = enqueue_all(campaign)
    if profiler:
        profiler.disable()
    enqueue_seconds = time.perf_counter() - t2
    campaign = Campaign.objects.for_org(org.org).get(pk=campaign.pk)
    progress(f"  {campaign.enqueued} enqueued in {enqueue_seconds:.1f} s ({rounds} rounds)")
    if profiler:
        write_profile(profiler, profile, contacts, enqueue_seconds)
        progress(f"profile written to {profile}")

    written = Message.objects.for_org(org.org).filter(campaign=campaign).count()
    # The organisation is the scenario's own: its timeline is the campaign's (a join of the outbox and the
    # timeline by campaign made PostgreSQL scan both at ten million rows).
    timeline = MessageEvent.objects.for_org(org.org).count()
    excluded_total = sum((campaign.excluded or {}).values())
    result = {
        "benchmark": "audience", "started_at": started.isoformat(), "database": scenario.database(),
        "organisation": org.org.slug, "contacts": org.contacts, "consent_events": org.consent_events,
        "purpose": purpose.code, "channel": template.channel, "setup_seconds": round(setup, 1),
        "preview": {"seconds": round(preview_seconds, 2), "total": preview.total, "recipients": preview.recipients,
                    "excluded": preview.excluded},
        "enqueue": {"seconds": round(enqueue_seconds, 2), "rounds": rounds, "batch": campaigns.BATCH,
                    "batches_per_round": campaigns.MAX_BATCHES_PER_ROUND, "status": campaign.status,
                    "audience": campaign.audience, "recipients": campaign.enqueued,
                    "excluded": dict(campaign.excluded or {}), "messages_written": written,
                    "timeline_rows": timeline,
                    "contacts_per_second": round(campaign.audience / enqueue_seconds) if enqueue_seconds else None,
                    "messages_per_second": round(written / enqueue_seconds) if enqueue_seconds else None},
        "checks": {
            # nobody dropped without being counted.
            "preview_adds_up": preview.recipients + sum(preview.excluded.values()) == preview.total == org.contacts,
            "campaign_adds_up": campaign.enqueued + excluded_total == campaign.audience == preview.total,
            "matches_preview": (campaign.enqueued == preview.recipients
                                and dict(campaign.excluded or {}) == preview.excluded),
            "messages_match": written == campaign.enqueued == timeline == enqueued,
            # no message to a contact whose consent to the purpose is not given.
            "messages_without_consent": without_consent(org.org, campaign, purpose, template.channel),
            "contacts_with_consent": ConsentState.objects.for_org(org.org).filter(
                purpose=purpose, channel=template.channel, status="given").count(),
        },
        "goal_seconds": GOAL_SECONDS,
    }
    checks = result["checks"]
    progress(f"checks: {checks}")
    if not keep:
        clean_up(org, progress)
    return result


def build(contacts: int, progress, *, seed: int = 1) -> generate.Org:
    """One library organisation (PROFILES[0]) with its contacts and consent ledger, by COPY."""
    rng = random.Random(seed)  # noqa: S311 - made-up data, reproducible by its seed
    org = generate.organisation(generate.PROFILES[0], 0, f"aud{uuid.uuid4().hex[:6]}")
    tables = [Contact, ConsentEvent, ConsentState]
    with generate.loading(tables, progress):
        generate.add_contacts(org, contacts, rng, progress)
        generate.add_ledger(org, rng, progress)
    generate._vacuum(tables, progress)
    org.data_keys = []  # the ledger's evidence is sealed: the keys are not needed in memory any more
    return org


def enqueue_all(campaign: Campaign) -> tuple[int, int]:
    """start_campaign(), then the worker's run_campaigns() back to back until the campaign is no longer
    running (its whole audience enqueued); returns (rounds, messages enqueued)."""
    campaigns.start_campaign(campaign, actor=BENCH)
    rounds = enqueued = 0
    while Campaign.objects.for_org(campaign.organisation_id).filter(
            pk=campaign.pk, status=Campaign.Status.RUNNING).exists():
        enqueued += campaigns.run_campaigns()
        rounds += 1
    return rounds, enqueued


def without_consent(org, campaign: Campaign, purpose, channel: str) -> int:
    """Messages of the campaign whose contact's consent to the purpose is not `given` (must be 0)."""
    given = ConsentState.objects.for_org(org).filter(contact_id=OuterRef("contact_id"), purpose=purpose,
                                                     channel=channel, status="given")
    return Message.objects.for_org(org).filter(campaign=campaign).exclude(Exists(given)).count()


def write_profile(profiler: cProfile.Profile, path: str, contacts: int, seconds: float) -> None:
    out = io.StringIO()
    out.write(f"$ relance {' '.join(sys.argv[1:])}\n")
    out.write(f"# cProfile of start_campaign + run_campaigns until enqueued: {contacts} contacts, "
              f"{seconds:.1f} s (wall, profiler on), {connection.vendor}\n\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(40)
    with open(path, "w") as handle:
        handle.write(out.getvalue())


def clean_up(org: generate.Org, progress) -> None:
    """Delete the campaign's messages and the contacts with their keys, as world.clean_up() does, in
    set-based statements (a million contacts do not fit in an `IN (…)` list). The organisation, its
    purposes, its audit trail and its consent ledger stay (append-only): the contacts the ledger names
    are kept as erased rows (no sealed field, no keyed hash), their keys destroyed like every other."""
    t = time.perf_counter()
    tenant = org.org.pk
    tables = {m: m._meta.db_table for m in (MessageEvent, Message, Information, Contact, ConsentEvent)}
    # The SQL is made of table names and the organisation's id only.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {tables[MessageEvent]} WHERE organisation_id = %s", [tenant])  # noqa: S608
        cursor.execute(f"DELETE FROM {tables[Message]} WHERE organisation_id = %s", [tenant])  # noqa: S608
        cursor.execute(f"DELETE FROM {tables[Information]} WHERE organisation_id = %s", [tenant])  # noqa: S608
        cursor.execute(f"""DELETE FROM {tables[Contact]} c WHERE c.organisation_id = %s AND NOT EXISTS (
                             SELECT 1 FROM {tables[ConsentEvent]} e WHERE e.contact_id = c.id)""",  # noqa: S608
                       [tenant])
        deleted = cursor.rowcount
        cursor.execute(f"""UPDATE {tables[Contact]} SET status = %s, data_key_id = NULL, first_name = NULL,
                             last_name = NULL, phone = NULL, email = NULL, phone_index = NULL, email_index = NULL,
                             last_name_index = NULL WHERE organisation_id = %s""",  # noqa: S608
                       [Contact.Status.ERASED, tenant])
        erased = cursor.rowcount
        SendingSettings.objects.for_org(org.org).update(sms_sender="")  # no later reply reaches it
    alias = router.db_for_write(SubjectKey)
    with connections[alias].cursor() as cursor:
        for start in range(0, len(org.key_ids), KEY_CHUNK):
            cursor.execute(f"DELETE FROM {SubjectKey._meta.db_table} WHERE id = ANY(%s::uuid[])",  # noqa: S608
                           [org.key_ids[start:start + KEY_CHUNK]])
    progress(f"cleaned up {org.org.slug}: {deleted} contacts deleted, {erased} named in the ledger erased, "
             f"{len(org.key_ids)} keys destroyed ({time.perf_counter() - t:.0f} s)")
