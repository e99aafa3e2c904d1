"""The contacts endpoints: validation, audited reads and lookups, statuses, guardians, scopes,
isolation (R-14, R-29, R-44, R-45, R-60, R-61, R-63, R-65)."""

import json
import logging
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relance.api.models import IdempotencyRecord
from relance.audit.models import AuditEvent
from relance.audit.services import chain_for
from relance.contacts.models import Contact
from relance.testing import make_api_key, make_contact, make_site

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
PERSONAL = {"first_name", "last_name", "phone", "email", "birth_date", "minor", "external_ref"}
JEANNE = {"first_name": "Jeanne", "last_name": "Martin", "phone": "06 12 34 56 78",
          "email": "Jeanne.Martin@Example.org", "birth_date": "1984-03-09", "external_ref": "PAT-4711"}


def _events(org, action=None):
    rows = AuditEvent.objects.filter(chain=chain_for(org)).order_by("seq")
    return list(rows.filter(action=action) if action else rows)


def _create(api, key, body=None):
    response = api(key).post("/contacts", JEANNE if body is None else body)
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def capture_logs():
    """Every log record while the test runs, formatted (pytest's own capture is off in some runs)."""
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record) + " " + json.dumps(record.__dict__, default=str))

    handler, root = Keep(level=logging.DEBUG), logging.getLogger()
    root.addHandler(handler)
    yield records
    root.removeHandler(handler)


# --- create, read, change ------------------------------------------------------------------
def test_it_creates_a_contact_and_answers_without_personal_data(world, api):
    """R-61, R-65: a write answers with the id and the state, never the personal fields."""
    body = _create(api, world.key_a)
    assert not PERSONAL & set(body)
    assert body["status"] == "active" and body["source"] == "api" and body["number_valid"]
    contact = Contact.objects.for_org(world.a).get(pk=body["id"])
    assert contact.phone == "+33612345678" and contact.email == "jeanne.martin@example.org"


def test_it_reads_a_contact_with_its_personal_data_normalised(world, api):
    created = _create(api, world.key_a)
    body = api(world.key_a).get(f"/contacts/{created['id']}").json()
    assert {name: body[name] for name in PERSONAL} == {
        "first_name": "Jeanne", "last_name": "Martin", "phone": "+33612345678", "email": "jeanne.martin@example.org",
        "birth_date": "1984-03-09", "minor": None, "external_ref": "PAT-4711"}


def test_it_lists_every_invalid_field_in_one_422(world, api):
    """SPEC §4: a 422 lists every invalid field at once; the messages repeat no value (R-61)."""
    site_b = make_site(world.b)
    response = api(world.key_a).post("/contacts", {
        "phone": "01 42 68 53 00", "email": "jeanne@", "birth_date": "2999-01-01", "language": "de",
        "guardian_id": str(uuid.uuid4()), "site_id": site_b.pk, "guardian_relation": "cousin"})
    body = assert_error(response, 422, "validation_error")
    assert set(body["fields"]) == {"phone", "email", "birth_date", "language", "guardian", "site",
                                   "guardian_relation"}
    assert "53 00" not in response.content.decode() and "jeanne" not in response.content.decode()
    assert Contact.objects.for_org(world.a).count() == 0


def test_it_refuses_a_landline_in_french_when_asked(world, api):
    response = api(world.key_a).post("/contacts", {"phone": "01 42 68 53 00"}, headers={"Accept-Language": "fr"})
    body = assert_error(response, 422, "validation_error")
    assert body["fields"]["phone"] == ["Ce numéro ne peut pas recevoir de SMS (ce n'est pas un numéro de mobile)."]


def test_it_refuses_unknown_fields(world, api):
    body = assert_error(api(world.key_a).post("/contacts", {"phone_index": "x", "status": "erased"}), 422,
                        "validation_error")
    assert set(body["fields"]) == {"phone_index", "status"}


def test_it_refuses_a_duplicate_external_reference(world, api):
    _create(api, world.key_a)
    body = assert_error(api(world.key_a).post("/contacts", {"external_ref": "PAT-4711"}), 422, "validation_error")
    assert list(body["fields"]) == ["external_ref"]


def test_it_patches_only_the_given_fields(world, api):
    """R-65: contact.updated names the changed fields; the answer holds no personal data."""
    created = _create(api, world.key_a)
    response = api(world.key_a).patch(f"/contacts/{created['id']}", {"email": None, "first_name": "Jeanne-Marie"})
    assert response.status_code == 200 and not PERSONAL & set(response.json())
    contact = Contact.objects.for_org(world.a).get(pk=created["id"])
    assert contact.email is None and contact.first_name == "Jeanne-Marie" and contact.last_name == "Martin"
    assert _events(world.a, "contact.updated")[-1].details == {"fields": ["email", "first_name"]}
    assert_error(api(world.key_a).patch(f"/contacts/{created['id']}", {"source": "staff"}), 422, "validation_error")
    assert_error(api(world.key_a).patch(f"/contacts/{created['id']}", {"phone": "nope"}), 422, "validation_error")


