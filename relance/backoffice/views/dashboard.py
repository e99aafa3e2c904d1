"""The dashboard, the user's own account page and the organisation switcher."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from relance.accounts.models import ApiKey, Membership, Site
from relance.accounts.permissions import allowed
from relance.accounts.services import memberships_of
from relance.backoffice.links import page_url

from .. import second_factor as sf
from ..access import requires
from ..forms import LanguageForm
from ..services import switch_organisation
from .insights import stats


@requires()
def home(request):
    """At a glance, messages per day over two weeks, and what needs attention: rights requests due
    within 7 days or late (R-41), open incidents with their clock (R-71), campaigns under way."""
    org = request.organisation
    if org is None:
        return render(request, "backoffice/home.html", {"counts": None})
    role = request.membership.role
    context = {"counts": {
        "members": Membership.objects.for_org(org).count(),
        "sites": Site.objects.for_org(org).count(),
        "api_keys": ApiKey.objects.for_org(org).filter(revoked_at__isnull=True).count(),
    }}
    if allowed(role, "message.view"):
        context["activity"] = stats.message_charts(org)
        context["campaigns"] = stats.running_campaigns(org)
    if allowed(role, "rights.manage") or allowed(role, "compliance.view"):
        context["requests_due"] = stats.requests_due(org, role=role)
        context["requests_url"] = page_url("backoffice:requests", role=role)
    if allowed(role, "breach.manage") or allowed(role, "compliance.view"):
        context["breaches"] = stats.open_breaches(org, role=role)
        context["breaches_url"] = page_url("backoffice:breaches", role=role)
    return render(request, "backoffice/home.html", context)


@requires()
def account(request):
    user = request.user
    context = {
        "memberships": memberships_of(user),
        "has_totp": sf.totp_device(user) is not None,
        "second_factor_required": sf.is_required(user),
        "codes_left": sf.recovery_codes_left(user),
        "language_form": LanguageForm(initial={"language": user.language}),
    }
    return render(request, "backoffice/account.html", context)


@requires()
@require_POST
def switch_organisation_view(request):
    try:
        organisation_id = int(request.POST.get("organisation", ""))
    except ValueError:
        raise Http404
    membership = switch_organisation(request, organisation_id)
    if membership is None:
        raise Http404  # not one of the user's organisations: as if it did not exist
    messages.success(request, _("You now work in %(name)s.") % {"name": membership.organisation.name})
    return redirect("backoffice:home")
