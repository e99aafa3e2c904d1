"""Templates, preview and sending settings through the API (R-22, R-24, R-25, R-26, R-63, R-65)."""

import pytest

from relance.audit.models import AuditEvent
from relance.consent.tests.helpers import make_consent_purpose, make_purpose
from relance.messaging.models import Template
from relance.messaging.tests.test_templates import build_template
from relance.testing import make_api_key

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

SMS = "Bonjour {first_name}, rappel : rendez-vous {date} à {time}, {place}."


def _new(purpose, **overrides) -> dict:
    return {"purpose_id": purpose.pk, "code": "rappel-48h", "channel": "sms", "language": "fr", "body": SMS,
            **overrides}


def test_it_creates_reads_lists_and_patches_a_template(world, api):
    """A template's life through the API, audited with the key as actor (R-65)."""
    client = api(world.key_b)
    purpose = make_purpose(world.b)
    created = client.post("/templates", _new(purpose))
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["code"], body["version"], body["status"], body["lint_override"]) == ("rappel-48h", 1, "active", [])
    assert client.get(f"/templates/{body['id']}").json() == body
    listed = client.get("/templates", channel="sms", purpose_id=purpose.pk).json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == body["id"]
    assert client.get("/templates", channel="email").json()["count"] == 0
    patched = client.patch(f"/templates/{body['id']}", {"body": SMS + " Merci."})
    assert patched.status_code == 200 and patched.json()["version"] == 2
    assert AuditEvent.objects.get(organisation=world.b, action="template.updated").actor_kind == "api_key"


def test_it_answers_422_naming_the_health_word_r24(world, api):
    """R-24: the linter's refusal is a 422 whose field message names the word and the rule."""
    client = api(world.key_b, **{"Accept-Language": "fr"})
    body = assert_error(client.post("/templates", _new(make_purpose(world.b), body="RDV de cardiologie le {date}.")),
                        422, "validation_error")
    assert body["fields"]["body"] == ["Le mot « cardiologie » révèle une spécialité médicale : un SMS peut être lu "
                                      "par un tiers (R-24). Supprimez-le, ou demandez à votre DPO d'enregistrer une "
                                      "dérogation motivée."]
    assert not Template.objects.for_org(world.b).exists()


def test_it_answers_422_for_a_promotional_template_without_mentions_r25(world, api):
    body = assert_error(api(world.key_a).post("/templates", _new(make_consent_purpose(world.a), body="Nouveautés !")),
                        422, "validation_error")
    assert len(body["fields"]["body"]) == 2 and all("R-25" in m for m in body["fields"]["body"])


def test_it_refuses_null_and_unknown_fields_in_a_patch(world, api):
    template = build_template(world.a)
    client = api(world.key_a)
    assert set(assert_error(client.patch(f"/templates/{template.pk}", {"body": None}), 422,
                            "validation_error")["fields"]) == {"body"}
    assert set(assert_error(client.patch(f"/templates/{template.pk}", {"channel": "email"}), 422,
                            "validation_error")["fields"]) == {"channel"}


def test_it_retires_a_template(world, api):
    template = build_template(world.a)
    response = api(world.key_a).post(f"/templates/{template.pk}/retire")
    assert response.status_code == 200 and response.json()["status"] == "retired"
    assert_error(api(world.key_a).patch(f"/templates/{template.pk}", {"body": "Bonjour."}), 422, "validation_error")


def test_it_previews_text_encoding_segments_and_warnings_r26(world, api):
    """R-26: the preview returns the text with samples, encoding, segments, UCS-2 characters, warnings."""
    response = api(world.key_a).post("/templates/preview", {"body": "« Bonjour » {first_name}, {org}", "channel": "sms"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["text"] == "« Bonjour » Camille, Médiathèques A"
    assert (body["encoding"], body["segments"], body["ucs2_characters"]) == ("UCS-2", 1, ["«", "»"])
    assert body["transliterated"] == '" Bonjour " Camille, Médiathèques A'
    assert [w["code"] for w in body["warnings"]] == ["ucs2_characters"] and body["errors"] == []


def test_it_previews_linter_errors_without_saving_r24(world, api):
    body = api(world.key_b).post("/templates/preview", {"body": "Votre IRM {date}", "channel": "sms"}).json()
    assert [(e["code"], e["word"], e["rule"]) for e in body["errors"]] == [("health_word", "IRM", "R-24")]
    assert not Template.objects.for_org(world.b).exists()


def test_it_refuses_an_invalid_preview(world, api):
    body = assert_error(api(world.key_a).post("/templates/preview", {"body": "x", "channel": "sms",
                                                                    "sample": {"password": "x"}}),
                        422, "validation_error")
    assert set(body["fields"]) == {"sample"}


def test_it_reads_and_patches_sending_settings(world, api):
    """R-22, R-25, R-34: settings through the API; every invalid field at once."""
    client = api(world.key_a)
    assert client.get("/sending-settings").json()["stop_rate_threshold"] == 2.0
    patched = client.patch("/sending-settings", {"sms_sender": "MEDIATHEQ", "stop_mention": "STOP au 36111",
                                                 "windows": {"promotional": {"start": "09:00", "end": "19:00"}}})
    assert patched.status_code == 200, patched.content
    assert patched.json()["sms_sender"] == "MEDIATHEQ" and patched.json()["windows"]["promotional"]["start"] == "09:00"
    body = assert_error(client.patch("/sending-settings", {"sms_sender": "A", "stop_rate_threshold": 101}), 422,
                        "validation_error")
    assert set(body["fields"]) == {"sms_sender", "stop_rate_threshold"}
    assert api(world.key_b).get("/sending-settings").json()["sms_sender"] == ""


@pytest.mark.parametrize(("method", "path", "body", "scope"), [
    ("get", "/templates", None, "templates:read"),
    ("post", "/templates", {}, "templates:write"),
    ("post", "/templates/preview", {}, "templates:read"),
    ("patch", "/sending-settings", {}, "settings:write"),
])
def test_it_requires_the_scopes(world, api, method, path, body, scope):
    """A key without the scope gets 403, before its body is even read."""
    _key, raw = make_api_key(world.a, scopes=["organisation:read"])
    response = api(raw).call(method, path, body)
    assert_error(response, 403, "insufficient_scope")
    assert scope in response.json()["message"]


def test_it_answers_404_for_another_organisations_template(world, api):
    """R-63: B's key never reaches A's template, whatever the method; nothing changes."""
    template = build_template(world.a)
    client = api(world.key_b)
    assert_error(client.get(f"/templates/{template.pk}"), 404, "not_found")
    assert_error(client.patch(f"/templates/{template.pk}", {"body": None}), 404, "not_found")
    assert_error(client.post(f"/templates/{template.pk}/retire"), 404, "not_found")
    assert client.get("/templates").json()["count"] == 0
    template.refresh_from_db()
    assert (template.status, template.version) == ("active", 1)
