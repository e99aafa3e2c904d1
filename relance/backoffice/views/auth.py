"""Sign-in, sign-out, lockout and CSRF pages, and the language switch (R-64)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from .. import second_factor
from ..access import PUBLIC, SIGNED_IN, requires
from ..forms import LoginForm
from ..services import record_auth_event, set_user_language

SESSION_NEXT = "relance_next"
SESSION_EXPIRED = "relance_expired"  # set by accounts.middleware.SessionIdleTimeoutMiddleware


def safe_next(request, url: str | None) -> str | None:
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return None


def next_url(request) -> str:
    """Where to go once every sign-in step is done."""
    return request.session.pop(SESSION_NEXT, None) or "backoffice:home"


def language_cookie(response, language: str):
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


@requires(stage=PUBLIC)
@sensitive_post_parameters("password")
@never_cache
def login_view(request):
    if request.user.is_authenticated:
        return redirect(second_factor.pending_step(request) or next_url(request))
    expired = request.session.pop(SESSION_EXPIRED, False)
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = authenticate(request, username=data["email"], password=data["password"])
        if user is not None:
            return _signed_in(request, user)
        # The same words whether the address is unknown, the password wrong or the account disabled.
        form.add_error(None, _("The e-mail address or the password is incorrect."))
    next_value = safe_next(request, request.POST.get("next") or request.GET.get("next")) or ""
    return render(request, "backoffice/login.html", {"form": form, "expired": expired, "next": next_value})


def _signed_in(request, user):
    wanted = safe_next(request, request.POST.get("next"))
    login(request, user, backend="relance.accounts.backends.EmailBackend")
    if wanted:
        request.session[SESSION_NEXT] = wanted
    required = second_factor.is_required(user)
    record_auth_event(request, "auth.login", user=user,
                      details={"second_factor": "required" if required else "optional"})
    return language_cookie(redirect(second_factor.pending_step(request) or next_url(request)), user.language)


@requires(stage=SIGNED_IN)
@require_POST
def logout_view(request):
    record_auth_event(request, "auth.logout")
    logout(request)
    messages.info(request, _("You have signed out."))
    return redirect("backoffice:login")


@requires(stage=PUBLIC)
@require_POST
def language_view(request):
    """Django's set_language, which also remembers the choice on the signed-in user."""
    response = set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        set_user_language(request, language)
    return response


def locked_out(request, original_response=None, credentials=None, *args, **kwargs):
    """django-axes calls this when a login is locked (too many failures): a 429 page saying when to retry."""
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    retry_at = timezone.localtime(timezone.now() + cool_off) if cool_off else None
    response = render(request, "backoffice/locked_out.html", {"minutes": minutes, "retry_at": retry_at}, status=429)
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response


def csrf_failure(request, reason=""):
    """settings.CSRF_FAILURE_VIEW: a translated page instead of Django's technical one."""
    return render(request, "backoffice/csrf_failure.html", status=403)
