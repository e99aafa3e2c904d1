"""Errors are always JSON with a code, a human message and every invalid field (SPEC §4)."""

import pytest
from django.utils import translation
from django.utils.translation import gettext

from relance.testing import make_site

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_lists_every_invalid_field_of_a_body(world, api):
    """SPEC §4: a 422 lists EVERY invalid field, keyed by its path, with a human message."""
    response = api(world.key_a).post("/sites", {"name": "   ", "code": "not a slug!", "address": 5, "colour": "red"})
    body = assert_error(response, 422, "validation_error")
    assert set(body["fields"]) == {"name", "code", "address", "colour"}
    assert body["fields"]["name"] == ["Give at least 1 character(s)."]
    assert body["fields"]["colour"] == ["This field is unknown or cannot be changed."]
    assert "4 fields" in body["message"]


def test_it_lists_missing_fields_too(world, api):
    """SPEC §4: required fields that are absent are listed like invalid ones."""
    body = assert_error(api(world.key_a).post("/sites", {}), 422, "validation_error")
    assert body["fields"] == {"name": ["This field is required."], "code": ["This field is required."]}


def test_it_lists_every_invalid_query_parameter(world, api):
    """SPEC §4: query parameters are validated and reported the same way."""
    body = assert_error(api(world.key_a).get("/sites", limit=0, offset=-1), 422, "validation_error")
    assert set(body["fields"]) == {"limit", "offset"}
    body = assert_error(api(world.key_a).get("/audit/events", limit="many"), 422, "validation_error")
    assert body["fields"] == {"limit": ["Give a whole number."]}


def test_it_says_when_the_body_is_not_an_object(world, api):
    """SPEC §4: a JSON array where an object is expected is a 422 on `body`."""
    body = assert_error(api(world.key_a).post("/sites", [1, 2]), 422, "validation_error")
    assert list(body["fields"]) == ["body"]


def test_it_answers_400_json_for_a_malformed_body(world, api):
    """SPEC §4: unparseable JSON gets a JSON error, not an HTML page."""
    assert_error(api(world.key_a).post("/sites", '{"name": "x",'), 400, "malformed_body")


def test_it_turns_a_service_validation_error_into_422_with_fields(world, api):
    """SPEC §4: rules checked by the services (a site code is unique) come back as field errors."""
    make_site(world.a, code="nord")
    body = assert_error(api(world.key_a).post("/sites", {"name": "Nord bis", "code": "nord"}), 422, "validation_error")
    assert body["fields"] == {"code": ["A site with this code already exists."]}


def test_it_refuses_to_change_a_site_code(world, api):
    """SPEC §4: a read-only field sent in a PATCH is reported, not silently ignored."""
    site = make_site(world.a)
    body = assert_error(api(world.key_a).patch(f"/sites/{site.pk}", {"code": "new", "name": None}),
                        422, "validation_error")
    assert set(body["fields"]) == {"code", "name"}


def test_it_answers_json_404_for_an_unknown_address(world, api):
    """SPEC §4: even an address that does not exist under /api/v1/ answers JSON."""
    assert_error(api(world.key_a).get("/no/such/thing"), 404, "not_found")
    assert_error(api().get("/sites/abc"), 404, "not_found")


def test_it_answers_json_404_for_an_unknown_object(world, api):
    """SPEC §4, R-63: an unknown id is a JSON 404."""
    assert_error(api(world.key_a).get("/sites/999999"), 404, "not_found")


def test_it_answers_404_for_an_id_and_422_for_a_number_no_column_can_hold(world, api):
    """SPEC §4: an id or a number beyond 2**63 - 1 never reaches the database (PostgreSQL's "bigint out
    of range" was a 500, found by the long API fuzz, tests/reliability/test_api_fuzz.py)."""
    huge = "99999999999999999999999"
    assert_error(api(world.key_a).get(f"/sites/{huge}"), 404, "not_found")
    body = assert_error(api(world.key_a).get(f"/sites?offset={huge}"), 422, "validation_error")
    assert list(body["fields"]) == ["offset"]
    body = assert_error(api(world.key_a).get(f"/audit/events?after={huge}"), 422, "validation_error")
    assert list(body["fields"]) == ["after"]
    assert api(world.key_a).get("/sites?offset=9223372036854775807").status_code == 200  # the largest is fine


def test_an_address_holding_a_line_break_is_a_json_404(world, api):
    """SPEC §4: every answer of /api/v1/ is JSON; an id holding a line break fell to the back-office's
    HTML 404 page (found by the long API fuzz)."""
    response = api(world.key_a).get("/consent/events/a%0Ab/receipt")
    assert_error(response, 404, "not_found")


