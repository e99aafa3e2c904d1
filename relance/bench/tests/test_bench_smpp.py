"""`relance bench smpp` runs end to end against the SMSC simulator (and Jasmin where installed)
and writes its JSON. No figure is asserted: the bench measures, tests check that it measures."""

from __future__ import annotations

import json

from django.core.management import call_command

from conftest import needs
from relance.providers.testing import jasmin, smsc


def test_it_measures_submits_and_receipts_through_one_bind_without_a_database(tmp_path):
    reason = smsc.missing_reason()
    needs("SMSC simulator", reason is None, reason or "")
    path = tmp_path / "smpp.json"
    call_command("bench", "smpp", "--messages", "300", "--batch", "100", "--jasmin-messages", "0",
                 "--json", str(path))
    result = json.loads(path.read_text())
    assert result["benchmark"] == "smpp" and result["scope"] == "provider+bind"
    simulator = result["simulator"]
    assert simulator["messages"] == 300 and simulator["results"] == {"sent": 300}
    assert simulator["submit_sm"] == 300 and simulator["submit_sm_per_second"] > 0
    assert simulator["receipts"] == 300 and simulator["all_receipts_arrived"]
    assert simulator["receipt_statuses"] == {"delivered": 300}
    assert result["jasmin"] == "unavailable: skipped"
    assert set(result["machine"]) >= {"cpu", "cores", "memory_gib"}


def test_it_measures_the_same_through_jasmin_in_the_same_run(tmp_path):
    reason = jasmin.missing_reason()
    needs("Jasmin", reason is None, reason or "")
    path = tmp_path / "smpp.json"
    call_command("bench", "smpp", "--messages", "50", "--jasmin-messages", "20", "--json", str(path))
    through = json.loads(path.read_text())["jasmin"]
    assert isinstance(through, dict), through
    assert through["results"] == {"sent": 20} and through["receipts"] == 20 and through["all_receipts_arrived"]
