"""TOTP second factor: required for admins and DPOs, optional for others; recovery codes (R-64)."""

import re

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from relance.accounts.models import Role
from relance.audit.models import AuditEvent

from .helpers import HOME, post_login, text, totp_code

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

SETUP = reverse("backoffice:totp_setup")
VERIFY = reverse("backoffice:verify")
RECOVERY = reverse("backoffice:recovery_codes")
SITES = reverse("backoffice:sites")


def enrol(client, user) -> list[str]:
    """Log in and go through the forced enrolment; returns the recovery codes shown."""
    assert post_login(client, user).url == SETUP
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert client.post(SETUP, {"code": f"{totp(device.bin_key):06d}"}).url == RECOVERY
    codes = re.findall(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>", text(client.get(RECOVERY)))
    assert client.post(RECOVERY, {"saved": "on"}).url == HOME
    return codes


@pytest.mark.parametrize("role", [Role.ADMIN, Role.DPO])
def test_it_forces_admins_and_dpos_to_enrol_an_authenticator(client, world, role, settings):
    """R-64: TOTP is required for admin and DPO; no back-office page opens before it is set up."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # a wrong code is tried first; no waiting in tests
    user = world.users_a[role]
    assert post_login(client, user).url == SETUP
    assert client.get(HOME).url == SETUP
    assert client.get(SITES).url == SETUP
    page = client.get(SETUP)
    html = text(page)
    assert 'src="data:image/svg+xml;base64,' in html
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1)
    import base64

    assert base64.b32decode(secret.replace(" ", "")) == device.bin_key
    wrong = client.post(SETUP, {"code": "000000" if totp(device.bin_key) != 0 else "111111"})
    assert wrong.status_code == 200 and 'aria-invalid="true"' in text(wrong)
    assert client.post(SETUP, {"code": f"{totp(device.bin_key):06d}"}).url == RECOVERY
    device.refresh_from_db()
    assert device.confirmed
    # recovery codes must be acknowledged before anything else
    assert client.get(SITES).url == RECOVERY
    codes_page = text(client.get(RECOVERY))
    assert len(re.findall(r"<li><code>[a-z2-7-]{19}</code></li>", codes_page)) == 10
    refused = client.post(RECOVERY, {})
    assert refused.status_code == 200
    assert client.post(RECOVERY, {"saved": "on"}).url == HOME
    assert client.get(SITES).status_code == 200
    actions = set(AuditEvent.objects.filter(chain="platform", target_id=str(user.pk)).values_list("action", flat=True))
    assert {"auth.login", "auth.totp_enrolled", "auth.recovery_codes_issued"} <= actions


def test_it_asks_an_enrolled_admin_for_the_code_at_each_login(client, world, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = world.users_a[Role.ADMIN]
    enrol(client, user)
    client.post(reverse("backoffice:logout"))
    assert post_login(client, user).url == VERIFY
    assert client.get(HOME).url == VERIFY
    wrong = client.post(VERIFY, {"code": "123456"})
    assert wrong.status_code == 200 and "aria-invalid" in text(wrong)
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    assert client.post(VERIFY, {"code": totp_code(device, steps_ahead=1)}).url == HOME
    assert client.get(HOME).status_code == 200
    assert AuditEvent.objects.filter(action="auth.second_factor_verified", target_id=str(user.pk)).exists()


def test_it_accepts_a_recovery_code_once(client, world):
    """R-64: a recovery code replaces the TOTP code, once."""
    user = world.users_a[Role.DPO]
    codes = enrol(client, user)
    assert len(codes) == 10
    stored = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert len(stored) == 10 and not stored & {c.replace("-", "") for c in codes}  # kept as digests only
    client.post(reverse("backoffice:logout"))
    post_login(client, user)
    used = client.post(VERIFY, {"code": codes[3].upper()})
    assert used.url == HOME
    assert StaticToken.objects.filter(device__user=user).count() == 9
    assert "Il reste 9 codes" in text(client.get(HOME))
    assert AuditEvent.objects.filter(action="auth.recovery_code_used", target_id=str(user.pk)).exists()
    client.post(reverse("backoffice:logout"))
    post_login(client, user)
    again = client.post(VERIFY, {"code": codes[3]})
    assert again.status_code == 200
    assert client.get(HOME).url == VERIFY


def test_it_does_not_force_operators_or_auditors(client, world):
    for role in (Role.OPERATOR, Role.AUDITOR):
        client.logout()
        assert post_login(client, world.users_a[role]).url == HOME


def test_it_forces_a_member_who_is_admin_in_any_organisation(client, world):
    """An operator of A who is admin of B needs the second factor in A too."""
    from relance.accounts import services as accounts
    from relance.testing import SYSTEM

    user = world.users_a[Role.OPERATOR]
    accounts.add_member(world.b, user, Role.ADMIN, actor=SYSTEM)
    assert post_login(client, user).url == SETUP


def test_it_lets_an_operator_enrol_and_then_asks_for_the_code(client, world):
    user = world.users_a[Role.OPERATOR]
    assert post_login(client, user).url == HOME
    assert f'href="{SETUP}"' in text(client.get(reverse("backoffice:account")))
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert client.post(SETUP, {"code": f"{totp(device.bin_key):06d}"}).url == RECOVERY
    client.post(RECOVERY, {"saved": "on"})
    client.post(reverse("backoffice:logout"))
    assert post_login(client, user).url == VERIFY


def test_it_throttles_repeated_wrong_codes(client, world):
    user = world.users_a[Role.ADMIN]
    enrol(client, user)
    client.post(reverse("backoffice:logout"))
    post_login(client, user)
    for _ in range(3):
        client.post(VERIFY, {"code": "999999"})
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    refused = client.post(VERIFY, {"code": totp_code(device, steps_ahead=1)})
    assert "Trop de codes erronés" in text(refused)
    assert client.get(HOME).url == VERIFY


def test_it_keeps_unverified_users_out_of_the_enrolment_of_a_new_app(client, world):
    """Replacing the authenticator needs the current one first."""
    user = world.users_a[Role.ADMIN]
    enrol(client, user)
    client.post(reverse("backoffice:logout"))
    post_login(client, user)
    assert client.get(SETUP).url == VERIFY
    assert client.get(RECOVERY).url == VERIFY
