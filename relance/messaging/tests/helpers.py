"""Builders for messaging tests: a purpose ready to send, its templates, informed contacts, due messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from relance.consent import services as consent
from relance.consent.tests.helpers import make_consent_purpose, make_purpose, notice_of
from relance.messaging import outbox
from relance.messaging.models import Template
from relance.testing import SYSTEM, make_contact

SMS_BODY = "Bonjour {first_name}, rappel : {org} vous attend {date} à {time}. {stop}"
EMAIL_BODY = "Bonjour {first_name},\n\nRappel : {org} vous attend {date} à {time}.\n"


def make_template(purpose, *, channel="sms", language="fr", code="rappel", body=None, subject="Rappel"):
    """A template row (templates' own services and linter are tested in test_templates.py)."""
    return Template.objects.create(
        organisation_id=purpose.organisation_id, purpose=purpose, code=code, channel=channel, language=language,
        body=body or (SMS_BODY if channel == "sms" else EMAIL_BODY), subject=subject if channel == "email" else "")


def service_purpose(org, **overrides):
    return make_purpose(org, **overrides)


def informed_contact(org, purpose, **overrides):
    """A contact told about the purpose (R-04), so a non-consent purpose may message them."""
    contact = make_contact(org, **overrides)
    consent.record_information(purpose, notice_of(purpose), actor=SYSTEM, method="web_form", contact=contact)
    return contact


def promotional_purpose(org, **overrides):
    return make_consent_purpose(org, **overrides)


def enqueue(contact, purpose, template, *, channel="sms", due_at=None, **fields):
    with transaction.atomic():
        return outbox.enqueue(contact, purpose, channel, template=template, due_at=due_at or timezone.now(),
                              source=fields.pop("source", "api"), params=fields.pop("params", None)
                              or {"starts_at": (timezone.now() + timedelta(days=2)).isoformat()}, **fields)


# A Tuesday, 10:00 in Paris: inside every default sending window, so tests that are not
# about windows do not depend on the hour they run at.
TUESDAY_MORNING = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
