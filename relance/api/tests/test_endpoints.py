"""The foundation endpoints: organisation, sites, audit trail (SPEC §4, R-65)."""

import pytest

from relance.audit.models import AuditEvent
from relance.testing import make_api_key, make_site

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_shows_the_organisation_without_its_dpos_personal_data(world, api):
    """SPEC §4, R-61: the organisation's settings, and no DPO name, e-mail or phone."""
    response = api(world.key_a).get("/organisation")
    body = response.json()
    assert body == {
        "id": str(world.a.uid), "name": world.a.name, "slug": world.a.slug, "kind": "library",
        "country": "FR", "time_zone": "Europe/Paris", "languages": ["fr", "en"], "processes_health_data": False,
    }
    assert "dpo" not in response.content.decode().lower()


def test_it_creates_a_site_and_audits_it_with_the_api_key_as_actor(world, api):
    """R-65: a configuration change through the API is an audit event naming the key, with a truncated IP."""
    key, secret = make_api_key(world.a, scopes=["sites:write"])
    response = api(secret).client.post("/api/v1/sites", {"name": " Nord ", "code": "nord", "address": "1 rue X"},
                                       content_type="application/json", REMOTE_ADDR="203.0.113.77",
                                       headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 201
    site = response.json()
    assert site["name"] == "Nord" and site["code"] == "nord" and site["address"] == "1 rue X"
    event = AuditEvent.objects.get(organisation=world.a, action="site.created")
    assert (event.actor_kind, event.actor_id) == ("api_key", str(key.pk))
    assert event.target_id == str(site["id"])
    assert event.ip == "203.0.113.0"


def test_it_reads_lists_and_updates_sites(world, api):
    """SPEC §4: GET /sites paginates with limit/offset; PATCH changes only the given fields."""
    for name in ["C", "A", "B"]:
        make_site(world.a, name=name)
    client = api(world.key_a)
    page = client.get("/sites", limit=2, offset=1).json()
    assert [s["name"] for s in page["items"]] == ["B", "C"]
    assert (page["count"], page["limit"], page["offset"]) == (3, 2, 1)
    site = page["items"][0]
    assert client.get(f"/sites/{site['id']}").json() == site
    updated = client.patch(f"/sites/{site['id']}", {"address": "2 place Y"}).json()
    assert updated["address"] == "2 place Y" and updated["name"] == "B"
    event = AuditEvent.objects.filter(organisation=world.a, action="site.updated").get()
    assert event.details == {"fields": ["address"]} and event.actor_kind == "api_key"


def test_it_writes_nothing_for_an_empty_patch(world, api):
    """R-65: an audit event records a change; an empty PATCH changes nothing."""
    site = make_site(world.a)
    assert api(world.key_a).patch(f"/sites/{site.pk}", {}).status_code == 200
    assert not AuditEvent.objects.filter(organisation=world.a, action="site.updated").exists()


def test_it_lists_the_audit_trail_newest_first_with_a_prefix_filter(world, api):
    """R-65: the trail is readable through the API, newest first, filtered by action prefix."""
    make_site(world.a)
    make_site(world.a)
    client = api(world.key_a)
    events = client.get("/audit/events").json()
    seqs = [e["seq"] for e in events["items"]]
    assert seqs == sorted(seqs, reverse=True)
    assert set(events["items"][0]) == {"seq", "created_at", "actor_kind", "actor_id", "action", "target_type",
                                       "target_id", "hash"}
    sites = client.get("/audit/events", action="site.").json()
    assert sites["count"] == 2
    assert {e["action"] for e in sites["items"]} == {"site.created"}


def test_it_needs_audit_read_for_the_trail(world, api):
    """R-65: reading the trail is its own scope."""
    _key, secret = make_api_key(world.a, scopes=["organisation:read", "sites:write"])
    assert_error(api(secret).get("/audit/events"), 403, "insufficient_scope")
