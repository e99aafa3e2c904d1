"""The imports endpoints: upload, report, scopes, isolation, refusals, anything at all (SPEC §4, R-15,
R-31, R-61, R-63)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relance.consent.models import ConsentEvent
from relance.consent.tests.helpers import make_consent_purpose, make_purpose
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.imports.models import ImportBatch
from relance.imports.tests.files import contacts_file, make_import
from relance.testing import SYSTEM, make_api_key

from .conftest import BASE, assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
FILE = "prénom;téléphone;e-mail;couleur\nJeanne;06 12 34 56 78;;bleu\nPaul;01 42 68 53 00;paul@;vert\n".encode()


def upload(key, data: bytes = FILE, name="contacts.csv", language="en", **fields):
    form = {name_: str(value).lower() if isinstance(value, bool) else str(value) for name_, value in fields.items()}
    if data is not None:
        form["file"] = SimpleUploadedFile(name, data, content_type="text/csv")
    return Client().post(f"{BASE}/imports", data=form,
                         headers={"Authorization": f"Bearer {key}", "Accept-Language": language})


def test_it_checks_a_file_without_importing_it_and_reports_each_bad_line(world):
    """SPEC §4: a dry run answers 201 with the report (line, column, code, message) and writes no contact."""
    response = upload(world.key_a, dry_run=True)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["rows"], body["valid"], body["invalid"], body["created"]) == (
        "validated", 2, 1, 1, 0)
    assert [(p["line"], p["column"], p["code"]) for p in body["report"]["problems"]] == [
        (3, "téléphone", "not_mobile"), (3, "e-mail", "invalid_email")]
    assert [(w["line"], w["column"], w["code"]) for w in body["report"]["warnings"]] == [
        (1, "couleur", "unknown_column")]
    assert Contact.objects.for_org(world.a).count() == 0
    assert "53 00" not in response.content.decode() and "paul@" not in response.content.decode()


def test_it_imports_the_good_rows_with_their_consent_and_reads_the_batch_back(world, api):
    """R-15: proven rows get their consent; GET /imports/{id} answers the same report."""
    purpose = make_consent_purpose(world.a)
    generated = contacts_file(30)
    response = upload(world.key_a, generated.data, purpose_id=purpose.pk, mode="good_rows_only",
                      collector="Service culture")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == len(generated.good_lines) == Contact.objects.for_org(world.a).count()
    assert ConsentEvent.objects.for_org(world.a).count() == body["created"]
    batch = ImportBatch.objects.for_org(world.a).get(pk=body["id"])
    assert batch.api_key is not None and batch.collector == "Service culture"
    read = api(world.key_a).get(f"/imports/{body['id']}")
    assert read.status_code == 200 and read.json() == body


def test_it_imports_nothing_in_all_or_nothing_mode_when_a_row_is_bad(world):
    body = upload(world.key_a).json()
    assert (body["status"], body["created"]) == ("failed", 0)
    assert Contact.objects.for_org(world.a).count() == 0


def test_it_refuses_a_number_on_the_stop_list(world):
    """R-31: a suppressed number is never enrolled again through the API either."""
    contacts.suppress_number(world.a, "06 12 34 56 78", actor=SYSTEM, reason="stop")
    body = upload(world.key_a, mode="good_rows_only").json()
    assert (body["suppressed"], body["created"]) == (1, 0)
    assert body["report"]["problems"][0]["code"] == "on_stop_list"


def test_it_answers_in_french(world):
    body = upload(world.key_a, dry_run=True, language="fr").json()
    assert body["report"]["warnings"][0]["message"].startswith("Colonne inconnue")


@pytest.mark.parametrize(("data", "code"), [
    (b"," * 100_000 + b"\n", "line_too_long"), (b"\x00\x01\x02", "binary_file"), (b"", "empty_file"),
    (b"prenom;nom\nA;B\n", "no_contact_column"),
])
def test_it_refuses_a_file_it_cannot_read_with_422_and_a_code(world, data, code):
    body = assert_error(upload(world.key_a, data), 422, code)
    assert list(body["fields"]) == ["file"]
    assert ImportBatch.objects.for_org(world.a).count() == 0


def test_it_lists_every_invalid_option_in_one_422(world):
    foreign = make_purpose(world.b)
    body = assert_error(upload(world.key_a, purpose_id=foreign.pk), 422, "validation_error")
    assert list(body["fields"]) == ["purpose_id"]
    body = assert_error(upload(world.key_a, mapping="{not json"), 422, "validation_error")
    assert list(body["fields"]) == ["mapping"]
    body = assert_error(upload(world.key_a, None), 422, "validation_error")
    assert list(body["fields"]) == ["file"]
    body = assert_error(upload(world.key_a, mode="sometimes"), 422, "validation_error")
    assert list(body["fields"]) == ["mode"]
    body = assert_error(upload(world.key_a, purpose_id=make_purpose(world.a).pk), 422, "validation_error")
    assert list(body["fields"]) == ["source"]


def test_it_follows_a_json_mapping(world):
    body = upload(world.key_a, "Numéro,Qui\n06 12 34 56 78,Anne\n".encode(),
                  mapping=json.dumps({"Numéro": "phone", "Qui": "first_name"})).json()
    assert (body["created"], body["report"]["columns"]) == (1, {"Numéro": "phone", "Qui": "first_name"})


def test_it_needs_contacts_write_to_upload_and_contacts_read_to_read(world, api):
    reader = make_api_key(world.a, ["contacts:read"])[1]
    writer = make_api_key(world.a, ["contacts:write"])[1]
    assert_error(upload(reader, dry_run=True), 403, "insufficient_scope")
    batch = make_import(world.a)
    assert_error(api(writer).get(f"/imports/{batch.pk}"), 403, "insufficient_scope")
    assert api(reader).get(f"/imports/{batch.pk}").status_code == 200


def test_it_answers_404_for_another_organisations_import(world, api):
    """R-63."""
    batch = make_import(world.b)
    assert_error(api(world.key_a).get(f"/imports/{batch.pk}"), 404, "not_found")
    assert api(world.key_b).get(f"/imports/{batch.pk}").status_code == 200


def test_it_replays_an_upload_with_the_same_idempotency_key(world):
    headers = {"Authorization": f"Bearer {world.key_a}", "Idempotency-Key": "import-1"}
    first = Client().post(f"{BASE}/imports", data={"file": SimpleUploadedFile("a.csv", FILE), "mode": "good_rows_only"},
                          headers=headers)
    again = Client().post(f"{BASE}/imports", data={"file": SimpleUploadedFile("a.csv", FILE), "mode": "good_rows_only"},
                          headers=headers)
    assert first.status_code == again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert first.json() == again.json() and Contact.objects.for_org(world.a).count() == 1


def test_it_answers_any_uploaded_bytes_with_201_or_422(world):
    """SPEC §4: random bytes never make a 500 or a traceback."""

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(st.binary(max_size=200),
                     st.text(alphabet=st.sampled_from(list(';,"\n\r\t0123456789+@aé ')), max_size=200).map(
                         lambda text: ("téléphone;email\n" + text).encode("utf-8"))),
           st.booleans())
    def check(data, dry_run):
        response = upload(world.key_a, data, dry_run=dry_run, mode="good_rows_only")
        assert response.status_code in (201, 422), response.content
        assert "Traceback" not in response.content.decode()
        if response.status_code == 422:
            assert response.json()["code"] and response.json()["message"]

    check()
