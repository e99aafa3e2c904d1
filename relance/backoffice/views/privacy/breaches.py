"""The breach register (R-71): every incident with its 72 h (24 h) clock, recording one with the
Art. 33(3) fields, its page (risk, notification to the CNIL with the reasons of a late one, the people
concerned, closing), the CNIL draft (in the page and as a file) and the Art. 34 notice to the
people. Every write goes through relance.privacy.breaches, which audits it."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from relance.backoffice.links import page_url
from relance.consent.models import Purpose
from relance.messaging.models import Template
from relance.privacy import breach_notice as notices
from relance.privacy import breaches
from relance.privacy.documents import to_html, to_pdf
from relance.privacy.models import Breach, BreachSubject

from ...access import requires
from ...forms import show_service_errors
from ...lists import paginate
from ...services import actor
from .common import done, history
from .forms import AssessForm, BreachForm, CloseForm, NoticeForm, NotifiedForm

# The Art. 33(3) items of notices.missing_for_notification() in plain words.
MISSING = {
    "nature": gettext_lazy("what happened"), "kinds": gettext_lazy("the kind of breach"),
    "data_categories": gettext_lazy("the data concerned"),
    "approx_subjects": gettext_lazy("the approximate number of people"),
    "approx_records": gettext_lazy("the approximate number of records"),
    "dpo_name": gettext_lazy("the DPO's name (organisation settings)"),
    "dpo_contact": gettext_lazy("the DPO's e-mail or phone"),
    "consequences": gettext_lazy("the likely consequences"),
    "measures": gettext_lazy("the measures taken or proposed"),
}
FORMATS = ("html", "pdf", "json")


def _owned(request, breach_id) -> Breach:
    return get_object_or_404(Breach.objects.for_org(request.organisation).select_related("organisation"), pk=breach_id)


def _with_clock(breach: Breach, now) -> Breach:
    breach.clock = breaches.clock(breach, now)
    breach.hours_left = breach.clock["hours_left"]
    breach.hours_late = -breach.hours_left
    open_clock = breach.clock["needs_notification"] and breach.notified_at is None and breach.status == Breach.Status.OPEN
    breach.urgency = "late" if breach.clock["overdue"] else "soon" if open_clock and breach.hours_left <= 24 else ""
    breach.ticking = open_clock
    return breach


@requires("breach.manage")
def breach_list(request):
    now = timezone.now()
    rows = Breach.objects.for_org(request.organisation).select_related("organisation").order_by("-aware_at", "pk")
    page = paginate(request, rows)
    for breach in page:
        _with_clock(breach, now)
    org = request.organisation
    window = 24 if org.electronic_communications_provider else 72
    return render(request, "backoffice/privacy/breaches.html", {"page": page, "window": window})


def _values(form: BreachForm) -> dict:
    values = dict(form.cleaned_data)
    for name in ("occurred_from", "occurred_to"):
        values[name] = values.get(name) or None
    return values


@requires("breach.manage")
def breach_create(request):
    form = BreachForm(request.POST or None, initial={"aware_at": timezone.localtime().replace(second=0, microsecond=0)})
    if request.method == "POST" and form.is_valid():
        try:
            breach = breaches.record_breach(request.organisation, actor=actor(request), **_values(form))
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            return done(request, _("Incident %(ref)s recorded. The clock runs until %(deadline)s.") % {
                "ref": breach.reference,
                "deadline": timezone.localtime(breaches.deadline_of(breach)).strftime("%d/%m/%Y %H:%M")},
                "backoffice:breach_detail", breach_id=breach.pk)
    return render(request, "backoffice/privacy/breach_form.html", {"form": form})


@requires("breach.manage")
def breach_edit(request, breach_id):
    breach = _owned(request, breach_id)
    if breach.status == Breach.Status.CLOSED:
        messages.error(request, _("This incident is closed: it can no longer change."))
        return redirect("backoffice:breach_detail", breach_id=breach.pk)
    form = BreachForm(request.POST or None, initial=BreachForm.initial_for(breach))
    if request.method == "POST" and form.is_valid():
        try:
            breaches.update_breach(breach, actor=actor(request), **_values(form))
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            return done(request, _("Incident saved."), "backoffice:breach_detail", breach_id=breach.pk)
    return render(request, "backoffice/privacy/breach_form.html", {"form": form, "breach": breach})


def _notice_templates(org):
    purposes = Purpose.objects.for_org(org).filter(status=Purpose.Status.ACTIVE, message_class="breach_notice")
    return list(Template.objects.for_org(org).filter(purpose__in=purposes).select_related("purpose")
                .order_by("purpose__code", "code", "language"))


def _detail(request, breach: Breach, bound: dict | None = None, status: int = 200):
    now = timezone.now()
    breach = _with_clock(_owned(request, breach.pk), now)
    org, is_open = request.organisation, breach.status != Breach.Status.CLOSED
    subjects = BreachSubject.objects.for_org(org).filter(breach=breach)
    templates = _notice_templates(org)
    forms = {"assess": AssessForm(initial={"risk": breach.risk, "reason": breach.risk_reason}) if is_open else None,
             "notified": NotifiedForm(initial={"notified_at": timezone.localtime(now).replace(second=0, microsecond=0)})
             if is_open and breach.notified_at is None and breach.clock["needs_notification"] else None,
             "close": CloseForm() if is_open else None,
             "notice": NoticeForm(templates=templates) if is_open and templates else None}
    forms.update(bound or {})
    context = {
        "breach": breach, "forms": forms, "is_open": is_open,
        "missing": [MISSING.get(name, name) for name in notices.missing_for_notification(breach)],
        "subjects": subjects.count(), "told": subjects.filter(notice_message_id__isnull=False).count(),
        "templates": templates, "purposes_url": page_url("backoffice:purposes"),
        "history": history(org, "privacy.breach", breach.pk), "formats": FORMATS,
        "kinds": [notices.KIND_LABELS.get(k, k) for k in breach.kinds],
    }
    return render(request, "backoffice/privacy/breach_detail.html", context, status=status)


@requires("breach.manage")
def breach_detail(request, breach_id):
    return _detail(request, _owned(request, breach_id))


def _move(request, breach, name, form, call, success):
    if form is not None and not form.is_valid():
        return _detail(request, breach, {name: form}, status=400)
    try:
        result = call()
    except ValidationError as error:
        if form is None:
            messages.error(request, " ".join(error.messages))
            return redirect("backoffice:breach_detail", breach_id=breach.pk)
        show_service_errors(form, error)
        return _detail(request, breach, {name: form}, status=400)
    return done(request, success(result) if callable(success) else success, "backoffice:breach_detail",
                breach_id=breach.pk)


@requires("breach.manage")
@require_POST
def breach_assess(request, breach_id):
    breach, form = _owned(request, breach_id), AssessForm(request.POST)
    return _move(request, breach, "assess", form, lambda: breaches.assess_risk(
        breach, actor=actor(request), risk=form.cleaned_data["risk"], reason=form.cleaned_data["reason"]),
        _("Risk assessment saved."))


@requires("breach.manage")
@require_POST
def breach_notify(request, breach_id):
    """Record the notification made to the CNIL (late: with the reasons for the delay)."""
    breach, form = _owned(request, breach_id), NotifiedForm(request.POST)
    return _move(request, breach, "notified", form, lambda: breaches.mark_notified(
        breach, actor=actor(request), **form.cleaned_data), _("Notification to the CNIL recorded."))


@requires("breach.manage")
@require_POST
def breach_subjects(request, breach_id):
    breach = _owned(request, breach_id)
    return _move(request, breach, "subjects", None, lambda: breaches.compute_affected(breach, actor=actor(request)),
                 lambda count: ngettext("%(n)d contact is concerned by this incident.",
                                        "%(n)d contacts are concerned by this incident.", count) % {"n": count})


@requires("breach.manage")
@require_POST
def breach_close(request, breach_id):
    breach, form = _owned(request, breach_id), CloseForm(request.POST)
    return _move(request, breach, "close", form, lambda: breaches.close_breach(
        breach, actor=actor(request), reason=form.cleaned_data["reason"]), _("Incident closed; it stays in the register."))


@requires("breach.manage")
@require_POST
def breach_notice(request, breach_id):
    """The Art. 34 notice to the people concerned, through the outbox; nobody is told twice."""
    breach = _owned(request, breach_id)
    templates = {str(t.pk): t for t in _notice_templates(request.organisation)}
    form = NoticeForm(request.POST, templates=templates.values())

    def call():
        template = templates[form.cleaned_data["template"]]
        try:
            return breaches.notify_subjects(breach, actor=actor(request), purpose=template.purpose, template=template,
                                            dpo_decision=form.cleaned_data["dpo_decision"])
        except ValidationError as error:
            names = {"risk": "dpo_decision", "purpose": "template", "subjects": None}
            raise ValidationError({names.get(k, k) or "__all__": v for k, v in error.message_dict.items()}) from None

    def said(report):
        text = ngettext("%(n)d notice queued.", "%(n)d notices queued.", report.enqueued) % {"n": report.enqueued}
        if report.already:
            text += " " + ngettext("%(n)d person had already been told.", "%(n)d people had already been told.",
                                   report.already) % {"n": report.already}
        if report.none:
            text += " " + ngettext("%(n)d person could not be told (no number or address, erased or deceased).",
                                   "%(n)d people could not be told (no number or address, erased or deceased).",
                                   len(report.none)) % {"n": len(report.none)}
        return text

    return _move(request, breach, "notice", form, call, said)


@requires("breach.manage")
def breach_draft(request, breach_id):
    """The draft notification for the CNIL, in the page; ?download=html|pdf|json for the file."""
    breach = _with_clock(_owned(request, breach_id), timezone.now())
    language = (request.GET.get("language") or translation.get_language() or "fr")[:2]
    language = language if language in ("fr", "en") else "fr"
    fmt = request.GET.get("download")
    if fmt is None:
        return render(request, "backoffice/privacy/breach_draft.html", {
            "breach": breach, "doc": notices.draft_document(breach, language=language), "formats": FORMATS})
    if fmt not in FORMATS:
        raise Http404
    if fmt == "json":
        body = json.dumps(notices.draft_cnil_notification(breach, language=language), ensure_ascii=False,
                          indent=2).encode()
        response = HttpResponse(body, content_type="application/json")
    elif fmt == "html":
        response = HttpResponse(to_html(notices.draft_document(breach, language=language)),
                                content_type="text/html; charset=utf-8")
    else:
        response = HttpResponse(to_pdf(notices.draft_document(breach, language=language)),
                                content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{breach.reference}-{language}.{fmt}"'
    return response