def test_a_null_character_in_a_field_name_is_refused_with_a_422(world, api):
    """A NUL in a key of the body was echoed in the answer, which idempotency stores: a 500 on
    PostgreSQL (found by the long API fuzz on /events/bulk). It is refused like a NUL in a value."""
    body = assert_error(api(world.key_a).patch(f"/sites/{make_site(world.a).pk}", {"na\x00me": "x"}), 422,
                        "validation_error")
    assert list(body["fields"]) == ["na\ufffdme"]


def test_a_caller_without_a_valid_key_gets_401_before_any_refusal_of_the_body(world, api):
    """R-64: the NUL and range refusals answer only a caller with a valid key; anyone else gets 401 first
    (found by the long API fuzz with a wrong key)."""
    site = make_site(world.a)
    assert_error(api("rlk_wrong_key").patch(f"/sites/{site.pk}", {"name": "a\x00b"}), 401, "invalid_api_key")
    assert api().get("/sites?offset=99999999999999999999999").status_code == 401
    assert_error(api(world.key_a).patch(f"/sites/{site.pk}", {"name": "a\x00b"}), 422, "validation_error")


def test_it_answers_json_405_with_the_allowed_methods(world, api):
    """SPEC §4: a wrong method answers JSON 405 and says which methods exist."""
    response = api(world.key_a).delete("/sites")
    body = assert_error(response, 405, "method_not_allowed")
    assert set(response["Allow"].split(", ")) == {"GET", "POST"}
    assert "GET" in body["message"]


def test_it_answers_json_413_for_a_body_too_large(world, api, settings):
    """SPEC §4: a body over the limit is refused with a JSON 413 before anything is parsed."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api(world.key_a).post("/sites", {"name": "x" * 200, "code": "big"})
    assert_error(response, 413, "payload_too_large")
    response = api(world.key_a).post("/sites", {"name": "x" * 200, "code": "big"}, headers={"Idempotency-Key": "k1"})
    assert_error(response, 413, "payload_too_large")


def test_it_answers_json_500_without_details(world, api, monkeypatch):
    """SPEC §4, R-61: an unexpected error is a JSON 500 that reveals nothing of the internals."""
    from relance.accounts import services

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals: dpo@example.org")

    monkeypatch.setattr(services, "create_site", broken)
    response = api(world.key_a).post("/sites", {"name": "Nord", "code": "nord"})
    body = assert_error(response, 500, "server_error")
    assert "secret" not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()
    assert body["fields"] == {}


def test_it_answers_in_french_with_accept_language_fr(world, api):
    """SPEC §4, ARCHITECTURE "Errors people see": messages follow Accept-Language."""
    client = api(world.key_a, **{"Accept-Language": "fr-FR,fr;q=0.9"})
    response = client.post("/sites", {"code": "x y"})
    body = assert_error(response, 422, "validation_error")
    assert response["Content-Language"] == "fr"
    assert body["fields"]["name"] == ["Ce champ est obligatoire."]
    assert body["message"] == "2 champs ne sont pas valides : voir « fields »."
    assert "clé d'API" in assert_error(api(**{"Accept-Language": "fr"}).get("/sites"), 401,
                                       "authentication_required")["message"]
    make_site(world.a, code="nord")
    body = assert_error(client.post("/sites", {"name": "Nord", "code": "nord"}), 422, "validation_error")
    with translation.override("fr"):  # the service's message, from the accounts catalogue
        assert body["fields"]["code"] == [gettext("A site with this code already exists.")]


def test_it_answers_in_english_without_accept_language(world, api):
    """SPEC §4: without Accept-Language the API speaks English, whatever the site's default."""
    response = api(world.key_a).get("/sites/999999")
    assert response["Content-Language"] == "en"
    assert response.json()["message"].startswith("Nothing was found")
    assert "Accept-Language" in response["Vary"]


@pytest.mark.parametrize(("header", "language"), [
    ("de", "en"), ("de, fr;q=0.8, en;q=0.5", "fr"), ("en-GB,fr;q=0.9", "en"), ("FR-be", "fr"),
    ("fr;q=0, en", "en"), ("*", "en"), ("fr;q=abc, en", "en"),
])
def test_it_picks_the_first_supported_accept_language(world, api, header, language):
    """SPEC §4: the best supported language of Accept-Language; English when none is supported."""
    response = api(world.key_a, **{"Accept-Language": header}).get("/sites/999999")
    assert response["Content-Language"] == language


def test_it_authenticates_before_checking_the_idempotency_key(world, api):
    """SPEC §4: without a valid key, a POST gets 401 whatever its Idempotency-Key."""
    response = api().post("/sites", {"name": "x", "code": "x"}, headers={"Idempotency-Key": "x" * 300})
    assert_error(response, 401, "authentication_required")
