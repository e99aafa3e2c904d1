"""TOTP second factor and recovery codes (R-64), on django-otp's devices.

Required for anyone who is admin or DPO in any organisation (settings.RELANCE_SECOND_FACTOR_ROLES);
anyone else may enrol and is then asked for a code too. Recovery codes are stored as truncated
SHA-256 digests in django-otp's StaticToken, so a database dump does not hand them out; they have
80 random bits, which makes an unkeyed digest safe.
"""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
from urllib.parse import quote, urlencode

import django_otp
import segno
from django.conf import settings
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from relance.accounts.models import Membership

from .services import record_auth_event

RECOVERY_PENDING = "relance_recovery_pending"
RECOVERY_CODE_COUNT = 10


# --- who must do what ----------------------------------------------------------------------
def is_verified(user) -> bool:
    # request.user is replaced by a plain User by login(): read the attribute django-otp sets.
    return getattr(user, "otp_device", None) is not None


def is_required(user) -> bool:
    roles = settings.RELANCE_SECOND_FACTOR_ROLES
    return Membership.objects.filter(user=user, role__in=roles).exists()


def totp_device(user, *, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("-id").first()


def pending_step(request) -> str | None:
    """The URL name of the step a signed-in user must finish first, or None."""
    if not hasattr(request, "_relance_step"):
        request._relance_step = _pending_step(request)
    return request._relance_step


def _pending_step(request) -> str | None:
    user = request.user
    if is_verified(user):
        return "backoffice:recovery_codes" if request.session.get(RECOVERY_PENDING) else None
    if totp_device(user) is not None:
        return "backoffice:verify"
    if is_required(user):
        return "backoffice:totp_setup"
    return None


# --- enrolment -----------------------------------------------------------------------------
def start_enrolment(user) -> TOTPDevice:
    """The unconfirmed device being set up (kept across reloads so the QR code stays the same)."""
    device = totp_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def secret_text(device: TOTPDevice) -> str:
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def otpauth_url(device: TOTPDevice, account_label: str) -> str:
    issuer = settings.OTP_TOTP_ISSUER
    params = {"secret": secret_text(device).replace(" ", ""), "issuer": issuer, "algorithm": "SHA1",
              "digits": device.digits, "period": device.step}
    return f"otpauth://totp/{quote(issuer)}:{quote(account_label)}?{urlencode(params, quote_via=quote)}"


def qr_data_uri(text: str) -> str:
    """An SVG QR code as a data: URI, which the CSP allows for images (no inline script or style)."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True,
                                     title="QR", dark="#000", light="#fff")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def confirm_enrolment(request, device: TOTPDevice, code: str) -> bool:
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=request.user)
        if not _clean_totp(code) or not device.verify_token(_clean_totp(code)):
            return False
        TOTPDevice.objects.filter(user=request.user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        record_auth_event(request, "auth.totp_enrolled")
    _signed_in_with(request, device)
    request.session[RECOVERY_PENDING] = True
    return True


# --- recovery codes ------------------------------------------------------------------------
def _digest(code: str) -> str:
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return base64.b32encode(hashlib.sha256(normalised.encode()).digest()[:10]).decode().lower()


def issue_recovery_codes(request) -> list[str]:
    """New codes replace the old ones; the clear codes exist only in the returned list."""
    codes = [base64.b32encode(secrets.token_bytes(10)).decode().lower() for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        StaticDevice.objects.filter(user=request.user).delete()
        device = StaticDevice.objects.create(user=request.user, name="recovery", confirmed=True)
        StaticToken.objects.bulk_create(StaticToken(device=device, token=_digest(code)) for code in codes)
        record_auth_event(request, "auth.recovery_codes_issued", details={"count": len(codes)})
    return ["-".join(code[i : i + 4] for i in range(0, 16, 4)) for code in codes]


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user).count()


# --- verification --------------------------------------------------------------------------
OK, WRONG, THROTTLED = "ok", "wrong", "throttled"


def _clean_totp(code: str) -> str:
    digits = (code or "").replace(" ", "").strip()
    return digits if digits.isdigit() and len(digits) in (6, 8) else ""


def verify(request, code: str) -> str:
    """Check a TOTP code or a recovery code; on success the session is verified."""
    user = request.user
    totp = _clean_totp(code)
    device = totp_device(user) if totp else StaticDevice.objects.filter(user=user).first()
    if device is None:
        return WRONG
    if not device.verify_is_allowed()[0]:
        return THROTTLED
    token = totp or _digest(code)
    if django_otp.verify_token(user, device.persistent_id, token) is None:
        return WRONG
    if totp:
        record_auth_event(request, "auth.second_factor_verified", details={"method": "totp"})
    else:
        record_auth_event(request, "auth.recovery_code_used", details={"left": recovery_codes_left(user)})
    _signed_in_with(request, device)
    return OK


def _signed_in_with(request, device) -> None:
    django_otp.login(request, device)
    request.session.cycle_key()  # a new session id for the higher privilege
    if hasattr(request, "_relance_step"):
        del request._relance_step
