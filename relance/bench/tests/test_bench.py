"""The benchmarks run end to end and write the JSON documented in docs/benchmarks.md (SPEC §7).
No timing is asserted here: the figures are what the benchmarks measure, not what tests check."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from relance.accounts.models import Organisation
from relance.contacts.models import Contact
from relance.messaging.models import Message

pytestmark = pytest.mark.django_db(databases=["default", "keys"], transaction=True)


def test_it_refuses_sqlite_without_allow_sqlite():
    if connection.vendor != "sqlite":
        pytest.skip("the refusal is about SQLite")
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("bench", "dispatch", "--messages", "5")


def test_it_measures_dispatch_end_to_end_and_cleans_up(tmp_path):
    path = tmp_path / "dispatch.json"
    call_command("bench", "dispatch", "--messages", "300", "--batch", "100", "--workers", "1", "--in-process",
                 "--allow-sqlite", "--json", str(path))
    result = json.loads(path.read_text())
    assert result["benchmark"] == "dispatch" and result["messages"] == 300
    assert result["database"]["vendor"] == connection.vendor
    assert set(result["machine"]) >= {"cpu", "cores", "memory_gib"}
    assert result["bare_loop"]["messages"] == 300 and result["bare_loop"]["per_second"] > 0
    [run] = result["runs"]
    assert run["batch"] == 100
    one = run["workers_1"]
    # Every due row went from due to provider call to recorded status, with the rules applied.
    assert one["sent"] == 300 and one["claimed"] == 300 and one["statuses"] == {"sent": 300}
    assert one["per_second"] > 0 and run["ratio_to_bare_loop"] > 0
    org = Organisation.objects.get(slug=result["organisation"])
    assert org.slug.startswith("bench-")
    assert not Message.objects.for_org(org).exists() and not Contact.objects.for_org(org).exists()


def test_it_measures_stop_end_to_end_with_zero_sends_after_the_answer(tmp_path):
    path = tmp_path / "stop.json"
    call_command("bench", "stop", "--stops", "20", "--batch", "50", "--client", "--allow-sqlite", "--json", str(path))
    result = json.loads(path.read_text())
    assert result["benchmark"] == "stop" and result["stops"] == 20
    assert result["http_statuses"] == {"200": 20}
    assert set(result["latency_ms"]) == {"p50", "p95", "p99", "max", "mean"}
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p95"] <= result["latency_ms"]["p99"]
    # in effect at the 2xx, and nothing handed to the provider afterwards.
    assert result["suppression_missing_at_2xx"] == 0 and result["sends_after_stop"] == 0
    # The inline worker ran before each STOP: some reminders left, the rest were suppressed.
    assert result["sent_before_stop"] > 0 and result["message_statuses"].get("suppressed", 0) > 0
    assert result["worker_error"] is None