def test_it_refuses_to_serialise_a_contact_without_the_audited_read(world):
    """R-65: ContactOut cannot be built from a model instance, so no endpoint can skip contact.read."""
    from relance.api.endpoints.contacts import ContactOut

    with pytest.raises(TypeError):
        ContactOut.model_validate(make_contact(world.a))


# --- audit of reads (R-65) -----------------------------------------------------------------
def test_it_audits_a_get_with_the_key_and_no_personal_value(world, api):
    created = _create(api, world.key_a)
    before = len(_events(world.a))
    api(world.key_a).get(f"/contacts/{created['id']}")
    new = _events(world.a)[before:]
    assert [e.action for e in new] == ["contact.read"]
    assert new[0].actor_kind == "api_key" and new[0].target_id == created["id"]
    assert new[0].details == {"purpose": "api.get"}


def test_it_audits_a_lookup_and_each_contact_it_shows(world, api):
    """R-61, R-65: contact.lookup names the index kind, each match is a contact.read; no value stored."""
    created = _create(api, world.key_a)
    response = api(world.key_a).post("/contacts/lookup", {"email": "  JEANNE.MARTIN@example.org"})
    assert [item["id"] for item in response.json()["items"]] == [created["id"]]
    lookup, read = _events(world.a)[-2:]
    assert (lookup.action, lookup.details) == ("contact.lookup", {"kind": "email", "found": 1})
    assert (read.action, read.details, read.target_id) == ("contact.read", {"purpose": "api.lookup"}, created["id"])
    stored = json.dumps([e.details for e in _events(world.a)]) + " ".join(e.target_id for e in _events(world.a))
    assert "jeanne" not in stored.lower() and "612345678" not in stored


@pytest.mark.parametrize(("kind", "value"), [("phone", "+33 6 12 34 56 78"), ("phone", "0612345678"),
                                             ("external_ref", "PAT-4711")])
def test_it_looks_up_by_phone_and_external_reference(world, api, kind, value):
    created = _create(api, world.key_a)
    items = api(world.key_a).post("/contacts/lookup", {kind: value}).json()["items"]
    assert [item["id"] for item in items] == [created["id"]]


def test_it_audits_a_lookup_that_finds_nothing(world, api):
    _create(api, world.key_a)
    response = api(world.key_b).post("/contacts/lookup", {"phone": "06 12 34 56 78"})
    assert response.json() == {"items": []}
    assert _events(world.b, "contact.lookup")[-1].details == {"kind": "phone", "found": 0}


def test_it_wants_exactly_one_lookup_key(world, api):
    assert_error(api(world.key_a).post("/contacts/lookup", {}), 422, "validation_error")
    body = assert_error(api(world.key_a).post("/contacts/lookup", {"phone": "0612345678", "email": "a@example.org"}),
                        422, "validation_error")
    assert set(body["fields"]) == {"phone", "email"}


def test_it_keeps_no_personal_data_for_a_lookup_replay(world, api):
    """R-61: an Idempotency-Key on a lookup stores no answer; the replay reads again (audited)."""
    created = _create(api, world.key_a)
    first = api(world.key_a).post("/contacts/lookup", {"phone": "0612345678"}, headers={"Idempotency-Key": "l-1"})
    reads = len(_events(world.a, "contact.read"))
    again = api(world.key_a).post("/contacts/lookup", {"phone": "0612345678"}, headers={"Idempotency-Key": "l-1"})
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert again.json()["items"][0]["id"] == created["id"]
    assert len(_events(world.a, "contact.read")) == reads + 1
    for record in IdempotencyRecord.objects.for_org(world.a):
        assert "612345678" not in json.dumps(record.response_body) and "Jeanne" not in json.dumps(record.response_body)


def test_it_logs_no_personal_data(world, api, capture_logs):
    """R-61: neither a 422 nor a lookup puts a phone number or an e-mail address in the logs."""
    api(world.key_a).post("/contacts", {"phone": "01 42 68 53 00", "email": "jeanne.martin@"})
    api(world.key_a).post("/contacts/lookup", {"email": "jeanne.martin@example.org"})
    text = "\n".join(capture_logs)
    assert "Unprocessable" in text  # the 422 was logged: the capture works
    assert "42 68" not in text and "142685300" not in text and "jeanne" not in text.lower()


# --- statuses and guardians ----------------------------------------------------------------
def test_it_restricts_lifts_and_marks_deceased(world, api):
    """R-44, R-45: each status change is one call, audited, answered without personal data."""
    contact_id = _create(api, world.key_a)["id"]
    client = api(world.key_a)
    restricted = client.post(f"/contacts/{contact_id}/restrict").json()
    assert restricted["status"] == "restricted" and restricted["status_changed_at"] and not PERSONAL & set(restricted)
    assert client.post(f"/contacts/{contact_id}/lift-restriction").json()["status"] == "active"
    assert client.post(f"/contacts/{contact_id}/deceased").json()["status"] == "deceased"
    body = assert_error(client.post(f"/contacts/{contact_id}/restrict"), 422, "validation_error")
    assert list(body["fields"]) == ["status"]
    assert [e.action for e in _events(world.a)][-3:] == ["contact.restricted", "contact.restriction_lifted",
                                                         "contact.deceased"]


