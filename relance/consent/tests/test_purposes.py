"""Purposes and notices: activation names every missing field (R-01), legitimate interests (R-02),
commercial promotion (R-03), DPIA for health purposes (R-72); notices are hashed and immutable (R-11)."""

import hashlib

import pytest
from django.core.exceptions import ValidationError

from relance.audit.models import AuditEvent
from relance.consent import services
from relance.consent.models import AppendOnlyError, Notice, Purpose
from relance.testing import SYSTEM, make_org

from .helpers import make_purpose

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _activation_error(purpose) -> dict:
    with pytest.raises(ValidationError) as caught:
        services.activate_purpose(purpose, actor=SYSTEM)
    return caught.value.message_dict


def test_it_names_every_missing_field_when_activation_is_refused(world):
    """R-01: an empty purpose of a health organisation: every field R-01 lists is named at once."""
    purpose = services.create_purpose(world.b, actor=SYSTEM, code="appointments")
    errors = _activation_error(purpose)
    assert set(errors) == {"label_fr", "label_en", "message_class", "legal_basis", "art9_condition",
                           "data_categories", "recipients", "retention", "retention_days", "channels", "notices"}
    assert "fr, en" in errors["notices"][0]
    purpose.refresh_from_db()
    assert purpose.status == Purpose.Status.DRAFT


def test_it_asks_for_the_art9_condition_only_when_the_organisation_processes_health_data(world):
    """R-01: the Art. 9(2) condition is required of organisations that process health data."""
    library = services.create_purpose(world.a, actor=SYSTEM, code="overdue")
    assert "art9_condition" not in _activation_error(library)


def test_it_activates_a_complete_purpose_and_audits_it(world):
    """R-01, R-65: complete → active, with an audit event; activating again changes nothing."""
    purpose = make_purpose(world.a, activate=False)
    purpose = services.activate_purpose(purpose, actor=SYSTEM)
    assert purpose.status == Purpose.Status.ACTIVE and purpose.activated_at
    services.activate_purpose(purpose, actor=SYSTEM)
    assert AuditEvent.objects.filter(organisation=world.a, action="purpose.activated").count() == 1


def test_it_needs_a_validity_or_a_refresh_rule_for_consent(world):
    """R-13: a consent purpose says how long consent lasts, or that it is asked again at each event."""
    purpose = make_purpose(world.a, activate=False, legal_basis="consent")
    assert set(_activation_error(purpose)) == {"consent_validity_days"}
    services.update_purpose(purpose, actor=SYSTEM, refresh_per_event=True)
    assert services.activate_purpose(purpose, actor=SYSTEM).is_active


def test_it_needs_a_balancing_test_for_legitimate_interests(world):
    """R-02: legitimate interests need the reference of their balancing test."""
    purpose = make_purpose(world.a, activate=False, legal_basis="legitimate_interest")
    assert set(_activation_error(purpose)) == {"balancing_test_ref"}
    services.update_purpose(purpose, actor=SYSTEM, balancing_test_ref="LIA-2026-03")
    assert services.activate_purpose(purpose, actor=SYSTEM).is_active


def test_it_refuses_legitimate_interests_to_a_public_authority(world):
    """R-02: Art. 6(1) last subparagraph: a public authority uses public_task or consent for its tasks."""
    town = make_org("public_authority")
    purpose = make_purpose(town, activate=False, legal_basis="legitimate_interest", balancing_test_ref="LIA-1")
    errors = _activation_error(purpose)
    assert set(errors) == {"legal_basis"} and "public_task" in errors["legal_basis"][0]


def test_it_needs_consent_or_the_existing_customer_exception_for_commercial_promotion(world):
    """R-03: promotional_commercial rests on consent, or on the existing-customer exception with its scope."""
    company = make_org("company")
    purpose = make_purpose(company, activate=False, message_class="promotional_commercial",
                           legal_basis="legitimate_interest", balancing_test_ref="LIA-7")
    assert set(_activation_error(purpose)) == {"legal_basis"}
    services.update_purpose(purpose, actor=SYSTEM, existing_customer_exception=True)
    assert set(_activation_error(purpose)) == {"existing_customer_scope"}
    services.update_purpose(purpose, actor=SYSTEM, existing_customer_scope="Buyers of bikes: offers on bike parts")
    assert services.activate_purpose(purpose, actor=SYSTEM).is_active
    consent = make_purpose(company, activate=False, message_class="promotional_commercial", legal_basis="consent",
                           consent_validity_days=1095)
    assert services.activate_purpose(consent, actor=SYSTEM).is_active


