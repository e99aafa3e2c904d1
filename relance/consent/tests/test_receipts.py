"""Consent receipts (R-16), validated against the required field lists of their specifications.

Where the field lists come from:
- Kantara: Kantara Initiative, "Consent Receipt Specification" v1.1.0 (2018-02-20), section 5,
  https://kantarainitiative.org/file-downloads/consent-receipt-specification-v1-1-0/ — the receipt's
  MUST fields (version, jurisdiction, consentTimestamp, collectionMethod, consentReceiptID,
  piiPrincipalId, piiControllers, policyUrl, services, sensitive, spiCat; language and publicKey
  optional), a controller's (piiController, contact, address, email, phone; piiControllerUrl and
  onBehalf optional) and a purpose's (purpose, purposeCategory, consentType, piiCategory,
  primaryPurpose, termination, thirdPartyDisclosure; thirdPartyName when disclosing). Cross-checked
  with an implementation of the same version (github.com/adaptant-labs/consent-receipt-dart, KI-CR-v1.1.0).
- ISO/IEC TS 27560: W3C DPVCG, "Consent Records and Receipts as per ISO/IEC TS 27560:2023 using DPV",
  Final Community Group Report 2024-08-01, https://w3id.org/dpv/guides/consent-27560 — section 7.2,
  the fields marked "Mandatory" in the ISO 27560 column with their DPV relation (schema version
  dct:conformsTo, record id dct:identifier, PII principal dpv:hasDataSubject, privacy notice
  dpv:hasNotice, language dct:language, purpose dpv:hasPurpose, PII information/type
  dpv:hasPersonalData, PII controllers dpv:hasDataController (party name dpv:hasName, address
  dpv:hasAddress, contact dpv:hasContact), storage locations and retention period
  dpv:hasStorageCondition, jurisdiction dpv:hasJurisdiction, recipients dpv:hasRecipient, withdrawal
  method dpv:hasConsentControl, event time dct:date, validity dct:valid, entity id
  dpv:isImplementedByEntity, event type dpv:hasLegalBasis, event state dpv:hasConsentStatus), and
  Example 39 (a record with only the required fields) for the structure.
"""

import json
import uuid
from datetime import datetime

import pytest

from relance.accounts import services as accounts
from relance.audit.models import AuditEvent
from relance.consent import receipts, services
from relance.testing import SYSTEM, make_contact, make_site

from .helpers import give, make_consent_purpose, make_purpose

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

KANTARA_REQUIRED = ["version", "jurisdiction", "consentTimestamp", "collectionMethod", "consentReceiptID",
                    "piiPrincipalId", "piiControllers", "policyUrl", "services", "sensitive", "spiCat"]
KANTARA_OPTIONAL = ["language", "publicKey"]
KANTARA_CONTROLLER_REQUIRED = ["piiController", "contact", "address", "email", "phone"]
KANTARA_CONTROLLER_OPTIONAL = ["piiControllerUrl", "onBehalf"]
KANTARA_SERVICE_REQUIRED = ["service", "purposes"]
KANTARA_PURPOSE_REQUIRED = ["purpose", "purposeCategory", "consentType", "piiCategory", "primaryPurpose",
                            "termination", "thirdPartyDisclosure"]
KANTARA_PURPOSE_CATEGORIES = {f"{n} - {name}" for n, name in enumerate([
    "Core Function", "Contracted Service", "Delivery", "Contact Requested", "Personalized Experience", "Marketing",
    "Marketing Third Parties", "Sharing for Delivery", "Sharing for Marketing", "3rd Party Sharing for Core Function",
    "3rd Party Sharing for ...", "Legally Required Data Retention", "Required by Law Enforcement or Government",
    "Protecting Your Health", "Protecting Our Interests", "Improve Performance"], start=1)}
KANTARA_PII_CATEGORIES = {f"{n} - {name}" for n, name in enumerate([
    "Biographical", "Contact", "Biometric", "Social Contact", "Network/Service", "Health", "Financial", "Official ID",
    "Social Benefit Data", "Judicial Data", "Asset Data", "HR Data", "Mental Health", "Membership", "Behavioral",
    "Profiling"], start=1)}

ISO_RECORD_REQUIRED = ["dct:conformsTo", "dct:identifier", "dpv:hasDataSubject", "dpv:hasNotice", "dct:language",
                       "dpv:hasDataController", "dpv:hasJurisdiction", "dpv:hasConsentControl", "dct:date",
                       "dct:valid", "dpv:hasLegalBasis", "dpv:hasConsentStatus", "dpv:hasProcess"]
ISO_PROCESS_REQUIRED = ["dpv:hasPurpose", "dpv:hasPersonalData", "dpv:hasRecipient", "dpv:hasStorageCondition"]
ISO_PARTY_REQUIRED = ["dct:identifier", "dpv:hasName", "dpv:hasAddress", "dpv:hasContact"]
ISO_EVENT_REQUIRED = ["@type", "dpv:isIndicatedBy", "dpv:isIndicatedAtTime", "dpv:isImplementedByEntity"]

