"""The one gate every back-office view passes (R-63, R-64).

`@requires("apikey.manage")` checks, in this order: signed in (else the login page), second factor
verified when the user needs one (else the 2FA step), recovery codes acknowledged, an active
organisation, and the permission matrix in `relance.accounts.permissions` (else a 403 page).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from relance.accounts.permissions import require

from . import second_factor

# How far a view lets a half-signed-in user go.
PUBLIC = "public"  # anyone: the login page, the language switch
SIGNED_IN = "signed_in"  # password given, second factor maybe not yet: the 2FA pages, logout
VERIFIED = "verified"  # the default: fully signed in


def requires(action: str | None = None, *, stage: str = VERIFIED, organisation: bool | None = None):
    """Decorate a view. `action` is a key of the permission MATRIX; None means "any signed-in user".

    `organisation` (default: True when an action is given) demands an active membership.
    """
    if stage not in {PUBLIC, SIGNED_IN, VERIFIED}:
        raise ValueError(f"unknown stage {stage!r}")
    needs_org = bool(action) if organisation is None else organisation

    def decorator(view):
        @wraps(view)
        def gated(request, *args, **kwargs):
            refused = _refusal(request, stage, needs_org, action)
            if refused is not None:
                return refused
            return view(request, *args, **kwargs)

        gated.relance_requires = (action, stage)
        return gated

    return decorator


def _refusal(request, stage: str, needs_org: bool, action: str | None):
    if stage == PUBLIC:
        return None
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if stage == SIGNED_IN:
        return None
    step = second_factor.pending_step(request)
    if step is not None:
        return redirect(step)
    if needs_org and request.membership is None:
        return forbidden(request, no_organisation=True)
    if action:
        try:
            require(request.membership.role, action)
        except PermissionDenied:
            return forbidden(request)
    return None


def forbidden(request, *, no_organisation: bool = False, reason: str = ""):
    context = {"no_organisation": no_organisation, "reason": reason}
    return render(request, "backoffice/403.html", context, status=403)
