"""A rights request from the public page (R-40): choose the kind, give the number, receive a code by
SMS, confirm it, get the reference and the due date (R-41). privacy/intake.py does the work."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from relance.privacy import intake

from . import pages
from .forms import RIGHT_KINDS, RightsCodeForm, RightsForm


def _confirm(request, org, context):
    form = RightsCodeForm(request.POST)
    context["form"] = form
    if form.is_valid():
        data = form.cleaned_data
        try:
            opened = intake.open_public_request(org, data["phone"], data["code"], kind=data["kind"],
                                                details=data["details"], language=pages.language(),
                                                ip=pages.ip(request))
        except ValidationError as error:
            pages.show_errors(form, error)
        else:
            context.update(requests=opened, kind=dict(RIGHT_KINDS)[data["kind"]])
            return render(request, "public/rights_done.html", context)
    return render(request, "public/rights_code.html", context, status=400)


def _ask_code(request, org, context):
    form = RightsForm(request.POST)
    context["form"] = form
    if form.is_valid():
        try:
            intake.request_code(org, form.cleaned_data["phone"], ip=pages.ip(request))
        except ValidationError as error:
            pages.show_errors(form, error)
        else:
            context["form"] = RightsCodeForm(initial={k: form.cleaned_data[k] for k in ("kind", "phone", "details")})
            return render(request, "public/rights_code.html", context)
    return render(request, "public/rights.html", context, status=400)


@require_http_methods(["GET", "POST"])
@pages.public_page
def rights(request, org_slug):
    org = pages.organisation(org_slug)
    context = {"org": org}
    if request.method == "POST" and request.POST.get("step") == "confirm":
        return _confirm(request, org, context)
    if request.method == "POST":
        return _ask_code(request, org, context)
    context["form"] = RightsForm()
    return render(request, "public/rights.html", context)
