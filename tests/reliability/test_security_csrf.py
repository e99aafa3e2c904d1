"""R-64 (issue 9, §3.7): CSRF on EVERY form, and no cookie authentication of the API.

Every route of the back office (/app/) and of the public pages (/p/) is enumerated from the URL
configuration and POSTed to without a token, by a signed-in administrator (back office) and by an
anonymous visitor (public pages), with Django's `enforce_csrf_checks`: each answers the translated
CSRF refusal page (403), and no row of any table changes. A view made `csrf_exempt` later fails
here. The API authenticates by key only, so it needs no CSRF token: a browser session's cookie
alone opens none of its operations.
"""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.test import Client

from relance.accounts.models import Role
from relance.backoffice.tests.helpers import csrf_token, sign_in
from relance.consent.tests.helpers import make_consent_purpose
from relance.contacts import links
from relance.testing import make_contact
from tests.test_isolation import BUILDERS, all_routes, params

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

REFUSAL = "Le formulaire a expiré"  # backoffice/csrf_failure.html (settings.CSRF_FAILURE_VIEW)
EXEMPT = ("api/v1/", "^hooks/")  # key or provider secret, never a cookie: see the tests below
READ_ONLY = ("healthz", "readyz", "metrics")  # operations endpoints: GET and HEAD only (test below)
PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def fill(route: str, objects: dict) -> str:
    url = PARAM.sub(lambda m: str(objects[m.group(1) or m.group(2)]), route)
    return "/" + url.replace("^", "").replace("$", "")


def row_counts() -> dict[str, int]:
    """How many rows each table of the project holds (both databases)."""
    return {model._meta.label: model._base_manager.count() for model in apps.get_models()
            if model._meta.managed and not model._meta.proxy}


def refused_for_csrf(response) -> bool:
    """The detector: a 403 that is the CSRF refusal page, not a view's own answer."""
    return response.status_code == 403 and REFUSAL in response.content.decode()


def form_routes(world):
    """(url, area) for every route of the back office and the public pages, A's objects filled in."""
    contact = make_contact(world.a)
    purpose = make_consent_purpose(world.a, code="news")
    objects = {name: build(world.a) for name, build in BUILDERS.items()}
    objects.update(org_slug=world.a.slug, purpose_code=purpose.code, token=links.token_for(contact),
                   notice_uid="00000000-0000-0000-0000-000000000000")
    for route in all_routes():
        if route.startswith(EXEMPT) or route in READ_ONLY:
            continue
        assert route.startswith(("app/", "p/")) or route == "", f"classify {route!r} in test_security_csrf.py"
        if route == "":
            continue  # the root redirect (GET only)
        assert set(params(route)) <= set(objects) | {"token"}, route
        yield fill(route, objects), route.split("/", 1)[0]


def test_every_form_refuses_a_post_without_a_token(world):
    """R-64: each back-office and public URL, POSTed without a CSRF token by a signed-in admin and by
    an anonymous visitor: the CSRF refusal page, and no table changes."""
    admin = sign_in(Client(enforce_csrf_checks=True), world.users_a[Role.ADMIN], world.a)
    visitor = Client(enforce_csrf_checks=True)
    routes = list(form_routes(world))
    before = row_counts()
    body = {"name": "Pwned", "code": "pwned", "role": "admin", "email": "x@example.org", "step": "confirm",
            "phone": "+33612345678", "language": "en", "saved": "on"}
    for url, area in routes:
        # /app/ is for staff; an anonymous visitor meets the same middleware on its public pages and login
        visitors = (("admin", admin), ("visitor", visitor)) if area == "p" or "login" in url else (("admin", admin),)
        for who, client in visitors:
            response = client.post(url, body)
            assert refused_for_csrf(response), (who, url, response.status_code)
    assert row_counts() == before
    assert len(routes) >= 120, len(routes)
    assert {area for _url, area in routes} == {"app", "p"}


def test_the_detector_tells_a_csrf_refusal_from_an_exempt_view(world, client):
    """The check fails on a view that does not enforce CSRF: a vendor webhook (csrf_exempt) answers
    its own 403, which is not the refusal page; a form with its token passes."""
    hook = Client(enforce_csrf_checks=True).post("/hooks/ovh/not-a-real-token-1234/inbound", {"message": "STOP"})
    assert hook.status_code == 403 and not refused_for_csrf(hook)
    admin = sign_in(Client(enforce_csrf_checks=True), world.users_a[Role.ADMIN], world.a)
    page = admin.get("/app/sites/new/")
    passed = admin.post("/app/sites/new/", {"name": "Nord", "code": "nord",
                                            "csrfmiddlewaretoken": csrf_token(page.content.decode())})
    assert passed.status_code == 302 and not refused_for_csrf(passed)


def test_a_session_cookie_alone_opens_no_api_operation(world):
    """R-63, R-64: the API is exempt from CSRF because it trusts keys only: with an administrator's
    signed-in session and no key, every operation answers 401 and nothing changes."""
    from relance.api.main import api as ninja_api

    admin = sign_in(Client(enforce_csrf_checks=True), world.users_a[Role.ADMIN], world.a)
    objects = {name: build(world.a) for name, build in BUILDERS.items()}
    before = row_counts()
    checked = 0
    for router in ninja_api._get_bound_routers():
        for path, view in router.path_operations.items():
            if path.startswith("/webhooks/"):
                continue  # the providers': a platform secret (R-66), see test_webhook_secret below
            url = "/api/v1" + re.sub(r"{(?:\w+:)?(\w+)}", lambda m: str(objects[m.group(1)]), path)
            for operation in view.operations:
                for method in operation.methods:
                    if method in ("GET", "DELETE"):
                        response = getattr(admin, method.lower())(url)
                    else:
                        response = getattr(admin, method.lower())(url, data="{}", content_type="application/json")
                    assert response.status_code == 401, (method, url, response.status_code)
                    checked += 1
    assert row_counts() == before
    assert checked >= 80, checked


def test_the_providers_built_in_webhooks_ignore_the_session(world, settings):
    """R-66: /api/v1/webhooks/... want the shared secret header; a signed-in session is not it."""
    settings.RELANCE_WEBHOOK_SECRET = "a-shared-secret-for-tests"
    admin = sign_in(Client(enforce_csrf_checks=True), world.users_a[Role.ADMIN], world.a)
    before = row_counts()
    for which, body in (("inbound", {"sender": "+33612345678", "to": "RELANCE", "text": "STOP"}),
                        ("receipts", {"provider_ref": "x", "status": "delivered"})):
        response = admin.post(f"/api/v1/webhooks/locmem/{which}", body, content_type="application/json")
        assert response.status_code == 403, which
    assert row_counts() == before


def test_the_operations_endpoints_take_no_post(world):
    """R-64: /healthz, /readyz and /metrics skip CSRF because they take no write at all: a POST gets 405
    and changes nothing, with or without a session."""
    admin = sign_in(Client(enforce_csrf_checks=True), world.users_a[Role.ADMIN], world.a)
    before = row_counts()
    for route in READ_ONLY:
        for client in (admin, Client(enforce_csrf_checks=True)):
            assert client.post(f"/{route}", {"name": "Pwned"}).status_code == 405, route
    assert row_counts() == before
