"""R-64 (issue 9, §3.7): login throttling, one-time code throttling, no user enumeration, and attempts
to get around the second factor.

Already proved elsewhere and not repeated: the 429 after five failures and its French and English
pages (relance/backoffice/tests/test_login.py), a recovery code accepted once and the TOTP throttle
message (test_second_factor.py). Here: the lockout holds from another address; it keys on a hash,
never the clear e-mail; the TOTP step and the public one-time codes lock too, in both languages;
"unknown address" and "wrong password" take the same time; and a half-signed-in session cannot
reach any page, replay a code, use another user's or a stale one, or enrol a new authenticator.

Per-IP lockout: deliberately not applied by django-axes here (AXES_LOCKOUT_PARAMETERS = username):
a whole office signs in from one address, and one person's typos must not lock the others out
(test_login.py proves it). The public one-time codes do have a per-address limit (below).
"""

from __future__ import annotations

import re
import statistics
import time

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from relance.accounts.models import ApiKey, Role
from relance.backoffice.tests.helpers import HOME, LOGIN, post_login, text, totp_code
from relance.backoffice.tests.test_second_factor import enrol
from relance.public.tests.helpers import last_code, person, public_org
from relance.testing import FastArgon2PasswordHasher, make_user
from tests.reliability.scale import record, scale
from tests.reliability.test_security_csrf import row_counts
from tests.test_isolation import BUILDERS, all_routes

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

VERIFY = reverse("backoffice:verify")
SETUP = reverse("backoffice:totp_setup")
LOGOUT = reverse("backoffice:logout")


# --- the password step ---------------------------------------------------------------------------
def test_the_lockout_follows_the_account_across_addresses_and_keeps_no_clear_address(world):
    """R-64, R-61: five failures from one address lock the account from any other address too; axes
    stores the keyed hash of the e-mail and the truncated address, never the clear ones."""
    user = world.users_a[Role.OPERATOR]
    for n in range(5):
        post_login(Client(REMOTE_ADDR=f"198.51.100.{n + 10}"), user, password="wrong password!")
    locked = post_login(Client(REMOTE_ADDR="203.0.113.77"), user)
    assert locked.status_code == 429
    stored = list(AccessAttempt.objects.values_list("username", "ip_address"))
    assert stored and all(user.test_email not in repr(row) for row in stored)
    assert all(ip is None or ip.endswith(".0") for _name, ip in stored)


def _timed_login(client, email, password) -> float:
    start = time.perf_counter()
    client.post(LOGIN, {"email": email, "password": password})
    return time.perf_counter() - start


def _timings(user, rounds: int) -> tuple[float, float]:
    """Median time of a wrong password and of an unknown address, interleaved (the machine's load
    changes both alike)."""
    client = Client()
    wrong, unknown = [], []
    for n in range(rounds):
        wrong.append(_timed_login(client, user.test_email, f"wrong password {n}"))
        unknown.append(_timed_login(client, f"nobody{n}@example.org", f"wrong password {n}"))
    return statistics.median(wrong), statistics.median(unknown)


class SlowerArgon2(FastArgon2PasswordHasher):
    """Argon2 costly enough (~10-20 ms) for a skipped hash to stand out of the request's own time."""

    memory_cost = 16384
    time_cost = 2


