"""The SMSC goes down while the workers send, then comes back (issue 9 §2).

The workers must recover by themselves (the SMPP client reconnects with back-off, the account's
circuit lets a probe through), lose nothing, mark every duplicate (at most the SMPP window per bind
the outage cut), and never submit a message after its validity passed during the outage (R-23):
those end `expired`. The simulator's tally (GET /tally), on which the accounting rests, is tested
first on a raw SMPP session.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection

from relance.providers.testing.smsc import smsc, smsc_process  # noqa: F401 (fixtures)
from relance.providers.tests.test_smsc_simulator import BIND_TRANSCEIVER, Esme
from tests.reliability import fleet
from tests.reliability.scale import record, scale

pytestmark = [pytest.mark.django_db(databases=["default", "keys"], transaction=True)]


def test_the_simulator_tallies_every_submit_per_destination_and_forgets_on_reset(smsc):  # noqa: F811 (the imported fixture)
    """The count the R-29 accounting relies on: every submit_sm per destination, past the ring of
    /messages (2,000), with the time of the last one; zeroed by /reset."""
    peer = Esme(smsc.port)
    try:
        assert peer.bind(BIND_TRANSCEIVER)[0] == 0
        before = time.time() * 1000
        smsc.behaviour(receipts=False, error_destinations={"3369": 0x0B})
        for n in range(2003):
            peer.submit(destination=f"33612{n % 3:06d}", registered=0)
        peer.submit(destination="33690000000", registered=0)  # refused: received, not accepted
        tally = smsc.tally()
    finally:
        peer.close()
    assert tally["submits"] == {"33612000000": 668, "33612000001": 668, "33612000002": 667, "33690000000": 1}
    assert tally["accepted"] == {"33612000000": 668, "33612000001": 668, "33612000002": 667}
    assert all(at >= before - 1000 for at in tally["last_at"].values())
    assert len(smsc.messages()) == 2000  # the ring alone would have missed some
    smsc.reset()
    assert smsc.tally() == {"submits": {}, "accepted": {}, "last_at": {}}


@pytest.mark.postgres
@pytest.mark.chaos
def test_smsc_outage_recovers_by_itself_loses_nothing_and_sends_nothing_late(smsc):  # noqa: F811 (the imported fixture)
    """R-23 (expired, never sent late), R-29 (every message final), docs/delivery.md (SMSC down:
    retry/defer, duplicates only from the window in flight, marked)."""
    if connection.vendor != "postgresql":
        pytest.skip("several worker processes on one database: PostgreSQL only")
    count, outage, workers, batch = scale((600, 5, 2, 50), (10_000, 60, 2, 200))
    window = fleet.ACCOUNT_OPTIONS["window"]
    plan = fleet.populate(count, smsc.host, smsc.port)
    log = fleet.log_dir() / "outage-smsc.log"
    history: list = []
    moments: dict = {}
    with fleet.Fleet(fleet.child_env(), log, batch=batch).start(workers) as workers_:
        started = time.monotonic()

        def inject():
            if "down_at" in moments:
                if "up_seen_at" not in moments and smsc.stats(since=1 << 53)["listening"]:
                    moments["up_seen_at"] = round(time.monotonic() - started, 1)
                    moments["submits_at_up"] = smsc.stats(since=1 << 53)["submits"]
                return
            if smsc.stats(since=1 << 53)["submits"] >= count * 0.3:
                # A tenth of what is still waiting will have passed its validity when the SMSC is back.
                moments["short_lived"] = fleet.shorten_validity(fleet.django_cursor, plan, 10, outage / 2)
                answer = smsc.down(outage)
                moments.update(down_at=round(time.monotonic() - started, 1), connections_cut=answer["dropped"],
                               submits_at_down=smsc.stats(since=1 << 53)["submits"])

        fleet.wait_final(fleet.django_cursor, plan, scale(120, 900), during=inject, interval=0.1, history=history)
        seconds = time.monotonic() - started
        tally = smsc.tally()
    outcome = fleet.account(fleet.django_cursor, plan, tally, bound=max(1, moments.get("connections_cut", 0)) * window,
                            last_submit=tally["last_at"])
    stats = smsc.stats(since=1 << 53)
    figures = {**outcome.figures, **moments, "outage_seconds": outage, "workers": workers, "batch": batch,
               "window": window, "seconds_to_all_final": round(seconds, 1), "progress": history,
               "binds": stats["binds"], "smsc": {k: v for k, v in stats.items() if isinstance(v, int)}}
    record("outage-smsc", figures)
    assert "down_at" in moments, f"the outage never started: {figures['statuses']}"
    assert stats["binds"] > workers, "the workers never bound again after the outage"
    assert outcome.figures["expired"] > 0, f"no message expired during the outage: {moments}"
    problems = fleet.check(outcome)
    assert not problems, f"{problems}; {moments}; log {log}: {workers_.errors()}"
