"""What every public page shares: the language chosen by link (?lang=), kept in the language cookie;
the organisation found by its public slug; the person's address truncated; the evidence of a form."""

from __future__ import annotations

import hashlib
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from relance.accounts.models import Organisation
from relance.keystore.services import KeyDestroyed
from relance.lib.net import client_ip
from relance.privacy import intake

LANGUAGES = ("fr", "en")
CNIL_COMPLAINT_URL = "https://www.cnil.fr/plaintes"

BASES = {
    "consent": _("You agreed to receive them. You may withdraw your consent at any time."),
    "contract": _("They are part of a service you asked for (a contract with the organisation)."),
    "legal_obligation": _("The law requires the organisation to send them."),
    "vital_interest": _("They protect someone's life or health."),
    "public_task": _("They are part of the organisation's public service mission."),
    "legitimate_interest": _("The organisation has a legitimate interest in sending them; you may object."),
}
CLASSES = {
    "service": _("Service messages (reminders, notices)"),
    "promotional_commercial": _("Promotional messages"),
    "promotional_noncommercial": _("News and information"),
    "consent_request": _("Requests for your consent"),
}
CHANNEL_NAMES = {"sms": _("SMS"), "email": _("E-mail")}


def _switch(request, current: str) -> list[dict]:
    query = request.GET.copy()
    links = []
    for code in LANGUAGES:
        query["lang"] = code
        info = translation.get_language_info(code)
        links.append({"code": code, "name": info["name_local"], "url": f"{request.path}?{urlencode(query, doseq=True)}",
                      "current": code == current})
    return links


def public_page(view):
    """Activate ?lang=fr|en (and remember it) and give the template the language switch of this page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        chosen = request.GET.get("lang")
        if chosen in LANGUAGES:
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        request.language_switch = _switch(request, translation.get_language() or settings.LANGUAGE_CODE)
        request.embedded = request.GET.get("embed") == "1"
        response = view(request, *args, **kwargs)
        if chosen in LANGUAGES:
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, chosen, max_age=365 * 24 * 3600, samesite="Lax",
                                secure=settings.SESSION_COOKIE_SECURE)
        return response

    return wrapper


def language() -> str:
    current = (translation.get_language() or "fr")[:2]
    return current if current in LANGUAGES else "fr"


def organisation(slug: str) -> Organisation:
    return get_object_or_404(Organisation, slug=slug)


def ip(request) -> str:
    return client_ip(request)


def actor(request):
    """The person on the page: no id, a truncated address (R-65)."""
    return intake.subject(ip(request))


def evidence(request, form_url: str) -> dict:
    """R-10: time is the event's; the IP truncated (by the service), the user agent only as a hash."""
    agent = request.META.get("HTTP_USER_AGENT", "")
    return {"ip": ip(request), "form_url": form_url,
            "user_agent": "sha256:" + hashlib.sha256(agent.encode()).hexdigest() if agent else ""}


def show_errors(form, error: ValidationError) -> None:
    """A service's ValidationError on the form: known fields on their field, the rest on top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


def sealed(value_of) -> str:
    """A sealed organisation field, or "" when its key is gone (the page must still answer)."""
    try:
        return value_of() or ""
    except KeyDestroyed:
        return ""


def masked_phone(phone: str) -> str:
    return "\u00a0".join(["••"] * 4 + [phone[-2:]]) if phone and len(phone) > 4 else ""  # never wraps


def allow_framing(response) -> None:
    """?embed=1: framing only from the origins of RELANCE_EMBED_ORIGINS (none by default)."""
    origins = [o for o in getattr(settings, "RELANCE_EMBED_ORIGINS", []) if o]
    if not origins:
        return
    response.xframe_options_exempt = True
    policy = settings.RELANCE_CSP.replace("frame-ancestors 'none'", "frame-ancestors " + " ".join(origins))
    response.headers["Content-Security-Policy"] = policy
