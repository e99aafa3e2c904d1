"""`relance bench api` (SPEC §7: p99 ≤ 50 ms for a single read under 100 requests/s).

Builds a bench organisation with `--contacts` contacts (default 10,000; sealed, their own keys) and
serves the application with `relance serve` (waitress, 8 threads) in a second process
(relance/bench/http.py). This process is the load generator: an open-loop schedule at `--rate`
requests/s for `--seconds` (request i is due at t0 + i/rate, whatever happened to the ones before),
sent by a pool of `--connections` threads, each with its own persistent HTTP/1.1 connection. The
latency of a request is counted from its scheduled time to its answer read, so a stall of the
server delays every request due meanwhile and shows in the figures (no coordinated omission); the
time from actual sending is reported too (`service_ms`). The first second of requests warms the
server and is not counted.

Each request is one read, for a random bench contact (`--read`, several separated by commas, each
measured in turn):
- `consent` (the default): GET /contacts/{id}/consent, the contact's consent state for every purpose
  and channel, and whether they were informed: what an integration asks before planning reminders
  or when it shows a person's file, so the most common read;
- `event`: GET /events/{id}, an event and its reminders' statuses (one event per contact, created
  beforehand by bulk upserts through the same server);
- `contact`: GET /contacts/{id}, the contact with its personal data decrypted, an audited read (R-65):
  every request also writes an audit row.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter

from django.core.management.base import CommandError
from django.utils import timezone

from . import http as bench_http
from . import scenario, upsert
from . import world as bench_world
from .scenario import database, latency_stats

ARGUMENTS = [
    ("--rate", {"type": float, "default": 100.0, "help": "api: requests per second, open loop (default 100)"}),
    ("--seconds", {"type": float, "default": 30.0, "help": "api: seconds of load for each read (default 30)"}),
    ("--read", {"default": "consent", "help": "api: the read(s) measured, among consent, event, contact (e.g. consent,event)"}),
    ("--connections", {"type": int, "default": 8, "help": "api: client threads, one persistent connection each"}),
]
READS = {
    "consent": ("GET /api/v1/contacts/{id}/consent", "contacts:read"),
    "event": ("GET /api/v1/events/{id}", "events:read"),
    "contact": ("GET /api/v1/contacts/{id}", "contacts:read"),
}
GOAL_P99_MS = 50.0
SERVER_THREADS = 8


def run(command, options) -> dict:
    reads = [name.strip() for name in (options.get("read") or "consent").split(",") if name.strip()]
    unknown = sorted(set(reads) - READS.keys())
    if unknown or not reads:
        raise CommandError(f"--read takes {', '.join(READS)} (separated by commas); got {options.get('read')!r}")
    rate, seconds, connections = options.get("rate") or 100.0, options.get("seconds") or 30.0, options.get("connections") or 8
    if rate <= 0 or seconds <= 0 or connections < 1:
        raise CommandError("--rate and --seconds must be positive, --connections at least 1")
    contacts = options.get("contacts") or 10_000
    scenario.require_postgresql("api", options)
    progress = scenario.progress_for(command, "api")
    return measure(contacts, reads, rate=rate, seconds=seconds, connections=connections, progress=progress,
                   keep=options.get("keep", False))


def _paths(read: str, contact_ids: list[str], event_ids: list[str]) -> list[str]:
    template = READS[read][0].split(" ", 1)[1]
    return [template.format(id=one) for one in (event_ids if read == "event" else contact_ids)]


def create_events(world: bench_world.World, client: bench_http.Client, progress) -> list[str]:
    """One event per contact through POST /events/bulk (chunks of the endpoint's limit)."""
    batch = upsert.items(world, len(world.people), f"api-{uuid.uuid4().hex[:6]}")
    ids = []
    for start in range(0, len(batch), upsert.MAX_BULK):
        result = upsert.post_bulk(client, batch[start:start + upsert.MAX_BULK])
        if result["http_status"] != 200 or result["rejected"]:
            raise RuntimeError(f"the bench events were not created: {result.get('answer') or result.get('errors')}")
        ids += result["event_ids"]
        progress(f"events {len(ids)}/{len(batch)}")
    return ids


def load(port: int, secret: str, paths: list[str], *, rate: float, seconds: float, connections: int,
         seed: int = 0) -> dict:
    """GET paths chosen at random on an open-loop schedule at `rate`/s; latencies from the schedule."""
    warmup = max(1, min(int(rate), int(rate * seconds) // 5))  # about the first second, uncounted
    total = max(1, int(rate * seconds))
    lock = threading.Lock()
    state = {"next": 0}
    latency, service, lags, statuses, errors = [], [], [], Counter(), Counter()
    done_at = []
    t0 = time.perf_counter() + 0.2

    def worker(k: int) -> None:
        client = bench_http.Client(port, secret, timeout=30)
        rng = random.Random(seed * 1000 + k)  # noqa: S311 (which contact to read, not a secret)
        try:
            while True:
                with lock:
                    i = state["next"]
                    state["next"] += 1
                if i >= warmup + total:
                    return
                due = t0 + i / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                sent = time.perf_counter()
                try:
                    status, _ = client.request("GET", rng.choice(paths))
                    problem = None
                except Exception as exc:  # counted, the load goes on
                    status, problem = None, type(exc).__name__
                end = time.perf_counter()
                if i < warmup:
                    continue
                with lock:
                    latency.append((end - due) * 1000)
                    service.append((end - sent) * 1000)
                    lags.append((sent - due) * 1000)
                    done_at.append(end)
                    if problem:
                        errors[problem] += 1
                    else:
                        statuses[str(status)] += 1
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(k,), name=f"bench-load-{k}", daemon=True)
               for k in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first_due = t0 + warmup / rate
    span = max(done_at) - first_due if done_at else 0
    ok = sum(n for status, n in statuses.items() if status.startswith("2"))
    return {
        "requests": len(latency), "warmup_requests": warmup, "target_rate": rate, "seconds": seconds,
        "achieved_rate": round(len(latency) / span, 1) if span > 0 else None,
        "statuses": dict(sorted(statuses.items())), "errors": dict(errors), "ok": ok,
        "latency_ms": latency_stats(latency), "service_ms": latency_stats(service),
        "send_lag_ms": {"p99": latency_stats(lags)["p99"], "max": latency_stats(lags)["max"]},
        "samples_ms": [round(value, 2) for value in latency],  # the distribution (relance bench report plots it)
    }


def measure(contacts: int, reads: list[str], *, rate: float, seconds: float, connections: int, progress,
            keep: bool = False) -> dict:
    started = timezone.now()
    t0 = time.perf_counter()
    world = bench_world.build(contacts, progress, tag=f"api-{uuid.uuid4().hex[:6]}", messages=False)
    if "event" in reads:
        upsert.create_rules(world)
    scopes = sorted({"organisation:read", "events:write", *(READS[read][1] for read in reads)})
    secret = bench_http.api_key(world.org, scopes)
    contact_ids = [str(contact.pk) for contact in world.people]
    result = {"benchmark": "api", "started_at": started.isoformat(), "database": database(), "contacts": contacts,
              "rate": rate, "seconds": seconds, "connections": connections, "server_threads": SERVER_THREADS,
              "goal_p99_ms": GOAL_P99_MS, "reads": {}, "organisation": world.org.slug}
    try:
        with bench_http.Server(secret, threads=SERVER_THREADS, progress=progress) as server:
            event_ids = []
            if "event" in reads:
                client = bench_http.Client(server.port, secret, timeout=600)
                event_ids = create_events(world, client, progress)
                client.close()
            result["setup_seconds"] = round(time.perf_counter() - t0, 1)
            for read in reads:
                before = bench_http.load_average()
                progress(f"{READS[read][0]}: {rate:g} requests/s for {seconds:g} s, {connections} connections")
                measured = load(server.port, secret, _paths(read, contact_ids, event_ids), rate=rate, seconds=seconds,
                                connections=connections)
                measured["request"] = READS[read][0]
                measured["load_average"] = {"before": before, "after": bench_http.load_average()}
                measured["within_goal"] = (not measured["errors"] and measured["ok"] == measured["requests"]
                                           and measured["latency_ms"]["p99"] is not None
                                           and measured["latency_ms"]["p99"] <= GOAL_P99_MS)
                lat = measured["latency_ms"]
                progress(f"  {measured['requests']} requests at {measured['achieved_rate']}/s, statuses "
                         f"{measured['statuses']}, errors {measured['errors']}: p50 {lat['p50']} ms, p95 {lat['p95']} "
                         f"ms, p99 {lat['p99']} ms, max {lat['max']} ms")
                result["reads"][read] = measured
    finally:
        bench_http.revoke_keys(world.org)
    first = result["reads"][reads[0]]
    result.update({"read": reads[0], "latency_ms": first["latency_ms"], "within_goal": first["within_goal"],
                   "rate": first["target_rate"],
                   "samples_ms": {read: result["reads"][read].pop("samples_ms") for read in result["reads"]}})
    if not keep:
        bench_world.clean_up(world.org, progress)
    return result
