"""Access exports (R-42): the JSON document key by key, isolation, sealing and audit (R-60, R-65),
and the readable HTML/PDF documents in French and English."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pypdf
import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.consent import services as consent
from relance.consent.tests.helpers import give, notice_of
from relance.contacts import services as contacts
from relance.messaging.models import InboundMessage, Message
from relance.messaging.tests.helpers import (
    TUESDAY_MORNING,
    enqueue,
    informed_contact,
    make_template,
    promotional_purpose,
    service_purpose,
)
from relance.messaging.worker import Worker
from relance.privacy import exports
from relance.privacy.models import AccessExport, RetentionPolicy, RightsRequest
from relance.privacy.personal_data import HOLDINGS
from relance.providers import services as providers
from relance.reminders import services as reminders
from relance.testing import SYSTEM, make_contact

pytestmark = [pytest.mark.django_db(databases=["default", "keys"]), pytest.mark.usefixtures("daytime")]

CATALOGUE = Path(__file__).resolve().parents[1] / "locale" / "fr" / "LC_MESSAGES" / "django.mo"


@pytest.fixture
def daytime():
    """Tuesday 10:00 in Paris: inside every default sending window (R-22), so the worker sends."""
    with time_machine.travel(TUESDAY_MORNING, tick=True) as traveller:
        yield traveller


@pytest.fixture
def french():
    """The privacy app's French catalogue, compiled by `make messages` (part of `make install`)."""
    assert CATALOGUE.exists(), "run `make messages`: the French catalogue is not compiled"


def _provider(org, kind, name, country, credentials):
    # Disabled: the worker sends through the test provider; the messages then name these accounts.
    return providers.create_account(org, name=name, kind=kind, credentials=credentials, actor=SYSTEM, country=country,
                                    hosting_region="eu-west" if country == "FR" else "us-east", enabled=False)


def build_person(world):
    """Zoé in organisation A with messages through Twilio (US) and OVHcloud (FR), a STOP reply, consent
    history, an appointment, a request; Other Person in A and Bruno in B have data of their own."""
    org = world.a
    service = service_purpose(org, label_fr="Rappels de retard", label_en="Overdue reminders")
    promo = promotional_purpose(org)
    template = make_template(service, body="Bonjour {first_name}, votre livre est en retard.")
    zoe = informed_contact(org, service, first_name="Zoé", last_name="Martin", phone="+33611223344",
                           email="zoe.martin@example.org")
    other = informed_contact(org, service, first_name="Othername", last_name="Otherlast", phone="+33699887766")
    twilio = _provider(org, "twilio", "Twilio main", "US", {"account_sid": "AC1", "auth_token": "t"})
    ovh = _provider(org, "ovh", "OVH backup", "FR", {"application_key": "a", "application_secret": "b",
                                                     "consumer_key": "c", "service_name": "s",
                                                     "callback_secret": "x"})
    first, second, others = enqueue(zoe, service, template), enqueue(zoe, service, template), enqueue(other, service,
                                                                                                      template)
    Worker().run_once()
    Message.objects.for_org(org).filter(pk=first.pk).update(provider=twilio.label)
    Message.objects.for_org(org).filter(pk__in=[second.pk, others.pk]).update(provider=ovh.label)
    given = give(zoe, promo, evidence={"form_url": "https://example.org/form", "ip": "203.0.113.0"})
    consent.record_consent(zoe, promo, "sms", "withdrawn", actor=SYSTEM, expressed_by="subject", method="sms_keyword")
    InboundMessage.objects.create(organisation=org, contact=zoe, phone_hash=zoe.phone_index, to="RELANCE",
                                  provider=twilio.label, keyword="STOP", action="stop",
                                  outcome={"withdrawn": 1}, received_at=timezone.now())
    with transaction.atomic():
        event, _created = reminders.upsert_event(org, actor=SYSTEM, external_id="PRET-4242", kind="loan_due",
                                                 contact=zoe, purpose=service,
                                                 starts_at=timezone.now() + timedelta(days=3),
                                                 params={"place": "Médiathèque du Centre"})
    request = RightsRequest(organisation=org, reference="DR-2026-00001", kind="access", contact=zoe, channel="staff",
                            received_at=timezone.now(), due_at=timezone.now() + timedelta(days=30),
                            created_by_kind="system")
    request.data_key_id = zoe.data_key_id
    request.details = "Je veux une copie de mes données"
    request.save()
    bruno = informed_contact(world.b, service_purpose(world.b), first_name="Bruno", last_name="Brunlast",
                             phone="+33655443322")
    return SimpleNamespace(org=org, zoe=zoe, other=other, bruno=bruno, service=service, promo=promo, given=given,
                           first=Message.objects.for_org(org).get(pk=first.pk), twilio=twilio, ovh=ovh, event=event,
                           request=request)


@pytest.fixture
def person(world):
    return build_person(world)


