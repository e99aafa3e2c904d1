"""`relance breaches list|show|draft` (R-71): the clock shown, exit 1 when an incident is overdue."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from relance.privacy import breaches
from relance.privacy.tests.breach_helpers import make_breach
from relance.testing import SYSTEM

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("breaches", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_lists_every_incident_with_its_clock_R71(world):
    make_breach(world.a)
    unlikely = make_breach(world.b, aware_at=timezone.now() - timedelta(days=5))
    breaches.assess_risk(unlikely, actor=SYSTEM, risk="unlikely", reason="Encrypted.")
    out, _err = run("list")
    assert "INC-" in out and "h left" in out and "not notifiable" in out and "none overdue" in out
    out, _err = run("list", "--org", world.b.slug)
    assert world.a.slug not in out


def test_it_exits_1_when_an_incident_is_past_its_deadline_unnotified_R71(world):
    breach = make_breach(world.a, aware_at=timezone.now() - timedelta(hours=80))
    with pytest.raises(SystemExit) as exited:
        run("list")
    assert exited.value.code == 1
    breaches.mark_notified(breach, actor=SYSTEM, notified_at=timezone.now(), authority_reference="CNIL-9",
                           delay_reason="Found late.")
    out, _err = run("list")
    assert "(late)" in out


def test_it_shows_one_incident_and_what_is_missing_R71(world):
    breach = make_breach(world.a)
    out, _err = run("show", breach.reference, "--org", world.a.slug)
    assert "missing for the notification: approx_subjects" in out


def test_it_asks_for_the_organisation_when_a_reference_is_shared(world):
    make_breach(world.a), make_breach(world.b)
    with pytest.raises(CommandError, match="--org"):
        run("show", f"INC-{timezone.localtime().year}-001")


def test_it_writes_the_draft_as_json_html_and_pdf_R71(world, tmp_path):
    breach = make_breach(world.a)
    out, _err = run("draft", breach.reference, "--org", world.a.slug, "--language", "en")
    assert json.loads(out)["reference"] == breach.reference
    run("draft", breach.reference, "--org", world.a.slug, "--format", "html", "--output", str(tmp_path / "d.html"))
    assert breach.reference in (tmp_path / "d.html").read_text()
    run("draft", breach.reference, "--org", world.a.slug, "--format", "pdf", "--output", str(tmp_path / "d.pdf"))
    assert (tmp_path / "d.pdf").read_bytes().startswith(b"%PDF")
