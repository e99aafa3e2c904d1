"""Reminder rules per purpose (R-27): which steps an event of a kind gets, when, by which channel and
template. Writes through relance.reminders.services (create_rule, update_rule, deactivate_rule)."""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from relance.accounts.permissions import allowed
from relance.consent.models import Purpose
from relance.reminders import services as reminders
from relance.reminders.models import ReminderRule

from ...access import requires
from ...services import actor
from . import explain
from .common import in_org_zone
from .forms import RuleForm

STEP_ERROR = re.compile(r"^steps\.(\d+)(?:\.(offset_minutes|channel|template))?$")
FIELD_OF = {"offset_minutes": "amount", "channel": "channel", "template": "template", None: "amount"}


def _rules(org):
    return ReminderRule.objects.for_org(org)


def described(rule: ReminderRule) -> list[dict]:
    return [{"text": explain.offset_text(s["offset_minutes"]), "short": explain.short_offset(s["offset_minutes"]),
             "channel": s["channel"], "template": s["template"]} for s in rule.steps]


@requires("message.view")
@in_org_zone
def rule_list(request):
    org, language = request.organisation, request.LANGUAGE_CODE
    groups: dict[int, dict] = {}
    for rule in _rules(org).select_related("purpose").order_by("purpose__code", "-active", "event_kind", "name"):
        group = groups.setdefault(rule.purpose_id, {"purpose": rule.purpose.label(language), "rules": []})
        group["rules"].append({"rule": rule, "steps": described(rule)})
    return render(request, "backoffice/sending/rules.html", {
        "groups": list(groups.values()), "can_edit": allowed(request.membership.role, "template.manage")})


def _show_errors(form: RuleForm, error: ValidationError, rows: list[int]) -> None:
    """The service names steps by their index among the filled rows: put each error on its row."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for key, texts in error.message_dict.items():
        match = STEP_ERROR.match(key)
        if match and int(match.group(1)) < len(rows):
            form.add_error(f"step{rows[int(match.group(1))]}_{FIELD_OF[match.group(2)]}", texts)
        else:
            form.add_error(key if key in form.fields else None, texts)


@requires("template.manage")
@in_org_zone
def rule_create(request):
    org = request.organisation
    form = RuleForm(org, request.POST or None, initial={"step1_direction": "before", "step1_unit": "hours"})
    if request.method == "POST" and form.is_valid():
        steps, rows = form.steps()
        purpose = Purpose.objects.for_org(org).filter(pk=form.cleaned_data["purpose"]).first()
        try:
            rule = reminders.create_rule(org, actor=actor(request), purpose=purpose,
                                         event_kind=form.cleaned_data["event_kind"], name=form.cleaned_data["name"],
                                         steps=steps)
        except ValidationError as error:
            _show_errors(form, error, rows)
        else:
            messages.success(request, _("Rule \"%(name)s\" saved: it applies to events created from now on.")
                             % {"name": rule.name})
            return redirect("backoffice:reminder_rules")
    return render(request, "backoffice/sending/rule_form.html", {"form": form})


@requires("template.manage")
@in_org_zone
def rule_edit(request, rule_id):
    org = request.organisation
    rule = get_object_or_404(_rules(org).select_related("purpose"), pk=rule_id)
    initial = {"name": rule.name, **RuleForm.initial_steps(rule.steps)}
    form = RuleForm(org, request.POST or None, rule=rule, initial=initial)
    if not rule.active:
        form.add_error(None, _("This rule was turned off: make a new one."))
    elif request.method == "POST" and form.is_valid():
        steps, rows = form.steps()
        try:
            reminders.update_rule(rule, actor=actor(request), name=form.cleaned_data["name"], steps=steps)
        except ValidationError as error:
            _show_errors(form, error, rows)
        else:
            messages.success(request, _("Rule \"%(name)s\" saved. Reminders already planned stay as they are; "
                                        "new and moved events follow the new steps.") % {"name": rule.name})
            return redirect("backoffice:reminder_rules")
    return render(request, "backoffice/sending/rule_form.html", {
        "form": form, "rule": rule, "purpose_label": rule.purpose.label(request.LANGUAGE_CODE)})


@requires("template.manage")
@require_POST
def rule_deactivate(request, rule_id):
    rule = get_object_or_404(_rules(request.organisation), pk=rule_id)
    reminders.deactivate_rule(rule, actor=actor(request))
    messages.success(request, _("Rule \"%(name)s\" turned off: no new reminder will follow it. Reminders already "
                                "planned stay; cancel their events to stop them.") % {"name": rule.name})
    return redirect("backoffice:reminder_rules")