def test_it_exports_the_subject_and_every_message_with_its_content_R42(person):
    doc = exports.build_document(person.zoe, language="fr")
    assert doc["format_version"] == exports.FORMAT_VERSION and doc["generated_at"] and doc["language"] == "fr"
    assert doc["controller"]["name"] == "Médiathèques A" and doc["controller"]["dpo"]["email"].startswith("dpo")
    subject = doc["subject"]
    assert (subject["first_name"], subject["last_name"], subject["phone"], subject["email"]) == (
        "Zoé", "Martin", "+33611223344", "zoe.martin@example.org")
    messages = doc["messages"]
    assert len(messages) == 2
    first = next(m for m in messages if m["id"] == str(person.first.pk))
    assert first["body"] == "Bonjour Zoé, votre livre est en retard." and first["params"]["starts_at"]
    assert first["status"] == "sent" and first["purpose"] == person.service.code
    assert first["purpose_label"] == "Rappels de retard" and first["channel"] == "sms"
    assert first["created_at"] and first["sent_at"] and first["segments"] == 1 and first["due_at"]
    assert [line["kind"] for line in first["timeline"]] == ["scheduled", "sent"]
    assert first["provider"] == person.twilio.label and first["provider_name"] == "Twilio"


def test_it_exports_replies_consent_information_events_and_requests_R42(person):
    doc = exports.build_document(person.zoe, language="fr")
    [reply] = doc["replies"]
    assert reply["keyword"] == "STOP" and reply["action"] == "stop" and reply["received_at"]
    history = doc["consent"]["history"]
    assert [e["action"] for e in history] == ["given", "withdrawn"]
    given = history[0]
    assert given["notice_sha256"] == notice_of(person.promo).sha256 and given["notice_version"] == 1
    assert given["method"] == "web_form" and given["expressed_by"] == "subject"
    assert given["evidence"]["form_url"] == "https://example.org/form" and given["hash"] == person.given.hash
    assert {(s["purpose"], s["status"]) for s in doc["consent"]["current"]} == {(person.promo.code, "withdrawn")}
    [information] = doc["information"]
    assert information["purpose"] == person.service.code and information["notice_sha256"]
    [event] = doc["events"]
    assert event["external_id"] == "PRET-4242" and event["kind"] == "loan_due" and event["starts_at"]
    assert event["params"] == {"place": "Médiathèque du Centre"} and event["status"] == "scheduled"
    [request] = doc["requests"]
    assert request["reference"] == "DR-2026-00001" and request["details"] == "Je veux une copie de mes données"


def test_it_names_purposes_categories_and_the_actual_providers_R42(person):
    doc = exports.build_document(person.zoe, language="en")
    purposes = {p["code"]: p for p in doc["purposes"]}
    assert set(purposes) == {person.service.code, person.promo.code}
    service = purposes[person.service.code]
    assert service["label"] == "Overdue reminders" and service["legal_basis"] == "public_task"
    assert service["retention_days"] == 120 and service["retention"]
    assert {c["code"] for c in service["data_categories"]} == {"identity", "contact", "loan"}
    assert {c["code"] for c in doc["categories"]} >= {"identity", "contact", "loan"}
    assert all(c["label"] for c in doc["categories"])
    by_vendor = {p["vendor"]: p for p in doc["recipients"]["providers"]}
    assert set(by_vendor) == {"Twilio", "OVHcloud SMS"}
    assert by_vendor["Twilio"]["country"] == "US" and by_vendor["Twilio"]["transfer_outside_eea"] is True
    assert by_vendor["OVHcloud SMS"]["country"] == "FR" and by_vendor["OVHcloud SMS"]["transfer_outside_eea"] is False
    assert by_vendor["Twilio"]["messages"] == 1 and by_vendor["Twilio"]["account"] == "Twilio main"
    assert {"purpose": person.service.code, "recipients": ["Staff", "Relance (processor)"]} in \
        doc["recipients"]["declared"]


def test_it_states_retention_rights_complaint_source_and_no_automated_decision_R42(person):
    doc = exports.build_document(person.zoe, language="en")
    assert doc["retention"]["applies"] == "purposes"
    assert {p["purpose"] for p in doc["retention"]["purposes"]} == {person.service.code, person.promo.code}
    assert {r["code"] for r in doc["rights"]} >= {"access", "rectification", "erasure", "restriction",
                                                 "portability", "objection", "withdraw_consent", "complaint"}
    assert all(r["how"] for r in doc["rights"])
    assert doc["complaint"]["address"] == "3 Place de Fontenoy, TSA 80715, 75334 Paris Cedex 07"
    assert doc["complaint"]["url"] == "https://www.cnil.fr/fr/plaintes"
    assert doc["source"]["source"] == "staff" and doc["source"]["import_batch"] is None
    assert doc["automated_decisions"]["exists"] is False and "Art. 22" in doc["automated_decisions"]["text"]


def test_it_gives_the_organisations_retention_policies_when_it_has_some_R42(person):
    RetentionPolicy.objects.create(organisation=person.org, category="message_content", days=183, preset="sms",
                                   source="seed documents")
    doc = exports.build_document(person.zoe, language="en")
    assert doc["retention"]["applies"] == "policies"
    assert doc["retention"]["policies"] == [{"category": "message_content", "days": 183, "preset": "sms",
                                             "source": "seed documents",
                                             "label": "Message content (text and placeholder values)"}]


