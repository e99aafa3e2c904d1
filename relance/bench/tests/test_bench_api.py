"""`relance bench api` and `relance bench upsert` run end to end (SPEC §7: API bulk upsert and read
latency under load), with the application served by a second process over real HTTP.

No timing is asserted: the figures are what the benchmarks measure. These tests check that every
request got a 2xx, that the events reached the database with their reminders, and that the result
has its fields in order. The server process must share the database: on PostgreSQL it is the test
database (committed data, transaction=True); on SQLite the test database lives in memory, so the
command runs in a child process against SQLite files of its own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from relance.accounts.models import ApiKey, Organisation
from relance.bench import http as bench_http
from relance.contacts.models import Contact
from relance.messaging.models import Message
from relance.reminders.models import Event

pytestmark = [pytest.mark.django_db(databases=["default", "keys"], transaction=True), pytest.mark.e2e]

EVENTS = 50
LATENCY_KEYS = {"p50", "p95", "p99", "max", "mean"}


@pytest.fixture(scope="module")
def sqlite_files(tmp_path_factory):
    """Two migrated SQLite files, for the command run in a child process (SQLite only)."""
    folder = tmp_path_factory.mktemp("bench-api")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'main.sqlite3'}",
           "RELANCE_KEYSTORE_URL": f"sqlite:///{folder / 'keys.sqlite3'}"}
    subprocess.run([sys.executable, "-m", "relance.cli", "setup"], env=env, check=True, capture_output=True,  # noqa: S603
                   timeout=300)
    return folder, env


def bench(which: str, tmp_path, request, *args: str) -> dict:
    """`relance bench <which> … --keep`: in this process on PostgreSQL, in a child on SQLite files."""
    path = tmp_path / f"{which}.json"
    arguments = [which, *args, "--keep", "--json", str(path)]
    if connection.vendor == "postgresql":
        call_command("bench", *arguments)
    else:
        _folder, env = request.getfixturevalue("sqlite_files")
        done = subprocess.run([sys.executable, "-m", "relance.cli", "bench", *arguments, "--allow-sqlite"],  # noqa: S603
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(path.read_text())


def count(request, sql_table: str, slug: str, where: str = "") -> int:
    """Rows of the bench organisation in a table, in whichever database the command used."""
    query = (f"SELECT count(*) FROM {sql_table} t JOIN accounts_organisation o ON o.id = t.organisation_id "
             f"WHERE o.slug = %s {where}")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(query, [slug])
            return cursor.fetchone()[0]
    folder, _env = request.getfixturevalue("sqlite_files")
    with sqlite3.connect(folder / "main.sqlite3") as db:
        return db.execute(query.replace("%s", "?"), [slug]).fetchone()[0]


def assert_ordered(stats: dict) -> None:
    assert set(stats) == LATENCY_KEYS
    assert 0 < stats["p50"] <= stats["p95"] <= stats["p99"] <= stats["max"]


def test_upsert_posts_the_events_in_one_request_then_again_then_moved(tmp_path, request):
    """SPEC §7 (bulk upsert of events in one request): created, then unchanged (idempotent), then one in ten
    rescheduled; every request a 200 and the events and their reminders in the database."""
    result = bench("upsert", tmp_path, request, "--events", str(EVENTS), "--contacts", "20")
    assert result["benchmark"] == "upsert" and result["events"] == EVENTS and result["contacts"] == 20
    assert result["database"]["vendor"] == connection.vendor
    assert result["kinds"] == {"appointment": 35, "loan_due": 15}
    expected = 35 * 3 + 15 * 2
    assert result["expected_steps"] == expected and result["moved_events"] == 5
    first, again, moved = (result["runs"][name] for name in ("first", "again", "moved"))
    assert {run["http_status"] for run in (first, again, moved)} == {200}
    assert (first["received"], first["created"], first["rejected"], first["steps"]) == (EVENTS, EVENTS, 0, expected)
    assert (again["created"], again["unchanged"], again["steps"], again["cancelled_steps"]) == (0, EVENTS, 0, 0)
    assert (moved["rescheduled"], moved["unchanged"], moved["rejected"]) == (5, EVENTS - 5, 0)
    assert moved["cancelled_steps"] == moved["steps"] > 0
    assert first["event_rows"] == EVENTS and first["request_bytes"] > 0
    assert first["seconds"] > 0 and result["seconds"] == first["seconds"]
    assert [run["events_in_database"] for run in (first, again, moved)] == [EVENTS] * 3
    assert {run["scheduled_reminders"] for run in (first, again, moved)} == {expected}
    slug = result["organisation"]
    assert count(request, "reminders_event", slug) == EVENTS
    assert count(request, "messaging_message", slug, "AND t.status = 'scheduled'") == expected
    assert count(request, "messaging_message", slug, "AND t.status = 'cancelled'") == moved["cancelled_steps"]
    assert count(request, "accounts_apikey", slug, "AND t.revoked_at IS NULL") == 0  # the bench key is revoked


def test_api_reads_under_an_open_loop_load_all_2xx(tmp_path, request):
    """SPEC §7 (p99 of a single read under load from a second process): every read answered 2xx, the
    figures complete and ordered, for the consent state and the event reads."""
    result = bench("api", tmp_path, request, "--contacts", "30", "--rate", "20", "--seconds", "2",
                   "--read", "consent,event", "--connections", "2")
    assert result["benchmark"] == "api" and result["contacts"] == 30 and result["rate"] == 20
    assert set(result["reads"]) == {"consent", "event"} and result["read"] == "consent"
    for name, read in result["reads"].items():
        assert read["requests"] == 40 and read["warmup_requests"] == 8, name
        assert read["statuses"] == {"200": 40} and read["errors"] == {} and read["ok"] == 40, name
        assert_ordered(read["latency_ms"])
        assert_ordered(read["service_ms"])
        # Counted from the scheduled time, the latency is never below the time from sending.
        assert read["latency_ms"]["max"] >= read["service_ms"]["max"]
        assert read["achieved_rate"] > 0
        assert set(read["load_average"]) == {"before", "after"}
    assert result["reads"]["consent"]["request"] == "GET /api/v1/contacts/{id}/consent"
    assert result["latency_ms"] == result["reads"]["consent"]["latency_ms"]
    slug = result["organisation"]
    assert count(request, "reminders_event", slug) == 30  # one event per contact, for the event reads
    assert count(request, "accounts_apikey", slug, "AND t.revoked_at IS NULL") == 0


def test_without_keep_the_bench_data_is_cleaned_up(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the clean-up is checked in this process's database (PostgreSQL); SQLite runs the command "
                    "in a child process")
    path = tmp_path / "upsert.json"
    call_command("bench", "upsert", "--events", "10", "--contacts", "5", "--json", str(path))
    org = Organisation.objects.get(slug=json.loads(path.read_text())["organisation"])
    assert not Contact.objects.for_org(org).exists() and not Event.objects.for_org(org).exists()
    assert not Message.objects.for_org(org).exists()
    assert ApiKey.objects.for_org(org).get().revoked_at is not None


def test_it_refuses_unknown_reads_and_an_in_memory_database():
    with pytest.raises(CommandError, match="--read"):
        call_command("bench", "api", "--read", "consent,everything", "--allow-sqlite")
    if connection.vendor == "sqlite":
        with pytest.raises(RuntimeError, match="in-memory SQLite"):
            bench_http.database_url("default")
