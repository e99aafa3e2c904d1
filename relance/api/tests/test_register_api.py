"""API of the Art. 30 register (R-70), the processor record, the compliance report (R-73) and the
controller profile: scopes, formats, languages, validation and tenant isolation (R-63)."""

from __future__ import annotations

import pytest

from relance.accounts.models import Organisation
from relance.audit.models import AuditEvent
from relance.consent.tests.helpers import make_purpose
from relance.privacy.models import Breach
from relance.providers.models import ProviderAccount
from relance.testing import make_api_key

from .conftest import assert_error

PROFILE = {"legal_name": "Ville de Valmont", "address": "Place de la Mairie, Valmont",
           "contact_email": "mairie@valmont.test", "contact_phone": "04 72 00 00 00",
           "registration_number": "SIREN 210 000 000", "security_measures": "Badge access"}


@pytest.fixture
def setup(world, api):
    make_purpose(world.a, code="retards")
    make_purpose(world.b, code="rdv", dpia_ref="AIPD-B")
    return world, api(world.key_a), api(world.key_b)


def test_it_serves_the_register_with_its_missing_fields_r70(setup):
    world, a, _b = setup
    body = a.get("/register", language="en").json()
    assert body["controller"]["name"] == world.a.name and body["language"] == "en"
    assert [x["purpose_code"] for x in body["activities"]] == ["retards"]  # never B's purposes
    assert body["missing_fields"] == ["controller.legal_name", "controller.address", "controller.contact_email"]
    assert a.put("/controller", PROFILE).status_code == 200
    assert a.get("/register").json()["missing_fields"] == []
    assert AuditEvent.objects.filter(organisation=world.a, action="privacy.register_generated").count() == 2


def test_it_serves_html_and_pdf(setup):
    world, a, _b = setup
    html = a.get("/register/html", language="en")
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    assert "Record of processing activities" in html.content.decode()
    pdf = a.get("/register/pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert f"register-{world.a.slug}-" in pdf["Content-Disposition"]


def test_it_shows_only_the_calling_controller_in_the_processor_record(setup):
    world, a, _b = setup
    ProviderAccount.unscoped.create(organisation=world.b, name="B's own", kind="ovh", credentials="{}")
    ProviderAccount.unscoped.create(organisation=None, name="Platform", kind="twilio", country="US", credentials="{}")
    body = a.get("/processor-record", language="en").json()
    assert [c["organisation"] for c in body["controllers"]] == [world.a.slug]
    assert [s["name"] for s in body["sub_processors"]] == ["Twilio Inc."]
    assert body["transfers"][0]["safeguard"].startswith("EU-US Data Privacy Framework")
    assert world.b.name not in a.get("/processor-record/html").content.decode()
    assert a.get("/processor-record/pdf").content.startswith(b"%PDF")


def test_it_serves_the_monthly_compliance_report_r73(setup):
    world, a, b = setup
    Breach.objects.create(organisation=world.b, reference="INC-1", title="t", nature="n", created_by_kind="system",
                          aware_at="2026-10-05T10:00:00+00:00")
    body = a.get("/compliance", month="2026-10").json()
    assert body["month"] == "2026-10" and body["incidents"]["count"] == 0
    assert b.get("/compliance", month="2026-10").json()["incidents"]["count"] == 1
    assert a.get("/compliance/html", month="2026-10", language="en").content.decode().count("Monthly compliance report") >= 1
    assert a.get("/compliance/pdf", month="2026-10").content.startswith(b"%PDF")
    for bad in ("2026-13", "10/2026"):
        error = assert_error(a.get("/compliance", month=bad), 422, "validation_error")
        assert "month" in error["fields"]


def test_it_reads_and_replaces_the_controller_profile(setup):
    world, a, b = setup
    assert a.get("/controller").json()["legal_name"] == ""
    body = a.put("/controller", PROFILE).json()
    assert body["contact_phone"] == "+33472000000" and body["updated_at"]
    assert b.get("/controller").json()["legal_name"] == ""  # B sees its own, empty profile
    body = a.put("/controller", {"legal_name": "Ville de Valmont"}).json()
    assert body["address"] == ""  # PUT replaces the whole profile


def test_it_lists_every_invalid_field_of_the_profile(setup):
    _world, a, _b = setup
    error = assert_error(a.put("/controller", {"contact_email": "nope", "contact_phone": "12", "colour": "red"}),
                         422, "validation_error")
    assert set(error["fields"]) == {"colour"}  # unknown fields first (schema), then the service checks
    error = assert_error(a.put("/controller", {"contact_email": "nope", "contact_phone": "12"}), 422,
                         "validation_error")
    assert set(error["fields"]) == {"contact_email", "contact_phone"}


def test_it_needs_the_scopes(setup, api):
    world, _a, _b = setup
    reader = api(make_api_key(world.a, scopes=["register:read"], name="reader")[1])
    other = api(make_api_key(world.a, scopes=["contacts:read"], name="other")[1])
    assert reader.get("/register").status_code == 200
    assert_error(reader.put("/controller", PROFILE), 403, "insufficient_scope")
    for path in ("/register", "/register/pdf", "/processor-record", "/compliance?month=2026-10", "/controller"):
        assert_error(other.get(path), 403, "insufficient_scope")
    assert_error(api().get("/register"), 401, "authentication_required")


def test_it_answers_in_french_by_default_for_a_french_organisation(setup):
    world, a, _b = setup
    Organisation.objects.filter(pk=world.a.pk).update(languages=["fr", "en"])
    assert a.get("/register").json()["language"] == "fr"
