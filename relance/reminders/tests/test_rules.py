"""Reminder rules (R-27): steps relative to the event, each with a channel and a template; escalation
from e-mail to SMS expressed as steps."""

import pytest
from django.core.exceptions import ValidationError

from relance.audit.models import AuditEvent
from relance.messaging.tests.helpers import make_template, service_purpose
from relance.reminders import services
from relance.reminders.models import ReminderRule
from relance.testing import SYSTEM

from .helpers import ESCALATION, reminder_setup

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_creates_an_escalation_rule_sorted_by_offset_R27(world):
    purpose, rule, _contact = reminder_setup(world.a, steps=list(reversed(ESCALATION)))
    assert [(s["offset_minutes"], s["channel"]) for s in rule.steps] == [(-2880, "email"), (-1440, "email"),
                                                                         (-120, "sms")]
    audit = AuditEvent.objects.filter(organisation=world.a, action="reminder_rule.created").get()
    assert audit.details["steps"] == ["-2880:email:rappel-j2", "-1440:email:rappel-j2", "-120:sms:rappel-h2"]


def test_it_reports_every_bad_step_at_once(world):
    purpose = service_purpose(world.a, channels=["sms"])
    make_template(purpose, channel="sms", code="rappel")
    steps = [{"offset_minutes": 60, "channel": "sms", "template": "rappel"},  # after the appointment
             {"offset_minutes": True, "channel": "sms", "template": "rappel"},
             {"offset_minutes": -60, "channel": "email", "template": "rappel"},  # not a channel of the purpose
             {"offset_minutes": -30, "channel": "sms", "template": "nope"},
             {"offset_minutes": -10, "channel": "sms", "template": "rappel", "colour": "red"}]
    with pytest.raises(ValidationError) as caught:
        services.create_rule(world.a, actor=SYSTEM, purpose=purpose, event_kind="appointment", name="x", steps=steps)
    fields = caught.value.message_dict
    assert set(fields) == {"steps.0.offset_minutes", "steps.1.offset_minutes", "steps.2.channel", "steps.3.template",
                           "steps.4.colour"}
    assert "R-23" in fields["steps.0.offset_minutes"][0]
    assert not ReminderRule.objects.for_org(world.a).exists()


def test_it_allows_steps_after_a_loan_due_date(world):
    purpose, rule, _contact = reminder_setup(world.a, kind="loan_due")
    assert [s["offset_minutes"] for s in rule.steps] == [4320, 14400, 30240]


def test_it_refuses_a_second_active_rule_then_allows_it_after_deactivation(world):
    purpose, rule, _contact = reminder_setup(world.a)
    with pytest.raises(ValidationError) as caught:
        services.create_rule(world.a, actor=SYSTEM, purpose=purpose, event_kind="appointment", name="bis",
                             steps=ESCALATION)
    assert "event_kind" in caught.value.message_dict
    services.deactivate_rule(rule, actor=SYSTEM)
    again = services.create_rule(world.a, actor=SYSTEM, purpose=purpose, event_kind="appointment", name="bis",
                                 steps=ESCALATION[:1])
    assert again.active and len(again.steps) == 1


def test_it_updates_steps_and_refuses_changes_to_a_deactivated_rule(world):
    purpose, rule, _contact = reminder_setup(world.a)
    rule = services.update_rule(rule, actor=SYSTEM, steps=ESCALATION[2:], name="SMS seulement")
    assert rule.name == "SMS seulement" and [s["channel"] for s in rule.steps] == ["sms"]
    services.deactivate_rule(rule, actor=SYSTEM)
    with pytest.raises(ValidationError):
        services.update_rule(rule, actor=SYSTEM, name="encore")


def test_it_refuses_a_purpose_of_another_organisation_R63(world):
    purpose, _rule, _contact = reminder_setup(world.a)
    with pytest.raises(ValidationError) as caught:
        services.create_rule(world.b, actor=SYSTEM, purpose=purpose, event_kind="convocation", name="x",
                             steps=ESCALATION)
    assert "purpose" in caught.value.message_dict
    assert not ReminderRule.objects.for_org(world.b).exists()
