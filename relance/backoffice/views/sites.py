"""Sites of the active organisation (a library of a network, a practice's address)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from relance.accounts import services as accounts
from relance.accounts.models import Site
from relance.accounts.permissions import allowed

from ..access import requires
from ..forms import SiteEditForm, SiteForm, show_service_errors
from ..services import actor


@requires("organisation.view")
def site_list(request):
    sites = Site.objects.for_org(request.organisation).order_by("name")
    can_manage = allowed(request.membership.role, "site.manage")
    return render(request, "backoffice/sites.html", {"sites": sites, "can_manage": can_manage})


@requires("site.manage")
def site_create(request):
    form = SiteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            site = accounts.create_site(request.organisation, actor=actor(request), **form.cleaned_data)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Site %(name)s created.") % {"name": site.name})
            return redirect("backoffice:sites")
    return render(request, "backoffice/site_form.html", {"form": form})


@requires("site.manage")
def site_edit(request, site_id: int):
    site = get_object_or_404(Site.objects.for_org(request.organisation), pk=site_id)
    form = SiteEditForm(request.POST or None, initial={"name": site.name, "address": site.address})
    if request.method == "POST" and form.is_valid():
        try:
            accounts.update_site(site, actor=actor(request), **form.cleaned_data)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Site %(name)s saved.") % {"name": site.name})
            return redirect("backoffice:sites")
    return render(request, "backoffice/site_form.html", {"form": form, "site": site})
