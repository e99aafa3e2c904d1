"""The consent form an organisation links to or embeds (R-10): the exact current notice, the number,
an unticked box; the number is proved with a one-time code sent by SMS before anything is recorded;
then one `given` event with the notice shown and the evidence of the form."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from relance.consent import services as consent
from relance.consent.models import ConsentEvent, Notice, Purpose
from relance.privacy import intake

from . import pages
from .forms import ConsentCodeForm, ConsentForm

CHANNEL = "sms"


def _purpose(org, code: str) -> Purpose:
    purpose = Purpose.objects.for_org(org).filter(code=code, status=Purpose.Status.ACTIVE).first()
    if purpose is None or not purpose.consent_based or purpose.refresh_per_event or CHANNEL not in (purpose.channels or []):
        raise Http404  # only a consent purpose sent by SMS and asked once can be given here
    return purpose


def _notice(purpose: Purpose) -> Notice:
    notice = consent.current_notice(purpose, pages.language()) or consent.current_notice(
        purpose, purpose.organisation.default_language)
    if notice is None:
        raise Http404
    return notice


def _shown_notice(purpose: Purpose, uid) -> Notice | None:
    """The notice the form displayed (its id travels with the form): one of this purpose's."""
    return Notice.objects.for_org(purpose.organisation_id).filter(purpose=purpose, uid=uid).first()


def _respond(request, template: str, context: dict, status: int = 200):
    response = render(request, template, context, status=status)
    if request.embedded:
        pages.allow_framing(response)
    return response


def _record(request, org, purpose, notice, contact):
    return consent.record_consent(
        contact, purpose, CHANNEL, ConsentEvent.Action.GIVEN, actor=pages.actor(request),
        expressed_by=ConsentEvent.ExpressedBy.SUBJECT, method=ConsentEvent.Method.WEB_FORM, notice=notice,
        language=notice.language, evidence=pages.evidence(request, request.build_absolute_uri(request.path)))


def _confirm(request, org, purpose, context):
    form = ConsentCodeForm(request.POST)
    context["form"] = form
    if not form.is_valid():
        return _respond(request, "public/consent_code.html", context, status=400)
    notice = _shown_notice(purpose, form.cleaned_data["notice"])
    if notice is None:
        raise Http404
    context["notice"] = notice
    try:
        holders = intake.confirm_consent_code(org, form.cleaned_data["phone"], form.cleaned_data["code"],
                                              ip=pages.ip(request))
        _record(request, org, purpose, notice, holders[0])
    except ValidationError as error:
        pages.show_errors(form, error)
        return _respond(request, "public/consent_code.html", context, status=400)
    return _respond(request, "public/consent_done.html", context)


def _ask_code(request, org, purpose, context):
    form = ConsentForm(request.POST)
    context["form"] = form
    if form.is_valid():
        notice = _shown_notice(purpose, form.cleaned_data["notice"])
        if notice is None:
            raise Http404
        context["notice"] = notice
        try:
            intake.request_consent_code(org, form.cleaned_data["phone"], language=pages.language(),
                                        ip=pages.ip(request))
        except ValidationError as error:
            pages.show_errors(form, error)
        else:
            context["form"] = ConsentCodeForm(initial={"phone": form.cleaned_data["phone"], "notice": notice.uid})
            return _respond(request, "public/consent_code.html", context)
    return _respond(request, "public/consent_form.html", context, status=400)


@require_http_methods(["GET", "POST"])
@pages.public_page
def consent_form(request, org_slug, purpose_code):
    org = pages.organisation(org_slug)
    purpose = _purpose(org, purpose_code)
    context = {"org": org, "purpose": purpose, "label": purpose.label(pages.language()), "notice": _notice(purpose),
               "embed": request.embedded}
    if request.method == "POST" and request.POST.get("step") == "confirm":
        return _confirm(request, org, purpose, context)
    if request.method == "POST":
        return _ask_code(request, org, purpose, context)
    context["form"] = ConsentForm(initial={"notice": context["notice"].uid})
    return _respond(request, "public/consent_form.html", context)
