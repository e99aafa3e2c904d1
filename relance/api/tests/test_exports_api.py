"""API of access exports (R-42): create, list, read as JSON, HTML and PDF; scope, audit and isolation (R-63, R-65)."""

from __future__ import annotations

import io

import pypdf
import pytest

from relance.audit.models import AuditEvent
from relance.privacy.models import AccessExport
from relance.privacy.tests.test_exports import build_person, daytime, french  # noqa: F401 (fixtures)
from relance.testing import make_api_key

from .conftest import assert_error

pytestmark = [pytest.mark.django_db(databases=["default", "keys"]), pytest.mark.usefixtures("daytime")]
FRENCH = pytest.mark.usefixtures("french")


@pytest.fixture
def person(world):
    return build_person(world)


def _create(api, key, contact, body=None):
    response = api(key).post(f"/contacts/{contact.pk}/exports", body if body is not None else {})
    assert response.status_code == 201, response.content
    return response.json()


def test_it_creates_an_export_and_answers_with_metadata_only_R42(world, api, person):
    made = _create(api, world.key_a, person.zoe, {"language": "en", "request_id": str(person.request.pk)})
    assert made["contact_id"] == str(person.zoe.pk) and made["language"] == "en" and made["items"] >= 8
    assert made["request_id"] == str(person.request.pk) and len(made["sha256"]) == 64
    assert "Martin" not in str(made)
    export = AccessExport.objects.for_org(world.a).get(pk=made["id"])
    assert export.data_key_id == person.zoe.data_key_id


def test_it_defaults_to_the_persons_language(world, api, person):
    assert _create(api, world.key_a, person.zoe)["language"] == "fr"


def test_it_serves_the_json_document_as_an_audited_read_R42_R65(world, api, person):
    made = _create(api, world.key_a, person.zoe)
    response = api(world.key_a).get(f"/exports/{made['id']}")
    assert response.status_code == 200
    document = response.json()
    assert document["subject"]["last_name"] == "Martin"
    assert any(m["body"] == "Bonjour Zoé, votre livre est en retard." for m in document["messages"])
    assert {p["vendor"] for p in document["recipients"]["providers"]} == {"Twilio", "OVHcloud SMS"}
    assert AuditEvent.objects.filter(organisation=world.a, action="privacy.export_read",
                                     target_id=made["id"]).count() == 1


@FRENCH
def test_it_serves_html_and_pdf_in_the_exports_language_R42(world, api, person):
    made = _create(api, world.key_a, person.zoe)
    html = api(world.key_a).get(f"/exports/{made['id']}/html")
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    assert "Vos droits" in html.content.decode() and "Bonjour Zoé" in html.content.decode()
    pdf = api(world.key_a).get(f"/exports/{made['id']}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Réclamation auprès de la CNIL" in text
    english = api(world.key_a).get(f"/exports/{made['id']}/pdf", language="en")
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(english.content)).pages)
    assert "Complaint to the CNIL" in text


def test_it_lists_the_organisations_exports(world, api, person):
    made = _create(api, world.key_a, person.zoe)
    _create(api, world.key_a, person.other)
    listed = api(world.key_a).get("/exports", contact_id=str(person.zoe.pk)).json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == made["id"]
    assert api(world.key_a).get("/exports").json()["count"] == 2
    assert api(world.key_b).get("/exports").json()["count"] == 0


def test_it_answers_404_across_organisations_R63(world, api, person):
    made = _create(api, world.key_a, person.zoe)
    for path in (f"/exports/{made['id']}", f"/exports/{made['id']}/html", f"/exports/{made['id']}/pdf"):
        assert_error(api(world.key_b).get(path), 404, "not_found")
    assert_error(api(world.key_b).post(f"/contacts/{person.zoe.pk}/exports", {}), 404, "not_found")
    assert AuditEvent.objects.filter(organisation=world.a, action="privacy.export_read").count() == 0


def test_it_refuses_a_request_of_another_organisation(world, api, person):
    response = api(world.key_a).post(f"/contacts/{person.zoe.pk}/exports", {"request_id": str(person.zoe.pk)})
    body = assert_error(response, 422, "validation_error")
    assert "request_id" in body["fields"]


def test_it_needs_the_exports_scope(world, api, person):
    key = make_api_key(world.a, scopes=["contacts:read"], name="reader")[1]
    made = _create(api, world.key_a, person.zoe)
    assert_error(api(key).post(f"/contacts/{person.zoe.pk}/exports", {}), 403, "insufficient_scope")
    assert_error(api(key).get(f"/exports/{made['id']}"), 403, "insufficient_scope")
    assert_error(api(key).get("/exports"), 403, "insufficient_scope")
