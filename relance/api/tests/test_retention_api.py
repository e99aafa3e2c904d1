"""Retention through the API (R-50 … R-52): policies, presets with sources, purges, scopes, 404
across organisations (R-63)."""

from __future__ import annotations

import uuid

import pytest
import time_machine

from relance.messaging.models import Message
from relance.messaging.tests.helpers import TUESDAY_MORNING, enqueue, informed_contact, make_template, service_purpose
from relance.privacy.models import RetentionPolicy
from relance.testing import make_api_key

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_lists_every_category_with_defaults_R50(world, api):
    policies = api(world.key_a).get("/retention/policies").json()
    assert [p["category"] for p in policies] == [
        "message_content", "message_metadata", "inactive_contacts", "deceased_contacts", "consent_proofs",
        "audit_events", "inbound_messages", "exports"]
    assert all(p["default"] and p["days"] > 0 and p["counted_from"] and p["label"] for p in policies)


def test_it_sets_a_policy_and_refuses_bad_values(world, api):
    answer = api(world.key_a).put("/retention/policies", {"category": "exports", "days": 14, "source": "DPO decision 2026-03"})
    assert answer.status_code == 200, answer.content
    assert answer.json()["days"] == 14 and answer.json()["default"] is False
    body = assert_error(api(world.key_a).put("/retention/policies", {"category": "exports", "days": 0}), 422, "validation_error")
    assert "days" in body["fields"]
    assert api(world.key_a).put("/retention/policies", {"category": "nothing", "days": 3}).status_code == 422
    assert not RetentionPolicy.objects.for_org(world.b).exists()


def test_it_applies_a_preset_citing_its_source_R52(world, api):
    presets = {p["code"]: p for p in api(world.key_a).get("/retention/presets").json()}
    assert "NS-009" in presets["library"]["source"] and "2021-122" in presets["audit_12_months"]["source"]
    answer = api(world.key_a).post("/retention/presets/apply", {"preset": "library"})
    assert answer.status_code == 200, answer.content
    by_category = {p["category"]: p for p in answer.json()}
    assert by_category["inactive_contacts"]["days"] == 366 and by_category["inactive_contacts"]["preset"] == "library"
    assert "NS-009" in by_category["inactive_contacts"]["source"]
    assert by_category["audit_events"]["default"] is True
    assert api(world.key_a).post("/retention/presets/apply", {"preset": "unknown"}).status_code == 422


def test_a_dpo_runs_a_dry_run_then_a_purge_and_reads_the_reports(world, api):
    with time_machine.travel(TUESDAY_MORNING, tick=True) as clock:
        purpose = service_purpose(world.a)
        message = enqueue(informed_contact(world.a, purpose), purpose, make_template(purpose))
        Message.unscoped.filter(pk=message.pk).update(status="delivered", segments=1)
        api(world.key_a).put("/retention/policies", {"category": "message_metadata", "days": 1})
        clock.shift(3 * 86400)
        dry = api(world.key_a).post("/purges", {"dry_run": True, "categories": ["message_metadata"]})
        assert dry.status_code == 201, dry.content
        assert dry.json()["dry_run"] is True and dry.json()["counts"]["message_metadata"] == 1
        assert Message.unscoped.filter(pk=message.pk).exists()
        real = api(world.key_a).post("/purges", {"categories": ["message_metadata"]}).json()
        assert real["counts"]["message_metadata"] == 1 and real["stats_rows"] == 1 and real["dry_run"] is False
        assert not Message.unscoped.filter(pk=message.pk).exists()
        listed = api(world.key_a).get("/purges").json()
        assert listed["count"] == 2 and listed["items"][0]["id"] == real["id"]
        assert api(world.key_a).get(f"/purges/{real['id']}").json()["policies"]["message_metadata"]["days"] == 1


def test_it_answers_404_for_another_organisations_report_R63(world, api):
    report = api(world.key_a).post("/purges", {"dry_run": True}).json()
    assert_error(api(world.key_b).get(f"/purges/{report['id']}"), 404, "not_found")
    assert_error(api(world.key_a).get(f"/purges/{uuid.uuid4()}"), 404, "not_found")
    assert api(world.key_b).get("/purges").json()["count"] == 0


def test_it_needs_the_retention_scopes(world, api):
    _key, reader = make_api_key(world.a, scopes=["retention:read"])
    assert api(reader).get("/retention/policies").status_code == 200
    assert_error(api(reader).post("/purges", {"dry_run": True}), 403, "insufficient_scope")
    assert_error(api(reader).put("/retention/policies", {"category": "exports", "days": 3}), 403, "insufficient_scope")
    _key, other = make_api_key(world.a, scopes=["organisation:read"])
    assert_error(api(other).get("/purges"), 403, "insufficient_scope")
