"""Erasure by crypto-shredding (R-43), deceased (R-45): one handler per holding, tombstone, suppression
hash kept, audit with counts only, the contact.erased webhook, the key destroyed after commit."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.db import transaction
from django.utils import timezone, translation

from relance.audit.models import AuditEvent
from relance.consent.decision import contact_facts, decide_for
from relance.consent.models import ConsentEvent, ConsentState, Information
from relance.consent.tests.helpers import give, make_consent_purpose
from relance.contacts import services as contacts
from relance.contacts.models import Contact, SuppressionEntry
from relance.imports import services as imports
from relance.keystore import services as keys
from relance.keystore.fields import SealedModel
from relance.messaging.models import InboundMessage, Message, MessageEvent
from relance.messaging.tests.helpers import enqueue, informed_contact, make_template, service_purpose
from relance.privacy import erasure
from relance.privacy.models import AccessExport, Breach, BreachSubject, RightsRequest, VerificationCode
from relance.privacy.personal_data import BY_KEY, BY_MODEL, HOLDINGS, NOT_PERSONAL
from relance.reminders import services as reminders
from relance.reminders.models import Event
from relance.testing import SYSTEM, make_contact, make_org
from relance.webhooks import services as webhooks
from relance.webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

# What the test person is: none of it may survive erasure anywhere.
PERSON = {"first_name": "Zéphyrine", "last_name": "Quillebœuf", "phone": "+33 6 98 76 54 32",
          "email": "zephyrine.quilleboeuf@example.org", "external_ref": "PAT-ZQ-7781"}
SECRETS = ["Zéphyrine", "Quillebœuf", "+33698765432", "698765432", "zephyrine.quilleboeuf", "PAT-ZQ-7781",
           "Texte-secret-ZQ-0042", "EvidenceAgent/ZQ-5521", "RDV-ZQ-991", "Cabinet-Rosemonde-ZQ",
           "Mes-mots-ZQ-3310", "Export-ZQ-6620"]


def populate(org, *, endpoint_url="https://example.org/hooks/relance"):
    """A contact with something in every holding, a ward, and a webhook endpoint; returns (person, ward)."""
    purpose = service_purpose(org)
    template = make_template(purpose)
    person = informed_contact(org, purpose, **PERSON)
    ward = make_contact(org, minor=True)
    contacts.link_guardian(ward, person, "parent", actor=SYSTEM)
    message = enqueue(person, purpose, template, params={"starts_at": (timezone.now() + timedelta(days=2)).isoformat(),
                                                          "place": "Cabinet-Rosemonde-ZQ"})
    message.body = "Texte-secret-ZQ-0042"
    message.save(update_fields=["body"])
    reminders.upsert_event(org, actor=SYSTEM, external_id="RDV-ZQ-991", kind="appointment", contact=person,
                           purpose=purpose, starts_at=timezone.now() + timedelta(days=3))
    give(person, make_consent_purpose(org), evidence={"ip": "203.0.113.0", "user_agent": "EvidenceAgent/ZQ-5521"})
    now = timezone.now()
    InboundMessage.objects.create(organisation=org, contact=person, phone_hash=person.phone_index, to="RELANCE",
                                  action="stop", keyword="STOP", received_at=now)
    request = RightsRequest(organisation=org, reference="DR-ZQ-1", kind="erasure", contact=person, channel="staff",
                            received_at=now, due_at=now + timedelta(days=30), created_by_kind="system")
    request.data_key_id, request.details = person.data_key_id, "Mes-mots-ZQ-3310"
    request.save()
    export = AccessExport(organisation=org, contact=person, sha256="0" * 64, created_by_kind="system")
    export.data_key_id, export.document = person.data_key_id, '{"note": "Export-ZQ-6620"}'
    export.save()
    breach = Breach.objects.create(organisation=org, reference="INC-1", title="t", nature="n", aware_at=now,
                                   created_by_kind="system")
    BreachSubject.objects.create(organisation=org, breach=breach, contact=person)
    VerificationCode.objects.create(organisation=org, phone_hash=person.phone_index, code_hash="1" * 64,
                                    created_at=now, expires_at=now + timedelta(minutes=5))
    webhooks.create_endpoint(org, actor=SYSTEM, url=endpoint_url, events=["contact.erased"])
    return person, ward


def erase_now(contact, **kwargs):
    """Erase and run the after-commit key destruction, as a real commit would."""
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        return erasure.erase_contact(contact, actor=SYSTEM, **kwargs)


# --- THE list is complete --------------------------------------------------------------------
def test_it_has_one_erasure_handler_per_holding():
    """R-43: every key of personal_data.HOLDINGS has its handler, and runs (ORDER)."""
    keys_ = {holding.key for holding in HOLDINGS}
    assert set(erasure.HANDLERS) == keys_
    assert sorted(erasure.ORDER) == sorted(keys_)


def test_every_model_holding_personal_data_is_on_the_list():
    """R-43: a model pointing at Contact, or sealing data, is in HOLDINGS or NOT_PERSONAL (fails for a new one)."""
    for model in apps.get_models():
        points_at_contact = any(getattr(field, "related_model", None) is Contact and field.concrete
                                for field in model._meta.get_fields())
        if points_at_contact or issubclass(model, SealedModel):
            label = model._meta.label
            assert label in BY_MODEL or label in NOT_PERSONAL, f"{label}: add it to privacy/personal_data.py"


def test_it_refuses_to_run_when_a_holding_lacks_its_handler(monkeypatch):
    monkeypatch.delitem(erasure.HANDLERS, "inbound")
    contact = make_contact(make_org())
    with pytest.raises(RuntimeError, match="inbound"):
        erasure.erase_contact(contact, actor=SYSTEM)


# --- erasing ------------------------------------------------------------------------------
def test_it_erases_every_holding_and_keeps_a_tombstone():
    """R-43: rows deleted, ledger and requests kept without content, tombstone, suppression hash kept."""
    org = make_org()
    person, ward = populate(org)
    phone_hash, key_id = person.phone_index, person.data_key_id
    counts = erase_now(person)
    assert counts["messages"] == 1 and counts["message_events"] >= 1 and counts["events"] == 1
    assert counts["inbound"] == counts["exports"] == counts["breach_subjects"] == counts["verification_codes"] == 1
    assert counts["consent_events"] == 1 and counts["requests"] == 1 and counts["suppression"] == 1
    assert counts["consent_states"] >= 1 and counts["information"] == 1 and counts["contact"] == 1
    for model in (Message, InboundMessage, Event, ConsentState, Information, AccessExport, BreachSubject):
        assert not model.objects.for_org(org).filter(contact=person).exists(), model
    assert not MessageEvent.objects.for_org(org).exists()
    assert not VerificationCode.objects.for_org(org).exists()
    tomb = Contact.objects.for_org(org).get(pk=person.pk)
    assert tomb.status == "erased" and tomb.data_key_id is None
    for name in ("first_name", "last_name", "phone", "email", "birth_date", "minor", "external_ref"):
        assert tomb.sealed_bytes(name) is None
    assert (tomb.phone_index, tomb.email_index, tomb.external_ref_index, tomb.guardian_id) == (None, None, None, None)
    assert [f.attname for f in Contact._meta.concrete_fields if f.attname.endswith("_index") and getattr(tomb, f.attname)] == []
    assert Contact.objects.for_org(org).get(pk=ward.pk).guardian_id is None
    assert SuppressionEntry.objects.for_org(org).get(phone_hash=phone_hash).reason == "erasure"
    assert ConsentEvent.objects.for_org(org).filter(contact=person).count() == 1  # the ledger keeps its row
    assert RightsRequest.objects.for_org(org).get(contact=person).sealed_bytes("details") is None
    with pytest.raises(keys.KeyDestroyed):
        keys.subject_key(key_id)


def test_it_audits_counts_only_and_tells_connected_systems():
    """R-43, R-65, Art. 19: audit privacy.contact_erased with counts; webhook contact.erased queued."""
    org = make_org()
    person, _ = populate(org)
    erase_now(person, reason="staff")
    event = AuditEvent.objects.get(organisation=org, action="privacy.contact_erased")
    assert event.target_id == str(person.pk) and event.details["reason"] == "staff"
    assert event.details["counts"]["messages"] == 1
    assert not any(secret in str(event.details) for secret in SECRETS)
    delivery = WebhookDelivery.objects.for_org(org).get(event="contact.erased")
    assert delivery.payload["data"] == {"contact": str(person.pk), "external_ref": "PAT-ZQ-7781", "reason": "staff"}


def test_it_leaves_other_contacts_and_organisations_alone():
    org, other_org = make_org(), make_org()
    person, ward = populate(org)
    neighbour = make_contact(org, phone="+33 6 11 22 33 44")
    stranger, _ = populate(other_org)
    erase_now(person)
    assert Contact.objects.for_org(org).get(pk=neighbour.pk).first_name is not None
    assert Contact.objects.for_org(org).get(pk=ward.pk).status == "active"
    assert Contact.objects.for_org(other_org).get(pk=stranger.pk).first_name == "Zéphyrine"
    assert Message.objects.for_org(other_org).count() == 1
    assert keys.subject_key(stranger.data_key_id)


def test_it_refuses_to_erase_an_erased_contact_with_a_clear_message():
    contact = make_contact(make_org())
    erase_now(contact)
    with translation.override("en"), pytest.raises(erasure.AlreadyErased, match="already erased"):
        erasure.erase_contact(contact, actor=SYSTEM)
    with translation.override("fr"), pytest.raises(erasure.AlreadyErased, match="déjà été effacé"):
        erasure.erase_contact(contact, actor=SYSTEM)


def test_it_erases_messages_sent_to_the_contact_as_a_guardian():
    """R-14/R-43: a ward's message to the guardian's number goes with the guardian's erasure."""
    org = make_org()
    purpose = service_purpose(org)
    template = make_template(purpose)
    guardian = informed_contact(org, purpose)
    ward = informed_contact(org, purpose, minor=True)
    contacts.link_guardian(ward, guardian, "parent", actor=SYSTEM)
    ward.refresh_from_db()
    enqueue(ward, purpose, template)
    assert Message.objects.for_org(org).filter(recipient=guardian).count() == 1
    erase_now(guardian)
    assert not Message.objects.for_org(org).exists()


