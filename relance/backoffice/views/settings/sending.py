"""The organisation's sending settings: sender, opt-out mention (R-25), reply keywords (R-30),
sending windows (R-22), transliteration (R-26), STOP-rate threshold (R-34). Every role may read
them; administrators change them through messaging's update_sending_settings."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from relance.accounts.permissions import allowed
from relance.messaging import keywords as reply_keywords
from relance.messaging.sending import settings_for, sms_sender
from relance.messaging.templates import update_sending_settings

from ...access import requires
from ...services import actor
from .forms import DAYS, FAMILIES, SendingSettingsForm, window_values

# Which form fields a service error key belongs to.
ERROR_FIELDS = {"keywords": "stop_words", "windows": None}


def _windows(sending) -> list[dict]:
    labels = {"service": _("Service messages (reminders, notices)"),
              "promotional": _("Promotional messages and consent requests")}
    days = dict(DAYS)
    result = []
    for family in FAMILIES:
        values = window_values(sending.windows, family)
        result.append({"label": labels[family], "days": [str(days[d]) for d in values["days"]],
                       "start": values["start"], "end": values["end"], "holidays": values["exclude_holidays"]})
    return result


@requires("organisation.view")
def sending_settings(request):
    org = request.organisation
    sending = settings_for(org)
    configured = sending.keywords or {}
    words = [(family, list(reply_keywords.DEFAULTS[family]), configured.get(family, []))
             for family in ("stop", "start", "info")]
    return render(request, "backoffice/settings/sending.html", {
        "sending": sending, "sender": sms_sender(org, sending), "windows": _windows(sending), "words": words,
        "can_edit": allowed(request.membership.role, "organisation.configure")})


def _show_errors(form, error: ValidationError) -> None:
    for name, problems in error.message_dict.items():
        field = ERROR_FIELDS.get(name, name)
        form.add_error(field if field in form.fields else None, problems)


@requires("organisation.configure")
def sending_settings_edit(request):
    org = request.organisation
    sending = settings_for(org)
    form = SendingSettingsForm(request.POST or None, initial=SendingSettingsForm.initial_for(sending))
    if request.method == "POST" and form.is_valid():
        changes = form.changes(sending)
        if not changes:
            messages.info(request, _("Nothing was changed."))
            return redirect("backoffice:sending_settings")
        try:
            update_sending_settings(org, actor=actor(request), **changes)
        except ValidationError as error:
            _show_errors(form, error)
        else:
            messages.success(request, _("The sending settings are saved."))
            return redirect("backoffice:sending_settings")
    return render(request, "backoffice/settings/sending_edit.html", {"form": form})
