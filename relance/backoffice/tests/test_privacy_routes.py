"""The privacy area's routes against the permission matrix and tenant isolation (R-63, R-64), on their
own: the project-wide tests (test_security, tests/test_isolation) cover them too, but stop at the first
failing area."""

import pytest
from django.test import override_settings
from django.urls import reverse

from relance.accounts.models import Role
from relance.accounts.permissions import allowed
from relance.backoffice.access import VERIFIED
from relance.backoffice.views import privacy
from relance.privacy import rights
from relance.privacy.tests.breach_helpers import make_breach
from relance.privacy.tests.test_exports import make_export
from relance.privacy.tests.test_purge import make_purge_report
from relance.testing import SYSTEM

from .helpers import sign_in

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

BUILDERS = {
    "rightsrequest_id": lambda org: rights.open_request(org, actor=SYSTEM, kind="restriction", channel="staff").pk,
    "breach_id": lambda org: make_breach(org).pk,
    "export_id": lambda org: make_export(org).pk,
    "purgereport_id": lambda org: make_purge_report(org).pk,
}


def _kwargs(pattern, objects):
    return {name: objects[name] for name in pattern.pattern.converters} | dict(pattern.default_args)


@override_settings(RELANCE_DEMO=False)
def test_it_applies_the_permission_matrix_to_each_page_without_an_id(client, world):
    pages = [p for p in privacy.routes if not p.pattern.converters and p.default_args.get("fmt") != "pdf"]
    for role in Role.values:
        sign_in(client, world.users_a[role], world.a)
        for pattern in pages:
            action = pattern.callback.relance_requires[0]
            assert pattern.callback.relance_requires[1] == VERIFIED
            status = client.get(reverse(f"backoffice:{pattern.name}", kwargs=dict(pattern.default_args))).status_code
            assert status == (200 if allowed(role, action) else 403), (role, pattern.name, status)


def test_it_answers_404_for_another_organisations_objects(client, world):
    """R-63: every privacy route with an id, GET and POST, for an admin and a DPO of A."""
    foreign = {name: build(world.b) for name, build in BUILDERS.items()}
    own = {name: build(world.a) for name, build in BUILDERS.items()}
    routes = [p for p in privacy.routes if p.pattern.converters]
    assert {name for p in routes for name in p.pattern.converters} == set(BUILDERS)
    for role in (Role.ADMIN, Role.DPO):
        sign_in(client, world.users_a[role], world.a)
        for pattern in routes:
            url = reverse(f"backoffice:{pattern.name}", kwargs=_kwargs(pattern, foreign))
            answers = {client.get(url).status_code, client.post(url, {}).status_code}
            if not allowed(role, pattern.callback.relance_requires[0]):
                assert answers == {403}, (role, url, answers)
                continue
            assert answers <= {404, 405} and 404 in answers, (role, url, answers)
            own_url = reverse(f"backoffice:{pattern.name}", kwargs=_kwargs(pattern, own))
            # export downloads: the DPO only (export.download), an admin is told so on their own exports
            expected = {403} if pattern.name == "export_download" and role == Role.ADMIN else {200, 302, 405, 410}
            assert client.get(own_url).status_code in expected, (role, own_url)
