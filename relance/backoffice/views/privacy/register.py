"""Accountability (R-70, R-73): the Art. 30 register read in the page with every empty mandatory field
said in plain words and where to fix it; its downloads; the controller profile; the platform's
processor record (Art. 30(2)); the monthly compliance report. Each generation is audited by the
service (privacy.register_generated, privacy.compliance_generated)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from relance.accounts.permissions import allowed
from relance.backoffice.links import page_url
from relance.privacy import compliance, register
from relance.privacy.controller import get_controller_profile, set_controller_profile
from relance.privacy.register_document import CONTENT_TYPES, FORMATS, processor_document, register_document
from relance.privacy.register_document import render as render_record

from ...access import requires
from ...forms import show_service_errors
from ...services import actor
from .common import done

# The dotted paths of register.missing_fields() in plain words, and the page where each is filled in.
CONTROLLER_FIELDS = {
    "name": gettext_lazy("the organisation's name"),
    "legal_name": gettext_lazy("the controller's legal name"),
    "address": gettext_lazy("the controller's postal address"),
    "contact_email": gettext_lazy("the controller's contact e-mail address"),
    "representative": gettext_lazy("the representative in the EU (Art. 27), for a controller outside the EU"),
}
DPO_FIELDS = {"name": gettext_lazy("the DPO's name"), "email": gettext_lazy("the DPO's e-mail address")}
ACTIVITY_FIELDS = {
    "name": gettext_lazy("its name"), "legal_basis": gettext_lazy("its legal basis"),
    "subject_categories": gettext_lazy("the people it concerns"), "data_categories": gettext_lazy("the data it uses"),
    "recipients": gettext_lazy("its recipients"), "retention": gettext_lazy("how long its data is kept"),
    "art9_condition": gettext_lazy("the Art. 9(2) condition for health data"),
    "dpia": gettext_lazy("the reference of its impact assessment (DPIA), or why none is needed"),
}


def _language(request) -> str:
    chosen = request.GET.get("language") or translation.get_language() or "fr"
    return chosen[:2] if chosen[:2] in ("fr", "en") else "fr"


def _fix_links() -> dict:
    return {"controller": page_url("backoffice:register_controller"),
            "organisation": page_url("backoffice:organisation_edit") or page_url("backoffice:organisation"),
            "purposes": page_url("backoffice:purposes"), "providers": page_url("backoffice:providers")}


def explain_missing(paths: list[str], *, may_configure: bool = True) -> list[dict]:
    """[{"path", "text", "where", "url", "admin"}] for each empty mandatory field; `admin`: only an
    administrator can fill it in (the organisation's settings and the controller details)."""
    links, items = _fix_links(), []
    for path in paths:
        head, _sep, rest = path.partition(".")
        if head == "controller" and rest == "name":
            text, where, url = CONTROLLER_FIELDS["name"], _("Organisation settings"), links["organisation"]
        elif head == "controller":
            text, where, url = CONTROLLER_FIELDS.get(rest, rest), _("Controller details"), links["controller"]
        elif head == "dpo":
            text, where, url = DPO_FIELDS.get(rest, rest), _("Organisation settings"), links["organisation"]
        elif head == "activities" and not rest:
            text, where, url = _("at least one active purpose"), _("Purposes and notices"), links["purposes"]
        elif head == "activities":
            code, _sep, field = rest.rpartition(".")
            text = _("purpose %(code)s: %(field)s") % {"code": code, "field": ACTIVITY_FIELDS.get(field, field)}
            where, url = _("Purposes and notices"), links["purposes"]
        elif head == "transfers":
            name = rest.rpartition(".")[0]
            text = _("the safeguard for sending data outside the EEA through %(name)s") % {"name": name}
            where, url = _("Providers"), links["providers"]
        elif head == "security_measures":
            text, where, url = _("the security measures"), _("Controller details"), links["controller"]
        else:
            text, where, url = path, "", None
        admin = head in ("controller", "dpo", "security_measures")
        items.append({"path": path, "text": text, "where": where, "url": url if may_configure or not admin else None,
                      "admin": admin and not may_configure})
    return items


@requires("register.view")
def register_view(request):
    language = _language(request)
    record = register.generate_register(request.organisation, actor=actor(request), language=language, fmt="page")
    missing = register.missing_fields(record)
    doc = register_document(record)
    if missing:  # its last section lists the dotted paths: the page says them in plain words instead
        doc.sections = doc.sections[:-1]
    may_configure = allowed(request.membership.role, "organisation.configure")
    return render(request, "backoffice/privacy/register.html", {
        "doc": doc, "missing": explain_missing(missing, may_configure=may_configure), "language": language,
        "formats": FORMATS, "can_edit_controller": may_configure})


def _file(content: bytes, fmt: str, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@requires("register.view")
def register_download(request, fmt: str):
    if fmt not in FORMATS:
        raise Http404
    language = _language(request)
    record = register.generate_register(request.organisation, actor=actor(request), language=language, fmt=fmt)
    return _file(render_record(record, fmt), fmt, f"register-{request.organisation.slug}-{language}")


@requires("register.view")
def register_processor(request):
    language = _language(request)
    record = register.generate_processor_record(actor=actor(request), language=language, fmt="page",
                                                organisation=request.organisation)
    return render(request, "backoffice/privacy/register_processor.html",
                  {"doc": processor_document(record), "language": language, "formats": FORMATS})


@requires("register.view")
def register_processor_download(request, fmt: str):
    if fmt not in FORMATS:
        raise Http404
    language = _language(request)
    record = register.generate_processor_record(actor=actor(request), language=language, fmt=fmt,
                                                organisation=request.organisation)
    return _file(render_record(record, fmt), fmt, f"processor-record-{language}")


# --- the controller's details ----------------------------------------------------------------------
class ControllerForm(forms.Form):
    legal_name = forms.CharField(label=gettext_lazy("Legal name"), max_length=200, required=False,
                                 help_text=gettext_lazy("As registered, e.g. “Commune de Valmont”."))
    address = forms.CharField(label=gettext_lazy("Postal address"), max_length=400, required=False)
    contact_email = forms.CharField(label=gettext_lazy("Contact e-mail address"), max_length=200, required=False,
                                    help_text=gettext_lazy("The organisation's, not the DPO's."))
    contact_phone = forms.CharField(label=gettext_lazy("Contact phone number"), max_length=32, required=False)
    registration_number = forms.CharField(label=gettext_lazy("Registration number"), max_length=64, required=False,
                                          help_text=gettext_lazy("SIREN, SIRET, FINESS…"))
    representative = forms.CharField(label=gettext_lazy("Representative in the EU (Art. 27)"), max_length=300,
                                     required=False, help_text=gettext_lazy("Only for a controller outside the EU."))
    joint_controllers = forms.CharField(label=gettext_lazy("Joint controllers"), required=False, max_length=5000,
                                        widget=forms.Textarea(attrs={"rows": 2}))
    security_measures = forms.CharField(label=gettext_lazy("Your own security measures"), required=False,
                                        max_length=5000, widget=forms.Textarea(attrs={"rows": 4}),
                                        help_text=gettext_lazy("One per line; added to those of the platform."))


@requires("organisation.configure")
def register_controller(request):
    profile = get_controller_profile(request.organisation)
    initial = {name: getattr(profile, name) for name in ControllerForm.base_fields}
    form = ControllerForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            set_controller_profile(request.organisation, actor=actor(request), **form.cleaned_data)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            return done(request, _("Controller details saved."), "backoffice:register")
    return render(request, "backoffice/privacy/register_controller.html", {"form": form})


# --- the monthly compliance report -----------------------------------------------------------------
def _month(request) -> tuple[str, list[str]]:
    text = request.GET.get("month") or timezone.localdate().strftime("%Y-%m")
    try:
        compliance.parse_month(text)
    except ValidationError as error:
        return timezone.localdate().strftime("%Y-%m"), error.messages
    return text, []


def _report(request, month: str, fmt: str) -> dict:
    year, number = compliance.parse_month(month)
    return compliance.generate_monthly_report(request.organisation, year, number, actor=actor(request),
                                              language=_language(request), fmt=fmt)


@requires("compliance.view")
def compliance_view(request):
    month, errors = _month(request)
    report = _report(request, month, "page")
    return render(request, "backoffice/privacy/compliance.html", {
        "doc": compliance.report_document(report), "month": month, "errors": errors, "formats": FORMATS,
        "language": _language(request)})


@requires("compliance.view")
def compliance_download(request, fmt: str):
    if fmt not in FORMATS:
        raise Http404
    month, _errors = _month(request)
    report = _report(request, month, fmt)
    return _file(compliance.render(report, fmt), fmt, f"compliance-{request.organisation.slug}-{month}")
