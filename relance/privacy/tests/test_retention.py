"""Retention policies and presets (R-50, R-52): defaults, validation, sources, audit (R-65), and the
`relance purge` command."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from relance.audit.models import AuditEvent
from relance.messaging.models import Message
from relance.messaging.tests.helpers import TUESDAY_MORNING, enqueue, informed_contact, make_template, service_purpose
from relance.privacy import retention
from relance.privacy.models import DataCategory, PurgeReport, RetentionPolicy
from relance.testing import SYSTEM

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_has_a_default_and_a_clock_for_every_category_R50():
    assert set(retention.DEFAULTS) == set(retention.CLOCKS) == set(DataCategory.values)
    assert all(days > 0 for days in retention.DEFAULTS.values())


def test_it_cites_a_source_for_every_preset_R52():
    presets = retention.PRESETS
    assert set(presets) == {"sms_platform", "library", "prospects", "audit_12_months"}
    assert "no legal source" in presets["sms_platform"].source
    assert presets["sms_platform"].days == {"message_content": 183, "message_metadata": 426, "inactive_contacts": 791}
    assert "NS-009" in presets["library"].source and "abrogée" in presets["library"].source
    assert presets["library"].days["inactive_contacts"] == 366 and presets["library"].days["message_metadata"] == 122
    assert "CNIL" in presets["prospects"].source and presets["prospects"].days == {"inactive_contacts": 1096}
    assert "2021-122" in presets["audit_12_months"].source and presets["audit_12_months"].days == {"audit_events": 366}
    assert all(p.notes and set(p.days) <= set(DataCategory.values) for p in presets.values())


def test_it_fills_defaults_and_says_so(world):
    retention.set_policy(world.a, "exports", 7, actor=SYSTEM, source="DPO decision")
    policies = retention.policies_for(world.a)
    assert policies["exports"] == retention.Effective("exports", 7, "", "DPO decision")
    assert policies["audit_events"].is_default and policies["audit_events"].days == 366
    assert retention.policies_for(world.b)["exports"].is_default


def test_it_refuses_unknown_categories_and_bad_durations(world):
    with pytest.raises(ValidationError) as caught:
        retention.set_policy(world.a, "everything", 0, actor=SYSTEM)
    assert set(caught.value.message_dict) == {"category", "days"}
    with pytest.raises(ValidationError):
        retention.set_policy(world.a, "exports", retention.MAX_DAYS + 1, actor=SYSTEM)
    with pytest.raises(ValidationError):
        retention.apply_preset(world.a, "forever", actor=SYSTEM)
    assert not RetentionPolicy.objects.for_org(world.a).exists()


def test_it_applies_a_preset_over_its_categories_only_and_audits_R65(world):
    retention.set_policy(world.a, "audit_events", 200, actor=SYSTEM)
    retention.set_policy(world.a, "inactive_contacts", 10, actor=SYSTEM)
    retention.apply_preset(world.a, "prospects", actor=SYSTEM)
    rows = {r.category: r for r in RetentionPolicy.objects.for_org(world.a)}
    assert rows["inactive_contacts"].days == 1096 and rows["inactive_contacts"].preset == "prospects"
    assert rows["audit_events"].days == 200 and rows["audit_events"].preset == ""
    actions = list(AuditEvent.objects.filter(organisation=world.a, action__startswith="privacy.retention")
                   .order_by("seq").values_list("action", "details"))
    assert actions[1] == ("privacy.retention_set", {"category": "inactive_contacts", "days": 10, "previous_days": None})
    assert actions[2][0] == "privacy.retention_preset_applied" and actions[2][1]["preset"] == "prospects"


def test_the_purge_command_prints_a_summary_and_writes_reports(world):
    with time_machine.travel(TUESDAY_MORNING - timedelta(days=800), tick=True):
        purpose = service_purpose(world.a)
        message = enqueue(informed_contact(world.a, purpose), purpose, make_template(purpose))
        Message.unscoped.filter(pk=message.pk).update(status="delivered")
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        out, err = io.StringIO(), io.StringIO()
        call_command("purge", "--org", world.a.slug, "--dry-run", "--category", "message_metadata", stdout=out, stderr=err)
        assert "would remove" in out.getvalue() and "message_metadata" in out.getvalue()
        assert Message.unscoped.filter(pk=message.pk).exists()
        call_command("purge", "--org", world.a.slug, "--batch", "5", stdout=out, stderr=err)
        assert "message_metadata: 1" in err.getvalue()
        assert not Message.unscoped.filter(pk=message.pk).exists()
        reports = PurgeReport.objects.for_org(world.a).order_by("started_at")
        assert [(r.trigger, r.dry_run) for r in reports] == [("command", True), ("command", False)]
        assert not PurgeReport.objects.for_org(world.b).exists()
        with pytest.raises(CommandError, match="No organisation"):
            call_command("purge", "--org", "nobody-here", stdout=out, stderr=err)
