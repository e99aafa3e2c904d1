"""Template helpers: the navigation a role may see, the permission test, the user's memberships."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from relance.accounts.permissions import allowed
from relance.accounts.services import memberships_of

from .. import second_factor

register = template.Library()

# The menu, in groups. Each entry: (URL name, label, action needed, URL-name prefixes of its pages).
# An entry whose URL does not exist (an area not installed) is left out.
NAV = [
    (_("Overview"), [
        ("backoffice:home", _("Dashboard"), None, ("home",)),
        ("backoffice:messages", _("Messages"), "message.view", ("message",)),
    ]),
    (_("People"), [
        ("backoffice:contacts", _("Contacts"), "message.view", ("contact",)),
        ("backoffice:requests", _("Rights requests"), "rights.manage", ("request", "export")),
        ("backoffice:phone", _("Simulated phone"), "contact.view_personal", ("phone",)),
    ]),
    (_("Reminders and campaigns"), [
        ("backoffice:events", _("Events and reminders"), "message.view", ("event", "reminder")),
        ("backoffice:campaigns", _("Campaigns"), "message.view", ("campaign",)),
        ("backoffice:templates", _("Templates"), "message.view", ("template",)),
        ("backoffice:purposes", _("Purposes and notices"), "organisation.view", ("purpose", "notice")),
        ("backoffice:imports", _("Imports"), "contact.edit", ("import",)),
    ]),
    (_("Compliance"), [
        ("backoffice:register", _("Register (Art. 30)"), "register.view", ("register", "compliance")),
        ("backoffice:retention", _("Retention"), "retention.manage", ("retention", "purge")),
        ("backoffice:breaches", _("Breaches"), "breach.manage", ("breach",)),
        ("backoffice:audit", _("Audit trail"), "audit.view", ("audit",)),
    ]),
    (_("Settings"), [
        ("backoffice:organisation", _("Organisation"), "organisation.view", ("organisation", "sending_settings")),
        ("backoffice:sites", _("Sites"), "organisation.view", ("site",)),
        ("backoffice:members", _("Members"), "member.view", ("member",)),
        ("backoffice:providers", _("Providers"), "provider.manage", ("provider",)),
        ("backoffice:apikeys", _("API keys"), "apikey.manage", ("apikey",)),
        ("backoffice:webhooks", _("Webhooks"), "webhook.manage", ("webhook",)),
    ]),
]
DEMO_ONLY = {"backoffice:phone"}


@register.filter
def can(membership, action: str) -> bool:
    return membership is not None and allowed(membership.role, action)


@register.simple_tag(takes_context=True)
def signed_in_fully(context) -> bool:
    request = context.get("request")
    return bool(request and request.user.is_authenticated and second_factor.pending_step(request) is None)


@register.simple_tag(takes_context=True)
def nav_items(context) -> list[dict]:
    """The groups of the menu the user's role may see: [{"label", "items": [{"url", "label", "current"}]}]."""
    request = context["request"]
    membership = getattr(request, "membership", None)
    current = getattr(request.resolver_match, "url_name", "") or ""
    groups = []
    for group_label, entries in NAV:
        items = []
        for url_name, label, action, prefixes in entries:
            if action is not None and not can(membership, action):
                continue
            if url_name in DEMO_ONLY and not settings.RELANCE_DEMO:
                continue
            try:
                url = reverse(url_name)
            except NoReverseMatch:
                continue
            items.append({"url": url, "label": label, "current": current.startswith(prefixes)})
        if items:
            groups.append({"label": group_label, "items": items})
    return groups


@register.simple_tag(takes_context=True)
def my_memberships(context):
    request = context["request"]
    return list(memberships_of(request.user)) if request.user.is_authenticated else []


@register.filter
def time_left(deadline) -> str:
    """'3 days left', 'due today', 'late by 2 days' for a date or datetime deadline."""
    if deadline is None:
        return ""
    today = timezone.localdate()
    day = timezone.localtime(deadline).date() if hasattr(deadline, "hour") else deadline
    days = (day - today).days
    if days > 0:
        return ngettext("%(n)d day left", "%(n)d days left", days) % {"n": days}
    if days == 0:
        return gettext("due today")
    return ngettext("late by %(n)d day", "late by %(n)d days", -days) % {"n": -days}


@register.filter
def urgency(deadline, soon_days: int = 7) -> str:
    """A CSS class for a deadline: "late", "soon" (within `soon_days`) or ""."""
    if deadline is None:
        return ""
    day = timezone.localtime(deadline).date() if hasattr(deadline, "hour") else deadline
    days = (day - timezone.localdate()).days
    return "late" if days < 0 else "soon" if days <= int(soon_days) else ""


BADGES = {  # status → colour of its badge; anything else is muted
    "ok": {"delivered", "sent", "completed", "active", "given", "done", "notified", "verified", "valid", "running"},
    "warn": {"scheduled", "queued", "deferred", "pending", "paused", "draft", "extended", "received", "in_progress"},
    "danger": {"failed", "expired", "suppressed", "refused", "withdrawn", "objected", "late", "erased", "restricted",
               "cancelled", "invalid", "open"},
}


@register.filter
def badge(status) -> str:
    """The badge class for a status code: badge-ok, badge-warn, badge-danger or badge-muted."""
    code = str(status or "")
    for colour, codes in BADGES.items():
        if code in codes:
            return f"badge-{colour}"
    return "badge-muted"


@register.filter
def label(purpose) -> str:
    """A purpose's name in the language of the page (the other language, then its code, when missing)."""
    if purpose is None:
        return ""
    return purpose.label((translation.get_language() or "fr")[:2])
