"""Message templates: list, create, change with the live SMS preview (works without JavaScript too:
the "Preview" button renders the same panel), the DPO's override of the health-word checker (R-24),
retire. Every write goes through relance.messaging.templates (with its audit event)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from relance.accounts.permissions import allowed
from relance.consent.models import CHANNELS, Purpose
from relance.messaging import templates as editor
from relance.messaging.models import Template

from ...access import forbidden, requires
from ...forms import show_service_errors
from ...lists import paginate
from ...services import actor
from .forms import OverrideForm, TemplateForm
from .preview import panel, placeholders


def _template(request, template_id: int) -> Template:
    return get_object_or_404(Template.objects.for_org(request.organisation).select_related("purpose"), pk=template_id)


def _can(request, action: str) -> bool:
    return allowed(request.membership.role, action)


@requires("message.view")
def template_list(request):
    templates = Template.objects.for_org(request.organisation).select_related("purpose").order_by(
        "status", "purpose__code", "code", "channel", "language")
    filters = {"status": request.GET.get("status", "active"), "channel": request.GET.get("channel", ""),
               "purpose": request.GET.get("purpose", "")}
    if filters["status"] in Template.Status.values:
        templates = templates.filter(status=filters["status"])
    if filters["channel"] in dict(CHANNELS):
        templates = templates.filter(channel=filters["channel"])
    if filters["purpose"].isdigit():
        templates = templates.filter(purpose_id=int(filters["purpose"]))
    return render(request, "backoffice/content/templates.html", {
        "page": paginate(request, templates), "filters": filters, "statuses": Template.Status.choices,
        "channels": CHANNELS, "purposes": Purpose.objects.for_org(request.organisation).order_by("code"),
        "can_manage": _can(request, "template.manage")})


def _preview_of(request, form: TemplateForm, template: Template | None) -> dict:
    """The panel for what the form holds now (valid or not: a preview never needs a complete form)."""
    data = form.data
    if template is not None:
        purpose, channel, language = template.purpose, template.channel, template.language
    else:
        purpose_id = data.get("purpose", "")
        purpose = (Purpose.objects.for_org(request.organisation).filter(pk=purpose_id).first()
                   if str(purpose_id).isdigit() else None)
        channel, language = data.get("channel") or "sms", data.get("language") or "fr"
    body = data.get("body", template.body if template is not None and not data else "")
    subject = data.get("subject", template.subject if template is not None and not data else "")
    transliterate = (bool(data.get("transliterate")) if data else bool(template and template.transliterate))
    return panel(request.organisation, body=body, channel=channel, language=language, purpose=purpose,
                 subject=subject, transliterate=transliterate, template=template)


@requires("template.manage")
def template_preview(request):
    """The live preview fragment (POSTed by relance.js while the user types); GET gives an empty one."""
    template = None
    if str(request.POST.get("template", "")).isdigit():
        template = _template(request, int(request.POST["template"]))
    form = TemplateForm(request.POST or None, organisation=request.organisation, template=template)
    context = _preview_of(request, form, template)
    return render(request, "backoffice/content/_preview.html", {"preview": context, "template": template})


@requires("template.manage")
def template_create(request):
    form = TemplateForm(request.POST or None, organisation=request.organisation,
                        initial={"language": (request.LANGUAGE_CODE or "fr")[:2], "channel": "sms",
                                 "purpose": request.GET.get("purpose") or None})
    if request.method == "POST" and "preview" not in request.POST and form.is_valid():
        values = dict(form.cleaned_data)
        try:
            template = editor.create_template(request.organisation, actor=actor(request), **values)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Template %(code)s saved.") % {"code": template.code})
            return redirect("backoffice:template_detail", template_id=template.pk)
    return render(request, "backoffice/content/template_form.html", {
        "form": form, "preview": _preview_of(request, form, None), "placeholders": placeholders(request.organisation)})


@requires("message.view")
def template_detail(request, template_id: int):
    """Read for every role that sees messages; changed by those who write templates."""
    template = _template(request, template_id)
    can_edit = _can(request, "template.manage") and template.status == Template.Status.ACTIVE
    if request.method == "POST" and not can_edit:
        return forbidden(request)
    form = TemplateForm(request.POST or None, organisation=request.organisation, template=template)
    if request.method == "POST" and "preview" not in request.POST and form.is_valid():
        try:
            changes = form.changes()
            if changes:
                template = editor.update_template(template, actor=actor(request), **changes)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Template %(code)s saved (version %(version)d).")
                             % {"code": template.code, "version": template.version})
            return redirect("backoffice:template_detail", template_id=template.pk)
    preview = _preview_of(request, form, template)
    can_override = can_edit and _can(request, "template.override_linter")
    override = None
    if can_override and preview.get("health_words"):
        override = OverrideForm(initial={"words": ", ".join(preview["health_words"]),
                                         "body": form.data.get("body", "")})
    return render(request, "backoffice/content/template_form.html", {
        "form": form, "template": template, "preview": preview, "can_edit": can_edit,
        "can_override": can_override, "override": override, "placeholders": placeholders(request.organisation)})


@requires("template.manage")
def template_override(request, template_id: int):
    """R-24: only the DPO; the words are let through, then the text that needed them is saved."""
    template = _template(request, template_id)
    if not _can(request, "template.override_linter"):
        return forbidden(request, reason=_("Only your organisation's data protection officer may let a flagged "
                                           "word through."))
    form = OverrideForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            template = editor.override_lint(template, actor=actor(request), words=form.word_list(),
                                            reason=form.cleaned_data["reason"])
            body = form.cleaned_data["body"]
            if body.strip() and body != template.body:
                template = editor.update_template(template, actor=actor(request), body=body)
        except PermissionDenied:
            return forbidden(request)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The words are let through for this template; your justification is kept."))
            return redirect("backoffice:template_detail", template_id=template.pk)
    return render(request, "backoffice/content/template_override.html", {"form": form, "template": template})


@requires("template.manage")
def template_retire(request, template_id: int):
    template = _template(request, template_id)
    if request.method == "POST":
        editor.retire_template(template, actor=actor(request))
        messages.success(request, _("Template %(code)s is retired.") % {"code": template.code})
        return redirect("backoffice:templates")
    return render(request, "backoffice/content/template_retire.html", {"template": template})
