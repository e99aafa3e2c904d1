"""The Art. 30 register (R-70) from the live configuration, its completeness check, the processor
record, and the controller profile service."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from relance.audit.models import AuditEvent
from relance.consent.tests.helpers import make_consent_purpose, make_purpose
from relance.privacy import register
from relance.privacy.controller import get_controller_profile, set_controller_profile
from relance.privacy.models import RetentionPolicy
from relance.privacy.register_document import processor_document, register_document, render
from relance.providers.models import ProviderAccount
from relance.testing import SYSTEM, make_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

PROFILE = {"legal_name": "Cabinet des Tilleuls SCM", "address": "8 avenue des Tilleuls, 75014 Paris",
           "contact_email": "contact@tilleuls.test", "contact_phone": "01 45 00 00 00",
           "registration_number": "SIRET 123 456 789 00012", "security_measures": "Locked server room\nStaff trained"}


def account(org, name, kind, country="FR", channel="sms", **fields) -> ProviderAccount:
    return ProviderAccount.unscoped.create(organisation=org, name=name, kind=kind, channel=channel, country=country,
                                           credentials="{}", **fields)


@pytest.fixture
def clinic(db_both):
    org = make_org("health", name="Cabinet des Tilleuls", dpo_phone="+33145678910")
    set_controller_profile(org, actor=SYSTEM, **PROFILE)
    make_purpose(org, code="appointment-reminders", dpia_ref="AIPD-2026-04")
    make_purpose(org, code="draft-one", activate=False)
    return org


def test_it_builds_the_register_from_the_live_configuration_r70(clinic):
    account(clinic, "Own SMPP", "smpp", hosting_region="Roubaix", options={"vendor_name": "Opérateur SMS SA"})
    account(None, "Platform Twilio", "twilio", country="US", hosting_region="us-east-1")
    account(None, "Platform e-mail", "brevo", channel="email")
    account(None, "Disabled", "vonage", country="US", enabled=False)
    account(None, "Console", "console")
    other = make_org("library")
    account(other, "Someone else's", "ovh")

    record = register.build_register(clinic, language="en")

    assert record["controller"]["legal_name"] == "Cabinet des Tilleuls SCM"
    assert record["controller"]["contact_phone"] == "+33145000000"
    assert record["dpo"]["name"].startswith("Dpo Person") and record["dpo"]["phone"] == "+33145678910"
    [activity] = record["activities"]  # the draft purpose is not processed yet
    assert activity["purpose_code"] == "appointment-reminders"
    assert activity["legal_basis"] == "public_task" and activity["legal_basis_label"] == "Public task (Art. 6(1)(e))"
    assert activity["art9_condition"] == "h" and "9(2)(h)" in activity["art9_label"]
    assert activity["subject_categories"][0] == "Patients"
    assert [d["code"] for d in activity["data_categories"]] == ["identity", "contact", "health"]
    assert activity["data_categories"][2]["label"].startswith("Health data")
    assert "Relance (processor, Art. 28)" in activity["recipients"]
    assert "Twilio Inc. (sub-processor)" in activity["recipients"]
    names = [s["name"] for s in record["sub_processors"]]
    assert names == ["Sendinblue SAS (Brevo)", "Opérateur SMS SA", "Twilio Inc."]
    [transfer] = record["transfers"]
    assert transfer["country"] == "US" and transfer["safeguard"].startswith("EU-US Data Privacy Framework")
    assert record["dpia"] == [{"purpose_code": "appointment-reminders", "name": "Overdue reminders",
                               "ref": "AIPD-2026-04", "not_needed_reason": ""}]
    assert record["security_measures"]["organisation"] == ["Locked server room", "Staff trained"]
    assert any("AES-256-GCM" in m for m in record["security_measures"]["platform"])
    assert register.missing_fields(record) == []
    json.dumps(record)  # plain JSON values only


def test_it_applies_the_safeguard_table_and_the_account_override(clinic):
    uk = account(clinic, "UK", "smpp", country="GB")
    scc = account(clinic, "Elsewhere", "smpp", country="MA")
    own = account(clinic, "Overridden", "twilio", country="US",
                  options={"transfer_safeguard": "Binding corporate rules (Art. 47)"})
    eu = account(clinic, "EU", "ovh", country="FR")
    with translation.override("en"):
        assert register.safeguard(uk).startswith("Adequacy decision")
        assert register.safeguard(scc) == "Standard contractual clauses (Art. 46(2)(c))"
    with translation.override("fr"):
        assert register.safeguard(scc) == "Clauses contractuelles types (art. 46(2)(c))"
    assert register.safeguard(own) == "Binding corporate rules (Art. 47)"
    assert register.safeguard(eu) == ""


def test_it_names_every_empty_mandatory_field(db_both):
    org = make_org("health", dpo_email="")
    make_purpose(org, code="rdv", dpia_ref="", dpia_not_needed_reason="x")
    record = register.build_register(org, language="fr")
    record["activities"][0]["retention"] = ""
    record["activities"][0]["dpia"] = {"ref": "", "not_needed_reason": ""}
    record["transfers"] = [{"name": "Vendor", "safeguard": ""}]
    assert register.missing_fields(record) == [
        "controller.legal_name", "controller.address", "controller.contact_email", "dpo.email",
        "activities.rdv.retention", "activities.rdv.dpia", "transfers.Vendor.safeguard"]
    empty = register.build_register(make_org("library", country="CH", dpo_name=""), language="en")
    assert {"activities", "controller.representative", "dpo.name"} <= set(register.missing_fields(empty))


def test_it_shows_the_dpia_justification_of_health_purposes_r72(db_both):
    org = make_org("occupational_health")
    make_purpose(org, code="convocations", dpia_ref="", dpia_not_needed_reason="Covered by the sector DPIA")
    make_consent_purpose(org, code="news")
    record = register.build_register(org, language="en")
    assert [d["purpose_code"] for d in record["dpia"]] == ["convocations"]
    assert record["dpia"][0]["not_needed_reason"] == "Covered by the sector DPIA"
    news = next(a for a in record["activities"] if a["purpose_code"] == "news")
    assert news["dpia"] is None and news["art9_condition"] == "none"
    html = render(record, "html").decode()
    assert "Covered by the sector DPIA" in html


def test_it_lists_retention_policies_and_categories_without_one(clinic):
    RetentionPolicy.objects.create(organisation=clinic, category="message_content", days=183, preset="sms_platform",
                                   source="Seed documents")
    rows = {r["category"]: r for r in register.build_register(clinic, language="en")["retention"]}
    assert rows["message_content"]["days"] == 183 and rows["message_content"]["source"] == "Seed documents"
    assert rows["message_content"]["default"] is False
    assert rows["audit_events"]["days"] == 366 and rows["audit_events"]["default"] is True


def test_it_renders_html_and_pdf_in_french_and_english(clinic):
    fr = register.build_register(clinic, language="fr")
    en = register.build_register(clinic, language="en")
    html_fr, html_en = render(fr, "html").decode(), render(en, "html").decode()
    # Headings turn French once the lead merges locale/fr/parts/register.po (test_register_po checks it).
    assert '<html lang="fr">' in html_fr and "Rappels de retard" in html_fr and "Overdue reminders" not in html_fr
    assert "Record of processing activities" in html_en
    assert "Cabinet des Tilleuls SCM" in html_en and "AIPD-2026-04" in html_en
    assert render(en, "pdf").startswith(b"%PDF")
    assert register_document(fr).language == "fr"


def test_it_keeps_markup_as_text_in_the_html(clinic):
    set_controller_profile(clinic, actor=SYSTEM, legal_name="<script>x</script>")
    html = render(register.build_register(clinic, language="en"), "html").decode()
    assert "<script>x" not in html and "&lt;script&gt;x" in html


def test_it_builds_the_processor_record_for_every_controller_or_one(clinic, settings):
    settings.RELANCE_PROCESSOR_NAME = "Relance SAS"
    settings.RELANCE_PROCESSOR_ADDRESS = "1 rue de la Paix, Paris"
    settings.RELANCE_PROCESSOR_EMAIL = "privacy@relance.test"
    other = make_org("library", name="Médiathèques")
    make_purpose(other, code="retards")
    account(None, "Twilio", "twilio", country="US")
    account(other, "OVH of the library", "ovh")
    full = register.build_processor_record(language="en")
    assert full["processor"]["name"] == "Relance SAS"
    assert {c["organisation"] for c in full["controllers"]} >= {clinic.slug, other.slug}
    assert {s["name"] for s in full["sub_processors"]} == {"Twilio Inc.", "OVH SAS (OVHcloud)"}
    assert register.missing_fields(full) == []
    mine = register.build_processor_record(language="en", organisation=clinic)
    assert [c["organisation"] for c in mine["controllers"]] == [clinic.slug]
    assert [s["name"] for s in mine["sub_processors"]] == ["Twilio Inc."]
    assert "Relance SAS" in render(mine, "html").decode()
    assert processor_document(mine).title.startswith("Record of processing activities of the processor")


def test_it_asks_for_the_processor_identity_when_settings_lack_it(db_both, settings):
    settings.RELANCE_PROCESSOR_ADDRESS = ""
    settings.RELANCE_PROCESSOR_EMAIL = ""
    record = register.build_processor_record(language="fr")
    assert register.missing_fields(record) == ["processor.address", "processor.contact_email"]


def test_it_audits_each_generation_without_personal_data(clinic):
    register.generate_register(clinic, actor=SYSTEM, language="en", fmt="pdf")
    event = AuditEvent.objects.filter(organisation=clinic, action="privacy.register_generated").get()
    assert event.details == {"record": "controller", "format": "pdf", "language": "en", "activities": 1, "missing": 0}
    register.generate_processor_record(actor=SYSTEM, language="fr")
    assert AuditEvent.objects.filter(organisation=None, action="privacy.register_generated").count() == 1


def test_it_validates_and_audits_the_controller_profile(db_both):
    org = make_org("library")
    assert get_controller_profile(org).pk is None
    with pytest.raises(ValidationError) as caught:
        set_controller_profile(org, actor=SYSTEM, contact_email="nope", contact_phone="12", colour="red",
                               address="x" * 401)
    assert set(caught.value.message_dict) == {"contact_email", "contact_phone", "colour", "address"}
    profile = set_controller_profile(org, actor=SYSTEM, legal_name="  Ville de Valmont ", contact_email="a@b.fr")
    assert profile.legal_name == "Ville de Valmont"
    set_controller_profile(org, actor=SYSTEM, legal_name="Ville de Valmont")  # no change, no event
    set_controller_profile(org, actor=SYSTEM, address="Hôtel de ville")
    events = list(AuditEvent.objects.filter(organisation=org, action="privacy.controller_profile_updated").order_by("seq"))
    assert [e.details for e in events] == [{"fields": ["contact_email", "legal_name"], "created": True},
                                           {"fields": ["address"], "created": False}]
    assert get_controller_profile(org).contact_email == "a@b.fr"
