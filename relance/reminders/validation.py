"""Checks of reminder rules and event values, pure where they can be: every invalid field is reported
at once, in the user's language, saying what to do."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.consent.models import Purpose
from relance.contacts.models import Contact
from relance.messaging.render import PLACEHOLDERS

from .models import EventKind

MAX_STEPS = 10
MAX_OFFSET = 365 * 24 * 60  # a year, in minutes
EXTERNAL_ID_MAX = 200
PARAM_MAX = 300
# Values an integrator may give with an event; the rest (names, date, time...) come from the contact,
# the site and the event itself. A health organisation cannot even store the visit's reason.
EVENT_PARAMS = ("place", "callback", "link", "count", "item_title", "reason")
# reminders of these kinds are never sent after the event starts, so no step may come after it.
BEFORE_ONLY = {EventKind.APPOINTMENT, EventKind.CONVOCATION, EventKind.CLOSURE}


def _add(errors: dict, field: str, message: str) -> None:
    errors.setdefault(field, []).append(str(message))


# --- rules ---------------------------------------------------------------------------------
def clean_name(value, errors: dict) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > 200:
        _add(errors, "name", _("Give a name of 1 to 200 characters."))
    return name


def clean_kind(value, errors: dict, field: str = "event_kind") -> str:
    if value not in EventKind.values:
        _add(errors, field, _("Choose one of: %s.") % ", ".join(EventKind.values))
    return value


def clean_steps(purpose: Purpose, kind: str, steps, template_codes: set[tuple[str, str]], errors: dict) -> list[dict]:
    """Steps sorted by offset: [{"offset_minutes", "channel", "template"}]. `template_codes` holds the
    (code, channel) pairs with an active template of the purpose in at least one language."""
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        _add(errors, "steps", _("Give a list of 1 to %d steps.") % MAX_STEPS)
        return []
    cleaned, seen = [], set()
    for index, step in enumerate(steps):
        value = _clean_step(purpose, kind, step, template_codes, errors, f"steps.{index}")
        if value is None:
            continue
        key = (value["offset_minutes"], value["channel"])
        if key in seen:
            _add(errors, f"steps.{index}", _("Another step has the same offset and channel: remove one."))
        seen.add(key)
        cleaned.append(value)
    return sorted(cleaned, key=lambda s: (s["offset_minutes"], s["channel"]))


def _clean_step(purpose, kind, step, template_codes, errors, path) -> dict | None:
    if not isinstance(step, dict):
        _add(errors, path, _("Give an object with offset_minutes, channel and template."))
        return None
    unknown = set(step) - {"offset_minutes", "channel", "template"}
    for name in sorted(unknown):
        _add(errors, f"{path}.{name}", _("This field is unknown or cannot be changed."))
    offset, channel, code = step.get("offset_minutes"), step.get("channel"), step.get("template")
    before = len(errors)
    if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > MAX_OFFSET:
        _add(errors, f"{path}.offset_minutes",
             _("Give a whole number of minutes between -%(max)d and %(max)d (negative: before the event).")
             % {"max": MAX_OFFSET})
    elif kind in BEFORE_ONLY and offset >= 0:
        _add(errors, f"{path}.offset_minutes",
             _("A reminder of this kind of event is never sent after it starts (R-23): give a negative offset."))
    if channel not in (purpose.channels or []):
        _add(errors, f"{path}.channel", _("Choose one of the purpose's channels: %s.") % ", ".join(purpose.channels or []))
    elif (code, channel) not in template_codes:
        _add(errors, f"{path}.template",
             _("No active template of this purpose has this code for this channel: write the template first."))
    return None if len(errors) > before or unknown else {"offset_minutes": offset, "channel": channel, "template": code}


# --- events --------------------------------------------------------------------------------
def clean_external_id(value, errors: dict) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > EXTERNAL_ID_MAX:
        _add(errors, "external_id", _("Give your identifier of the event, 1 to %d characters.") % EXTERNAL_ID_MAX)
    return text


def _moment(value, field: str, errors: dict) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime) or timezone.is_naive(value):
        _add(errors, field, _("Give a date and time in ISO 8601 format with its offset (e.g. 2026-03-02T09:30:00+01:00)."))
        return None
    return value


def clean_times(kind: str, starts_at, ends_at, errors: dict) -> tuple[datetime | None, datetime | None]:
    starts = _moment(starts_at, "starts_at", errors)
    ends = None if ends_at in (None, "") else _moment(ends_at, "ends_at", errors)
    if starts and ends and ends <= starts:
        _add(errors, "ends_at", _("The end must come after the start."))
    if kind == EventKind.RESERVED_ITEM and ends_at in (None, ""):
        _add(errors, "ends_at", _("A reserved item needs the end of its hold: no notice is sent after it (R-23)."))
    if starts and abs(starts - timezone.now()) > timedelta(days=5 * 365):
        _add(errors, "starts_at", _("This date is more than five years away: check it."))
    return starts, ends


def clean_params(org, params, errors: dict) -> dict:
    if params in (None, {}):
        return {}
    if not isinstance(params, dict):
        _add(errors, "params", _("Give a JSON object."))
        return {}
    allowed = [name for name in EVENT_PARAMS if PLACEHOLDERS[name][1] or not org.processes_health_data]
    cleaned = {}
    for name, value in params.items():
        if name not in allowed:
            _add(errors, f"params.{name}", _("Not an event value you may give. Allowed: %s.") % ", ".join(allowed))
        elif not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > PARAM_MAX:
            _add(errors, f"params.{name}", _("Give a text of at most %d characters.") % PARAM_MAX)
        else:
            cleaned[name] = str(value).strip()
    return cleaned


def check_contact(org, contact: Contact | None, errors: dict, field: str = "contact") -> None:
    if contact is None or contact.organisation_id != org.pk:
        _add(errors, field, _("Unknown in your organisation."))
    elif contact.status == Contact.Status.ERASED:
        _add(errors, field, _("This contact was erased: no event can be planned for them."))


def check_purpose(org, purpose: Purpose | None, errors: dict, field: str = "purpose") -> None:
    if purpose is None or purpose.organisation_id != org.pk:
        _add(errors, field, _("Unknown in your organisation."))
    elif not purpose.is_active:
        _add(errors, field, _("This purpose is not active: activate it before planning events for it."))


def check_site(org, site, errors: dict, field: str = "site") -> None:
    if site is not None and site.organisation_id != org.pk:
        _add(errors, field, _("Unknown in your organisation."))


def raise_if(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)
