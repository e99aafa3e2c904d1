"""`relance bench upsert` (SPEC §7: a bulk upsert of 10,000 events in one request ≤ 5 s).

Builds a bench organisation with `--contacts` contacts (default: as many as events, at most 10,000;
sealed, their own keys) and two reminder rules of its purpose: appointments get three SMS steps
(2 days, 1 day and 2 hours before), loans two (1 day before the due date and 1 day after). The
application is served by `relance serve` in a second process (relance/bench/http.py) and ONE
`POST /api/v1/events/bulk` carries `--events` events (default 10,000): 70 % appointments with a
place and a call-back number, 30 % loans with a count of items, 3 to 30 days ahead, one contact
each (cycling when there are more events than contacts). Measured: the wall time of the request as
the integrator sees it (body sent to answer read), three times: the first upsert (every event
created, its steps scheduled), the same body again (every event unchanged: the idempotent path),
and the body with one event in ten moved by a day (rescheduled: old steps cancelled, new ones
scheduled). Checked against the database after each: events, scheduled reminders.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta

from django.utils import timezone

from relance.messaging.models import Message
from relance.reminders import services as reminders
from relance.reminders.models import Event

from . import http as bench_http
from . import scenario
from . import world as bench_world
from .scenario import database

ARGUMENTS = [
    ("--events", {"type": int, "default": 10_000, "help": "upsert: events in the one bulk request (default 10,000)"}),
]
GOAL_SECONDS = 5.0
MAX_BULK = 10_000  # the endpoint's limit (POST /events/bulk)
# Offsets in minutes from the event's start; every step uses the bench template.
STEPS = {"appointment": (-2880, -1440, -120), "loan_due": (-1440, 1440)}
SCOPES = ["events:write", "events:read", "organisation:read"]
REPORT = ("received", "created", "rescheduled", "updated", "unchanged", "rejected", "steps", "past_steps",
          "cancelled_steps")


def run(command, options) -> dict:
    events = options.get("events") or 10_000
    if events < 1 or events > MAX_BULK:
        from django.core.management.base import CommandError

        raise CommandError(f"--events takes 1 to {MAX_BULK} (one request)")
    contacts = options.get("contacts") or min(events, 10_000)
    scenario.require_postgresql("upsert", options)
    progress = scenario.progress_for(command, "upsert")
    return measure(events, contacts, progress, keep=options.get("keep", False))


# --- shared with relance/bench/api.py -------------------------------------------------------------
def create_rules(world: bench_world.World) -> None:
    for kind, offsets in STEPS.items():
        reminders.create_rule(world.org, actor=bench_world.BENCH, purpose=world.purpose, event_kind=kind,
                              name=f"Bench {kind}", steps=[{"offset_minutes": offset, "channel": "sms",
                                                            "template": world.template.code} for offset in offsets])


def kind_of(n: int) -> str:
    return "loan_due" if n % 10 in (3, 6, 9) else "appointment"  # 30 % loans


def items(world: bench_world.World, count: int, tag: str) -> list[dict]:
    """`count` events as an integrator sends them, one per contact (cycling), 3 to 30 days ahead."""
    base = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
    out = []
    for n in range(count):
        contact = world.people[n % len(world.people)]
        kind = kind_of(n)
        starts = base + timedelta(days=n % 27, hours=8 + n % 10, minutes=15 * (n % 4))
        item = {"external_id": f"{tag}-{n:06d}", "kind": kind, "contact_id": str(contact.pk),
                "purpose_code": world.purpose.code, "starts_at": starts.isoformat()}
        item["params"] = ({"place": f"Salle {n % 7 + 1}", "callback": "01 23 45 67 89"} if kind == "appointment"
                          else {"count": str(n % 5 + 1)})
        out.append(item)
    return out


def moved(batch: list[dict], every: int = 10) -> list[dict]:
    """The same events, one in `every` a day later."""
    out = []
    for n, item in enumerate(batch):
        if n % every == 0:
            starts = datetime.fromisoformat(item["starts_at"]) + timedelta(days=1)
            item = {**item, "starts_at": starts.isoformat()}
        out.append(item)
    return out


def expected_steps(batch: list[dict]) -> int:
    return sum(len(STEPS[item["kind"]]) for item in batch)


def post_bulk(client: bench_http.Client, batch: list[dict]) -> dict:
    """One POST /events/bulk; the wall time from sending the body to having read the whole answer."""
    body = json.dumps({"items": batch}).encode()
    t0 = time.perf_counter()
    status, data = client.request("POST", f"{bench_http.API}/events/bulk", body)
    seconds = time.perf_counter() - t0
    try:
        report = json.loads(data)
    except ValueError:
        report = {"raw": data[:500].decode(errors="replace")}
    result = {"http_status": status, "seconds": round(seconds, 3), "request_bytes": len(body),
              "response_bytes": len(data)}
    if status == 200:
        result.update({name: report.get(name) for name in REPORT})
        result["event_rows"] = len(report.get("events", []))
        result["errors"] = report.get("errors", [])[:5]
        result["event_ids"] = [row["id"] for row in report.get("events", [])]
    else:
        result["answer"] = report
    return result


# --- the scenario ---------------------------------------------------------------------------------
def measure(events: int, contacts: int, progress, *, keep: bool = False) -> dict:
    started = timezone.now()
    t0 = time.perf_counter()
    world = bench_world.build(contacts, progress, tag=f"upsert-{uuid.uuid4().hex[:6]}", messages=False)
    create_rules(world)
    secret = bench_http.api_key(world.org, SCOPES)
    tag = f"ev-{uuid.uuid4().hex[:6]}"
    first = items(world, events, tag)
    later = moved(first)
    setup = time.perf_counter() - t0
    runs, load_before = {}, bench_http.load_average()
    try:
        with bench_http.Server(secret, progress=progress) as server:
            client = bench_http.Client(server.port, secret, timeout=600)
            for name, batch in (("first", first), ("again", first), ("moved", later)):
                progress(f"POST /events/bulk with {len(batch)} events ({name})")
                run = post_bulk(client, batch)
                run.pop("event_ids", None)
                run["events_in_database"] = Event.objects.for_org(world.org).count()
                run["scheduled_reminders"] = (Message.objects.for_org(world.org)
                                              .filter(status=Message.Status.SCHEDULED).count())
                progress(f"  {run['http_status']} in {run['seconds']} s: "
                         + ", ".join(f"{key} {run.get(key)}" for key in ("created", "rescheduled", "unchanged",
                                                                          "rejected", "steps")))
                runs[name] = run
            client.close()
    finally:
        bench_http.revoke_keys(world.org)
    result = {
        "benchmark": "upsert", "started_at": started.isoformat(), "database": database(), "events": events,
        "contacts": contacts, "kinds": {kind: sum(1 for item in first if item["kind"] == kind) for kind in STEPS},
        "steps_per_kind": {kind: len(offsets) for kind, offsets in STEPS.items()},
        "expected_steps": expected_steps(first), "moved_events": sum(1 for a, b in zip(first, later, strict=True) if a != b),
        "setup_seconds": round(setup, 1), "runs": runs,
        "load_average": {"before": load_before, "after": bench_http.load_average()}, "seconds": runs["first"]["seconds"],
        "goal_seconds": GOAL_SECONDS, "within_goal": runs["first"]["http_status"] == 200
        and runs["first"]["seconds"] <= GOAL_SECONDS, "organisation": world.org.slug,
    }
    if not keep:
        bench_world.clean_up(world.org, progress)
    return result
