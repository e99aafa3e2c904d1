"""API-key authentication and scopes (SPEC §4, R-63, R-64)."""

import pytest
from django.test import Client

from relance.accounts import services as accounts
from relance.accounts.models import ApiKey
from relance.testing import SYSTEM, make_api_key

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_answers_401_json_without_a_key(world, api):
    """SPEC §4: API-key auth; errors are JSON with a code and a message."""
    response = api().get("/organisation")
    body = assert_error(response, 401, "authentication_required")
    assert "Bearer" in body["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [
    "Bearer", "Bearer ", "Bearer nonsense", "Bearer rlk_", "Bearer rlk_abc", "Bearer rlk_000000000000_wrong",
    "Basic dXNlcjpwYXNz", "rlk_only_the_key",
])
def test_it_answers_401_json_for_a_malformed_or_unknown_key(world, api, header):
    """SPEC §4: a bad key is refused with a JSON 401, whatever its shape."""
    response = api(Authorization=header).get("/organisation")
    assert_error(response, 401, "invalid_api_key")


def test_it_refuses_a_key_with_a_wrong_secret(world, api):
    """R-64: the prefix alone does not authenticate; the secret must match."""
    prefix = world.key_a.split("_")[1]
    response = api(f"rlk_{prefix}_{'x' * 43}").get("/organisation")
    assert_error(response, 401, "invalid_api_key")


def test_it_refuses_a_revoked_key(world, api):
    """SPEC §4: a revoked key stops working at once."""
    key, secret = make_api_key(world.a)
    assert api(secret).get("/organisation").status_code == 200
    accounts.revoke_api_key(key, actor=SYSTEM)
    assert_error(api(secret).get("/organisation"), 401, "invalid_api_key")


def test_it_describes_the_calling_key_without_its_secret(world, api):
    """SPEC §4: GET /keys/current shows name, prefix, scopes and last use, never the secret."""
    key, secret = make_api_key(world.a, scopes=["audit:read"], name="agenda sync")
    response = api(secret).get("/keys/current")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "agenda sync"
    assert body["prefix"] == key.prefix
    assert body["scopes"] == ["audit:read"]
    assert body["last_used_at"]
    assert secret.split("_", 2)[2] not in response.content.decode()
    assert "secret_hash" not in body


def test_it_takes_the_organisation_from_the_key_not_from_a_browser_session(world, api):
    """R-63: a signed-in user of B calling with A's key sees A; the session never chooses the tenant."""
    user_b = world.users_b["admin"]
    client = Client()
    client.force_login(user_b)
    response = client.get("/api/v1/organisation", headers={"Authorization": f"Bearer {world.key_a}"})
    assert response.json()["id"] == str(world.a.uid)
    assert_error(client.get("/api/v1/organisation"), 401, "authentication_required")


def test_it_records_when_a_key_was_last_used(world, api):
    """SPEC §4: the back-office shows stale keys; the API records each key's last use."""
    key, secret = make_api_key(world.a)
    assert key.last_used_at is None
    api(secret).get("/organisation")
    assert ApiKey.unscoped.get(pk=key.pk).last_used_at is not None


# --- scopes --------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "scope"), [
    ("get", "/organisation", "organisation:read"),
    ("get", "/sites", "organisation:read"),
    ("post", "/sites", "sites:write"),
    ("get", "/audit/events", "audit:read"),
])
def test_it_answers_403_insufficient_scope(world, api, method, path, scope):
    """SPEC §4: each operation needs its scope; without it, 403 insufficient_scope naming the scope."""
    _key, secret = make_api_key(world.a, scopes=["contacts:read"])
    body = assert_error(getattr(api(secret), method)(path, body={"name": "S", "code": "s"}
                                                     if method == "post" else None), 403, "insufficient_scope")
    assert scope in body["message"]


def test_it_checks_the_scope_before_validating_the_body(world, api):
    """SPEC §4: a key without the scope learns nothing from validation (403 before 422)."""
    _key, secret = make_api_key(world.a, scopes=["organisation:read"])
    assert_error(api(secret).post("/sites", {"name": ""}), 403, "insufficient_scope")
    site = api(world.key_a).post("/sites", {"name": "Nord", "code": "nord"}).json()
    assert_error(api(secret).patch(f"/sites/{site['id']}", {"name": 5}), 403, "insufficient_scope")


def test_it_lets_a_key_read_its_own_description_without_any_scope(world, api):
    """SPEC §4: /keys/current needs a valid key only, so an integrator can see what its key may do."""
    _key, secret = make_api_key(world.a, scopes=["contacts:read"])
    assert api(secret).get("/keys/current").status_code == 200


def test_it_declares_authentication_on_every_operation():
    """SPEC §4: no operation of /api/v1/ is reachable without a key (only the docs and the index are, and
    the providers' webhooks, which check the webhook secret themselves: R-66, test_webhooks.py)."""
    from relance.api.auth import ApiKeyAuth
    from relance.api.main import api as ninja_api

    for router in ninja_api._get_bound_routers():
        for path, view in router.path_operations.items():
            if path.startswith("/webhooks/"):
                continue
            for operation in view.operations:
                assert operation.auth_callbacks, path
                assert all(isinstance(cb, ApiKeyAuth) for cb in operation.auth_callbacks), path
