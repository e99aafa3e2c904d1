"""What the template editor's preview panel shows (R-24, R-25, R-26), from
relance.messaging.templates.preview(): the text with sample values and the characters forcing
UCS-2 marked, the encoding, the exact count, the characters that count double, the transliterated
suggestion (when the organisation allows it) and the checker's errors and warnings."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from relance.consent.models import Purpose
from relance.lib import sms_text
from relance.messaging import lint
from relance.messaging import templates as editor
from relance.messaging.models import Template
from relance.messaging.render import PLACEHOLDERS
from relance.messaging.sending import settings_for


def marked(text: str, characters) -> str:
    """The text, escaped, with each character that forces UCS-2 in a <mark>."""
    forcing = set(characters)
    return format_html_join("", "{}", ((format_html('<mark class="ucs2">{}</mark>', ch) if ch in forcing else ch,)
                                       for ch in text))


def label(ch: str) -> str:
    """A character as a person can see it: invisible and space-like ones by their code (U+00A0)."""
    if ch.isspace() or unicodedata.category(ch) in {"Cf", "Mn", "Zs", "Cc"}:
        return f"U+{ord(ch):04X}"
    return ch


def placeholders(org) -> list[str]:
    """The placeholders a template of this organisation may use (R-24 narrows them for health data)."""
    names = [name for name, (_what, health) in PLACEHOLDERS.items()
             if name not in lint.OFF_BY_DEFAULT and (health or not org.processes_health_data)]
    return [lint.braced(name) for name in names]


def double_cost(text: str) -> list[str]:
    """GSM extension characters (€ [ ] { } ~ ^ \\ |): two septets each (R-26)."""
    return list(dict.fromkeys(ch for ch in text if ch in sms_text.GSM_EXTENSION and ch != "\f"))


def panel(org, *, body: str, channel: str, language: str, purpose: Purpose | None, subject: str = "",
          transliterate: bool = False, template: Template | None = None) -> dict:
    """The preview panel's context; `problems` lists input errors instead when the preview cannot run."""
    message_class = (purpose.message_class if purpose is not None else "") or "service"
    try:
        result = editor.preview(org, body=body or "", channel=channel, language=language, message_class=message_class,
                                subject=subject or "", transliterate=transliterate,
                                overrides=template.lint_override if template is not None else ())
    except ValidationError as error:
        return {"problems": error.messages, "empty": False}
    sending = settings_for(org)
    figures = {
        "result": result, "empty": not (body or "").strip(), "channel": channel, "purpose": purpose,
        "sms": channel == "sms", "marked_text": marked(result["text"], result["ucs2_characters"]),
        "double": double_cost(result["text"]) if result["encoding"] == sms_text.GSM7 else [],
        "ucs2_labels": [label(ch) for ch in result["ucs2_characters"]],
        "gsm": result["encoding"] == sms_text.GSM7, "allow_transliteration": sending.allow_transliteration,
        "health_words": [p["word"] for p in result["errors"] if p["code"] == "health_word"],
    }
    if result["segments"]:
        single, multi = sms_text.LIMITS[result["encoding"]]
        figures.update(single=single, multi=multi)
    return figures
