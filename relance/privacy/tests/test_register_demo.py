"""The register of every demo organisation has no empty mandatory field (issue 6, R-70), and the
demo's privacy set-up is idempotent."""

from __future__ import annotations

import pytest

from relance.accounts.models import Organisation
from relance.audit.models import AuditEvent
from relance.ops.demo import ORGANISATIONS, load_demo
from relance.ops.demo_messaging import load_messaging_demo
from relance.privacy import compliance, register
from relance.privacy.models import ControllerProfile, RetentionPolicy

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture
def demo(db_both, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # no password is checked here
    load_demo()
    load_messaging_demo()
    return {spec["slug"]: Organisation.objects.get(slug=spec["slug"]) for spec in ORGANISATIONS}


def test_it_gives_every_demo_organisation_a_complete_register_r70(demo):
    for slug, org in demo.items():
        for language in ("fr", "en"):
            record = register.build_register(org, language=language)
            assert register.missing_fields(record) == [], (slug, language)
            assert record["activities"], slug
        if org.processes_health_data:
            assert all(d["ref"] == "AIPD-DEMO-2026" for d in register.build_register(org)["dpia"]), slug


def test_it_applies_retention_presets_to_the_demo_r52(demo):
    library = RetentionPolicy.objects.for_org(demo["mediatheques-valmont"])
    assert {p.preset for p in library} == {"library", "audit_12_months"}
    clinic = RetentionPolicy.objects.for_org(demo["cabinet-tilleuls"])
    assert {p.preset for p in clinic} == {"sms_platform", "audit_12_months"}


def test_it_changes_nothing_when_the_demo_runs_again(demo):
    before = (AuditEvent.objects.count(), ControllerProfile.unscoped.count(), RetentionPolicy.unscoped.count())
    load_demo()
    assert (AuditEvent.objects.count(), ControllerProfile.unscoped.count(), RetentionPolicy.unscoped.count()) == before


def test_it_builds_the_demo_compliance_report_and_pdf(demo):
    org = demo["cabinet-tilleuls"]
    report = compliance.monthly_report(org, 2026, 10, language="fr")
    assert report["dpia"][0]["ok"] is True
    assert compliance.render(report, "pdf").startswith(b"%PDF")
    assert register.build_processor_record(language="en")["controllers"]
