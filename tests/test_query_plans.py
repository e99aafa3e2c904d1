"""The hot paths' queries reach their indexes (SPEC §7; issue 8, item 4).

For each hot path of relance/bench/plans.py — the worker's claim (SPEC §6, §7 dispatch), the decision's
inputs read again before sending (R-20, R-21, R-04, R-31), an inbound STOP (R-31, R-33, R-34), a
delivery receipt (R-29, R-66), the access export (R-42, §7 ≤ 500 ms) and a purge batch (R-50, R-51,
§7 ≥ 100,000 rows/s) — the real code runs on a small seeded world, its statements are captured, and
each hot statement is explained with sequential scans disabled (the tables are tiny): its plan must
reach the expected index by name, and no statement of the path may still read a big table
sequentially (that is: no index can serve it). A failure names the path and prints the plan.

PostgreSQL only: the plans are PostgreSQL's. On SQLite the tests skip with that reason; the
PostgreSQL pass of `make test` runs them (mandatory with CI=true).
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from relance.bench import plans

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture(scope="module")
def sample(django_db_setup, django_db_blocker):
    """One seeded world for the module (seeding takes a few seconds), in transactions rolled back at
    the end; each test runs in savepoints inside them."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.skip("query plans are PostgreSQL's: these tests run in the PostgreSQL pass of `make test`")
        atomics = [transaction.atomic(using="keys"), transaction.atomic(using="default")]
        for atomic in atomics:
            atomic.__enter__()
        try:
            yield plans.seed()
        finally:
            for atomic, alias in zip(reversed(atomics), ("default", "keys"), strict=True):
                transaction.set_rollback(True, using=alias)
                atomic.__exit__(None, None, None)


@pytest.mark.parametrize("name", [path.name for path in plans.PATHS])
def test_hot_path_reaches_its_indexes(sample, name):
    """SPEC §7: every hot statement of the path uses its index; nothing of it scans a big table."""
    path = plans.BY_NAME[name]
    statements = plans.capture(path, sample)
    findings, absent = plans.check(path, statements)
    assert not absent, (f"[{name}] hot statements not issued any more ({absent}): the code path changed, "
                        "update relance/bench/plans.py PATHS")
    bad = [f for f in findings if not f.ok]
    assert not bad, "\n\n".join(f.describe() for f in bad)
    # The hot statements were really explained (not only the sweep of the others).
    assert {f.label for f in findings} >= {h.label for h in path.hot if not h.optional}


def test_the_checker_reports_a_dropped_index(sample):
    """The check can fail: with message_due_idx dropped (inside the test's transaction, rolled back),
    the claim of due rows no longer reaches it and the finding says so (SPEC §6 claim)."""
    path = plans.BY_NAME["claim"]
    statements = plans.capture(path, sample)
    with plans.rolled_back(), connection.cursor() as cursor:
        cursor.execute("DROP INDEX message_due_idx")
        findings, _absent = plans.check(path, statements)
    due = [f for f in findings if f.label == "due rows locked"]
    assert due and not due[0].ok
    assert due[0].missing == ["message_due_idx"]
    assert "message_due_idx" in due[0].describe()
    # Rolled back: the index is there again and the same check passes.
    findings, _absent = plans.check(path, statements)
    assert all(f.ok for f in findings if f.label == "due rows locked")


def test_the_checker_finds_sequential_scans_of_big_tables(sample):
    """A statement no index can serve is reported as a sequential scan of its big table (§7)."""
    statement = plans.Statement('SELECT count(*) FROM "messaging_message" WHERE "body" IS NOT NULL', None)
    plan = plans.explain(statement, seqscan=False)
    assert plans.seq_scans(plan) == ["messaging_message"]
    assert plans.indexes_used(plan) == []


def test_an_index_the_planner_preferred_on_the_small_world_is_set_aside(sample):
    """On a small world two indexes can cost the same and statistics decide (the full suite's differ from
    a lone run): when the planner reached another index, the checker drops the ones it preferred (rolled
    back) and explains again; the expected index must then serve the statement, else the finding fails."""
    path = plans.BY_NAME["purge"]
    statements = plans.capture(path, sample)
    [statement] = plans.pick(path.hot[0], statements)
    expected = [plans.resolve(name) for name in path.hot[0].indexes]
    preferred = plans.Finding("purge", path.hot[0].label, statement.sql, expected,
                              ["messaging_message_organisation_id_4feada06", "message_event_idx"], [], "(plan)")
    assert preferred.missing == ["message_created_idx"]
    served = plans._served_without_the_others(preferred, statement)
    assert served.ok, served.describe()
    assert "dropped (rolled back)" in served.plan
    # Rolled back: the organisation's index is still there.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'messaging_message_organisation_id_4feada06'")
        assert cursor.fetchone()[0] == 1
    # And when the expected index is gone too, nothing else serves it: the finding fails.
    with plans.rolled_back(), connection.cursor() as cursor:
        cursor.execute("DROP INDEX message_created_idx")
        assert not plans._served_without_the_others(preferred, statement).ok
