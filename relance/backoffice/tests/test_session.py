"""Session expiry after inactivity (R-64)."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from relance.accounts.models import Role

from .helpers import HOME, LOGIN, post_login, text

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_expires_an_idle_session_and_says_so_once(client, world, settings):
    settings.RELANCE_SESSION_IDLE_SECONDS = 30 * 60
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        post_login(client, world.users_a[Role.OPERATOR])
        assert client.get(HOME).status_code == 200
        clock.shift(dt.timedelta(minutes=29))
        assert client.get(HOME).status_code == 200  # activity keeps the session alive
        clock.shift(dt.timedelta(minutes=31))
        response = client.get(reverse("backoffice:sites"))
        assert response.status_code == 302 and response.url.startswith(LOGIN)
        page = client.get(LOGIN)
        assert "Votre session a expiré" in text(page)
        assert "Votre session a expiré" not in text(client.get(LOGIN))


def test_it_sets_secure_session_cookie_flags(client, world):
    response = post_login(client, world.users_a[Role.OPERATOR])
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