def test_it_destroys_keys_left_by_a_crash_between_commit_and_destruction():
    """R-43: the key store is another database; a tombstone whose key survived is finished by the worker."""
    contact = make_contact(make_org())
    key_id = contact.data_key_id
    with transaction.atomic():
        erasure.erase_contact(contact, actor=SYSTEM)  # inside the test's transaction: on_commit never runs
    assert keys.subject_key(key_id)
    assert erasure.destroy_leftover_keys() == 1
    with pytest.raises(keys.KeyDestroyed):
        keys.subject_key(key_id)
    assert erasure.destroy_leftover_keys() == 0


def test_it_erases_many_contacts_in_batches_with_progress():
    org, other_org = make_org(), make_org()
    people = [make_contact(org) for _ in range(5)]
    erase_now(people[0])
    foreign = make_contact(other_org)
    seen = []
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        totals = erasure.erase_contacts(org, [p.pk for p in people] + [foreign.pk], actor=SYSTEM, reason="retention",
                                        batch=2, progress=lambda done, total: seen.append((done, total)))
    assert (totals["erased"], totals["skipped"]) == (4, 2)
    assert totals["counts"]["contact"] == 4
    assert seen == [(2, 6), (4, 6), (6, 6)]
    assert Contact.objects.for_org(org).filter(status="erased").count() == 5
    assert Contact.objects.for_org(other_org).get(pk=foreign.pk).status == "active"