NOTICE_URL = "https://relance.example/p/notices/x"


def missing(data: dict, fields: list[str]) -> list[str]:
    return [name for name in fields if name not in data or data[name] is None or data[name] == ""]


def assert_kantara(receipt: dict) -> None:
    assert missing(receipt, KANTARA_REQUIRED) == []
    assert set(receipt) <= set(KANTARA_REQUIRED + KANTARA_OPTIONAL)
    assert receipt["version"] == "KI-CR-v1.1.0" and isinstance(receipt["consentTimestamp"], int)
    uuid.UUID(receipt["consentReceiptID"])
    for controller in receipt["piiControllers"]:
        assert missing(controller, KANTARA_CONTROLLER_REQUIRED) == []
        assert set(controller) <= set(KANTARA_CONTROLLER_REQUIRED + KANTARA_CONTROLLER_OPTIONAL)
        assert controller["address"]["addressCountry"]
    assert receipt["services"]
    for service in receipt["services"]:
        assert missing(service, KANTARA_SERVICE_REQUIRED) == []
        for purpose in service["purposes"]:
            assert missing(purpose, KANTARA_PURPOSE_REQUIRED) == []
            assert set(purpose["purposeCategory"]) <= KANTARA_PURPOSE_CATEGORIES
            assert set(purpose["piiCategory"]) <= KANTARA_PII_CATEGORIES and purpose["piiCategory"]
            assert purpose["consentType"] == "EXPLICIT"
            if purpose["thirdPartyDisclosure"]:
                assert purpose.get("thirdPartyName")
    assert isinstance(receipt["sensitive"], bool)
    assert bool(receipt["spiCat"]) == receipt["sensitive"]
    json.dumps(receipt)


def assert_iso27560(record: dict) -> None:
    assert missing(record, ISO_RECORD_REQUIRED) == []
    assert record["dct:conformsTo"] == "https://w3id.org/dpv/schema/dpv-27560#record"
    assert record["@type"] == "dpv:ConsentRecord"
    assert missing(record["dpv:hasDataSubject"], ["dct:identifier"]) == []
    assert missing(record["dpv:hasDataController"], ISO_PARTY_REQUIRED) == []
    process = record["dpv:hasProcess"]
    assert missing(process, ISO_PROCESS_REQUIRED) == []
    conditions = {c["@type"]: c for c in process["dpv:hasStorageCondition"]}
    assert conditions["dpv:StorageLocation"]["dpv:hasLocation"].startswith("loc:")
    assert conditions["dpv:StorageDuration"]["dpv:hasDuration"].startswith("P")
    assert "dpv:WithdrawConsent" in record["dpv:hasConsentControl"]["@type"]
    assert record["dpv:hasConsentControl"]["dpv:isExercisedAt"]
    assert missing(record["dpv:hasNotice"], ["@id", "dct:identifier", "dct:language"]) == []
    for status in record["dpv:hasConsentStatus"]:
        assert missing(status, ISO_EVENT_REQUIRED) == []
        datetime.fromisoformat(status["dpv:isIndicatedAtTime"])
    datetime.fromisoformat(record["dct:date"])
    json.dumps(record)


def _org_with_contacts(world):
    accounts.update_organisation(world.a, actor=SYSTEM, dpo_phone="+33123456789")
    make_site(world.a, address="1 place de la Mairie, 75001 Paris")
    return world.a


def test_it_exports_a_valid_kantara_receipt(world):
    """R-16: every MUST field of Kantara v1.1, the controller's identity and DPO contact, the purpose."""
    org = _org_with_contacts(world)
    purpose, contact = make_consent_purpose(org), make_contact(org)
    event = give(contact, purpose)
    receipt = receipts.kantara(event, policy_url=NOTICE_URL, controller_url="https://mediatheques.example")
    assert_kantara(receipt)
    assert receipt["consentReceiptID"] == str(event.pk) and receipt["piiPrincipalId"] == str(contact.pk)
    assert receipt["consentTimestamp"] == int(event.occurred_at.timestamp())
    controller = receipt["piiControllers"][0]
    assert controller["piiController"] == org.name and controller["phone"] == "+33123456789"
    assert controller["address"]["streetAddress"].startswith("1 place")
    purpose_out = receipt["services"][0]["purposes"][0]
    assert purpose_out["purpose"] == "Actualités" and purpose_out["purposeCategory"] == ["6 - Marketing"]
    assert event.valid_until.isoformat() in purpose_out["termination"]
    assert receipt["sensitive"] is False and receipt["spiCat"] == []


