"""`relance bench export` runs end to end on a small world (SPEC §7; the figures come from PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from relance.bench import export as bench_export
from relance.messaging.models import Message

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_measures_create_export_and_render_pdf_on_a_small_world_R42(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_export, "RUNS", 2)  # the command's path, with fewer runs than a real measure
    path = tmp_path / "export.json"
    call_command("bench", "export", "--contacts", "40", "--rows", "400", "--allow-sqlite", "--json", str(path))
    result = json.loads(path.read_text())
    assert result["runs"] == 2 and result["benchmark"] == "export" and result["contacts"] == 41 and result["messages"] == 450
    assert result["person"]["items"] >= 50 + 10 + 5 + 3
    assert result["create_export_ms"]["p50"] > 0 and result["render_pdf_ms"]["max"] > 0
    assert result["queries_per_export"] < 40  # no query per message (N+1)
    assert result["machine"]["cores"] and result["database"]["vendor"] == connection.vendor
    assert Message.objects.filter(organisation__slug=result["organisation"]).count() == 0  # cleaned up


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the refusal concerns SQLite")
def test_it_refuses_sqlite_unless_asked():
    with pytest.raises(CommandError):
        bench_export.run(None, {"contacts": 1, "rows": 1, "allow_sqlite": False})
