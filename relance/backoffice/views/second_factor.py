"""The second factor steps: verify a code, enrol an authenticator app, recovery codes (R-64)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp.plugins.otp_static.models import StaticDevice

from .. import second_factor as sf
from ..access import SIGNED_IN, requires
from ..forms import CodeForm, EnrolForm, RecoveryAckForm
from .auth import next_url


@requires(stage=SIGNED_IN)
@sensitive_post_parameters("code")
@never_cache
def verify_view(request):
    if sf.pending_step(request) != "backoffice:verify":
        return redirect(sf.pending_step(request) or "backoffice:home")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = sf.verify(request, form.cleaned_data["code"])
        if outcome == sf.OK:
            return _verified(request)
        if outcome == sf.THROTTLED:
            form.add_error("code", _("Too many wrong codes in a row. Wait a minute, then try again."))
        else:
            form.add_error("code", _("This code is not valid. Check that your phone is on time and try again."))
    return render(request, "backoffice/verify.html", {"form": form})


def _verified(request):
    if isinstance(request.user.otp_device, StaticDevice):
        left = sf.recovery_codes_left(request.user)
        messages.warning(request, ngettext(
            "You used a recovery code. %(left)d code is left: make new ones from your account page.",
            "You used a recovery code. %(left)d codes are left: make new ones from your account page.",
            left) % {"left": left})
    return redirect(sf.pending_step(request) or next_url(request))


@requires(stage=SIGNED_IN)
@never_cache
def setup_view(request):
    """Enrol an authenticator app: forced for admins and DPOs, voluntary for everyone else."""
    if not sf.is_verified(request.user) and sf.totp_device(request.user) is not None:
        return redirect("backoffice:verify")  # replacing an app needs the current one first
    device = sf.start_enrolment(request.user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if sf.confirm_enrolment(request, device, form.cleaned_data["code"]):
            return redirect("backoffice:recovery_codes")
        form.add_error("code", _("This code does not match. Check the time of your phone and type the current code."))
    secret = sf.secret_text(device)
    context = {
        "form": form,
        "secret": secret,
        "qr": sf.qr_data_uri(sf.otpauth_url(device, request.user.email or "")),
        "forced": sf.is_required(request.user),
        "replacing": sf.is_verified(request.user),
    }
    return render(request, "backoffice/setup.html", context)


@requires(stage=SIGNED_IN)
@never_cache
def recovery_codes_view(request):
    """New codes are made and shown once while the session waits for "I have saved them"."""
    if not sf.is_verified(request.user):
        return redirect(sf.pending_step(request) or "backoffice:account")
    if request.method == "POST" and "regenerate" in request.POST:
        request.session[sf.RECOVERY_PENDING] = True
        return redirect("backoffice:recovery_codes")
    if not request.session.get(sf.RECOVERY_PENDING):
        return render(request, "backoffice/recovery_codes.html", {"left": sf.recovery_codes_left(request.user)})
    form = RecoveryAckForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        del request.session[sf.RECOVERY_PENDING]
        messages.success(request, _("Done. Keep your recovery codes somewhere safe."))
        return redirect(next_url(request))
    codes = sf.issue_recovery_codes(request)
    return render(request, "backoffice/recovery_codes.html", {"form": form, "codes": codes})
