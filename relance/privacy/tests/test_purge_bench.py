"""`relance bench purge` runs end to end and writes its JSON (SPEC §7); no timing is asserted here."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.db import connection

from relance.accounts.models import Organisation
from relance.messaging.models import Message

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_measures_the_purge_and_checks_the_statistics_R51(tmp_path):
    path = tmp_path / "purge.json"
    call_command("bench", "purge", "--rows", "240", "--contacts", "7", "--batch", "100", "--allow-sqlite",
                 "--json", str(path))
    result = json.loads(path.read_text())
    assert result["benchmark"] == "purge" and result["database"]["vendor"] == connection.vendor
    assert result["purged_messages"] == 240 and result["purged_timeline_rows"] == 720 and result["left"] == 0
    assert result["stats_count_matches"] is True and result["stats_rows"] > 0
    assert result["rows_per_second"] > 0 and set(result["machine"]) >= {"cpu", "cores"}
    org = Organisation.objects.get(slug=result["organisation"])
    assert not Message.objects.for_org(org).exists()
