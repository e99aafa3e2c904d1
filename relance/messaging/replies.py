"""The texts of automatic replies (STOP acknowledgement R-32, INFO R-30, START), in the message's language.

A reply is a Message with source "reply", no purpose and no template; its sealed params hold
{"reply": <kind>}. The worker renders it with `reply_text(kind, org, sending, language)`. The texts
keep to the GSM 03.38 alphabet so that each stays one SMS part for usual organisation names: the
acknowledgement must cost the person nothing beyond their STOP (R-32).
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from relance.contacts import links
from relance.keystore.services import KeyDestroyed

from .render import RenderError

STOP_ACK, START_ACK, INFO = "stop_ack", "start_ack", "info"
RIGHTS_CODE = "rights_code"  # the one-time code of a public rights request (privacy/intake.py)
CONSENT_CODE = "consent_code"  # the one-time code of the public consent form (privacy/intake.py)
KINDS = (STOP_ACK, START_ACK, INFO, RIGHTS_CODE, CONSENT_CODE)


def preference_link(contact=None) -> str:
    """Where a person manages their preferences: the contact's own signed link (/p/s/<token>/,
    relance.contacts.links), or the public pages' home when no contact is known."""
    if contact is not None:
        return links.url_for(contact)
    base = getattr(settings, "RELANCE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/p/"


def _dpo(org) -> str:
    try:
        return org.dpo_email or ""
    except KeyDestroyed:  # an unreadable sealed value must not keep the person from their answer
        return ""


def _text(kind: str, org, params: dict, contact=None) -> str:
    if kind == CONSENT_CODE:
        return _("%(org)s: your code to confirm your number is %(code)s. It expires in 10 minutes.") % {
            "org": org.name, "code": params.get("code", "")}
    if kind == RIGHTS_CODE:
        return _("%(org)s: your code for your data request is %(code)s. It expires in 10 minutes.") % {
            "org": org.name, "code": params.get("code", "")}
    if kind == STOP_ACK:
        return _("You will no longer receive SMS from %(org)s. Reply START to receive them again.") % {
            "org": org.name}
    if kind == START_ACK:
        return _("%(org)s: your answer is recorded. Reply STOP at any time to receive no more SMS.") % {
            "org": org.name}
    dpo = _dpo(org)
    text = _("These SMS are sent by %(org)s (controller).") % {"org": org.name}
    if dpo:
        text += " " + _("Data protection officer: %(dpo)s.") % {"dpo": dpo}
    return text + " " + _("Your choices: %(link)s. Reply STOP to receive no more SMS.") % {"link": preference_link(contact)}


def reply_text(kind: str, org, sending, language: str, params: dict | None = None, contact=None) -> str:
    """The text of one automatic reply; `sending` is the organisation's SendingSettings, `params`
    the message's sealed params (the one-time code of RIGHTS_CODE), `contact` the person whose
    signed preference link INFO carries."""
    if kind not in KINDS:
        raise RenderError(f"unknown automatic reply {kind!r}")
    with translation.override(language if language in ("fr", "en") else "fr"):
        return _text(kind, org, params or {}, contact)
