"""An organisation's sending settings and its sending windows (R-22) as the worker applies them."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from relance.accounts.models import Organisation

from . import windows
from .models import SendingSettings


def settings_for(org: Organisation) -> SendingSettings:
    """The organisation's settings, created with the defaults on first use."""
    found = SendingSettings.objects.for_org(org).first()
    if found is None:
        found, _ = SendingSettings.objects.for_org(org).get_or_create(organisation=org)
    return found


def sms_sender(org: Organisation, sending: SendingSettings) -> str:
    """The sender the organisation's SMS show: its setting, else the first 11 characters of its slug."""
    return sending.sms_sender or org.slug[:11]


def settings_by_sender(sender: str):
    """The sending settings of every organisation whose SMS show this sender (replies come to it)."""
    by_slug = Q(organisation__slug=sender) | (Q(organisation__slug__startswith=sender) if len(sender) == 11 else Q())
    candidates = SendingSettings.unscoped.filter(Q(sms_sender=sender) | (Q(sms_sender="") & by_slug))
    return [s for s in candidates.select_related("organisation") if sms_sender(s.organisation, s) == sender]


def policy(org: Organisation, message_class: str, sending: SendingSettings) -> windows.WindowPolicy:
    family = windows.family_of(message_class)
    overrides = dict((sending.windows or {}).get(family, {}))
    if sending.holiday_subdivision:
        overrides.setdefault("subdiv", sending.holiday_subdivision)
    return windows.policy_for(message_class, country=org.country, time_zone=org.time_zone, overrides=overrides)


def not_before(org: Organisation, message_class: str, sending: SendingSettings, at: datetime, *,
               urgent: bool = False) -> datetime | None:
    """None when a message of this class may go at `at`, else when the window next opens."""
    rules = policy(org, message_class, sending)
    return windows.next_slot(at, rules, urgent=urgent and rules.urgent_bypass)
