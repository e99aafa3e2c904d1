"""R-63, R-64 (issue 9, §3.7): the role matrix of docs/permissions.md, on every URL.

relance/backoffice/tests/test_security.py GETs the pages without an id for each role. This file
covers the rest: every back-office route (ids filled with the organisation's own objects) × every
role (accounts.Role) — a refused POST answers 403 and changes no row of any table, audit trail
included, and an allowed GET opens (2xx/3xx); and every API operation × its scope — a key holding
every scope but that one gets 403 `insufficient_scope` and changes nothing, a key holding only that
scope gets past the gate. The matrix is read from relance/accounts/permissions.py, which
docs/permissions.md is generated from (a test keeps them equal).
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import resolve

from relance.accounts.models import Role
from relance.accounts.permissions import API_SCOPES, allowed
from relance.backoffice.access import VERIFIED
from relance.backoffice.tests.helpers import sign_in
from relance.testing import make_api_key
from tests.reliability.test_security_csrf import row_counts
from tests.test_isolation import BUILDERS, all_routes

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
# Views that check a second action once the object is known to be the organisation's (so that
# another organisation's object stays a 404 for everyone): the matrix applies both.
SECOND_ACTION = {"export_download": "export.download", "template_override": "template.override_linter"}
BODY = {"name": "Refused", "code": "refused", "role": "admin", "email": "refused@example.org", "url":
        "https://example.org/hook", "text": "Refused", "reason": "refused", "justification": "refused", "saved": "on"}


def gated_routes(world):
    """(url, view name, action, has an id) for every back-office route behind an action of the matrix."""
    objects = {name: build(world.a) for name, build in BUILDERS.items()}
    for route in all_routes():
        if not route.startswith("app/"):
            continue
        url = "/" + PARAM.sub(lambda m: str(objects[m.group(1)]), route)
        match = resolve(url)
        action, stage = match.func.relance_requires
        if stage != VERIFIED or action is None:
            continue  # signing in, the 2FA steps, the account page: any signed-in user (test_security.py)
        yield url, match.url_name, action, bool(PARAM.search(route))


def may(role: str, name: str, action: str) -> bool:
    return allowed(role, action) and (name not in SECOND_ACTION or allowed(role, SECOND_ACTION[name]))


@pytest.fixture
def clients(world):
    return {role: sign_in(Client(), world.users_a[role], world.a) for role in Role.values}


def test_a_refused_post_answers_403_and_changes_nothing(world, clients, settings):
    """R-64: every (route, role) the matrix refuses, POSTed with a plausible body: 403, no row of any
    table (audit trail included) changes."""
    settings.RELANCE_DEMO = True  # the simulated phone exists in demo mode only
    routes = list(gated_routes(world))
    before = row_counts()
    refused = 0
    for url, name, action, _with_id in routes:
        for role, client in clients.items():
            if may(role, name, action):
                continue
            response = client.post(url, BODY)
            assert response.status_code == 403, (role, name, url, response.status_code)
            refused += 1
    assert row_counts() == before
    assert len(routes) >= 100 and refused >= 150, (len(routes), refused)


def test_an_allowed_get_opens_and_a_refused_one_is_403(world, clients, settings):
    """R-64: every route with an id: the matrix's `yes` opens for an allowed role (2xx/3xx, 405 for
    POST-only actions), its `—` answers 403 for a refused one."""
    settings.RELANCE_DEMO = True
    checked = 0
    for url, name, action, with_id in gated_routes(world):
        if not with_id:
            continue  # pages without an id: relance/backoffice/tests/test_security.py MatrixTests
        # one role of each side (every refused POST is asked above: the gate is one decorator for all methods)
        yes = next(role for role in clients if may(role, name, action))
        no = next((role for role in clients if not may(role, name, action)), None)
        status = clients[yes].get(url).status_code
        assert status < 400 or status in (405, 410), (yes, name, url, status)
        if no is not None:
            status = clients[no].get(url).status_code
            assert status in (403, 405), (no, name, url, status)
        checked += 1
    assert checked >= 60, checked


def api_operations(objects):
    from relance.api.main import api as ninja_api

    for router in ninja_api._get_bound_routers():
        for path, view in router.path_operations.items():
            if path.startswith("/webhooks/"):
                continue  # the providers': a platform secret, no key
            url = "/api/v1" + re.sub(r"{(?:\w+:)?(\w+)}", lambda m: str(objects[m.group(1)]), path)
            for operation in view.operations:
                scope = operation.auth_callbacks[0].scope
                for method in operation.methods:
                    yield method.lower(), url, scope


def _call(client, method, url, secret):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    if method in ("get", "delete"):
        return getattr(client, method)(url, **headers)
    return getattr(client, method)(url, data="{}", content_type="application/json", **headers)


def test_every_api_operation_needs_exactly_its_scope(world):
    """R-64, SPEC §4: a key with every scope but the operation's gets 403 insufficient_scope and changes
    nothing; a key with only that scope gets past the gate (never 401/403)."""
    objects = {name: build(world.a) for name, build in BUILDERS.items()}
    operations = list(api_operations(objects))
    without = {scope: make_api_key(world.a, scopes=[s for s in API_SCOPES if s != scope])[1] for scope in API_SCOPES}
    only = {scope: make_api_key(world.a, scopes=[scope])[1] for scope in API_SCOPES}
    client = Client()
    before = row_counts()
    for method, url, scope in operations:
        if scope is None:
            continue
        response = _call(client, method, url, without[scope])
        assert response.status_code == 403 and response.json()["code"] == "insufficient_scope", (method, url, scope)
        assert scope in response.json()["message"]
    after = row_counts()
    changed = {label: (before[label], after[label]) for label in before if before[label] != after[label]}
    assert set(changed) <= {"accounts.ApiKey"} or not changed, changed  # last_used_at only: no new rows
    assert sum(1 for _m, _u, scope in operations if scope) >= 80
    assert {scope for _m, _u, scope in operations if scope} == set(API_SCOPES)  # every scope is used
    # allowed: deletions last, so the objects the other operations name still exist
    for method, url, scope in sorted(operations, key=lambda op: op[0] == "delete"):
        secret = only[scope] if scope else only["audit:read"]
        status = _call(client, method, url, secret).status_code
        assert status not in (401, 403), (method, url, scope, status)


def test_the_matrix_check_catches_a_view_that_forgets_its_action(world, clients):
    """The detector fails on a planted fault: an auditor (no `site.manage`) POSTing to a view that
    would not check it reaches the form (200/302), which the refused-POST test reports."""
    allowed_status = clients[Role.ADMIN].post("/app/sites/new/", {"name": "", "code": ""}).status_code
    refused_status = clients[Role.AUDITOR].post("/app/sites/new/", {"name": "", "code": ""}).status_code
    assert allowed_status == 200 and refused_status == 403  # 200 (form errors) is what a missing gate shows