# --- deceased (R-45) -----------------------------------------------------------------------
def test_it_erases_a_deceased_person_at_once_when_that_was_their_directive():
    """R-45: the person's directive erase_now erases at once (reason 'deceased')."""
    org = make_org()
    contact = make_contact(org)
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        erasure.mark_deceased(contact, actor=SYSTEM, erase_now=True)
    assert Contact.objects.for_org(org).get(pk=contact.pk).status == "erased"
    actions = list(AuditEvent.objects.filter(organisation=org, target_id=str(contact.pk)).values_list("action", flat=True))
    assert "contact.deceased" in actions and "privacy.contact_erased" in actions


def test_it_only_stops_sending_to_a_deceased_person_without_a_directive():
    """R-45: without a directive the 'deceased_contacts' retention erases later; sending stops now."""
    org = make_org()
    contact = make_contact(org)
    erasure.mark_deceased(contact, actor=SYSTEM)
    fresh = Contact.objects.for_org(org).get(pk=contact.pk)
    assert fresh.status == "deceased" and fresh.first_name is not None and fresh.status_changed_at is not None


# --- the number stays out (R-31, R-43) -------------------------------------------------------
def test_it_blocks_a_re_import_of_the_erased_number_for_a_promotional_purpose():
    """R-31/R-43: a CSV import of the erased person's number (any format) for a promotional purpose is refused."""
    org = make_org()
    promo = make_consent_purpose(org)
    erase_now(make_contact(org, phone="+33 6 98 76 54 32"))
    day = (timezone.localdate() - timedelta(days=10)).strftime("%d/%m/%Y")
    data = ("first_name,phone,consent_source,consent_date,consent_ref,consent_collector,consent_channel\n"
            f"Zéphyrine,06.98.76.54.32,Formulaire,{day},FORM-1,Accueil,sms\n").encode()
    batch = imports.import_contacts(org, data, actor=SYSTEM, purpose=promo, mode="good_rows_only")
    assert (batch.created, batch.suppressed) == (0, 1)
    assert batch.report["problems"][0]["code"] == "on_stop_list"


def test_it_flags_a_staff_re_creation_of_the_number_and_suppresses_promotional_sms():
    """R-31/R-43: staff may store the number again, but it is on the suppression list: no promotional SMS."""
    org = make_org()
    promo = make_consent_purpose(org)
    erase_now(make_contact(org, phone="+33 6 98 76 54 32"))
    again = make_contact(org, phone="06 98 76 54 32")
    assert contacts.is_suppressed(org, "+33698765432")
    assert contact_facts(again, promo).on_suppression_list
    give(again, promo)
    decision = decide_for(again, promo, "sms", now=timezone.now())
    assert (decision.action, decision.reason) == ("suppress", "withdrawn")


def test_handlers_are_named_after_holdings():
    assert all(key in BY_KEY for key in erasure.HANDLERS)
