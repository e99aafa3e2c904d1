"""CSRF, security headers, the one permission gate and tenant isolation of the back office (R-63, R-64)."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import URLPattern, get_resolver, reverse

from relance.accounts.models import ApiKey, Membership, Role, Site
from relance.accounts.permissions import allowed
from relance.backoffice.access import PUBLIC, VERIFIED
from relance.testing import RelanceTestCase, make_site

from .helpers import LOGIN, csrf_token, post_login, sign_in, text

TEMPLATES = Path(__file__).resolve().parents[2]


def backoffice_patterns() -> list[URLPattern]:
    resolver = get_resolver()
    app = next(p for p in resolver.url_patterns if getattr(p, "app_name", None) == "backoffice")
    return [p for p in app.url_patterns if isinstance(p, URLPattern)]


@pytest.mark.django_db(databases=["default", "keys"])
def test_it_refuses_a_login_without_csrf_token(world):
    """R-64: CSRF on every form, the login form included; the refusal page is translated."""
    client = Client(enforce_csrf_checks=True)
    user = world.users_a[Role.OPERATOR]
    refused = post_login(client, user)
    assert refused.status_code == 403 and "Le formulaire a expiré" in text(refused)
    token = csrf_token(text(client.get(LOGIN)))
    assert post_login(client, user, csrfmiddlewaretoken=token).status_code == 302


@pytest.mark.django_db(databases=["default", "keys"])
def test_it_refuses_back_office_forms_without_csrf_token(world):
    client = sign_in(Client(enforce_csrf_checks=True), world.users_a[Role.ADMIN])
    url = reverse("backoffice:site_create")
    assert client.post(url, {"name": "Nord", "code": "nord"}).status_code == 403
    assert client.post(reverse("backoffice:logout")).status_code == 403
    assert not Site.objects.for_org(world.a).filter(code="nord").exists()
    token = csrf_token(text(client.get(url)))
    assert client.post(url, {"name": "Nord", "code": "nord", "csrfmiddlewaretoken": token}).status_code == 302


@pytest.mark.django_db(databases=["default", "keys"])
def test_it_sends_the_security_headers(client, world):
    """R-64: CSP, no framing, no sniffing, referrer policy; signed-in pages are not cached."""
    for response in (client.get(LOGIN), sign_in(client, world.users_a[Role.ADMIN]).get(reverse("backoffice:home"))):
        assert response["Content-Security-Policy"] == settings.RELANCE_CSP
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]


def test_it_has_no_inline_script_or_style_in_templates():
    """The CSP forbids inline scripts and styles: the templates must not need them (scripts only as
    files of our own static folder, loaded with src)."""
    for path in list(TEMPLATES.glob("*/templates/**/*.html")) + list(TEMPLATES.glob("templates/*.html")):
        if path.parent.name == "privacy" and path.name.startswith("document"):
            continue  # the downloadable documents (register, export, notices) are self-contained files with their own style
        html = path.read_text()
        for script in re.findall(r"<script[^>]*>", html):
            assert re.fullmatch(r"""<script src="\{% static '[^']+\.js' %\}"( defer)?>""", script), f"{path}: {script}"
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), f"{path}: an inline event handler"
        assert "http://" not in html and "https://" not in html, f"{path}: no CDN or outside resource"


def test_it_gates_every_back_office_view_in_one_place():
    """Every view carries the `requires` decorator (relance.backoffice.access)."""
    public = {"login", "language"}
    for pattern in backoffice_patterns():
        action, stage = getattr(pattern.callback, "relance_requires", (None, None))
        assert stage is not None, f"{pattern.name} is not decorated with @requires"
        assert (stage == PUBLIC) == (pattern.name in public), pattern.name
        if action:
            assert stage == VERIFIED
            allowed(Role.ADMIN, action)  # raises KeyError for an action missing from the matrix


def test_it_names_object_ids_after_their_model():
    """Every id of a back-office URL is `<model>_id` with a builder in the project-wide isolation test
    (tests/test_isolation.py), which checks the 404 of every route on another organisation's objects."""
    from tests.test_isolation import BUILDERS

    for pattern in backoffice_patterns():
        for name in pattern.pattern.converters:
            assert name.endswith("_id") and name in BUILDERS, f"{pattern.name}: {name}"


class IsolationTests(RelanceTestCase):
    """R-63: an administrator of A gets 404 for every object of B, whatever the method (here for the
    account pages; tests/test_isolation.py walks every route of every area)."""

    def test_it_answers_404_for_other_organisations_objects(self):
        foreign = {
            "site_id": make_site(self.org_b).pk,
            "membership_id": Membership.objects.for_org(self.org_b).first().pk,
            "apikey_id": ApiKey.objects.for_org(self.org_b).first().pk,
        }
        own = {
            "site_id": make_site(self.org_a).pk,
            "membership_id": Membership.objects.for_org(self.org_a).get(user=self.world.users_a[Role.OPERATOR]).pk,
            "apikey_id": ApiKey.objects.for_org(self.org_a).first().pk,
        }
        sign_in(self.client, self.world.users_a[Role.ADMIN], self.org_a)
        checked = 0
        for pattern in backoffice_patterns():
            names = list(pattern.pattern.converters)
            if not names or not set(names) <= set(foreign):
                continue
            url = reverse(f"backoffice:{pattern.name}", kwargs={n: foreign[n] for n in names})
            assert self.client.get(url).status_code == 404, url
            assert self.client.post(url, {"role": "admin", "name": "x"}).status_code == 404, url
            own_url = reverse(f"backoffice:{pattern.name}", kwargs={n: own[n] for n in names})
            assert self.client.get(own_url).status_code == 200, own_url
            checked += 1
        assert checked == 4
        assert Site.objects.for_org(self.org_b).get(pk=foreign["site_id"]).name != "x"
        assert ApiKey.objects.for_org(self.org_b).get(pk=foreign["apikey_id"]).revoked_at is None
        assert Membership.objects.for_org(self.org_b).filter(pk=foreign["membership_id"]).exists()


class MatrixTests(RelanceTestCase):
    """The pages follow relance.accounts.permissions.MATRIX for each role."""

    @override_settings(RELANCE_DEMO=True)  # the simulated phone exists in demo mode only
    def test_it_applies_the_permission_matrix_to_each_page(self):
        pages = {pattern.name: pattern.callback.relance_requires[0] for pattern in backoffice_patterns()
                 if not pattern.pattern.converters and pattern.callback.relance_requires[1] == VERIFIED}
        for role in Role.values:
            sign_in(self.client, self.world.users_a[role], self.org_a)
            for name, action in pages.items():
                may = action is None or allowed(role, action)
                status = self.client.get(reverse(f"backoffice:{name}")).status_code
                if status == 405:  # POST-only (switch organisation, verify the chain, live fragments)
                    status = self.client.post(reverse(f"backoffice:{name}"), {}).status_code
                    assert (status != 403 and status < 500) if may else status == 403, (role, name, status)
                    continue
                assert status == (200 if may else 403), (role, name, status)
