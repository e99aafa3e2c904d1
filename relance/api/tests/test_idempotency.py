"""Idempotency keys on every POST (SPEC §4)."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.http import JsonResponse
from django.utils import timezone

from relance.accounts.models import Site
from relance.api import idempotency
from relance.api.models import IdempotencyRecord
from relance.audit.models import AuditEvent
from relance.testing import make_api_key

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

SITE = {"name": "Médiathèque Nord", "code": "nord"}


def post_site(api, key, body=SITE, idem="order-42"):
    return api(key).post("/sites", body, headers={"Idempotency-Key": idem})


def test_it_replays_the_first_response_for_the_same_key_and_body(world, api):
    """SPEC §4: a retried POST with the same key returns the stored response and acts once."""
    first = post_site(api, world.key_a)
    again = post_site(api, world.key_a)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Site.objects.for_org(world.a).count() == 1
    assert AuditEvent.objects.filter(organisation=world.a, action="site.created").count() == 1


def test_it_answers_409_when_a_key_is_reused_with_another_body(world, api):
    """SPEC §4: the same key with a different request is a conflict, and nothing is created."""
    post_site(api, world.key_a)
    response = post_site(api, world.key_a, {"name": "Sud", "code": "sud"})
    assert_error(response, 409, "idempotency_key_reused")
    assert Site.objects.for_org(world.a).count() == 1


def test_it_answers_409_when_a_key_is_reused_on_another_path(world, api, monkeypatch):
    """SPEC §4: a key names one request: method, path and body together."""
    post_site(api, world.key_a)
    monkeypatch.setattr(idempotency, "_fingerprints", _fingerprints_with_path("/api/v1/other"))
    assert_error(post_site(api, world.key_a), 409, "idempotency_key_reused")


def _fingerprints_with_path(path):
    original = idempotency._fingerprints

    def fake(organisation, method, _path, raw_key, body):
        return original(organisation, method, path, raw_key, body)

    return fake


def test_it_does_not_share_keys_between_organisations(world, api):
    """SPEC §4, R-63: one key used by two organisations is two separate requests."""
    a = post_site(api, world.key_a)
    b = post_site(api, world.key_b)
    assert a.status_code == b.status_code == 201
    assert "Idempotent-Replayed" not in b
    assert a.json()["id"] != b.json()["id"]
    assert Site.objects.for_org(world.b).count() == 1


def test_it_keeps_keys_for_24_hours_only(world, api):
    """SPEC §4: keys expire after 24 hours; then the key may name a new request."""
    with time_machine.travel(timezone.now(), tick=False) as clock:
        post_site(api, world.key_a)
        clock.shift(timedelta(hours=23))
        assert_error(post_site(api, world.key_a, {"name": "Sud", "code": "sud"}), 409, "idempotency_key_reused")
        clock.shift(timedelta(hours=2))
        response = post_site(api, world.key_a, {"name": "Sud", "code": "sud"})
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response
    assert IdempotencyRecord.objects.for_org(world.a).count() == 1


def test_it_does_not_keep_failed_attempts(world, api):
    """SPEC §4: after an error the client fixes the request and retries with the same key."""
    response = post_site(api, world.key_a, {"name": "", "code": "nord"})
    assert_error(response, 422, "validation_error")
    assert post_site(api, world.key_a).status_code == 201
    assert IdempotencyRecord.objects.for_org(world.a).count() == 1


def test_it_does_not_replay_to_a_key_without_the_scope(world, api):
    """SPEC §4: a replay is a read of the response; it needs the operation's scope."""
    post_site(api, world.key_a)
    _key, reader = make_api_key(world.a, scopes=["organisation:read"])
    assert_error(post_site(api, reader), 403, "insufficient_scope")
    assert_error(post_site(api, "rlk_nope_nope"), 401, "invalid_api_key")


