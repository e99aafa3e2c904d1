"""API keys of the active organisation. The full secret is shown once, in the creation response."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from relance.accounts import services as accounts
from relance.accounts.models import ApiKey

from ..access import requires
from ..forms import ApiKeyForm, scope_label, show_service_errors
from ..services import actor


@requires("apikey.manage")
def apikey_list(request):
    keys = ApiKey.objects.for_org(request.organisation).order_by("-created_at")
    return render(request, "backoffice/apikeys.html", {"keys": keys})


@requires("apikey.manage")
@never_cache
def apikey_create(request):
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key, secret = accounts.create_api_key(
                request.organisation, actor=actor(request), name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"], created_by=request.user,
            )
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            # Rendered, not redirected: the secret is never stored, not even in the session.
            scopes = [(scope, scope_label(scope)) for scope in key.scopes]
            return render(request, "backoffice/apikey_created.html", {"key": key, "secret": secret, "scopes": scopes})
    return render(request, "backoffice/apikey_form.html", {"form": form})


@requires("apikey.manage")
def apikey_revoke(request, apikey_id: int):
    key = get_object_or_404(ApiKey.objects.for_org(request.organisation), pk=apikey_id)
    if request.method == "POST":
        accounts.revoke_api_key(key, actor=actor(request))
        messages.success(request, _("The key %(prefix)s is revoked: it no longer works.") % {"prefix": key.prefix})
        return redirect("backoffice:apikeys")
    return render(request, "backoffice/apikey_revoke.html", {"key": key})
