"""Completing a request does what its kind asks (R-40, R-42 … R-44), then tells connected systems."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from relance.audit.models import AuditEvent
from relance.consent.models import ConsentEvent, ConsentState
from relance.consent.tests.helpers import give, make_consent_purpose, make_purpose
from relance.contacts.models import Contact
from relance.keystore.services import KeyDestroyed
from relance.privacy import rights
from relance.privacy.models import AccessExport, RightsRequest
from relance.testing import SYSTEM, make_contact
from relance.webhooks.models import WebhookDelivery, WebhookEndpoint

Kind = RightsRequest.Kind


@pytest.fixture
def org(world):
    return world.a


def request_for(contact, kind, **overrides):
    return rights.open_request(contact.organisation, actor=SYSTEM, kind=kind, contact=contact,
                               channel=overrides.pop("channel", "staff"), details="Ma demande", **overrides)


def completed(org, req):
    fresh = RightsRequest.objects.for_org(org).get(pk=req.pk)
    assert fresh.status == RightsRequest.Status.COMPLETED and fresh.completed_at is not None
    assert AuditEvent.objects.filter(organisation=org, action="privacy.request_completed",
                                     target_id=str(req.pk)).exists()
    return fresh


def test_it_restricts_the_contact_r44(org):
    contact = make_contact(org)
    req = rights.complete_request(request_for(contact, Kind.RESTRICTION), actor=SYSTEM)
    assert completed(org, req).outcome == {"action": "restricted"}
    assert Contact.objects.for_org(org).get(pk=contact.pk).status == Contact.Status.RESTRICTED


def test_it_records_an_objection_or_withdrawal_for_every_purpose_and_channel_r40(org):
    contact = make_contact(org)
    service = make_purpose(org)  # public task, sms + email
    news = make_consent_purpose(org, channels=["sms"])
    give(contact, news)
    req = rights.complete_request(request_for(contact, Kind.OBJECTION, channel="api"), actor=SYSTEM)
    assert completed(org, req).outcome == {"action": "objected", "channels": ["email", "sms"], "events": 3}
    states = {(s.purpose_id, s.channel): s.status for s in ConsentState.objects.for_org(org).filter(contact=contact)}
    assert states == {(service.pk, "sms"): "objected", (service.pk, "email"): "objected", (news.pk, "sms"): "withdrawn"}
    assert set(ConsentEvent.objects.for_org(org).filter(contact=contact, action__in=["objected", "withdrawn"])
               .values_list("method", flat=True)) == {"api"}


def test_it_limits_an_objection_to_the_channels_asked(org):
    contact, service = make_contact(org), make_purpose(org)
    req = rights.complete_request(request_for(contact, Kind.OBJECTION), actor=SYSTEM, channels=["email"])
    assert completed(org, req).outcome["channels"] == ["email"]
    assert ConsentState.objects.for_org(org).get(contact=contact, purpose=service, channel="email").status == "objected"
    with pytest.raises(ValidationError) as exc:
        rights.complete_request(request_for(contact, Kind.OBJECTION), actor=SYSTEM, channels=["fax"])
    assert set(exc.value.message_dict) == {"channels"}


def test_it_rectifies_the_fields_given(org):
    contact = make_contact(org, last_name="Dupond")
    req = rights.complete_request(request_for(contact, Kind.RECTIFICATION), actor=SYSTEM,
                                  changes={"last_name": "Dupont", "phone": "06 11 22 33 44"})
    assert completed(org, req).outcome == {"action": "rectified", "fields": ["last_name", "phone"]}
    fresh = Contact.objects.for_org(org).get(pk=contact.pk)
    assert (fresh.last_name, fresh.phone) == ("Dupont", "+33611223344")


def test_it_refuses_a_rectification_without_changes_or_with_bad_values(org):
    req = request_for(make_contact(org), Kind.RECTIFICATION)
    with pytest.raises(ValidationError) as exc:
        rights.complete_request(req, actor=SYSTEM)
    assert set(exc.value.message_dict) == {"changes"}
    with pytest.raises(ValidationError) as exc:
        rights.complete_request(req, actor=SYSTEM, changes={"phone": "12"})
    assert "phone" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        rights.complete_request(req, actor=SYSTEM, channels=["sms"])
    assert set(exc.value.message_dict) == {"channels"}
    assert RightsRequest.objects.for_org(org).get(pk=req.pk).status == RightsRequest.Status.RECEIVED


@pytest.mark.parametrize("kind", [Kind.ACCESS, Kind.PORTABILITY])
def test_it_produces_the_access_export_r42(org, kind):
    pytest.importorskip("relance.privacy.exports")
    endpoint = WebhookEndpoint(organisation=org, url="https://hooks.example.org/x", events=["request.completed"])
    endpoint.secret = "s"
    endpoint.save()
    contact = make_contact(org, language="en")
    req = rights.complete_request(request_for(contact, kind), actor=SYSTEM)
    outcome = completed(org, req).outcome
    export = AccessExport.objects.for_org(org).get(pk=outcome["export"])
    assert export.request_id == req.pk and export.contact_id == contact.pk and export.language == "en"
    assert WebhookDelivery.objects.for_org(org).get(event="request.completed").payload["data"]["outcome"] == "exported"


def test_it_erases_the_contact_and_shreds_the_requests_words_r43(org, django_capture_on_commit_callbacks):
    pytest.importorskip("relance.privacy.erasure")
    contact = make_contact(org)
    with django_capture_on_commit_callbacks(execute=True):
        req = rights.complete_request(request_for(contact, Kind.ERASURE), actor=SYSTEM)
    fresh = completed(org, req)
    assert fresh.outcome["action"] == "erased" and fresh.outcome["counts"]["contact"] == 1
    assert Contact.objects.for_org(org).get(pk=contact.pk).status == Contact.Status.ERASED
    try:
        words = rights.read_details(fresh, actor=SYSTEM)
    except KeyDestroyed:  # pragma: no cover - read_details turns it into None
        words = "unreadable"
    assert words is None
    with pytest.raises(ValidationError) as exc:
        rights.complete_request(request_for(make_contact(org), Kind.ACCESS), actor=SYSTEM, changes={})
    assert set(exc.value.message_dict) == {"changes"}


def test_it_cannot_complete_anything_for_an_erased_contact(org):
    pytest.importorskip("relance.privacy.erasure")
    from relance.privacy.erasure import erase_contact

    contact = make_contact(org)
    req = request_for(contact, Kind.RESTRICTION)
    erase_contact(contact, actor=SYSTEM)
    with pytest.raises(ValidationError) as exc:
        rights.complete_request(req, actor=SYSTEM)
    assert exc.value.error_dict["contact"][0].code == "contact_erased"
