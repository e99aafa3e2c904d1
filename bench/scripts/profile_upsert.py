"""Time and profile the bulk upsert of events (SPEC §7: 10,000 events in one request ≤ 5 s).

Builds a bench organisation (a purpose, e-mail and SMS templates, the three-step escalation rule of
the reminder tests, 200 informed contacts), then calls services.bulk_upsert_events twice with the
same 10,000 items, as the 10,000-event test does: the first run creates every event (30,000
reminders), the second finds them all unchanged. Each run is timed, then profiled with cProfile
(top 25 by cumulative and by own time) when --profile names a file.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/relance_bench_h3 \
    RELANCE_KEYSTORE_URL=postgres://postgres@127.0.0.1:5432/relance_bench_h3_keys \
    .venv/bin/python bench/scripts/profile_upsert.py --events 10000 --profile out.txt

Not a `relance bench` scenario: a developer's tool to see where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
import uuid
from datetime import timedelta


def setup_world(count_contacts: int):
    from relance.bench import world
    from relance.messaging.models import Template
    from relance.reminders import services

    org = world.create_org()
    purpose = world.create_purpose(org)
    for code, channel in (("rappel-j2", "email"), ("rappel-h2", "sms")):
        Template.objects.create(organisation=org, purpose=purpose, code=code, channel=channel, language="fr",
                                body=world.SMS_BODY, subject="Rappel" if channel == "email" else "")
    steps = [{"offset_minutes": -2880, "channel": "email", "template": "rappel-j2"},
             {"offset_minutes": -1440, "channel": "email", "template": "rappel-j2"},
             {"offset_minutes": -120, "channel": "sms", "template": "rappel-h2"}]
    services.create_rule(org, actor=world.BENCH, purpose=purpose, event_kind="appointment", name="Rappels",
                         steps=steps)
    batch = uuid.uuid4()
    world.inform_batch(purpose, batch)
    contacts = world.create_contacts(org, count_contacts, batch, lambda _text: None)
    return org, purpose, contacts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--profile", help="write the profile summaries to this file")
    parser.add_argument("--cpu", action="store_true", help="profile this process's CPU time, not wall-clock time "
                        "(on a busy machine, waits for the database and for the CPU then drop out)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from relance.bench.world import BENCH
    from relance.keystore import services as keys
    from relance.reminders import services

    org, purpose, contacts = setup_world(args.contacts)
    start = timezone.now() + timedelta(days=3)
    items = [{"external_id": f"RDV-{n}", "kind": "appointment", "contact_id": str(contacts[n % len(contacts)].pk),
              "purpose_code": purpose.code, "starts_at": (start + timedelta(minutes=n)).isoformat(),
              "params": {"callback": "01 02 03 04 05"}} for n in range(args.events)]
    out = io.StringIO()
    out.write(f"$ {' '.join(['python', *sys.argv])}  ({connection.vendor}, {args.events} events, "
              f"{args.contacts} contacts, organisation {org.slug})\n")
    for name in ("created", "unchanged"):
        keys.clear_caches()  # as in a fresh process: the keys are read from the key store
        profiler = (cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()) if args.profile else None
        counted = [0]

        def count(execute, sql, params, many, context, counted=counted):
            counted[0] += 1
            return execute(sql, params, many, context)

        began, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        with connection.execute_wrapper(count):
            report = services.bulk_upsert_events(org, actor=BENCH, items=items)
        if profiler:
            profiler.disable()
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        queries = counted[0]
        line = (f"run '{name}': {elapsed:.2f} s ({cpu:.2f} s of CPU in this process), {queries} queries; "
                f"created={report.created} unchanged={report.unchanged} steps={report.steps} errors={len(report.errors)}"
                f"{' (under cProfile)' if profiler else ''}")
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        out.write(f"\n{line}\n")
        if profiler:
            for order in ("cumulative", "tottime"):
                text = io.StringIO()
                pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order).print_stats(25)
                out.write(f"\n--- top 25 by {order} ---\n")
                out.write(text.getvalue().split("\n", 6)[-1] if "ncalls" in text.getvalue() else text.getvalue())
    if args.profile:
        with open(args.profile, "w") as handle:
            handle.write(out.getvalue())


if __name__ == "__main__":
    main()
