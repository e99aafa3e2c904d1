"""Helpers for back-office tests: sign in for real, or shortcut to a verified session."""

from __future__ import annotations

import re

from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from relance.accounts.middleware import SESSION_ORG
from relance.testing import PASSWORD

LOGIN = reverse("backoffice:login")
HOME = reverse("backoffice:home")
BACKEND = "relance.accounts.backends.EmailBackend"


def post_login(client, user, password=PASSWORD, **extra):
    return client.post(LOGIN, {"email": user.test_email, "password": password, **extra})


def totp_code(device, steps_ahead: int = 0) -> str:
    """The code the app shows now (or `steps_ahead` periods later, to avoid replay refusal)."""
    import time

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def sign_in(client, user, organisation=None):
    """A fully signed-in session without going through the forms (pages tests)."""
    client.force_login(user, backend=BACKEND)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    device = device or TOTPDevice.objects.create(user=user, name="tests", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    if organisation is not None:
        session[SESSION_ORG] = organisation.pk
    session.save()
    return client


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def text(response) -> str:
    return response.content.decode()