def test_it_holds_nothing_of_another_contact_or_organisation_R42_R63(person):
    text = json.dumps(exports.build_document(person.zoe, language="fr"), ensure_ascii=False)
    for foreign in ("+33699887766", "Othername", "Otherlast", "+33655443322", "Bruno", "Brunlast", "Cabinet B",
                    str(person.other.pk), str(person.bruno.pk)):
        assert foreign not in text


def test_it_gives_a_guardians_messages_and_the_ward_by_id_only_R42_R14(person):
    ward = make_contact(person.org, first_name="Léa", last_name="Wardlast", phone="+33677665544", minor=True)
    contacts.link_guardian(ward, person.zoe, "parent", actor=SYSTEM)
    consent.record_information(person.service, notice_of(person.service), actor=SYSTEM, method="web_form",
                               contact=ward)
    enqueue(ward, person.service, make_template(person.service, code="ward", body="Rappel pour {first_name}."))
    Worker().run_once()
    doc = exports.build_document(person.zoe, language="fr")
    [received] = [m for m in doc["messages"] if m["role"] == "recipient"]
    assert received["about_contact"] == str(ward.pk) and received["body"] == "Rappel pour Léa."
    assert received["params"] is None  # the ward's placeholder values are not the guardian's
    assert doc["subject"]["guardian_of"] == [str(ward.pk)]
    text = json.dumps(doc, ensure_ascii=False)
    assert "Wardlast" not in text and "+33677665544" not in text


def test_it_has_an_export_handler_for_every_holding():
    missing = [holding.key for holding in HOLDINGS if holding.key not in exports.HANDLERS]
    assert missing == [], f"add an export handler in privacy/exports.py for: {missing}"
    assert set(exports.HANDLERS) == {holding.key for holding in HOLDINGS}


def test_it_seals_the_export_with_the_contacts_key_and_audits_it_R60_R65(person):
    export = exports.create_export(person.zoe, actor=SYSTEM, request=person.request)
    export = AccessExport.objects.for_org(person.org).get(pk=export.pk)
    assert export.data_key_id == person.zoe.data_key_id and export.language == "fr" and export.items >= 8
    assert b"Martin" not in export.sealed_bytes("document") and b"+33611223344" not in export.sealed_bytes("document")
    created = AuditEvent.objects.filter(organisation=person.org, action="privacy.export_created").get()
    assert created.target_id == str(export.pk) and created.details["messages"] == 2
    assert created.details["consent_events"] == 2 and created.details["request"] == str(person.request.pk)
    assert "Martin" not in json.dumps(created.details)
    document = exports.read_export(export, actor=SYSTEM)
    assert document["subject"]["last_name"] == "Martin"
    assert AuditEvent.objects.filter(organisation=person.org, action="privacy.export_read",
                                     target_id=str(export.pk)).count() == 1


def test_it_refuses_to_export_an_erased_contact(person):
    contacts.Contact.objects.for_org(person.org).filter(pk=person.other.pk).update(status="erased")
    person.other.refresh_from_db()
    with pytest.raises(ValidationError):
        exports.create_export(person.other, actor=SYSTEM)


def test_it_renders_html_with_every_value_escaped_R42(person, french):
    contacts.update_contact(person.zoe, actor=SYSTEM, last_name="<b>Martin</b>")
    html = exports.render_html(exports.build_document(person.zoe, language="fr"), "fr")
    assert "&lt;b&gt;Martin&lt;/b&gt;" in html and "<b>Martin</b>" not in html
    assert "Bonjour Zoé, votre livre est en retard." in html and 'lang="fr"' in html
    assert "Vos droits" in html and "Twilio" in html


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def test_it_renders_a_pdf_in_french_with_the_message_text_R42(person, french):
    text = _pdf_text(exports.render_pdf(exports.build_document(person.zoe, language="fr"), "fr"))
    for heading in ("Responsable du traitement", "Vos données", "Messages", "Vos réponses", "Consentement",
                    "Finalités", "Destinataires", "Durées de conservation", "Vos droits", "Réclamation auprès de la CNIL",
                    "Origine de vos données", "Décisions automatisées"):
        assert heading in text, heading
    assert "Bonjour Zoé, votre livre est en retard." in text.replace("\n", " ")
    assert "3 Place de Fontenoy" in text and "Twilio" in text


def test_it_renders_the_same_document_in_english(person):
    text = _pdf_text(exports.render_pdf(exports.build_document(person.zoe, language="en"), "en"))
    for heading in ("Controller", "Your data", "Your replies", "Recipients", "Your rights", "Complaint to the CNIL"):
        assert heading in text, heading


def make_export(org) -> AccessExport:
    """An export of a new contact of `org` (the builder of `export_id` in tests/test_isolation.py)."""
    return exports.create_export(make_contact(org), actor=SYSTEM)
