"""The campaigns API (issue 4 items 6 and 7): create, list, read with counts, preview the audience
by reason (R-20), start (R-01, R-25), pause, resume, cancel; scopes, conflicts, isolation (R-63)."""

import pytest

from relance.audit.models import AuditEvent
from relance.consent import services as consent
from relance.messaging.campaigns import run_campaigns
from relance.messaging.models import Campaign, Message
from relance.messaging.tests.campaign_helpers import (
    informed_contact,
    make_campaign,
    make_consent_purpose,
    make_purpose,
    make_template,
)
from relance.testing import SYSTEM, make_api_key, make_contact, make_site

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture
def ready(world):
    purpose = make_purpose(world.a)
    template = make_template(purpose)
    people = [informed_contact(world.a, purpose) for _ in range(3)]
    objector = informed_contact(world.a, purpose)
    consent.record_consent(objector, purpose, "sms", "objected", actor=SYSTEM, expressed_by="subject",
                           method="paper_form")
    make_contact(world.a)  # not informed
    return purpose, template, people


def _create(client, purpose, template, **extra):
    return client.post("/campaigns", {"name": "Fermeture lundi", "purpose_id": purpose.pk,
                                      "template_id": template.pk, **extra})


def test_it_creates_previews_starts_and_completes_a_campaign(world, api, ready):
    """The whole path: draft → audience preview by reason → start → batches → counts on the campaign."""
    purpose, template, _people = ready
    client = api(world.key_a)
    created = _create(client, purpose, template, rate_per_minute=120, filters={"language": "fr"})
    assert created.status_code == 201, created.content
    campaign = created.json()
    assert (campaign["status"], campaign["filters"], campaign["messages"]) == ("draft", {"language": "fr"}, {})
    preview = client.post(f"/campaigns/{campaign['id']}/audience").json()
    assert preview == {"total": 5, "recipients": 3, "excluded": {"not_informed": 1, "objected": 1}}
    started = client.post(f"/campaigns/{campaign['id']}/start").json()
    assert started["status"] == "running" and started["started_at"]
    run_campaigns()
    detail = client.get(f"/campaigns/{campaign['id']}").json()
    assert (detail["status"], detail["audience"], detail["enqueued"]) == ("completed", 5, 3)
    assert detail["excluded"] == {"not_informed": 1, "objected": 1}
    assert detail["messages"] == {"scheduled": 3}
    assert [c["id"] for c in client.get("/campaigns").json()["items"]] == [campaign["id"]]
    assert AuditEvent.objects.filter(organisation=world.a, action="campaign.started").count() == 1


def test_it_pauses_resumes_and_cancels(world, api, ready):
    """Pause, resume and cancel; a change the campaign's state does not allow is a 409."""
    purpose, template, _people = ready
    client = api(world.key_a)
    campaign_id = _create(client, purpose, template).json()["id"]
    assert_error(client.post(f"/campaigns/{campaign_id}/pause"), 409, "campaign_status")
    client.post(f"/campaigns/{campaign_id}/start")
    paused = client.post(f"/campaigns/{campaign_id}/pause").json()
    assert paused["status"] == "paused" and paused["pause_reason"]
    assert client.post(f"/campaigns/{campaign_id}/resume").json()["status"] == "running"
    run_campaigns()
    cancelled = client.post(f"/campaigns/{campaign_id}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["messages"] == {"cancelled": 3}
    assert {m.reason for m in Message.objects.for_org(world.a).filter(campaign_id=campaign_id)} == {
        "campaign_cancelled"}
    body = assert_error(client.post(f"/campaigns/{campaign_id}/start"), 409, "campaign_status")
    assert "cancelled" in body["message"].lower()


def test_it_refuses_to_start_what_may_not_be_sent(world, api):
    """R-01: an inactive purpose; R-25: a promotional SMS without the sender or the STOP mention (422)."""
    client = api(world.key_a)
    draft = make_purpose(world.a, activate=False)
    campaign_id = _create(client, draft, make_template(draft)).json()["id"]
    body = assert_error(client.post(f"/campaigns/{campaign_id}/start"), 422, "validation_error")
    assert set(body["fields"]) == {"purpose_id"}
    promo = make_consent_purpose(world.a)
    bare = make_template(promo, code="bare", body="Nouvelle saison de concerts !")
    campaign_id = _create(client, promo, bare).json()["id"]
    body = assert_error(client.post(f"/campaigns/{campaign_id}/start"), 422, "validation_error")
    assert set(body["fields"]) == {"template_id"} and "R-25" in " ".join(body["fields"]["template_id"])
    assert Campaign.objects.for_org(world.a).get(pk=campaign_id).status == "draft"


def test_it_reports_every_bad_field_of_a_new_campaign(world, api, ready):
    """422 with every field: unknown or foreign ids, a template of another purpose, filters, rate."""
    purpose, template, _people = ready
    client = api(world.key_a)
    body = assert_error(client.post("/campaigns", {"name": "", "purpose_id": purpose.pk, "template_id": template.pk,
                                                   "rate_per_minute": 0, "filters": {"language": "de", "x": 1}}),
                        422, "validation_error")
    assert set(body["fields"]) == {"name", "rate_per_minute", "filters.language", "filters.x"}
    body = assert_error(_create(client, purpose, template, site_id=make_site(world.b).pk), 422, "validation_error")
    assert set(body["fields"]) == {"site_id"}
    other = make_purpose(world.a)
    body = assert_error(_create(client, other, template), 422, "validation_error")
    assert set(body["fields"]) == {"template_id"}
    foreign = make_purpose(world.b)
    body = assert_error(_create(client, foreign, make_template(foreign)), 422, "validation_error")
    assert set(body["fields"]) == {"purpose_id", "template_id"}
    assert not Campaign.objects.for_org(world.a).exists()


def test_it_needs_the_campaign_scopes(world, api, ready):
    """campaigns:write to create and change, campaigns:read to read and preview."""
    purpose, template, _people = ready
    campaign = make_campaign(world.a, purpose=purpose, template=template)
    reader = api(make_api_key(world.a, scopes=["campaigns:read"])[1])
    assert_error(_create(reader, purpose, template), 403, "insufficient_scope")
    assert_error(reader.post(f"/campaigns/{campaign.pk}/start"), 403, "insufficient_scope")
    assert reader.post(f"/campaigns/{campaign.pk}/audience").status_code == 200
    writer = api(make_api_key(world.a, scopes=["campaigns:write"])[1])
    assert_error(writer.get(f"/campaigns/{campaign.pk}"), 403, "insufficient_scope")


def test_it_keeps_each_organisations_campaigns_apart(world, api, ready):
    """R-63: B's key lists none of A's campaigns and gets 404 on them, changing nothing."""
    purpose, template, _people = ready
    campaign = make_campaign(world.a, purpose=purpose, template=template)
    client = api(world.key_b)
    assert client.get("/campaigns").json()["count"] == 0
    for action in ("audience", "start", "cancel"):
        assert_error(client.post(f"/campaigns/{campaign.pk}/{action}"), 404, "not_found")
    assert Campaign.objects.for_org(world.a).get(pk=campaign.pk).status == "draft"
