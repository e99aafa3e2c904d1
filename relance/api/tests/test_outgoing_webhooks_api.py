"""Outgoing webhook endpoints and deliveries through the API (scope webhooks:write, R-63)."""

import pytest

from relance.testing import make_api_key
from relance.webhooks.models import WebhookDelivery, WebhookEndpoint
from relance.webhooks.tests.builders import make_delivery, make_endpoint

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
NEW = {"url": "https://example.org/hooks/relance", "events": ["contact.erased"], "description": "SIGB"}


def test_it_creates_an_endpoint_and_shows_its_secret_once(world, api):
    response = api(world.key_a).post("/webhook-endpoints", NEW)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["contact.erased"] and body["enabled"]
    got = api(world.key_a).get(f"/webhook-endpoints/{body['id']}").json()
    assert "secret" not in got and got["url"] == NEW["url"]
    listed = api(world.key_a).get("/webhook-endpoints").json()
    assert listed["count"] == 1 and "secret" not in listed["items"][0]


def test_it_lists_every_invalid_field(world, api):
    response = api(world.key_a).post("/webhook-endpoints", {"url": "http://example.org", "events": ["Bad Event"]})
    assert response.status_code == 422, response.content
    body = response.json()
    assert {"url", "events"} <= set(body["fields"])


def test_it_changes_disables_rotates_and_deletes(world, api):
    client = api(world.key_a)
    created = client.post("/webhook-endpoints", NEW).json()
    path = f"/webhook-endpoints/{created['id']}"
    patched = client.patch(path, {"events": ["*"], "enabled": False}).json()
    assert patched["events"] == ["*"] and patched["enabled"] is False
    rotated = client.post(f"{path}/rotate-secret").json()
    assert rotated["secret"] != created["secret"]
    assert WebhookEndpoint.objects.for_org(world.a).get().secret == rotated["secret"]
    assert client.delete(path).status_code == 204
    assert_error(client.get(path), 404, "not_found")


def test_it_lists_deliveries_and_redelivers_one(world, api):
    delivery = make_delivery(world.a)
    WebhookDelivery.objects.for_org(world.a).filter(pk=delivery.pk).update(status="failed", attempts=12)
    client = api(world.key_a)
    listed = client.get(f"/webhook-endpoints/{delivery.endpoint_id}/deliveries", status="failed").json()
    assert [item["id"] for item in listed["items"]] == [str(delivery.pk)]
    assert listed["items"][0]["payload"]["data"] == {"contact": "test"}
    again = client.post(f"/webhook-deliveries/{delivery.pk}/redeliver").json()
    assert (again["status"], again["attempts"]) == ("pending", 0)


def test_it_keeps_organisations_apart(world, api):
    """R-63: B sees none of A's endpoints or deliveries; each URL naming them answers 404."""
    endpoint = make_endpoint(world.a)
    delivery = make_delivery(world.a)
    client = api(world.key_b)
    assert client.get("/webhook-endpoints").json()["count"] == 0
    assert_error(client.get(f"/webhook-endpoints/{endpoint.pk}"), 404, "not_found")
    assert_error(client.delete(f"/webhook-endpoints/{endpoint.pk}"), 404, "not_found")
    assert_error(client.post(f"/webhook-deliveries/{delivery.pk}/redeliver"), 404, "not_found")
    assert WebhookEndpoint.objects.for_org(world.a).count() == 2


def test_it_needs_the_webhooks_scope(world, api):
    _, key = make_api_key(world.a, scopes=["contacts:read"])
    assert_error(api(key).get("/webhook-endpoints"), 403, "insufficient_scope")
