"""Retention (R-50 … R-52): the policy in force per data category with its preset and source, editing
one, applying a preset, the purge (a dry run first, its counts in the page, then the real run) and
the purge reports. Writes go through relance.privacy.retention and relance.privacy.purge (audited)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from relance.privacy import retention
from relance.privacy.models import DataCategory, PurgeReport
from relance.privacy.purge import TIMELINE, run_purge

from ...access import requires
from ...forms import show_service_errors
from ...lists import paginate
from ...services import actor
from .common import done
from .forms import PolicyForm, PresetForm, PurgeForm

BIG_PURGE = 100_000  # rows: above this the page warns that the run takes a while


def _label(category: str) -> str:
    if category == TIMELINE:
        return _("Message timelines (deleted with their messages)")
    try:
        return str(DataCategory(category).label)
    except ValueError:
        return category


def _policies(org) -> list[dict]:
    presets = {code: preset.label for code, preset in retention.PRESETS.items()}
    return [{"category": p.category, "label": _label(p.category), "days": p.days, "is_default": p.is_default,
             "preset": presets.get(p.preset, p.preset), "source": p.source, "clock": retention.CLOCKS[p.category]}
            for p in retention.policies_for(org).values()]


def _presets() -> list[dict]:
    return [{"code": p.code, "label": p.label, "source": p.source, "notes": p.notes,
             "days": [(_label(category), days) for category, days in p.days.items()]}
            for p in retention.PRESETS.values()]


@requires("retention.manage")
def retention_view(request):
    org = request.organisation
    page = paginate(request, PurgeReport.objects.for_org(org).order_by("-started_at"), per_page=20)
    for report in page:
        report.total = sum(v for k, v in report.counts.items() if k != TIMELINE)
    return render(request, "backoffice/privacy/retention.html",
                  {"policies": _policies(org), "presets": _presets(), "page": page})


@requires("retention.manage")
def retention_edit(request):
    org = request.organisation
    category = request.POST.get("category") or request.GET.get("category") or DataCategory.MESSAGE_CONTENT
    if category not in retention.CATEGORIES:
        category = DataCategory.MESSAGE_CONTENT
    current = retention.policies_for(org)[category]
    form = PolicyForm(request.POST or None, initial={"category": category, "days": current.days,
                                                     "source": "" if current.is_default else current.source})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            retention.set_policy(org, data["category"], data["days"], actor=actor(request), source=data["source"])
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            return done(request, ngettext("%(label)s: now kept %(days)d day.", "%(label)s: now kept %(days)d days.",
                                         data["days"]) % {"label": _label(category), "days": data["days"]},
                        "backoffice:retention")
    return render(request, "backoffice/privacy/retention_edit.html", {
        "form": form, "label": _label(category), "current": current, "clock": retention.CLOCKS[category],
        "categories": [(c, _label(c)) for c in retention.CATEGORIES], "category": category})


@requires("retention.manage")
def retention_preset(request):
    code = request.POST.get("preset") or request.GET.get("preset")
    preset = next((p for p in _presets() if p["code"] == code), None)
    form = PresetForm(request.POST or None, initial={"preset": code})
    if request.method == "POST" and form.is_valid():
        retention.apply_preset(request.organisation, form.cleaned_data["preset"], actor=actor(request))
        return done(request, _("Preset applied: %(label)s.") % {"label": preset["label"]}, "backoffice:retention")
    return render(request, "backoffice/privacy/retention_preset.html",
                  {"form": form, "preset": preset, "presets": _presets()})


def _counts(report: PurgeReport) -> list[dict]:
    policies = report.policies or {}
    return [{"category": category, "label": _label(category), "rows": rows, "policy": policies.get(category, {})}
            for category, rows in report.counts.items()]


@requires("retention.manage")
def purge_run(request):
    """GET: what a purge does. POST dry_run=1: count and show. POST dry_run=0: purge, then the report."""
    org, report = request.organisation, None
    form = PurgeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        dry_run = form.cleaned_data["dry_run"]
        report = run_purge(org, actor=actor(request), trigger=PurgeReport.Trigger.STAFF, dry_run=dry_run)
        if not dry_run:
            return done(request, _("Purge done: see what was removed below."), "backoffice:purge_detail",
                        purgereport_id=report.pk)
    total = sum(v for k, v in report.counts.items() if k != TIMELINE) if report else 0
    return render(request, "backoffice/privacy/purge_run.html", {
        "report": report, "counts": _counts(report) if report else [], "total": total, "big": total > BIG_PURGE,
        "big_purge": BIG_PURGE, "policies": _policies(org)})


@requires("retention.manage")
def purge_detail(request, purgereport_id):
    report = get_object_or_404(PurgeReport.objects.for_org(request.organisation), pk=purgereport_id)
    total = sum(v for k, v in report.counts.items() if k != TIMELINE)
    return render(request, "backoffice/privacy/purge_detail.html",
                  {"report": report, "counts": _counts(report), "total": total})
