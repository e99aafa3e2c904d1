"""Checking one row of a contacts file with the contacts service's own cleaners, so that a dry run
and the real import agree (the real import then calls create_contact / update_contact, which clean
the same values again).

Pure except for the keyed hashes (the key store's cached index key): no query, no write. What needs
the database (the STOP list, existing contacts, duplicates across the file) is in services.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from relance.accounts.models import Organisation, Site
from relance.contacts.services import index_for
from relance.contacts.validation import clean_each, minor_conflict

from .csv_import import CONSENT_FIELDS, Header, Problem

VALID, INVALID, QUARANTINED, SUPPRESSED = "valid", "invalid", "quarantined", "suppressed"
SEVERITY = {VALID: 0, QUARANTINED: 1, SUPPRESSED: 2, INVALID: 3}  # a row counts once, under its worst
FUTURE_SKEW = timedelta(minutes=5)
PROOF_MAX = {"consent_source": 300, "consent_ref": 200, "consent_collector": 200}
TRUE = {"oui", "o", "yes", "y", "true", "vrai", "1", "x"}
FALSE = {"non", "n", "no", "false", "faux", "0"}
LANGUAGES = {"fr": "fr", "francais": "fr", "français": "fr", "french": "fr", "en": "en", "anglais": "en",
             "english": "en"}
CHANNELS = {"sms": {"sms"}, "email": {"email"}, "e-mail": {"email"}, "courriel": {"email"}, "mail": {"email"},
            "sms+email": {"sms", "email"}, "sms,email": {"sms", "email"}, "sms email": {"sms", "email"},
            "both": {"sms", "email"}, "tous": {"sms", "email"}, "les deux": {"sms", "email"}}
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T](\d{1,2})[:h](\d{2})(?::(\d{2}))?)?$")


@dataclass(frozen=True)
class ConsentRule:
    """What the batch's purpose asks of each row (R-15) and what an imported consent becomes."""

    proof_required: bool  # promotional: a row without every proof column is quarantined
    records_consent: bool  # the purpose rests on consent: a proven row gets a `given` event
    channels: tuple[str, ...]
    validity_days: int | None


@dataclass
class Context:
    org: Organisation
    now: datetime
    sites: dict[str, Site]  # by code, lower case
    consent: ConsentRule | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.org.time_zone)


@dataclass
class Row:
    line: int
    values: dict = field(default_factory=dict)  # for create_contact / update_contact, as checked; given cells only
    proof: dict | None = None  # evidence for the consent event, with "occurred_at" and "channels"
    problems: list[Problem] = field(default_factory=list)
    status: str = VALID
    phone_index: str | None = None
    email_index: str | None = None
    ref_index: str | None = None
    contact_id: object = None  # the existing contact with this external reference, if any

    def refuse(self, status: str, problem: Problem) -> None:
        self.problems.append(problem)
        if SEVERITY[status] > SEVERITY[self.status]:
            self.status = status


# --- conversions of what spreadsheets hold ------------------------------------------------------
def parse_when(text: str, tz: ZoneInfo) -> datetime | None:
    """DD/MM/YYYY (French), YYYY-MM-DD (ISO), optionally with a time; None when it is neither."""
    match = _DMY.match(text)
    try:
        if match:
            day, month, year, hour, minute, second = (int(g) if g else 0 for g in match.groups())
            value = datetime(year, month, day, hour, minute, second)
        else:
            if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
                return None
            value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=tz)


def parse_date(text: str) -> str | None:
    when = parse_when(text, ZoneInfo("UTC"))
    return when.date().isoformat() if when else None


# --- error codes --------------------------------------------------------------------------------
def known_messages() -> dict[str, str]:
    """The contacts cleaners' messages (in the active language) and the stable code of each."""
    return {
        _("This is not a phone number."): "not_a_phone",
        _("This phone number is not valid for its country."): "invalid_phone",
        _("This number cannot receive text messages (it is not a mobile number)."): "not_mobile",
        _("This is not a valid e-mail address."): "invalid_email",
        _("The birth date cannot be in the future."): "future_date",
        _("The birth date cannot be before 1900."): "too_old",
        _("Give the birth date as YYYY-MM-DD."): "invalid_date",
        _("Give true or false."): "invalid_yes_no",
    }


def code_of(name: str, message: str, known: dict[str, str]) -> str:
    if message in known:
        return known[message]
    if message.startswith(_("Give at most %(max)d characters.").split("%", 1)[0]):
        return "too_long"
    if name == "language":
        return "unknown_language"
    return "invalid"