def test_it_marks_health_data_as_sensitive_in_kantara(world):
    """R-16: a health purpose's receipt is sensitive with its special category."""
    accounts.update_organisation(world.b, actor=SYSTEM, dpo_phone="+33123456780")
    purpose = make_consent_purpose(world.b, art9_condition="h", data_categories=["identity", "contact", "health"],
                                   dpia_ref="DPIA-1", message_class="service")
    receipt = receipts.kantara(give(make_contact(world.b), purpose), policy_url=NOTICE_URL)
    assert_kantara(receipt)
    assert receipt["sensitive"] is True and receipt["spiCat"] == ["6 - Health"]
    assert "14 - Protecting Your Health" in receipt["services"][0]["purposes"][0]["purposeCategory"]


def test_it_exports_a_valid_iso_27560_record_with_the_consents_history(world):
    """R-16: the DPV profile of ISO/IEC TS 27560: mandatory fields, and the consent's states in order."""
    org = _org_with_contacts(world)
    purpose, contact = make_consent_purpose(org), make_contact(org)
    given_event = give(contact, purpose)
    withdrawn = services.record_consent(contact, purpose, "sms", "withdrawn", actor=SYSTEM, expressed_by="subject",
                                        method="sms_keyword")
    record = receipts.iso27560(withdrawn, notice_url=NOTICE_URL, preferences_url="https://relance.example/p/pref")
    assert_iso27560(record)
    statuses = record["dpv:hasConsentStatus"]
    assert [s["@type"][0] for s in statuses] == ["dpv:ConsentGiven", "dpv:ConsentWithdrawn"]
    assert record["dpv:hasNotice"]["dct:identifier"] == f"sha256:{given_event.notice_sha256}"
    assert record["dct:valid"] == f"{given_event.occurred_at.isoformat()}/{given_event.valid_until.isoformat()}"
    assert record["dpv:hasLegalBasis"][0] == "eu-gdpr:A6-1-a"
    assert record["dpv:hasDataController"]["dpv:hasName"] == org.name


def test_it_names_the_guardian_and_the_child_in_an_iso_record(world):
    """R-14, R-16: a guardian's consent for a minor is indicated by the guardian; the subject is a child."""
    _org_with_contacts(world)
    purpose = make_consent_purpose(world.a)
    parent = make_contact(world.a, birth_date="1980-01-01")
    child = make_contact(world.a, birth_date="2016-05-05", guardian=parent, guardian_relation="parent")
    event = give(child, purpose, expressed_by="guardian", guardian=parent)
    record = receipts.iso27560(event, notice_url=NOTICE_URL)
    assert_iso27560(record)
    assert "dpv:Child" in record["dpv:hasDataSubject"]["@type"]
    assert record["dpv:hasConsentStatus"][-1]["dpv:isIndicatedBy"] == "dpv:GuardianOfDataSubject"
    assert "parental" in receipts.kantara(event, policy_url=NOTICE_URL)["collectionMethod"]


def test_it_refuses_receipts_for_what_is_not_a_consent(world):
    """R-16: an objection on a public-task purpose is not a consent; a withdrawal has no Kantara receipt."""
    public = make_purpose(world.a)
    contact = make_contact(world.a)
    objection = services.record_consent(contact, public, "sms", "objected", actor=SYSTEM, expressed_by="subject",
                                        method="sms_keyword")
    for export in (receipts.kantara, receipts.iso27560):
        with pytest.raises(receipts.NotReceiptable):
            export(objection, **({"policy_url": NOTICE_URL} if export is receipts.kantara else {"notice_url": NOTICE_URL}))
    purpose = make_consent_purpose(world.a)
    give(contact, purpose)
    withdrawal = services.record_consent(contact, purpose, "sms", "withdrawn", actor=SYSTEM, expressed_by="subject",
                                         method="web_form")
    with pytest.raises(receipts.NotReceiptable):
        receipts.kantara(withdrawal, policy_url=NOTICE_URL)


def test_it_refuses_a_kantara_receipt_without_the_controllers_contact_details(world):
    """R-16: Kantara v1.1 requires the controller's e-mail and phone: no incomplete receipt is issued."""
    event = give(make_contact(world.a), make_consent_purpose(world.a))
    with pytest.raises(receipts.ControllerIncomplete) as caught:
        receipts.kantara(event, policy_url=NOTICE_URL)
    assert caught.value.fields == ["dpo_phone"]


def test_it_audits_every_receipt_export(world):
    """R-65: exporting a receipt is an audit event naming the contact by id and the format."""
    event = give(make_contact(world.a), make_consent_purpose(world.a))
    receipts.export_receipt(event, "iso27560", actor=SYSTEM, notice_url=NOTICE_URL)
    audit = AuditEvent.objects.get(organisation=world.a, action="consent.receipt_exported")
    assert audit.details == {"contact": str(event.contact_id), "format": "iso27560"}