@pytest.mark.parametrize("bad", ["", "x" * 256, "clé-é"])
def test_it_refuses_a_malformed_key(world, api, bad):
    """SPEC §4: an Idempotency-Key is 1–255 printable ASCII characters."""
    body = assert_error(post_site(api, world.key_a, idem=bad), 422, "validation_error")
    assert list(body["fields"]) == ["Idempotency-Key"]
    assert Site.objects.for_org(world.a).count() == 0


def test_it_ignores_the_header_on_reads(world, api):
    """SPEC §4: idempotency keys concern POST; a GET is naturally repeatable."""
    response = api(world.key_a).get("/sites", headers={"Idempotency-Key": "order-42"})
    assert response.status_code == 200
    assert IdempotencyRecord.objects.for_org(world.a).count() == 0


def test_it_stores_no_clear_key_or_body(world, api):
    """R-61: the key and the request are stored as keyed hashes only."""
    post_site(api, world.key_a, idem="reminder-jean-dupont")
    record = IdempotencyRecord.objects.for_org(world.a).get()
    stored = json.dumps([record.key_hash, record.request_hash, record.path, record.method])
    assert "jean" not in stored and "nord" not in stored
    assert len(record.key_hash) == len(record.request_hash) == 64


def test_it_stores_only_the_id_of_a_response_holding_personal_data(world, api, monkeypatch):
    """R-61: an endpoint marked replay_by_id keeps no response body; a replay re-renders it."""
    from relance.api.endpoints import sites

    calls = []

    def rerender(request, resource_id):
        calls.append(resource_id)
        return JsonResponse({"id": int(resource_id), "rerendered": True}, status=201)

    monkeypatch.setattr(sites.create_site, "idempotent_rerender", rerender, raising=False)
    first = post_site(api, world.key_a)
    record = IdempotencyRecord.objects.for_org(world.a).get()
    assert record.response_body is None
    assert record.resource_id == str(first.json()["id"])
    again = post_site(api, world.key_a)
    assert again.json() == {"id": first.json()["id"], "rerendered": True}
    assert again["Idempotent-Replayed"] == "true"
    assert calls == [record.resource_id]


def test_it_purges_expired_records(world, api):
    """SPEC §4: records older than 24 hours are deleted by the retention job."""
    post_site(api, world.key_a)
    assert idempotency.purge_expired(timezone.now()) == 0
    assert idempotency.purge_expired(timezone.now() + timedelta(hours=25)) == 1


def test_it_applies_to_every_post_operation():
    """SPEC §4: every POST of the API goes through the idempotency wrapper and documents the header."""
    from relance.api.main import api as ninja_api

    schema = ninja_api.get_openapi_schema()
    posts = [op for ops in schema["paths"].values() for method, op in ops.items() if method == "post"]
    assert posts
    for operation in posts:
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"])
    for router in ninja_api._get_bound_routers():
        for view in router.path_operations.values():
            for operation in view.operations:
                assert operation.run.__wrapped__.__self__ is operation


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "keys"], transaction=True)
def test_it_acts_once_for_two_concurrent_requests_with_one_key(api, monkeypatch):
    """SPEC §4: two simultaneous POSTs with one key create one site; the second replays the first."""
    import threading
    import time

    from django.db import connection, connections

    from relance.accounts import services
    from relance.testing import make_org

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite test databases live in memory, one per connection")
    org = make_org()
    _key, secret = make_api_key(org)
    slow_create, entered = services.create_site, threading.Event()

    def slow(*args, **kwargs):
        entered.set()
        time.sleep(0.5)  # the second request arrives while the first is still in its transaction
        return slow_create(*args, **kwargs)

    monkeypatch.setattr(services, "create_site", slow)
    responses = []

    def post():
        try:
            responses.append(post_site(api, secret))
        finally:
            connections.close_all()

    first = threading.Thread(target=post)
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=post)
    second.start()
    first.join(30)
    second.join(30)
    assert [r.status_code for r in responses] == [201, 201]
    assert sorted(r.get("Idempotent-Replayed", "") for r in responses) == ["", "true"]
    assert responses[0].json() == responses[1].json()
    assert Site.objects.for_org(org).count() == 1
