"""Organisation settings: readable by every role, editable by administrators."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from relance.accounts import services as accounts
from relance.accounts.models import Organisation
from relance.accounts.permissions import allowed

from ..access import requires
from ..forms import OrganisationForm, show_service_errors
from ..services import actor


@requires("organisation.view")
def organisation_view(request):
    context = {
        "show_dpo": allowed(request.membership.role, "member.view"),
        "can_edit": allowed(request.membership.role, "organisation.configure"),
    }
    return render(request, "backoffice/organisation.html", context)


@requires("organisation.configure")
def organisation_edit(request):
    # A fresh row: a failed validation must not leave a half-changed object on the request.
    org = Organisation.objects.get(pk=request.organisation.pk)
    form = OrganisationForm(request.POST or None, initial=OrganisationForm.initial_for(org))
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        if not changes:
            messages.info(request, _("Nothing was changed."))
            return redirect("backoffice:organisation")
        try:
            accounts.update_organisation(org, actor=actor(request), **changes)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The organisation's settings are saved."))
            return redirect("backoffice:organisation")
    return render(request, "backoffice/organisation_edit.html", {"form": form})