@pytest.fixture
def measurable_hash(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.SlowerArgon2"]
    settings.AXES_FAILURE_LIMIT = 10_000  # the timing needs many failures on one account


@pytest.mark.chaos
def test_an_unknown_address_takes_as_long_as_a_wrong_password(world, measurable_hash):
    """R-64: no user enumeration by timing: the medians differ by less than a third."""
    user = make_user(world.a, Role.OPERATOR)
    rounds = scale(15, 61)
    wrong, unknown = _timings(user, rounds)
    record("security-login-timing", {"rounds": rounds, "wrong_password_ms": round(wrong * 1000, 2),
                                      "unknown_address_ms": round(unknown * 1000, 2)})
    assert abs(wrong - unknown) < wrong / 3, (wrong, unknown)


def test_the_timing_check_catches_a_skipped_hash(world, measurable_hash, monkeypatch):
    """The detector fails on a planted fault: without the dummy hash for unknown addresses."""
    from relance.accounts.models import User

    user = make_user(world.a, Role.OPERATOR)
    monkeypatch.setattr(User, "set_password", lambda self, raw: None)
    wrong, unknown = _timings(user, 7)
    assert abs(wrong - unknown) >= wrong / 3, (wrong, unknown)


# --- the one-time codes of the public pages -------------------------------------------------------
def _rights(client, org, phone, **fields):
    return client.post(reverse("public:rights", args=[org.slug]), {"kind": "access", "phone": phone, **fields})


@pytest.mark.parametrize(("language", "words"), [("fr", "Trop de codes erronés"), ("en", "Too many wrong codes")])
def test_the_rights_code_locks_after_five_wrong_tries(client, db_both, language, words):
    """R-40, R-64: five wrong codes and even the right one is refused, in the visitor's language; no
    request is opened."""
    org, _service, _news = public_org()
    holder = person(org)
    client.cookies["django_language"] = language
    assert _rights(client, org, "+33612340001").status_code == 200
    code = last_code(org)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        _rights(client, org, "+33612340001", step="confirm", code=wrong)
    refused = _rights(client, org, "+33612340001", step="confirm", code=code)
    assert refused.status_code == 400 and words in text(refused)
    from relance.privacy.models import RightsRequest

    assert not RightsRequest.objects.for_org(org).filter(contact=holder).exists()


def test_the_codes_are_limited_per_number_and_per_address(client, db_both):
    """R-40: three codes an hour per number, ten an hour per address (whatever the numbers), the same
    answer for known and unknown numbers."""
    org, _service, _news = public_org()
    person(org)
    answers = [_rights(client, org, "+33612340001").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 400]
    other = Client(REMOTE_ADDR="192.0.2.44")
    statuses = [_rights(other, org, f"+336123402{n:02d}").status_code for n in range(10)]
    assert statuses == [200] * 10  # unknown numbers get the same answer and count too (no enumeration)
    other.cookies["django_language"] = "en"
    eleventh = _rights(other, org, "+33612340299")
    assert eleventh.status_code == 400 and "Too many codes were asked from this connection" in text(eleventh)


def test_the_consent_code_locks_after_five_wrong_tries(client, db_both):
    """R-10, R-64: the public consent form's SMS code: five wrong tries, then the right one is refused
    and no consent is recorded."""
    from relance.consent.models import ConsentEvent

    org, _service, news = public_org()
    from relance.consent.tests.helpers import notice_of

    url = reverse("public:consent", args=[org.slug, news.code])
    form = {"phone": "+33612340001", "agree": "on", "notice": str(notice_of(news).uid)}
    client.post(url, {**form, "step": "send_code"})
    code = last_code(org)
    wrong = "000000" if code != "000000" else "111111"
    before = ConsentEvent.objects.for_org(org).count()
    for _ in range(5):
        client.post(url, {**form, "step": "confirm", "code": wrong})
    refused = client.post(url, {**form, "step": "confirm", "code": code})
    assert refused.status_code in (200, 400) and "Trop de codes erronés" in text(refused)
    assert ConsentEvent.objects.for_org(org).count() == before


# --- the second factor ----------------------------------------------------------------------------
@pytest.fixture
def half_signed_in(client, world, settings):
    """An enrolled admin who gave the password but not yet the code."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = world.users_a[Role.ADMIN]
    enrol(client, user)
    client.post(LOGOUT)
    assert post_login(client, user).url == VERIFY
    return user


def test_no_page_opens_between_the_password_and_the_code(client, world, half_signed_in):
    """R-64: every back-office route (GET and POST), ids of the user's own organisation: a redirect to
    the code step, or a 405; no row of any table changes."""
    objects = {name: build(world.a) for name, build in BUILDERS.items()}
    allowed_steps = {"app/login/", "app/logout/", "app/language/", "app/2fa/", "app/2fa/setup/",
                     "app/2fa/recovery-codes/"}
    before = row_counts()
    checked = 0
    for route in all_routes():
        if not route.startswith("app/") or route in allowed_steps:
            continue
        url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(objects[m.group(1)]), route)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 302 and response.url == VERIFY, (method, url, response.status_code)
            checked += 1
    assert row_counts() == before
    assert checked >= 200
    assert client.get(SETUP).url == VERIFY  # replacing the app needs the current one first


def test_a_used_code_a_stale_code_and_another_users_code_are_refused(client, world, half_signed_in):
    """R-64: a code of five minutes ago, another admin's current code, then the right code once; the
    same code again after signing out and in is a replay and refused."""
    other = world.users_a[Role.DPO]
    other_device = TOTPDevice.objects.create(user=other, name="other", confirmed=True)
    device = TOTPDevice.objects.get(user=half_signed_in, confirmed=True)
    for code in (totp_code(device, steps_ahead=-10), f"{totp(other_device.bin_key):06d}"):
        assert client.post(VERIFY, {"code": code}).status_code == 200
        assert client.get(HOME).url == VERIFY
    code = totp_code(device, steps_ahead=1)
    assert client.post(VERIFY, {"code": code}).url == HOME
    client.post(LOGOUT)
    post_login(client, half_signed_in)
    replay = client.post(VERIFY, {"code": code})
    assert replay.status_code == 200 and client.get(HOME).url == VERIFY


def test_the_session_key_changes_at_login_and_at_the_code(client, world, settings):
    """R-64: no session fixation: a session id planted before the login is dropped, and the code step
    issues another."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = world.users_a[Role.ADMIN]
    enrol(client, user)
    client.post(LOGOUT)
    client.get(LOGIN)
    session = client.session
    session["planted"] = True
    session.save()
    planted = session.session_key
    post_login(client, user)
    after_password = client.cookies["sessionid"].value
    assert after_password != planted and "planted" not in client.session
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    assert client.post(VERIFY, {"code": totp_code(device, steps_ahead=1)}).url == HOME
    assert client.cookies["sessionid"].value not in (planted, after_password)


def test_an_admin_without_a_second_factor_cannot_make_an_api_key(client, world):
    """R-64: API keys belong to the organisation, not to a user; they are made only from a fully
    verified session, so an admin who has not enrolled is sent to the enrolment and no key appears."""
    user = make_user(world.a, Role.ADMIN)
    assert post_login(client, user).url == SETUP
    keys = ApiKey.objects.for_org(world.a).count()
    response = client.post(reverse("backoffice:apikey_create"), {"name": "sneaky", "scopes": ["audit:read"]})
    assert response.status_code == 302 and response.url == SETUP
    assert ApiKey.objects.for_org(world.a).count() == keys