def test_it_sets_and_removes_a_guardian(world, api):
    """R-14: a guardian is an adult contact of the same organisation."""
    client = api(world.key_a)
    parent = _create(api, world.key_a)["id"]
    child = _create(api, world.key_a, {"first_name": "Léo", "minor": True})["id"]
    linked = client.put(f"/contacts/{child}/guardian", {"guardian_id": parent, "relation": "parent"}).json()
    assert linked["guardian_id"] == parent and linked["guardian_relation"] == "parent"
    body = assert_error(client.put(f"/contacts/{parent}/guardian", {"guardian_id": child, "relation": "parent"}),
                        422, "validation_error")
    assert list(body["fields"]) == ["guardian"]  # a circle, and a minor: one message is enough
    assert client.put(f"/contacts/{child}/guardian", {"guardian_id": None}).json()["guardian_id"] is None


def test_it_does_not_reveal_another_organisations_contact_as_guardian(world, api):
    """R-63: B's contact and an unknown id get the same answer."""
    child = _create(api, world.key_a, {"minor": True})["id"]
    stranger = str(make_contact(world.b).pk)
    answers = [api(world.key_a).put(f"/contacts/{child}/guardian", {"guardian_id": gid, "relation": "parent"}).json()
               for gid in (stranger, str(uuid.uuid4()))]
    assert answers[0] == answers[1] and list(answers[0]["fields"]) == ["guardian"]


def test_it_shows_when_a_number_became_invalid(world, api):
    """R-29: number_valid is false after three permanent failures, and true again after a new number."""
    from relance.contacts import services

    created = _create(api, world.key_a)
    contact = Contact.objects.for_org(world.a).get(pk=created["id"])
    for _ in range(3):
        services.record_delivery_failure(contact, permanent=True)
    assert api(world.key_a).get(f"/contacts/{created['id']}").json()["number_valid"] is False
    assert api(world.key_a).patch(f"/contacts/{created['id']}", {"phone": "06 98 76 54 32"}).json()["number_valid"]


# --- scopes and isolation ------------------------------------------------------------------
def test_it_needs_contacts_read_to_read_and_contacts_write_to_write(world, api):
    """SPEC §4: a write-only key cannot read anyone, not even through a write's answer."""
    writer = make_api_key(world.a, scopes=["contacts:write"])[1]
    reader = make_api_key(world.a, scopes=["contacts:read"])[1]
    created = _create(api, writer)
    assert_error(api(writer).get(f"/contacts/{created['id']}"), 403, "insufficient_scope")
    assert_error(api(writer).post("/contacts/lookup", {"phone": "0612345678"}), 403, "insufficient_scope")
    assert not PERSONAL & set(api(writer).patch(f"/contacts/{created['id']}", {}).json())
    assert_error(api(reader).post("/contacts", JEANNE), 403, "insufficient_scope")
    assert_error(api(reader).patch(f"/contacts/{created['id']}", {}), 403, "insufficient_scope")
    assert api(reader).get(f"/contacts/{created['id']}").status_code == 200


CALLS = [("get", ""), ("patch", ""), ("post", "/restrict"), ("post", "/lift-restriction"), ("post", "/deceased"),
         ("put", "/guardian")]


@pytest.mark.parametrize(("method", "suffix"), CALLS)
def test_it_answers_404_for_another_organisations_contact(world, api, method, suffix):
    """R-63: B's key on A's contact is 404 on every endpoint; A's contact and audit trail are untouched."""
    contact = make_contact(world.a, first_name="Jeanne")
    before = len(_events(world.a))
    body = {"guardian_id": None} if method == "put" else {"first_name": "Pwned"} if method == "patch" else None
    assert_error(api(world.key_b).call(method, f"/contacts/{contact.pk}{suffix}", body), 404, "not_found")
    fresh = Contact.objects.for_org(world.a).get(pk=contact.pk)
    assert fresh.first_name == "Jeanne" and fresh.status == "active"
    assert len(_events(world.a)) == before


def test_it_answers_404_for_an_unknown_or_malformed_id(world, api):
    assert_error(api(world.key_a).get(f"/contacts/{uuid.uuid4()}"), 404, "not_found")
    assert_error(api(world.key_a).get("/contacts/12"), 404, "not_found")


# --- never a 500 ---------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(phone=st.one_of(st.text(max_size=40), st.text(alphabet="0123456789 +-.()", max_size=25)))
def test_it_never_fails_on_any_phone_text(world, api, phone):
    """R-61 and SPEC §4: whatever text is sent as a phone, the answer is 201/200 or a 422, never a 500."""
    created = api(world.key_a).post("/contacts", {"phone": phone})
    assert created.status_code in (201, 422), created.content
    if created.status_code == 422:
        assert list(created.json()["fields"]) == ["phone"]
    found = api(world.key_a).post("/contacts/lookup", {"phone": phone})
    assert found.status_code in (200, 422), found.content
