"""kill -9 of `relance worker` at random moments while it sends to the SMSC simulator (issue 9 §1).

Every message must end delivered (receipts on), none lost, and a message the SMSC received twice
only when a kill left its batch in `sending`: at most one batch per kill, each marked for
reconciliation on its timeline (docs/delivery.md). The accounting itself is tested on planted
faults first (a lost message, an unmarked duplicate, a stuck one, a late submit).
"""

from __future__ import annotations

import os
import random
import time

import pytest
from django.db import connection

from relance.providers.testing.smsc import smsc, smsc_process  # noqa: F401 (fixtures)
from tests.reliability import fleet
from tests.reliability.scale import record, scale

pytestmark = [pytest.mark.django_db(databases=["default", "keys"], transaction=True)]


def _postgres_only():
    if connection.vendor != "postgresql":  # the PostgreSQL pass of `make test` runs it
        pytest.skip("several worker processes on one database: PostgreSQL only")


# --- the detector on planted faults ----------------------------------------------------------------
def test_the_accounting_catches_lost_stuck_unmarked_and_late_messages():
    """The harness would see a broken promise: R-29 (a message final only through a recorded result),
    docs/delivery.md (duplicates marked and bounded), R-23 (nothing sent after its validity)."""
    from django.utils import timezone

    from relance.messaging.models import Message, MessageEvent

    plan = fleet.populate(6, "127.0.0.1", 9, expiring=1, expire_in=60)
    ids = list(plan.numbers)
    number = plan.numbers
    Message.unscoped.filter(pk__in=ids).update(status="delivered", segments=1)
    Message.unscoped.filter(pk=ids[1]).update(status="sending")  # stuck
    Message.unscoped.filter(pk=ids[0]).update(status="expired")  # the expiring one
    tally = {"submits": {number[ids[0]]: 1, number[ids[1]]: 1, number[ids[3]]: 2, number[ids[4]]: 2,
                         number[ids[5]]: 1}}  # ids[2] delivered but never received: lost
    now = timezone.now()
    MessageEvent.objects.create(organisation_id=plan.organisation_id, message_id=ids[4], at=now, kind="requeued",
                                reason="worker_lost", detail={"reconcile": True})
    late = {number[ids[0]]: (now.timestamp() + 3600) * 1000}
    outcome = fleet.account(fleet.django_cursor, plan, tally, bound=1, last_submit=late)
    assert outcome.not_final == [ids[1]]
    assert outcome.lost == [ids[2]]
    assert outcome.duplicated == [ids[3], ids[4]] and outcome.unmarked == [ids[3]]
    assert outcome.late == [ids[0]]
    problems = fleet.check(outcome)
    assert len(problems) == 6, problems  # not final, lost, unmarked, over the bound, late, not all delivered
    Message.unscoped.filter(pk=ids[1]).update(status="delivered")
    clean = fleet.account(fleet.django_cursor, plan, {"submits": {n: 1 for n in number.values()}}, bound=0,
                          last_submit={number[ids[0]]: now.timestamp() * 1000})
    assert fleet.check(clean) == []


# --- kill -9 during sending ---------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.chaos
def test_kill9_during_sending_loses_nothing_and_marks_every_duplicate(smsc):  # noqa: F811 (the imported fixture)
    """R-29 (every message ends in a final state, delivered with its receipt), docs/delivery.md: a
    worker killed between the provider call and the record leaves at most one batch that may go
    twice, each such message marked `requeued` with reconcile=true."""
    _postgres_only()
    count, kills, workers, batch = scale((600, 2, 2, 50), (20_000, 6, 2, 200))
    seed = int(os.environ.get("RELANCE_CHAOS_SEED") or random.SystemRandom().randrange(1 << 30))
    rng = random.Random(seed)
    started = time.monotonic()
    plan = fleet.populate(count, smsc.host, smsc.port)
    setup_seconds = time.monotonic() - started
    # Kill when the SMSC has seen a random share of the messages (spread over the run), after a random
    # extra delay of up to a fifth of a second: the moment within a batch is random too.
    thresholds = sorted(rng.uniform(0.05, 0.85) * count for _ in range(kills))
    log = fleet.log_dir() / "crash-kill9.log"
    events = []
    sending_started = time.monotonic()
    with fleet.Fleet(fleet.child_env(), log, batch=batch).start(workers) as workers_:

        def inject():
            if not thresholds:
                return
            submits = smsc.stats(since=1 << 53)["submits"]
            while thresholds and submits >= thresholds[0]:
                thresholds.pop(0)
                time.sleep(rng.uniform(0, 0.2))
                slot = rng.choice(workers_.alive() or [0])
                pid = workers_.kill9(slot)
                events.append({"at_submits": smsc.stats(since=1 << 53)["submits"], "slot": slot, "pid": pid,
                               "after_seconds": round(time.monotonic() - sending_started, 2)})
                time.sleep(rng.uniform(0, 0.5))
                workers_.restart(slot)

        history: list = []
        final = fleet.wait_final(fleet.django_cursor, plan, scale(120, 900), during=inject, interval=0.05,
                                 history=history)
        seconds = time.monotonic() - sending_started
        tally = smsc.tally()
    outcome = fleet.account(fleet.django_cursor, plan, tally, bound=workers_.kills * batch)
    figures = {**outcome.figures, "seed": seed, "kills": workers_.kills, "workers": workers, "batch": batch,
               "lease_seconds": int(fleet.CHILD_SETTINGS["RELANCE_WORKER_LEASE_SECONDS"]), "kill_events": events,
               "setup_seconds": round(setup_seconds, 1), "progress": history, "seconds_to_all_final": round(seconds, 1),
               "smsc": {k: v for k, v in smsc.stats(since=1 << 53).items() if isinstance(v, int)}}
    record("crash-kill9", figures)
    assert workers_.kills == kills, f"seed {seed}: {workers_.kills} kills of {kills} ({final}); {events}"
    problems = fleet.check(outcome)
    assert not problems, f"seed {seed}: {problems}; {figures['statuses']}; log {log}: {workers_.errors()}"
