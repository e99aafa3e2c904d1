"""Builders for consent tests (and tests/test_isolation.py): complete purposes, notices, events."""

from __future__ import annotations

import itertools

from relance.consent import services
from relance.consent.models import ConsentEvent, Purpose
from relance.testing import SYSTEM, make_contact

_counter = itertools.count(1)

NOTICE_FR = "Texte d'information en français : responsable, finalité, base légale, durée, droits, STOP, CNIL."
NOTICE_EN = "Notice in English: controller, purpose, legal basis, retention, rights, STOP, CNIL."


def purpose_values(org, **overrides) -> dict:
    """Every field activation needs, for a service purpose on public task (or `overrides`)."""
    values = {
        "label_fr": "Rappels de retard", "label_en": "Overdue reminders",
        "message_class": "service", "legal_basis": "public_task",
        "data_categories": ["identity", "contact", "loan"], "recipients": ["Staff", "Relance (processor)"],
        "retention": "4 months after the return of the item", "retention_days": 120,
        "channels": ["sms", "email"],
    }
    if org.processes_health_data:
        values.update(art9_condition="h", dpia_ref="DPIA-2026-01", data_categories=["identity", "contact", "health"])
    values.update(overrides)
    return values


def make_purpose(org, *, code: str | None = None, activate: bool = True, notices: bool = True, **overrides) -> Purpose:
    purpose = services.create_purpose(org, actor=SYSTEM, code=code or f"purpose-{next(_counter)}",
                                      **purpose_values(org, **overrides))
    if notices:
        for language, text in (("fr", NOTICE_FR), ("en", NOTICE_EN)):
            services.publish_notice(purpose, actor=SYSTEM, language=language, text=text)
    if activate:
        purpose = services.activate_purpose(purpose, actor=SYSTEM)
    return purpose


def make_consent_purpose(org, **overrides) -> Purpose:
    values = {"label_fr": "Actualités", "label_en": "News", "message_class": "promotional_noncommercial",
              "legal_basis": "consent", "consent_validity_days": 365}
    if org.processes_health_data:
        values.update(art9_condition="none", data_categories=["identity", "contact"])
    values.update(overrides)
    return make_purpose(org, **values)


def notice_of(purpose: Purpose, language: str = "fr"):
    return services.current_notice(purpose, language)


def give(contact, purpose, channel="sms", **kwargs) -> ConsentEvent:
    values = {"actor": SYSTEM, "expressed_by": "subject", "method": "web_form",
              "notice": notice_of(purpose, kwargs.pop("language", "fr")),
              "evidence": {"ip": "203.0.113.77", "user_agent": "Mozilla/5.0", "form_url": "https://example.org/f"}}
    values.update(kwargs)
    return services.record_consent(contact, purpose, channel, "given", **values)


def make_event(org) -> ConsentEvent:
    """A `given` event (with its contact and purpose) in `org`: the builder for consentevent_id."""
    return give(make_contact(org), make_consent_purpose(org))
