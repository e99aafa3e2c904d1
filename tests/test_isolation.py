"""R-63: tenant isolation over EVERY URL pattern of the project, enumerated from the URL
configuration: a signed-in admin (back-office) or an API key (API) of organisation A gets 404 on
objects of organisation B, and list pages never show B's data.

A new URL with an object id must name it `<model>_id` and get a builder in BUILDERS below; the
test fails until it has one, so endpoints added later are covered automatically.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from relance.accounts.models import Role
from relance.consent.tests.helpers import make_event, make_purpose, notice_of
from relance.imports.tests.files import make_import
from relance.messaging.tests.campaign_helpers import make_campaign, make_message
from relance.messaging.tests.test_templates import build_template
from relance.privacy import rights
from relance.privacy.tests.breach_helpers import make_breach
from relance.privacy.tests.test_exports import make_export
from relance.privacy.tests.test_purge import make_purge_report
from relance.providers.services import create_account
from relance.reminders.tests.helpers import make_event as make_reminder_event
from relance.reminders.tests.helpers import make_rule
from relance.testing import SYSTEM, make_api_key, make_contact, make_membership, make_site, make_user
from relance.webhooks.tests.builders import make_delivery, make_endpoint

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

BUILDERS = {
    "site_id": lambda org: make_site(org).pk,
    "membership_id": lambda org: make_membership(org, Role.OPERATOR).pk,
    "apikey_id": lambda org: make_api_key(org)[0].pk,
    "contact_id": lambda org: make_contact(org).pk,
    "purpose_id": lambda org: make_purpose(org).pk,
    "notice_id": lambda org: notice_of(make_purpose(org)).pk,
    "consentevent_id": lambda org: make_event(org).pk,
    "import_id": lambda org: make_import(org).pk,
    "event_id": lambda org: make_reminder_event(org).pk,
    "rule_id": lambda org: make_rule(org).pk,
    "message_id": lambda org: make_message(org).pk,
    "campaign_id": lambda org: make_campaign(org).pk,
    "template_id": lambda org: build_template(org).pk,
    "webhookendpoint_id": lambda org: make_endpoint(org).pk,
    "webhookdelivery_id": lambda org: make_delivery(org).pk,
    "rightsrequest_id": lambda org: rights.open_request(org, actor=SYSTEM, kind="restriction", channel="staff").pk,
    "breach_id": lambda org: make_breach(org).pk,
    "export_id": lambda org: make_export(org).pk,
    "purgereport_id": lambda org: make_purge_report(org).pk,
    "provideraccount_id": lambda org: create_account(org, name="Isolated", kind="locmem", credentials={},
                                                     actor=SYSTEM).pk,
}
# Routes whose parameters are not tenant objects (Django's own, static files...).
NOT_TENANT_PARAMS = {"path", "format",
                     "notice_uid",  # notices are public documents (/p/notices/<uid>/), readable by link
                     "provider",  # /api/v1/webhooks/<provider>/...: a provider's name; a secret, not a tenant
                     "org_slug", "purpose_code"}  # public pages (/p/<org_slug>/...): an organisation's public address
PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>")
METHODS = ("get", "post", "patch", "put", "delete")


def all_routes(patterns=None, prefix=""):
    """Every route of the URL configuration as a Django route string (e.g. 'app/sites/<int:site_id>/')."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from all_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route


def params(route):
    if "(?P<" in route:  # the API's JSON 404 catch-all (a regex route), not an object URL
        return []
    return [m.group("name") for m in PARAM.finditer(route) if m.group("name") not in NOT_TENANT_PARAMS]


def fill(route, objects):
    return "/" + PARAM.sub(lambda m: str(objects[m.group("name")]), route).replace("^", "").replace("$", "")


class Surfaces:
    """How each part of the site is reached as organisation A."""

    def __init__(self, client, world):
        from relance.backoffice.tests.helpers import sign_in

        self.client, self.world = client, world
        sign_in(client, world.users_a[Role.ADMIN], world.a)

    def call(self, method, url):
        if not url.startswith("/api/"):
            return getattr(self.client, method)(url)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.world.key_a}"}
        if method == "get":
            return self.client.get(url, **headers)
        return getattr(self.client, method)(url, data="{}", content_type="application/json", **headers)


def test_it_has_a_builder_for_every_object_parameter():
    """Every `<name>` in a route is a known tenant object (or explicitly not a tenant parameter)."""
    missing = {(route, name) for route in all_routes() for name in params(route) if name not in BUILDERS}
    assert not missing, f"add builders in tests/test_isolation.py for: {sorted(missing)}"


def test_it_answers_404_on_another_organisations_objects_everywhere(client, world):
    """R-63: every route with an object id, every method: B's object is 404 (405 where the method is not served)."""
    surfaces = Surfaces(client, world)
    objects_b = {name: build(world.b) for name, build in BUILDERS.items()}
    objects_a = {name: build(world.a) for name, build in BUILDERS.items()}
    checked = []
    for route in all_routes():
        if not params(route):
            continue
        foreign, own = fill(route, objects_b), fill(route, objects_a)
        answers = {method: surfaces.call(method, foreign).status_code for method in METHODS}
        assert set(answers.values()) <= {404, 405}, (foreign, answers)
        assert 404 in answers.values(), (foreign, answers)
        served = [m for m, status in answers.items() if status == 404]
        own_answers = {m: surfaces.call(m, own).status_code for m in served if m == "get"} or \
                      {m: surfaces.call(m, own).status_code for m in served[:1]}
        assert any(status != 404 for status in own_answers.values()), (own, own_answers)
        checked.append(route)
    assert len(checked) >= 5, checked


def test_it_never_shows_another_organisations_data_on_list_pages(client, world):
    """R-63: pages and endpoints without an id, read as A, contain none of B's names or key prefixes."""
    from relance.accounts import services

    markers = [world.b.name, make_site(world.b, name="Zzz site of B only").name,
               make_api_key(world.b, name="zzz key of B only")[0].prefix,
               make_api_key(world.b, name="zzz another key of B")[0].name]
    stranger = make_user(world.b, Role.OPERATOR, full_name="Zzz Member Of B")
    markers.append(str(stranger.pk))
    services.update_organisation(world.b, actor=services.Actor.system(), dpo_name="Zzz Dpo Of B")
    surfaces = Surfaces(client, world)
    read = 0
    for route in all_routes():
        if params(route) or "<" in route or "(?P" in route:
            continue
        response = surfaces.call("get", fill(route, {}))
        if response.status_code != 200 or not response.get("Content-Type", "").startswith(("text/", "application/json")):
            continue
        body = response.content.decode()
        leaked = [marker for marker in markers + ["Zzz Member Of B", "Zzz Dpo Of B"] if marker in body]
        assert not leaked, (route, leaked)
        read += 1
    assert read >= 8, read
