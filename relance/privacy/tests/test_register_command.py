"""`relance register` (R-70) and `relance compliance` (R-73) from the command line."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from relance.consent.tests.helpers import make_purpose
from relance.privacy.controller import set_controller_profile
from relance.testing import SYSTEM, make_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def library(db_both):
    org = make_org("library", slug="valmont", languages=["en", "fr"])
    make_purpose(org, code="retards")
    return org


def complete(org):
    set_controller_profile(org, actor=SYSTEM, legal_name="Ville de Valmont", address="Place de la Mairie",
                           contact_email="mairie@valmont.test")


def test_it_prints_the_register_as_json_in_the_organisations_language(library):
    out, err = run("register", "--org", "valmont")
    record = json.loads(out)
    assert record["language"] == "en" and record["activities"][0]["purpose_code"] == "retards"
    assert "3 mandatory field(s) still empty" in err


def test_it_checks_the_mandatory_fields_and_exits_1(library):
    with pytest.raises(CommandError) as caught:
        run("register", "--org", "valmont", "--check")
    assert caught.value.returncode == 1
    complete(library)
    out, _ = run("register", "--org", "valmont", "--check")
    assert "Every mandatory field" in out


def test_it_lists_what_is_missing(library, capsys):
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("register", "--org", "valmont", "--check", stdout=out)
    assert out.getvalue().splitlines() == ["missing  controller.legal_name", "missing  controller.address",
                                           "missing  controller.contact_email"]


def test_it_writes_html_and_pdf_files(library, tmp_path):
    complete(library)
    run("register", "--org", "valmont", "--format", "pdf", "--output", str(tmp_path / "r.pdf"))
    run("register", "--platform", "--format", "html", "--language", "en", "--output", str(tmp_path / "p.html"))
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert "Ville de Valmont" in (tmp_path / "p.html").read_text()


def test_it_refuses_an_unknown_organisation(db_both):
    with pytest.raises(CommandError, match="No organisation"):
        run("register", "--org", "nowhere")


def test_it_prints_the_monthly_compliance_report(library, tmp_path):
    out, _ = run("compliance", "--org", "valmont", "--month", "2026-10")
    report = json.loads(out)
    assert report["month"] == "2026-10" and report["messages"]["sent"] == 0
    run("compliance", "--org", "valmont", "--month", "2026-10", "--format", "pdf", "--output", str(tmp_path / "c.pdf"))
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(CommandError, match="2026-10"):  # "YYYY-MM, e.g. 2026-10" in the command's language
        run("compliance", "--org", "valmont", "--month", "10/2026")
    assert json.loads(run("compliance", "--org", "valmont")[0])["month"]  # last month by default
