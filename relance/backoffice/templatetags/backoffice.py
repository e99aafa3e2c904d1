"""Template helpers: the navigation a role may see, the permission test, the user's memberships."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from relance.accounts.permissions import allowed
from relance.accounts.services import memberships_of

from .. import second_factor

register = template.Library()

# (URL name, label, action needed, URL names that belong to the section)
NAV = [
    ("backoffice:home", _("Dashboard"), None, {"home"}),
    ("backoffice:organisation", _("Organisation"), "organisation.view", {"organisation", "organisation_edit"}),
    ("backoffice:sites", _("Sites"), "organisation.view", {"sites", "site_create", "site_edit"}),
    ("backoffice:members", _("Members"), "member.view", {"members", "member_add", "member_role", "member_remove"}),
    ("backoffice:apikeys", _("API keys"), "apikey.manage", {"apikeys", "apikey_create", "apikey_revoke"}),
    ("backoffice:audit", _("Audit trail"), "audit.view", {"audit"}),
    ("backoffice:phone", _("Simulated phone"), "contact.view_personal", {"phone"}),
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
    request = context["request"]
    membership = getattr(request, "membership", None)
    current = getattr(request.resolver_match, "url_name", "")
    return [
        {"url_name": url_name, "label": label, "current": current in names}
        for url_name, label, action, names in NAV
        if (action is None or can(membership, action)) and (url_name not in DEMO_ONLY or settings.RELANCE_DEMO)
    ]


@register.simple_tag(takes_context=True)
def my_memberships(context):
    request = context["request"]
    return list(memberships_of(request.user)) if request.user.is_authenticated else []
