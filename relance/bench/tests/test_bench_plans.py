"""`relance bench plans` runs on a small world and writes its JSON (SPEC §7; issue 8, item 4).
No timing is asserted: the figures are what the benchmark measures, not what tests check."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from relance.bench import plans

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_says_no_data_on_an_empty_database(tmp_path):
    path = tmp_path / "plans.json"
    call_command("bench", "plans", "--allow-sqlite", "--json", str(path))
    result = json.loads(path.read_text())
    assert result["benchmark"] == "plans" and result["sample"] is None
    assert {name: p["status"] for name, p in result["paths"].items()} == {p.name: "no data" for p in plans.PATHS}


def test_it_explains_every_hot_path_of_a_small_world(tmp_path):
    """Every path runs and its hot statements are explained with their indexes (R-21, R-33, R-42, R-50)."""
    plans.seed(contacts=30, rows=300 if connection.vendor == "postgresql" else 60, ballast=100)
    path = tmp_path / "plans.json"
    call_command("bench", "plans", "--allow-sqlite", "--json", str(path))
    result = json.loads(path.read_text())
    assert result["database"]["vendor"] == connection.vendor and result["sample"]["organisation"].startswith("bench-")
    assert set(result["paths"]) == {p.name for p in plans.PATHS}
    for name, found in result["paths"].items():
        # The sample is an arbitrary message's contact: here one of the filled rows, whose filler stands
        # for ciphertext; the export stops at the first body, its statements until then are kept.
        assert found["path_error"] is None or (name == "export" and "CryptoError" in found["path_error"]), name
        explained = [item for item in found["hot"] if item["status"] == "explained"]
        assert explained, (name, found["hot"])
        for item in explained:
            assert item["plan"] and isinstance(item["indexes_used"], list)
            if connection.vendor == "postgresql":  # EXPLAIN ANALYZE: measured
                assert item["execution_ms"] is not None and item["rows"] is not None
    if connection.vendor == "postgresql":  # SQLite's claim takes no row locks: another statement
        # The scenario explains the plans the planner really picks (on 300 rows it may well scan the
        # table); that the claim CAN and does use message_due_idx is tests/test_query_plans.py's check.
        claim = {item["label"]: item for item in result["paths"]["claim"]["hot"]}
        assert claim["due rows locked"]["status"] == "explained"
    # Rolled back: the claim and the purge changed nothing.
    from relance.messaging.models import Message
    assert not Message.unscoped.filter(status=Message.Status.CLAIMED).exists()


def test_it_refuses_sqlite_without_allow_sqlite():
    if connection.vendor != "sqlite":
        pytest.skip("the refusal is about SQLite")
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("bench", "plans")
