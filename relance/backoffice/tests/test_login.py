"""Signing in and out of the back office (R-64)."""

import pytest
from django.urls import reverse

from relance.accounts.models import Role
from relance.audit.models import AuditEvent
from relance.testing import make_user

from .helpers import HOME, LOGIN, post_login, text

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_signs_in_an_operator_by_email_and_password(client, world):
    """R-64: e-mail + password; operators are not forced into a second factor."""
    user = world.users_a[Role.OPERATOR]
    response = post_login(client, user)
    assert response.status_code == 302 and response.url == HOME
    page = client.get(HOME)
    assert page.status_code == 200
    assert world.a.name in text(page)
    event = AuditEvent.objects.filter(chain="platform", action="auth.login").last()
    assert event.target_id == str(user.pk) and event.details == {"second_factor": "optional"}


def test_it_says_the_same_thing_for_an_unknown_address_and_a_wrong_password(client, world):
    """R-64: the message does not reveal whether the e-mail address has an account."""
    user = world.users_a[Role.OPERATOR]
    wrong_password = client.post(LOGIN, {"email": user.test_email, "password": "not the password at all"})
    unknown = client.post(LOGIN, {"email": "nobody@example.org", "password": "not the password at all"})
    assert wrong_password.status_code == unknown.status_code == 200
    assert "incorrect" in _error_of(wrong_password)
    assert _error_of(wrong_password) == _error_of(unknown)
    assert not client.session.get("_auth_user_id")


def _error_of(response) -> str:
    html = text(response)
    return html[html.index('class="errors"') : html.index("</div>", html.index('class="errors"'))]


def test_it_refuses_a_disabled_account_with_the_same_message(client, world):
    user = make_user(world.a, Role.OPERATOR)
    user.is_active = False
    user.save()
    response = post_login(client, user)
    unknown = client.post(LOGIN, {"email": "nobody@example.org", "password": "whatever it is"})
    assert _error_of(response) == _error_of(unknown)


def test_it_locks_the_login_after_five_failures_with_a_friendly_429(client, world, settings):
    """R-64: login throttling (django-axes, keyed on the hashed e-mail): a 429 page saying when to retry."""
    assert settings.AXES_FAILURE_LIMIT == 5
    user = world.users_a[Role.OPERATOR]
    for _ in range(4):
        assert post_login(client, user, password="wrong password!").status_code == 200
    fifth = post_login(client, user, password="wrong password!")
    assert fifth.status_code == 429
    locked = post_login(client, user)  # even the right password is refused now
    assert locked.status_code == 429
    assert "Réessayez dans 15 minutes" in text(locked)
    assert int(locked["Retry-After"]) == 15 * 60
    assert not client.session.get("_auth_user_id")
    other = world.users_a[Role.AUDITOR]  # the lockout is per account, not per office address
    assert post_login(client, other).status_code == 302


def test_it_shows_the_lockout_page_in_english(client, world):
    user = world.users_a[Role.OPERATOR]
    for _ in range(5):
        post_login(client, user, password="wrong password!", HTTP_ACCEPT_LANGUAGE="en")
    locked = client.post(LOGIN, {"email": user.test_email, "password": "x" * 12}, HTTP_ACCEPT_LANGUAGE="en")
    assert locked.status_code == 429
    assert "Try again in 15 minutes" in text(locked)


def test_it_signs_out_by_post_only(client, world):
    user = world.users_a[Role.OPERATOR]
    post_login(client, user)
    logout = reverse("backoffice:logout")
    assert client.get(logout).status_code == 405
    response = client.post(logout)
    assert response.status_code == 302 and response.url == LOGIN
    assert client.get(HOME).status_code == 302
    assert AuditEvent.objects.filter(chain="platform", action="auth.logout", target_id=str(user.pk)).exists()


def test_it_sends_anonymous_visitors_to_the_login_page_and_back(client, world):
    sites = reverse("backoffice:sites")
    response = client.get(sites)
    assert response.status_code == 302 and response.url == f"{LOGIN}?next={sites}"
    page = client.get(response.url)
    assert f'name="next" value="{sites}"' in text(page)
    back = post_login(client, world.users_a[Role.OPERATOR], next=sites)
    assert back.url == sites


def test_it_ignores_a_next_address_on_another_site(client, world):
    response = post_login(client, world.users_a[Role.OPERATOR], next="https://evil.example/")
    assert response.url == HOME
