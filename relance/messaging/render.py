"""Placeholders and rendering: a template's text with a message's values in it.

Placeholders are written `{first_name}`; the allow-list below is THE list of what a template may
use (the health linter, R-24, narrows it for organisations processing health data). Rendering is
pure: `render_text(template_text, values, language)`; `context_for(message)` gathers the values of
one message (contact, organisation, sending settings, the message's sealed parameters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from relance.lib import sms_text

PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")

# name: (what it is, allowed for health organisations)
PLACEHOLDERS: dict[str, tuple[str, bool]] = {
    "first_name": ("the person's first name", True),
    "initials": ("the person's initials", True),
    "last_name": ("the person's last name", False),
    "date": ("the event's date, in the person's language", True),
    "time": ("the event's time", True),
    "place": ("the place or practice name", True),
    "site": ("the site's name", True),
    "callback": ("the call-back number", True),
    "link": ("the preference or confirmation link", True),
    "notice_link": ("the link to the full notice (consent requests, R-28)", True),
    "org": ("the organisation's name", True),
    "sender": ("the sender's identity (R-25)", True),
    "stop": ("the free opt-out mention, e.g. STOP au 36111 (R-25)", True),
    "keyword": ("the reply keyword (OUI/YES, R-28)", True),
    "due_date": ("a loan's due date", True),
    "count": ("a number of items (never titles, R-24)", True),
    "item_title": ("a library item's title (off by default, R-24)", False),
    "reason": ("the reason for a visit (never for health organisations, R-24)", False),
}

MONTHS = {
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
}
WEEKDAYS = {
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}


class RenderError(ValueError):
    pass


@dataclass(frozen=True)
class Rendered:
    text: str
    subject: str = ""
    encoding: str = ""
    segments: int = 0


def placeholders_in(text: str) -> list[str]:
    return PLACEHOLDER_RE.findall(text or "")


def format_date(moment: datetime, language: str, tz: str) -> str:
    local = moment.astimezone(ZoneInfo(tz))
    lang = language if language in MONTHS else "fr"
    weekday, month = WEEKDAYS[lang][local.weekday()], MONTHS[lang][local.month - 1]
    return f"{weekday} {local.day} {month}"


def format_time(moment: datetime, language: str, tz: str) -> str:
    local = moment.astimezone(ZoneInfo(tz))
    if language == "en":
        return local.strftime("%H:%M")
    return f"{local.hour}h{local.minute:02d}"


class _Values(dict):
    def __missing__(self, key):
        raise RenderError(f"no value for the placeholder {{{key}}}")


def render_text(text: str, values: dict, *, transliterate: bool = False) -> str:
    """Replace every {placeholder}; a missing value is an error, never an empty hole in a message."""
    unknown = [name for name in placeholders_in(text) if name not in PLACEHOLDERS]
    if unknown:
        raise RenderError(f"unknown placeholder {{{unknown[0]}}}")
    # Only {name} fields: literal braces elsewhere in the text stay as they are.
    out = PLACEHOLDER_RE.sub(lambda m: str(_Values(values)[m.group(1)]), text)
    if transliterate:
        out = sms_text.transliterate(out)
    return out


def initials(first_name: str, last_name: str) -> str:
    return "".join(f"{part[:1].upper()}." for part in (first_name, last_name) if part)


def message_values(message, *, org, sending, link: str | Callable[[], str] = "", wanted: Iterable[str] | None = None) -> dict:
    """The placeholder values of one message; the event's values (date, place...) come from its params,
    which win over the computed ones. With `wanted` (the names a template uses), only those are
    computed: a name nobody reads is not decrypted (last name), derived (initials) or signed (link).
    `link` may be a callable, called only when {link} is wanted."""
    params = json.loads(message.params) if message.params else {}
    starts = params.pop("starts_at", None)
    names = PLACEHOLDERS if wanted is None else wanted
    values = {}
    for name in names:
        if name in params:
            values[name] = str(params[name])
        elif name in _COMPUTED:
            values[name] = _COMPUTED[name](message, org, sending, link)
        elif name in ("date", "time") and starts:
            moment = datetime.fromisoformat(starts)
            values[name] = (format_date if name == "date" else format_time)(moment, message.language, org.time_zone)
    return values


def _link(message, org, sending, link) -> str:
    return link() if callable(link) else link


_COMPUTED = {
    "first_name": lambda message, org, sending, link: message.contact.first_name or "",
    "last_name": lambda message, org, sending, link: message.contact.last_name or "",
    "initials": lambda message, org, sending, link: initials(message.contact.first_name or "",
                                                             message.contact.last_name or ""),
    "org": lambda message, org, sending, link: org.name,
    "sender": lambda message, org, sending, link: sending.sms_sender or org.name,
    "stop": lambda message, org, sending, link: sending.stop_mention or "",
    "link": _link,
    "keyword": lambda message, org, sending, link: "OUI" if message.language == "fr" else "YES",
}


def template_placeholders(template) -> frozenset[str]:
    """The placeholder names of a template's body and subject (kept on the instance: a worker's batch
    shares one instance per template)."""
    key = (template.body, template.subject)
    cached = getattr(template, "_placeholders", None)
    if cached is None or cached[0] != key:
        cached = (key, frozenset(placeholders_in(template.body)) | frozenset(placeholders_in(template.subject)))
        template._placeholders = cached
    return cached[1]


def render_message(message, *, org, sending, link: str | Callable[[], str] = "") -> Rendered:
    template = message.template
    if template is None:
        raise RenderError("the message has no template")
    values = message_values(message, org=org, sending=sending, link=link, wanted=template_placeholders(template))
    allow = template.transliterate and sending.allow_transliteration
    text = render_text(template.body, values, transliterate=allow and message.channel == "sms")
    subject = render_text(template.subject, values) if message.channel == "email" else ""
    return rendered(text, message.channel, subject)


def rendered(text: str, channel: str, subject: str = "") -> Rendered:
    """The text as it leaves, with its SMS encoding and part count (R-26)."""
    if channel != "sms":
        return Rendered(text, subject)
    analysis = sms_text.analyse(text)
    return Rendered(text, "", analysis.encoding, analysis.segments)
