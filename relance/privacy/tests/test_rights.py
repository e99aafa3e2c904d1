"""Rights requests (R-40, R-41): opening, status moves, extension rules, refusals, audit, webhooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.contacts.models import Contact
from relance.privacy import rights
from relance.privacy.models import ControllerProfile, RightsRequest
from relance.testing import SYSTEM, make_contact
from relance.webhooks.models import WebhookDelivery, WebhookEndpoint

Status, Kind = RightsRequest.Status, RightsRequest.Kind
JAN_31 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def actions(org) -> list[str]:
    return list(AuditEvent.objects.filter(organisation=org).order_by("seq").values_list("action", flat=True))


def status_code(exc: ValidationError) -> str:
    return exc.value.error_dict["status"][0].code


def open_one(org, contact=None, **overrides):
    values = {"kind": Kind.ACCESS, "channel": "staff", "details": "Je veux mes données", "contact": contact}
    values.update(overrides)
    return rights.open_request(org, actor=SYSTEM, **values)


def endpoint(org) -> WebhookEndpoint:
    row = WebhookEndpoint(organisation=org, url="https://hooks.example.org/relance", events=["*"])
    row.secret = "s3cret"
    row.save()
    return row


@pytest.fixture
def org(world):
    return world.a


def test_it_opens_a_request_with_reference_due_date_and_audit_r40_r41(org):
    contact = make_contact(org)
    with time_machine.travel(JAN_31 + timedelta(days=1), tick=False):
        req = open_one(org, contact, received_at=JAN_31)
        second = open_one(org, contact, kind=Kind.ERASURE)
    assert req.reference == "DR-2026-00001" and second.reference == "DR-2026-00002"
    assert req.status == Status.RECEIVED and req.language == "fr"
    assert req.due_at == datetime(2026, 2, 28, 23, 59, 59, tzinfo=timezone.get_fixed_timezone(60))
    assert req.data_key_id == Contact.objects.for_org(org).get(pk=contact.pk).data_key_id
    assert actions(org).count("privacy.request_received") == 2
    event = AuditEvent.objects.filter(organisation=org, action="privacy.request_received").first()
    assert event.details["reference"] == "DR-2026-00001" and "Je veux" not in str(event.details)


def test_it_numbers_references_per_organisation(world):
    assert open_one(world.a).reference.endswith("-00001")
    assert open_one(world.b).reference.endswith("-00001")


def test_it_seals_details_and_audits_their_reading_r65(org):
    req = open_one(org, make_contact(org))
    raw = RightsRequest.objects.for_org(org).get(pk=req.pk).sealed_bytes("details")
    assert b"donn" not in raw
    fresh = RightsRequest.objects.for_org(org).get(pk=req.pk)
    assert rights.read_details(fresh, actor=SYSTEM) == "Je veux mes données"
    assert "privacy.request_read" in actions(org)


def test_it_reports_every_invalid_field_at_once(world):
    other = make_contact(world.b)
    with pytest.raises(ValidationError) as exc:
        rights.open_request(world.a, actor=SYSTEM, kind="nope", channel="fax", requested_by="cousin",
                            contact=other, language="de", details="x" * 6000,
                            received_at=timezone.now() + timedelta(days=2))
    assert set(exc.value.message_dict) == {"kind", "channel", "requested_by", "contact", "language", "details",
                                           "received_at"}


def test_it_moves_statuses_forward_only(org):
    req = open_one(org, make_contact(org))
    rights.start_request(req, actor=SYSTEM)
    assert req.status == Status.IN_PROGRESS
    with pytest.raises(ValidationError) as exc:
        rights.start_request(req, actor=SYSTEM)
    assert status_code(exc) == "request_already_started"
    rights.extend_request(req, actor=SYSTEM, reason="Many archives to search", told_via="sms")
    with pytest.raises(ValidationError) as exc:
        rights.start_request(req, actor=SYSTEM)
    assert status_code(exc) == "request_already_started"
    rights.refuse_request(req, actor=SYSTEM, code="no_data")
    for move in (lambda: rights.start_request(req, actor=SYSTEM),
                 lambda: rights.refuse_request(req, actor=SYSTEM, code="no_data"),
                 lambda: rights.complete_request(req, actor=SYSTEM),
                 lambda: rights.extend_request(req, actor=SYSTEM, reason="r", told_via="sms")):
        with pytest.raises(ValidationError) as exc:
            move()
        assert status_code(exc) == "request_closed"
    assert actions(org)[-3:] == ["privacy.request_started", "privacy.request_extended", "privacy.request_refused"]


def test_it_extends_by_two_months_inside_the_first_month_when_the_person_was_told_r41(org):
    with time_machine.travel(JAN_31, tick=False):
        req = open_one(org, make_contact(org))
    with time_machine.travel(datetime(2026, 2, 20, 10, tzinfo=UTC), tick=False):
        rights.extend_request(req, actor=SYSTEM, reason="Archives on paper", told_via="letter")
    assert req.status == Status.EXTENDED and req.person_told_via == "letter"
    assert req.due_at.date().isoformat() == "2026-04-30" and req.person_told_at is not None
    with time_machine.travel(datetime(2026, 2, 21, 10, tzinfo=UTC), tick=False), pytest.raises(ValidationError) as exc:
        rights.extend_request(req, actor=SYSTEM, reason="again", told_via="sms")
    assert status_code(exc) == "request_already_extended"


def test_it_refuses_an_extension_after_the_first_month_r41(org):
    with time_machine.travel(JAN_31, tick=False):
        req = open_one(org, make_contact(org))
    with time_machine.travel(datetime(2026, 3, 1, 10, tzinfo=UTC), tick=False), pytest.raises(ValidationError) as exc:
        rights.extend_request(req, actor=SYSTEM, reason="Archives", told_via="sms")
    assert status_code(exc) == "extension_too_late"
    assert RightsRequest.objects.for_org(org).get(pk=req.pk).status == Status.RECEIVED


def test_it_refuses_an_extension_without_reasons_or_without_telling_the_person_r41(org):
    req = open_one(org, make_contact(org))
    with pytest.raises(ValidationError) as exc:
        rights.extend_request(req, actor=SYSTEM, reason="  ", told_via="")
    assert set(exc.value.message_dict) == {"reason", "told_via"}
    with pytest.raises(ValidationError) as exc:
        rights.extend_request(req, actor=SYSTEM, reason="Archives", told_via="+33612345678")
    assert set(exc.value.message_dict) == {"told_via"}
    assert RightsRequest.objects.for_org(org).get(pk=req.pk).status == Status.RECEIVED


@pytest.mark.parametrize("code", RightsRequest.Refusal.values)
def test_it_refuses_with_each_code_and_tells_connected_systems(org, code):
    endpoint(org)
    req = open_one(org, make_contact(org))
    reason = "Demande déjà traitée la semaine dernière" if code == "other" else ""
    rights.refuse_request(req, actor=SYSTEM, code=code, reason=reason)
    fresh = RightsRequest.objects.for_org(org).get(pk=req.pk)
    assert (fresh.status, fresh.refusal_code, fresh.refusal_reason) == (Status.REFUSED, code, reason)
    assert fresh.completed_at is not None
    delivery = WebhookDelivery.objects.for_org(org).get(event="request.refused")
    assert delivery.payload["data"] == {"request": str(req.pk), "reference": req.reference, "kind": "access",
                                        "contact": str(req.contact_id), "outcome": code}


def test_it_needs_a_reason_to_refuse_with_other_and_a_known_code(org):
    req = open_one(org)
    with pytest.raises(ValidationError) as exc:
        rights.refuse_request(req, actor=SYSTEM, code="other")
    assert set(exc.value.message_dict) == {"reason"}
    with pytest.raises(ValidationError) as exc:
        rights.refuse_request(req, actor=SYSTEM, code="because")
    assert set(exc.value.message_dict) == {"code"}


def test_it_sends_no_webhook_when_the_organisation_turned_them_off(org):
    endpoint(org)
    ControllerProfile.objects.create(organisation=org, webhook_events_enabled=False)
    rights.refuse_request(open_one(org), actor=SYSTEM, code="no_data")
    assert not WebhookDelivery.objects.for_org(org).exists()


def test_it_needs_a_contact_to_complete_and_can_link_one_later(org):
    req = open_one(org, details="Mon numéro a changé")
    with pytest.raises(ValidationError) as exc:
        rights.complete_request(req, actor=SYSTEM)
    assert exc.value.error_dict["contact"][0].code == "request_without_contact"
    own_key, contact = req.data_key_id, make_contact(org)
    rights.link_contact(req, contact, actor=SYSTEM)
    fresh = RightsRequest.objects.for_org(org).get(pk=req.pk)
    assert fresh.contact_id == contact.pk and fresh.data_key_id == contact.data_key_id != own_key
    assert fresh.details == "Mon numéro a changé"
    with pytest.raises(ValidationError):
        rights.link_contact(req, make_contact(org), actor=SYSTEM)


def test_it_lists_open_overdue_and_soon_due_requests_r41(world):
    org, now = world.a, timezone.now()
    late = open_one(org, received_at=now - timedelta(days=40))
    soon = open_one(org, received_at=now - timedelta(days=27))
    later = open_one(org)
    done = open_one(org, received_at=now - timedelta(days=45))
    rights.refuse_request(done, actor=SYSTEM, code="no_data")
    open_one(world.b, received_at=now - timedelta(days=40))
    assert [r.pk for r in rights.open_requests(org)] == [late.pk, soon.pk, later.pk]
    assert [r.pk for r in rights.overdue(org, now)] == [late.pk]
    assert [r.pk for r in rights.due_within(org, 7, now)] == [soon.pk]


def test_it_finds_only_its_own_organisations_requests_r63(world):
    req = open_one(world.a)
    assert rights.get_request(world.b, req.pk) is None
    assert rights.get_request(world.a, "not-a-uuid") is None
    assert rights.get_request(world.a, req.pk) == req
