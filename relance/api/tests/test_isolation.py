"""Tenant isolation on every endpoint (R-63): another organisation's object is always a 404."""

import re

import pytest
from django.urls import URLPattern

from relance.accounts.models import Site
from relance.audit.models import AuditEvent
from relance.testing import make_site
from tests.test_isolation import BUILDERS  # one registry of `<model>_id` builders for the project

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

BODIES = {"post": {}, "patch": {}, "put": {}}


def api_operations():
    """(path template, method) for every operation of /api/v1/ with a path parameter. The providers'
    webhooks belong to no organisation (a secret, not a key: test_webhooks.py) and are left out."""
    from relance.api.main import api as ninja_api

    for router in ninja_api._get_bound_routers():
        for path, view in router.path_operations.items():
            if path.startswith("/webhooks/"):
                continue
            for operation in view.operations:
                for method in operation.methods:
                    yield path, method.lower()


def test_it_names_every_path_parameter_after_a_model():
    """R-63: path parameters are `<model>_id`, so this test can substitute another tenant's object."""
    for path, _method in api_operations():
        for name in re.findall(r"{(?:\w+:)?(\w+)}", path):
            assert name in BUILDERS, f"{path}: add a builder for {name!r} in test_isolation.BUILDERS"


def test_it_answers_404_for_another_organisations_object_on_every_endpoint(world, api):
    """R-63: with B's key, every URL naming one of A's objects answers 404 (never 403), and changes nothing."""
    objects_a = {name: build(world.a) for name, build in BUILDERS.items()}
    checked = 0
    # Deletions last: the own-key call of a DELETE removes A's object, which later routes still need.
    for path, method in sorted(api_operations(), key=lambda operation: operation[1] == "delete"):
        names = re.findall(r"{(?:\w+:)?(\w+)}", path)
        if not names:
            continue
        url = re.sub(r"{(?:\w+:)?(\w+)}", lambda m: str(objects_a[m.group(1)]), path)
        response = api(world.key_b).call(method, url, BODIES.get(method))
        assert_error(response, 404, "not_found")
        own = api(world.key_a).call(method, url, BODIES.get(method))
        assert own.status_code != 404, (method, url)
        checked += 1
    assert checked >= 2


def test_it_does_not_patch_another_organisations_site(world, api):
    """R-63: a write through B's key leaves A's site as it was, and writes no audit event."""
    site = make_site(world.a, name="Médiathèque Nord")
    before = AuditEvent.objects.filter(organisation=world.a).count()
    assert_error(api(world.key_b).patch(f"/sites/{site.pk}", {"name": "Pwned"}), 404, "not_found")
    assert Site.objects.for_org(world.a).get(pk=site.pk).name == "Médiathèque Nord"
    assert AuditEvent.objects.filter(organisation=world.a).count() == before
    assert AuditEvent.objects.filter(organisation=world.b, action="site.updated").count() == 0


def test_it_lists_only_the_callers_sites(world, api):
    """R-63: lists are scoped to the key's organisation."""
    make_site(world.a, name="A1")
    make_site(world.b, name="B1")
    names = [s["name"] for s in api(world.key_b).get("/sites").json()["items"]]
    assert names == ["B1"]


def test_it_shows_only_the_callers_audit_trail(world, api):
    """R-63, R-65: the audit trail of A never appears through B's key."""
    make_site(world.a)
    events = api(world.key_b).get("/audit/events", limit=200).json()["items"]
    chain_b = {e.hash for e in AuditEvent.objects.filter(organisation=world.b)}
    assert events and {e["hash"] for e in events} <= chain_b


def test_it_shows_the_callers_organisation(world, api):
    """R-63: /organisation is the key's own organisation."""
    assert api(world.key_b).get("/organisation").json()["id"] == str(world.b.uid)


def test_it_creates_sites_in_the_callers_organisation_only(world, api):
    """R-63: a created object belongs to the key's organisation."""
    created = api(world.key_b).post("/sites", {"name": "Cabinet Sud", "code": "sud"}).json()
    assert Site.objects.for_org(world.b).filter(pk=created["id"]).exists()
    assert not Site.objects.for_org(world.a).filter(pk=created["id"]).exists()


def test_it_covers_every_url_pattern_of_the_api():
    """R-63: the enumeration above sees every object URL Django routes under /api/v1/."""
    from relance.api.urls import urlpatterns

    routed = {str(p.pattern) for p in urlpatterns
              if isinstance(p, URLPattern) and "<" in str(p.pattern) and p.name != "unknown"
              and not str(p.pattern).startswith("webhooks/")}  # the providers', see api_operations()
    enumerated = {re.sub(r"{(?:(\w+):)?(\w+)}", lambda m: f"<{m.group(1) + ':' if m.group(1) else ''}{m.group(2)}>",
                         path).lstrip("/") for path, _m in api_operations() if "{" in path}
    assert routed == enumerated
