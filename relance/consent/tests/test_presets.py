"""Preset purposes per kind of organisation (R-01, R-04, R-72): complete, with real French and English
notices, activated cleanly, idempotent."""

import pytest
from django.core.management import CommandError, call_command

from relance.accounts.models import Organisation
from relance.audit.models import AuditEvent
from relance.consent import presets, services
from relance.consent.models import Notice, Purpose
from relance.testing import SYSTEM, make_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

HEALTH = {"health", "occupational_health", "answering_service"}


@pytest.mark.parametrize("kind", Organisation.Kind.values)
def test_it_activates_every_preset_purpose_cleanly(db_both, kind):
    """R-01, R-72: every kind's presets pass activation (health kinds with their DPIA reference);
    optional ones are complete and activate on demand."""
    org = make_org(kind, name=f"Organisation Témoin {kind}")
    dpia = {"dpia_ref": "DPIA-2026-04"} if kind in HEALTH else {}
    report = presets.apply_preset(org, actor=SYSTEM, **dpia)
    specs = presets.PRESETS[kind]
    assert specs and report.created == [s.code for s in specs]
    assert report.activated == [s.code for s in specs if not s.optional]
    assert set(report.drafts) == {s.code for s in specs if s.optional}
    for code in report.drafts:
        purpose = Purpose.objects.for_org(org).get(code=code)
        assert services.activation_errors(purpose) == {}
        assert services.activate_purpose(purpose, actor=SYSTEM).is_active
    for purpose in Purpose.objects.for_org(org):
        assert set(Notice.objects.for_org(org).filter(purpose=purpose).values_list("language", flat=True)) == {"fr", "en"}
        if kind in HEALTH:
            assert purpose.art9_condition in ("h", "none")


def test_it_writes_real_notices_naming_the_controller_basis_rights_stop_and_the_cnil(db_both):
    """R-04, Art. 13 GDPR: each notice names the controller (the organisation), the purpose, the legal
    basis, the retention, the rights, STOP, the DPO (INFO) and the CNIL, in French and in English."""
    org = make_org("library", name="Réseau des Médiathèques du Val")
    presets.apply_preset(org, actor=SYSTEM)
    notices = Notice.objects.for_org(org)
    assert notices.count() == 6
    for notice in notices:
        text = notice.text
        assert "Réseau des Médiathèques du Val" in text and "CNIL" in text and "STOP" in text and "INFO" in text
        assert "NS-09" in text or "6 mo" in text or "6 mois" in text
        if notice.language == "fr":
            assert "Responsable du traitement" in text and "Base légale" in text and "Vos droits" in text
        else:
            assert "Controller" in text and "Legal basis" in text and "Your rights" in text
    news = notices.get(purpose__code="closure-news", language="fr").text
    assert "consentement" in news and "moins de 15 ans" in news and "retirer" in news
    overdue = notices.get(purpose__code="overdue-reminders", language="en").text
    assert "Article 6(1)(e)" in overdue and "object" in overdue


def test_it_cites_the_art9_condition_and_the_labour_code_for_occupational_health(db_both):
    """R-01, R-72: SPST convocations rest on a legal obligation and Art. 9(2)(h)."""
    org = make_org("occupational_health")
    presets.apply_preset(org, actor=SYSTEM, dpia_not_needed_reason="Covered by the federation's DPIA model")
    text = Notice.objects.for_org(org).get(purpose__code="convocations", language="fr").text
    assert "article 9, paragraphe 2, point h)" in text and "L. 4624-1" in text
    variant = Purpose.objects.for_org(org).get(code="appointment-reminders-consent")
    assert variant.refresh_per_event and variant.legal_basis == "consent" and variant.status == "draft"


def test_it_leaves_health_purposes_in_draft_without_a_dpia_and_says_why(db_both):
    """R-72: the preset never invents a DPIA reference; a second run with one activates them."""
    org = make_org("health")
    report = presets.apply_preset(org, actor=SYSTEM)
    assert report.activated == [] and set(report.drafts["appointment-reminders"]) == {"dpia_ref"}
    again = presets.apply_preset(org, actor=SYSTEM, dpia_ref="DPIA-7")
    assert again.created == [] and again.activated == ["appointment-reminders"]


def test_it_is_idempotent(db_both):
    """R-01, R-65: running a preset twice creates, publishes and audits nothing the second time."""
    org = make_org("company")
    presets.apply_preset(org, actor=SYSTEM)
    audits = AuditEvent.objects.filter(organisation=org).count()
    report = presets.apply_preset(org, actor=SYSTEM)
    assert report.created == [] and report.notices == {} and report.activated == []
    assert report.existing == ["service-notices", "promotional-offers"]
    assert AuditEvent.objects.filter(organisation=org).count() == audits
    assert Purpose.objects.for_org(org).count() == 2


def test_it_keeps_an_organisations_own_edits(db_both):
    """R-01, R-11: idempotent means it never overwrites: an edited purpose or a newer notice stays."""
    org = make_org("library")
    presets.apply_preset(org, actor=SYSTEM)
    purpose = Purpose.objects.for_org(org).get(code="overdue-reminders")
    services.update_purpose(purpose, actor=SYSTEM, label_fr="Retards")
    services.publish_notice(purpose, actor=SYSTEM, language="fr", text="Notre propre texte.")
    presets.apply_preset(org, actor=SYSTEM)
    purpose.refresh_from_db()
    assert purpose.label_fr == "Retards"
    assert services.current_notice(purpose, "fr").text == "Notre propre texte."


def test_it_runs_from_the_command_line(db_both, capsys):
    """SPEC §4, R-72: `relance consent preset --org SLUG` reports what it created, published and activated."""
    org = make_org("answering_service")
    call_command("consent", "preset", "--org", org.slug, "--dpia-ref", "DPIA-9")
    out = capsys.readouterr().out
    assert "created    appointment-reminders" in out and "activated  appointment-reminders" in out
    assert "notice     appointment-reminders: published fr, en" in out
    with pytest.raises(CommandError):
        call_command("consent", "preset", "--org", "no-such-org")
