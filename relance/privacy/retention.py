"""Retention policies (R-50) and their presets (R-52).

A policy is a number of days per organisation and data category (`DataCategory`), counted from the
category's own clock (see `CLOCKS`). An organisation without a policy for a category gets the
default of `DEFAULTS`, and the purge report says so (`"default": true`). Presets set several
categories at once and cite where their durations come from; a preset sets only the categories it
speaks of and leaves the others as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from relance.audit import services as audit
from relance.audit.services import Actor

from .models import DataCategory, RetentionPolicy

CATEGORIES = tuple(DataCategory.values)
MAX_DAYS = 36_600  # a hundred years: beyond that a number is a typing error, not a policy

# What each category's days are counted from (shown to DPOs, in the API and the documentation).
CLOCKS = {
    DataCategory.MESSAGE_CONTENT: gettext_lazy("the message's creation; finished messages only (text and values "
                                               "cleared, the row kept)"),
    DataCategory.MESSAGE_METADATA: gettext_lazy("the message's creation; finished messages only (row and timeline "
                                                "deleted, counted first in the anonymous statistics)"),
    DataCategory.INACTIVE_CONTACTS: gettext_lazy("the contact's last activity: last change, message, reminder event, "
                                                 "consent event or reply (the contact is erased)"),
    DataCategory.DECEASED_CONTACTS: gettext_lazy("the day the contact was marked deceased (the contact is erased)"),
    DataCategory.CONSENT_PROOFS: gettext_lazy("the ledger row's recording, once a newer event replaced it or its "
                                              "contact was erased; only the oldest part of the chain goes"),
    DataCategory.AUDIT_EVENTS: gettext_lazy("the audit event's time; only the oldest part of the chain goes"),
    DataCategory.INBOUND_MESSAGES: gettext_lazy("the reply's reception"),
    DataCategory.EXPORTS: gettext_lazy("the export's creation"),
}

# Used when an organisation set no policy for a category. Why each value:
DEFAULTS = {
    DataCategory.MESSAGE_CONTENT: 183,  # 6 months: the text is proof of what was said, then only a risk
    DataCategory.MESSAGE_METADATA: 366,  # 12 months: delivery questions and disputes; statistics stay
    DataCategory.INACTIVE_CONTACTS: 1096,  # 3 years without activity (the CNIL's duration for prospects)
    DataCategory.DECEASED_CONTACTS: 30,  # erased a month after, unless the person's directives say otherwise
    DataCategory.CONSENT_PROOFS: 1827,  # 5 years: the limitation period (code civil art. 2224) to prove consent
    DataCategory.AUDIT_EVENTS: 366,  # 12 months (CNIL recommendation on logging, 6 to 12 months)
    DataCategory.INBOUND_MESSAGES: 366,  # 12 months, like message metadata
    DataCategory.EXPORTS: 30,  # the person has had a month to fetch it
}


@dataclass(frozen=True)
class Preset:
    code: str
    label: str
    days: dict  # {category: days}
    source: str  # where the durations come from, cited as is
    notes: str = ""  # how the source's words map onto the categories


PRESETS: dict[str, Preset] = {preset.code: preset for preset in (
    Preset("sms_platform", gettext_lazy("SMS platform (messages 6 months, campaigns 14 months, lists 26 months)"),
           {DataCategory.MESSAGE_CONTENT: 183, DataCategory.MESSAGE_METADATA: 426, DataCategory.INACTIVE_CONTACTS: 791},
           "Seed documents of the project (SMS platform marketing pages): no legal source (SPEC §9); offered as a "
           "preset only",
           "messages 6 months → message content; campaigns 14 months → message metadata (campaign results); "
           "lists 26 months → contacts without activity"),
    Preset("library", gettext_lazy("Library (borrower 1 year after the last loan, loan details 4 months after return)"),
           {DataCategory.INACTIVE_CONTACTS: 366, DataCategory.MESSAGE_CONTENT: 122, DataCategory.MESSAGE_METADATA: 122},
           "CNIL, norme simplifiée NS-009 (prêts des bibliothèques et médiathèques), abrogée: no longer binding "
           "since the GDPR, still the CNIL's reference durations",
           "borrower 1 year after the last loan → contacts without activity; loan details 4 months after return → "
           "the loan reminders' content and metadata"),
    Preset("prospects", gettext_lazy("Prospects (3 years after the prospect's last contact)"),
           {DataCategory.INACTIVE_CONTACTS: 1096},
           "CNIL, référentiel « gestion commerciale » (2021), formerly norme simplifiée NS-048 (délibération "
           "n° 2016-264): prospects' data kept 3 years after the last contact from the prospect",
           "3 years after the last contact → contacts without activity"),
    Preset("audit_12_months", gettext_lazy("Audit logs 12 months"),
           {DataCategory.AUDIT_EVENTS: 366},
           "CNIL, délibération n° 2021-122 du 14 octobre 2021, recommandation relative à la journalisation: "
           "logs kept 6 months to 1 year",
           "12 months, the upper bound of the recommendation → audit events"),
)}


@dataclass(frozen=True)
class Effective:
    """The policy in force for one category: the organisation's own, or the default."""

    category: str
    days: int
    preset: str = ""
    source: str = ""
    is_default: bool = False

    def cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days)


def policies_for(org) -> dict[str, Effective]:
    """Every category's policy in force, defaults filled in."""
    own = {row.category: row for row in RetentionPolicy.objects.for_org(org)}
    result = {}
    for category in CATEGORIES:
        row = own.get(category)
        result[category] = (Effective(category, row.days, row.preset, row.source) if row else
                            Effective(category, DEFAULTS[category], "", "default", is_default=True))
    return result


def _check(category: str, days) -> None:
    errors = {}
    if category not in CATEGORIES:
        errors["category"] = [_("Unknown data category. Choose one of: %s.") % ", ".join(CATEGORIES)]
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        errors["days"] = [_("Give a whole number of days between 1 and %d.") % MAX_DAYS]
    if errors:
        raise ValidationError(errors)


def _store(org, category: str, days: int, preset: str, source: str) -> RetentionPolicy:
    row, _created = RetentionPolicy.objects.for_org(org).update_or_create(
        organisation=org, category=category, defaults={"days": days, "preset": preset, "source": source[:300]})
    return row


@transaction.atomic
def set_policy(org, category: str, days: int, *, actor: Actor, source: str = "") -> RetentionPolicy:
    """Keep `category` `days` days (R-50); `source` says where the duration comes from."""
    _check(category, days)
    before = RetentionPolicy.objects.for_org(org).filter(category=category).values_list("days", flat=True).first()
    row = _store(org, category, days, "", source.strip())
    audit.record(org, actor, "privacy.retention_set", target=row,
                 details={"category": category, "days": days, "previous_days": before})
    return row


@transaction.atomic
def apply_preset(org, preset: str, *, actor: Actor) -> list[RetentionPolicy]:
    """Set every category the preset speaks of, citing its source (R-52)."""
    chosen = PRESETS.get(preset)
    if chosen is None:
        raise ValidationError({"preset": [_("Unknown preset. Choose one of: %s.") % ", ".join(PRESETS)]})
    rows = [_store(org, category, days, chosen.code, chosen.source) for category, days in chosen.days.items()]
    audit.record(org, actor, "privacy.retention_preset_applied", target_type="privacy.retentionpolicy",
                 target_id=chosen.code, details={"preset": chosen.code,
                                                 "days": {str(c): d for c, d in chosen.days.items()}})
    return rows