# --- one row ------------------------------------------------------------------------------------
def check_row(header: Header, line: int, cells: list[str], ctx: Context, known: dict[str, str]) -> Row:
    row = Row(line)
    if any(c.strip() for c in cells[len(header.columns):]):
        row.refuse(INVALID, Problem(line, "", "", "extra_values", _(
            "This row has more values than the header has columns: a separator is probably missing or extra.")))
    raw = {name: cells[i].strip() for i, name in enumerate(header.fields) if name and i < len(cells) and cells[i].strip()}

    def problem(name: str, code: str, message: str, status: str = INVALID) -> None:
        row.refuse(status, Problem(line, header.column_of(name), name, code, message))

    given = _convert(raw, ctx, problem)
    values, errors = clean_each(ctx.org, given)
    for name, messages in errors.items():
        for message in messages:
            problem(name, code_of(name, message, known), message)
    if minor_conflict(values.get("birth_date"), values.get("minor")):
        problem("minor", "contradicts_birth_date", _("This contradicts the birth date: leave one of the two empty "
                                                     "or correct it."))
    # What the contacts service is given is what it was checked with (it cleans it again).
    row.values = {name: value for name, value in given.items() if name not in errors}
    if "site" in raw:
        row.values["site"] = ctx.sites.get(raw["site"].lower())
        if row.values["site"] is None:
            problem("site", "unknown_site", _("No site of your organisation has this code."))
    _proof(row, raw, ctx, problem)
    row.phone_index = index_for(ctx.org, "phone", values.get("phone"))
    row.email_index = index_for(ctx.org, "email", values.get("email"))
    row.ref_index = index_for(ctx.org, "external_ref", values.get("external_ref"))
    return row


def _convert(raw: dict[str, str], ctx: Context, problem) -> dict:
    """Spreadsheet text to what the contacts cleaners take."""
    given = {name: raw[name] for name in ("first_name", "last_name", "phone", "email", "external_ref") if name in raw}
    if "birth_date" in raw:
        iso = parse_date(raw["birth_date"])
        if iso is None:
            problem("birth_date", "invalid_date", _("Give the date as DD/MM/YYYY or YYYY-MM-DD."))
        else:
            given["birth_date"] = iso
    if "minor" in raw:
        word = raw["minor"].lower()
        if word in TRUE | FALSE:
            given["minor"] = word in TRUE
        else:
            problem("minor", "invalid_yes_no", _("Give yes or no (oui or non)."))
    if "language" in raw:
        given["language"] = LANGUAGES.get(raw["language"].lower().replace("_", "-").split("-")[0],
                                          raw["language"].lower())
    return given


def _proof(row: Row, raw: dict[str, str], ctx: Context, problem) -> None:
    """R-15: the four proof columns, all or none; for a promotional purpose, none means quarantine."""
    rule = ctx.consent
    if rule is None or not (rule.proof_required or rule.records_consent):
        return
    present = [name for name in CONSENT_FIELDS if name in raw]
    if not present and not rule.proof_required:
        return
    missing = [name for name in CONSENT_FIELDS if name not in raw]
    for name in missing:
        problem(name, "missing_consent_proof", _("The proof of consent is incomplete: this column is empty (R-15). "
                                                 "The row is kept out until the proof is given."), QUARANTINED)
    for name, max_length in PROOF_MAX.items():
        if len(raw.get(name, "")) > max_length:
            problem(name, "too_long", _("Give at most %(max)d characters.") % {"max": max_length})
    occurred_at = None
    if "consent_date" in raw:
        occurred_at = parse_when(raw["consent_date"], ctx.tz)
        if occurred_at is None:
            problem("consent_date", "invalid_date", _("Give the date as DD/MM/YYYY or YYYY-MM-DD."))
        elif occurred_at > ctx.now + FUTURE_SKEW:
            problem("consent_date", "future_date", _("The consent cannot be dated in the future."))
        elif rule.validity_days and occurred_at + timedelta(days=rule.validity_days) <= ctx.now:
            problem("consent_date", "consent_expired", _("This consent is older than the purpose's validity "
                                                         "(%(days)d days): ask for it again.")
                    % {"days": rule.validity_days}, QUARANTINED)
    channels = None
    if "consent_channel" in raw:
        channels = CHANNELS.get(raw["consent_channel"].lower())
        if channels is None or not channels <= set(rule.channels):
            problem("consent_channel", "invalid_channel", _("Give a channel of the purpose: %(channels)s.")
                    % {"channels": ", ".join(rule.channels)})
    if missing or row.status != VALID:
        return
    row.proof = {"source": raw["consent_source"], "form_ref": raw["consent_ref"],
                 "original_collector": raw["consent_collector"], "collected_at": occurred_at.isoformat(),
                 "occurred_at": occurred_at, "channels": channels}