def test_it_needs_a_dpia_reference_or_a_justification_for_a_health_purpose(world):
    """R-72: a health organisation's purpose with health data needs a DPIA reference or a reason not to."""
    purpose = make_purpose(world.b, activate=False, dpia_ref="")
    assert set(_activation_error(purpose)) == {"dpia_ref"}
    services.update_purpose(purpose, actor=SYSTEM, dpia_not_needed_reason="Individual practice: not large scale")
    assert services.activate_purpose(purpose, actor=SYSTEM).is_active


def test_it_needs_no_dpia_for_a_purpose_without_health_data(world):
    """R-72 applies to health purposes: 'none' as Art. 9 condition means no health data."""
    purpose = make_purpose(world.b, activate=False, art9_condition="none", dpia_ref="",
                           data_categories=["identity", "contact"])
    assert services.activate_purpose(purpose, actor=SYSTEM).is_active


def test_it_keeps_an_active_purpose_complete(world):
    """R-01: an active purpose cannot be edited into an incomplete one."""
    purpose = make_purpose(world.a)
    with pytest.raises(ValidationError) as caught:
        services.update_purpose(purpose, actor=SYSTEM, recipients=[], retention="")
    assert set(caught.value.message_dict) == {"recipients", "retention"}
    purpose.refresh_from_db()
    assert purpose.recipients


def test_it_checks_the_shape_of_every_field_at_once(world):
    """R-01: unknown choices, channels, categories and day counts are all reported together."""
    with pytest.raises(ValidationError) as caught:
        services.create_purpose(world.a, actor=SYSTEM, code="x", legal_basis="whim", channels=["fax"],
                                data_categories=["dna"], retention_days=0, art9_condition="z")
    assert set(caught.value.message_dict) == {"legal_basis", "channels", "data_categories", "retention_days",
                                              "art9_condition"}


def test_it_refuses_a_second_purpose_with_the_same_code_in_one_organisation_only(world):
    """R-01, R-63: codes are unique per organisation; another organisation may use the same code."""
    make_purpose(world.a, code="news")
    with pytest.raises(ValidationError):
        services.create_purpose(world.a, actor=SYSTEM, code="news")
    assert make_purpose(world.b, code="news").organisation == world.b


def test_it_stores_the_sha256_of_the_exact_notice_text(world):
    """R-10, R-11: the hash is of the exact text (UTF-8, spaces and line ends included)."""
    purpose = make_purpose(world.a, activate=False, notices=False)
    text = "Médiathèques : vos données…\r\n  Répondez STOP. "
    notice = services.publish_notice(purpose, actor=SYSTEM, language="fr", text=text)
    assert notice.sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert notice.text == text and notice.version == 1
    again = services.publish_notice(purpose, actor=SYSTEM, language="fr", text=text.strip())
    assert again.version == 2 and again.sha256 != notice.sha256
    assert services.publish_notice(purpose, actor=SYSTEM, language="en", text="x").version == 1
    assert services.current_notice(purpose, "fr") == again
    event = AuditEvent.objects.filter(organisation=world.a, action="notice.published").order_by("seq").first()
    assert event.details["sha256"] == notice.sha256 and event.details["version"] == 1


def test_it_never_changes_a_published_notice(world):
    """R-11: a published notice is immutable: a new text is a new version."""
    purpose = make_purpose(world.a)
    notice = services.current_notice(purpose, "fr")
    notice.text = "changed"
    with pytest.raises(AppendOnlyError):
        notice.save()
    with pytest.raises(AppendOnlyError):
        Notice.objects.for_org(world.a).filter(pk=notice.pk).update(text="changed")
    with pytest.raises(AppendOnlyError):
        Notice.objects.for_org(world.a).filter(pk=notice.pk).delete()
    with pytest.raises(AppendOnlyError):
        notice.delete()


def test_it_refuses_an_empty_notice_or_an_unknown_language(world):
    """R-04, R-11: a notice has a text, in French or English; both problems at once."""
    purpose = make_purpose(world.a, activate=False, notices=False)
    with pytest.raises(ValidationError) as caught:
        services.publish_notice(purpose, actor=SYSTEM, language="de", text="  ")
    assert set(caught.value.message_dict) == {"language", "text"}


def test_it_retires_a_purpose(world):
    """R-01: a retired purpose sends nothing (decide: purpose_inactive) and collects no new consent."""
    purpose = make_purpose(world.a)
    purpose = services.retire_purpose(purpose, actor=SYSTEM)
    assert purpose.status == Purpose.Status.RETIRED
    with pytest.raises(ValidationError):
        services.publish_notice(purpose, actor=SYSTEM, language="fr", text="new")
