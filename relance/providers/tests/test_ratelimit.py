"""Rate limits shared across workers (issue 5 §6): one bucket per account, in PostgreSQL or Redis,
so N workers on N machines together respect one account's limit."""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.db import connection, connections

from conftest import needs
from relance.providers import ratelimit, services
from relance.providers.base import Outgoing
from relance.providers.routing import Router
from relance.testing import SYSTEM

REDIS_URL = os.environ.get("RELANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def test_it_refills_at_the_rate_and_banks_at_most_one_second():
    assert ratelimit.refill(0, 100.0, 10, 100.5) == 5
    assert ratelimit.refill(0, 100.0, 10, 200.0) == 10  # a quiet minute is not a burst
    assert ratelimit.refill(3, 100.0, 0.5, 100.0) == 1  # below one a second: capacity one token


@pytest.mark.django_db(databases=["default", "keys"])
def test_it_grants_no_more_than_the_bucket_holds(world):
    account = services.create_account(world.a, name="n", kind="null", credentials={}, actor=SYSTEM, rate_per_second=10)
    limiter = ratelimit.DatabaseLimiter()
    assert limiter.take(account, 25, now=1000.0) == 10
    assert limiter.take(account, 25, now=1000.0) == 0
    assert limiter.take(account, 25, now=1000.5) == 5
    unlimited = services.create_account(world.a, name="u", kind="null", credentials={}, actor=SYSTEM)
    assert limiter.take(unlimited, 5000) == 5000


def _hammer(limiter_for, account, seconds: float, counts: list, index: int, close: bool) -> None:
    limiter = limiter_for()
    end = time.time() + seconds
    try:
        while time.time() < end:
            counts[index] += limiter.take(account, 3)
            time.sleep(0.002)
    finally:
        if close:
            connections.close_all()


def _shared(limiter_for, account, *, workers: int = 4, seconds: float = 1.5, close: bool = False) -> int:
    counts = [0] * workers
    threads = [threading.Thread(target=_hammer, args=(limiter_for, account, seconds, counts, i, close))
               for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "keys"], transaction=True)
def test_it_holds_one_limit_for_many_workers_through_postgresql(world):
    """Four workers, each with its own connection, together get rate × time (+ one second banked)."""
    if connection.vendor != "postgresql":
        needs("PostgreSQL", os.environ.get("RELANCE_TEST_DATABASE") != "postgres",
              "the shared bucket's row lock is tested in the PostgreSQL pass")
        pytest.skip("PostgreSQL-only: the SQLite pass has one writer at a time")
    account = services.create_account(world.a, name="n", kind="null", credentials={}, actor=SYSTEM, rate_per_second=40)
    granted = _shared(ratelimit.DatabaseLimiter, account, close=True)
    assert 40 * 1.5 * 0.8 <= granted <= 40 * 1.5 + 40 + 3


@pytest.mark.django_db(databases=["default", "keys"])
def test_it_holds_one_limit_for_many_workers_through_redis(world):
    try:
        import redis

        redis.Redis.from_url(REDIS_URL).ping()
        available, why = True, ""
    except Exception as exc:  # the service is down or absent
        available, why = False, f"{REDIS_URL}: {type(exc).__name__}"
    needs("Redis", available, why)
    account = services.create_account(world.a, name="n", kind="null", credentials={}, actor=SYSTEM, rate_per_second=40)
    redis.Redis.from_url(REDIS_URL).delete(f"relance:rate:{account.pk}")
    granted = _shared(lambda: ratelimit.RedisLimiter(REDIS_URL), account)
    assert 40 * 1.5 * 0.8 <= granted <= 40 * 1.5 + 40 + 3


class FakeLimiter:
    def __init__(self, grants: list[int]):
        self.grants = grants

    def take(self, account, wanted):
        return min(wanted, self.grants.pop(0)) if self.grants else 0


@pytest.mark.django_db(databases=["default", "keys"])
def test_it_sends_what_the_limit_allows_and_defers_the_rest_without_an_attempt(world, settings):
    settings.RELANCE_RATE_WAIT_SECONDS = 0
    services.create_account(world.a, name="n", kind="null", credentials={}, actor=SYSTEM, rate_per_second=5)
    ticks = iter(range(1000))
    router = Router(lambda ch: None, limiter=FakeLimiter([5]), clock=lambda: next(ticks), sleep=lambda s: None)
    items = [Outgoing(str(i), "sms", "+33612345678", "x") for i in range(10)]
    answers = router.send(world.a.pk, "sms", items)
    assert [a.result.status for a in answers].count("sent") == 5
    deferred = [a for a in answers if a.result.status == "retry"]
    assert len(deferred) == 5 and all(a.result.detail == {"deferred": True} for a in deferred)
    assert {a.result.error for a in deferred} == {"rate_limited"} and len({a.outgoing.ref for a in answers}) == 10
