"""Builders for reminder tests: a purpose with e-mail and SMS templates, an escalation rule, events."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from relance.messaging.models import Message
from relance.messaging.tests.helpers import informed_contact, make_template, service_purpose
from relance.reminders import services
from relance.testing import SYSTEM

# R-27 escalation: e-mail two days and one day before, then an SMS two hours before.
ESCALATION = [{"offset_minutes": -2880, "channel": "email", "template": "rappel-j2"},
              {"offset_minutes": -1440, "channel": "email", "template": "rappel-j2"},
              {"offset_minutes": -120, "channel": "sms", "template": "rappel-h2"}]
LOAN_STEPS = [{"offset_minutes": 3 * 1440, "channel": "sms", "template": "retard"},
              {"offset_minutes": 10 * 1440, "channel": "sms", "template": "retard"},
              {"offset_minutes": 21 * 1440, "channel": "email", "template": "retard"}]
LOAN_SMS = "Bonjour {first_name}, votre prêt était à rendre le {due_date} à {place}. {stop}"


def reminder_setup(org, *, kind="appointment", steps=None):
    """A purpose with templates, an active rule for `kind`, and an informed contact."""
    purpose = service_purpose(org)
    for code, channel in (("rappel-j2", "email"), ("rappel-h2", "sms"), ("retard", "sms"), ("retard", "email")):
        body = LOAN_SMS if code == "retard" and channel == "sms" else None
        make_template(purpose, channel=channel, code=code, body=body)
    rule = services.create_rule(org, actor=SYSTEM, purpose=purpose, event_kind=kind, name=f"Rappels {kind}",
                                steps=steps or (LOAN_STEPS if kind == "loan_due" else ESCALATION))
    return purpose, rule, informed_contact(org, purpose)


def upsert(org, contact, purpose, *, external_id="RDV-1", kind="appointment", starts_at=None, **extra):
    return services.upsert_event(org, actor=SYSTEM, external_id=external_id, kind=kind, contact=contact,
                                 purpose=purpose, starts_at=starts_at or timezone.now() + timedelta(days=3), **extra)


def messages_of(event, *statuses):
    rows = Message.objects.for_org(event.organisation_id).filter(source="event", source_id=str(event.pk))
    if statuses:
        rows = rows.filter(status__in=statuses)
    return list(rows.order_by("step", "created_at"))


def make_rule(org):
    """A rule (with its purpose and templates): the builder for rule_id (tests/test_isolation.py)."""
    purpose = service_purpose(org)
    make_template(purpose, channel="sms", code="rappel-h2")
    return services.create_rule(org, actor=SYSTEM, purpose=purpose, event_kind="appointment", name="Rappels",
                                steps=ESCALATION[2:])


def make_event(org):
    """An event with its contact, purpose and rule: the builder for event_id."""
    rule = make_rule(org)
    contact = informed_contact(org, rule.purpose)
    return upsert(org, contact, rule.purpose, external_id=f"ISO-{contact.pk}")[0]
