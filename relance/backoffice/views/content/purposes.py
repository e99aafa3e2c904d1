"""Purposes and their notices: list, create, change, the activation checks explained, activate,
retire, publish a notice. Every write goes through relance.consent.services (with its audit event)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from relance.accounts.permissions import allowed
from relance.backoffice.links import page_url
from relance.consent import services
from relance.consent.models import DATA_CATEGORIES, Notice, Purpose
from relance.messaging.models import Template
from relance.reminders.models import ReminderRule

from ...access import requires
from ...forms import show_service_errors
from ...lists import paginate
from ...services import actor
from .checks import checks_of
from .forms import NoticeForm, PurposeForm


def _purpose(request, purpose_id: int) -> Purpose:
    return get_object_or_404(Purpose.objects.for_org(request.organisation), pk=purpose_id)


@requires("organisation.view")
def purpose_list(request):
    purposes = Purpose.objects.for_org(request.organisation).order_by("status", "code")
    status = request.GET.get("status", "")
    if status in Purpose.Status.values:
        purposes = purposes.filter(status=status)
    return render(request, "backoffice/content/purposes.html", {
        "page": paginate(request, purposes), "status": status, "statuses": Purpose.Status.choices,
        "can_manage": allowed(request.membership.role, "purpose.manage")})


@requires("purpose.manage")
def purpose_create(request):
    form = PurposeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            purpose = services.create_purpose(request.organisation, actor=actor(request),
                                              code=form.cleaned_data["code"], **form.values(only_changed=False))
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Purpose %(code)s created, as a draft.") % {"code": purpose.code})
            return redirect("backoffice:purpose_detail", purpose_id=purpose.pk)
    return render(request, "backoffice/content/purpose_form.html", {"form": form})


@requires("organisation.view")
def purpose_detail(request, purpose_id: int):
    purpose = _purpose(request, purpose_id)
    checks = checks_of(purpose) if purpose.status == Purpose.Status.DRAFT else []
    notices = Notice.objects.for_org(request.organisation).filter(purpose=purpose).order_by("language", "-version")
    by_language: dict[str, list[Notice]] = {}
    for notice in notices:
        by_language.setdefault(notice.language, []).append(notice)
    rules = [(rule, [step_text(step) for step in rule.steps or []]) for rule in
             ReminderRule.objects.for_org(request.organisation).filter(purpose=purpose).order_by("-active", "name")]
    templates = Template.objects.for_org(request.organisation).filter(purpose=purpose).order_by("code", "language")
    return render(request, "backoffice/content/purpose_detail.html", {
        "purpose": purpose, "checks": checks, "blocking": [c for c in checks if not c.ok],
        "fine": [c for c in checks if c.ok],
        "categories": [str(DATA_CATEGORIES[code][0]) for code in purpose.data_categories or [] if code in DATA_CATEGORIES],
        "notices": sorted(by_language.items()), "rules": rules,
        "rules_url": page_url("backoffice:reminder_rules"), "templates": templates,
        "can_manage": allowed(request.membership.role, "purpose.manage"),
        "language": (request.LANGUAGE_CODE or "fr")[:2]})


def step_text(step: dict) -> str:
    """"2 days before, by SMS (template reminder-48h)": one step of a reminder rule in words (R-27)."""
    minutes = int(step.get("offset_minutes") or 0)
    amount = abs(minutes)
    if amount and amount % 1440 == 0:
        delay = ngettext("%(n)d day", "%(n)d days", amount // 1440) % {"n": amount // 1440}
    elif amount and amount % 60 == 0:
        delay = ngettext("%(n)d hour", "%(n)d hours", amount // 60) % {"n": amount // 60}
    else:
        delay = ngettext("%(n)d minute", "%(n)d minutes", amount) % {"n": amount}
    when = (_("%(delay)s before the event") if minutes < 0 else _("%(delay)s after the event")) % {"delay": delay}
    channel = _("by SMS") if step.get("channel") == "sms" else _("by e-mail")
    return _("%(when)s, %(channel)s (template %(template)s)") % {
        "when": when if minutes else _("at the time of the event"), "channel": channel,
        "template": step.get("template") or "—"}



@requires("purpose.manage")
def purpose_edit(request, purpose_id: int):
    purpose = _purpose(request, purpose_id)
    if purpose.status == Purpose.Status.RETIRED:
        messages.error(request, _("This purpose is retired: it can no longer be changed."))
        return redirect("backoffice:purpose_detail", purpose_id=purpose.pk)
    form = PurposeForm(request.POST or None, purpose=purpose)
    if request.method == "POST" and form.is_valid():
        changes = form.values(only_changed=True)
        try:
            if changes:
                services.update_purpose(purpose, actor=actor(request), **changes)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Purpose %(code)s saved.") % {"code": purpose.code})
            return redirect("backoffice:purpose_detail", purpose_id=purpose.pk)
    return render(request, "backoffice/content/purpose_form.html", {"form": form, "purpose": purpose})


@requires("purpose.manage")
def purpose_activate(request, purpose_id: int):
    """POST only changes anything; the service checks again and has the last word (R-01)."""
    purpose = _purpose(request, purpose_id)
    if request.method == "POST":
        try:
            services.activate_purpose(purpose, actor=actor(request))
        except ValidationError:
            messages.error(request, _("The purpose cannot be activated yet: see what is missing below."))
        else:
            messages.success(request, _("Purpose %(code)s is active: its messages can be sent.")
                             % {"code": purpose.code})
    return redirect("backoffice:purpose_detail", purpose_id=purpose.pk)


@requires("purpose.manage")
def purpose_retire(request, purpose_id: int):
    purpose = _purpose(request, purpose_id)
    if request.method == "POST":
        services.retire_purpose(purpose, actor=actor(request))
        messages.success(request, _("Purpose %(code)s is retired: its messages are no longer sent.")
                         % {"code": purpose.code})
        return redirect("backoffice:purpose_detail", purpose_id=purpose.pk)
    return render(request, "backoffice/content/purpose_retire.html", {"purpose": purpose})


@requires("purpose.manage")
def notice_publish(request, purpose_id: int):
    purpose = _purpose(request, purpose_id)
    initial = {"language": request.GET.get("language", "")}
    current = services.current_notice(purpose, initial["language"]) if initial["language"] else None
    if current is not None:
        initial["text"] = current.text  # start from the version in force
    form = NoticeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            notice = services.publish_notice(purpose, actor=actor(request), **form.cleaned_data)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Version %(version)d of the notice is published.") % {"version": notice.version})
            return redirect("backoffice:purpose_detail", purpose_id=purpose.pk)
    return render(request, "backoffice/content/notice_form.html", {"form": form, "purpose": purpose})


@requires("organisation.view")
def notice_detail(request, notice_id: int):
    notice = get_object_or_404(Notice.objects.for_org(request.organisation).select_related("purpose"), pk=notice_id)
    newer = Notice.objects.for_org(request.organisation).filter(
        purpose=notice.purpose, language=notice.language, version__gt=notice.version).exists()
    return render(request, "backoffice/content/notice_detail.html", {
        "notice": notice, "purpose": notice.purpose, "superseded": newer,
        "public_url": request.build_absolute_uri(reverse("public:notice", kwargs={"notice_uid": notice.uid}))})
