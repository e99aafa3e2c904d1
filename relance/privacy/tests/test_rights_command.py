"""`relance requests list|overdue`: a DPO's view of deadlines, late ones first, exit 1 when late (R-41)."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from relance.privacy import rights
from relance.testing import SYSTEM


def run(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("requests", *args, stdout=out)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def make(org, days_ago: int, kind="access"):
    return rights.open_request(org, actor=SYSTEM, kind=kind, channel="staff", details="Mes données",
                               received_at=timezone.now() - timedelta(days=days_ago))


def test_it_lists_open_requests_late_first_and_exits_1_when_some_are_late_r41(world):
    late, fresh = make(world.a, 40), make(world.a, 2, kind="erasure")
    done = make(world.a, 45)
    rights.refuse_request(done, actor=SYSTEM, code="no_data")
    status, text = run("list", "--org", world.a.slug)
    assert status == 1
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["ORGANISATION", "REFERENCE", "KIND"]
    assert late.reference in lines[1] and "LATE" in lines[1] and fresh.reference in lines[2]
    assert done.reference not in text and "Mes données" not in text
    assert "1 request(s) past their due date" in text
    status, text = run("list", "--org", world.a.slug, "--all")
    assert done.reference in text


def test_it_shows_only_overdue_ones_as_json(world):
    late = make(world.a, 40)
    make(world.a, 1)
    make(world.b, 50)
    status, text = run("overdue", "--org", world.a.slug, "--json")
    document = json.loads(text)
    assert status == 1 and document["late"] == 1
    assert [r["reference"] for r in document["requests"]] == [late.reference]
    assert document["requests"][0]["days_left"] < 0 and document["requests"][0]["kind"] == "access"
    status, text = run("overdue", "--json")  # every organisation
    assert {r["organisation"] for r in json.loads(text)["requests"]} == {world.a.slug, world.b.slug}


def test_it_exits_0_when_nothing_is_late(world):
    make(world.a, 3)
    assert run("overdue", "--org", world.a.slug) == (0, "No request.\n")
    assert run("list", "--org", world.a.slug)[0] == 0
    with pytest.raises(CommandError):
        run("list", "--org", "nobody")
