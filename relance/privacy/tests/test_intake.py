"""Public intake with a one-time code sent to the number concerned (R-40): no enumeration, expiry,
tries, rate limit, and the code never stored in clear."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.messaging.models import Message
from relance.messaging.tests.helpers import TUESDAY_MORNING
from relance.messaging.worker import Worker
from relance.privacy import intake
from relance.privacy.models import RightsRequest, VerificationCode
from relance.providers.locmem import LocmemProvider
from relance.testing import make_contact

NUMBER, OTHER = "+33612340001", "+33698760002"


@pytest.fixture
def org(world):
    return world.a


@pytest.fixture
def daytime():
    with time_machine.travel(TUESDAY_MORNING, tick=True) as traveller:
        yield traveller


def sent_code() -> str:
    """The code, as the person reads it in the SMS the worker sent."""
    Worker().run_once()
    (item,) = LocmemProvider.sent_to(NUMBER)
    return re.search(r"\b(\d{6})\b", item.body).group(1)


def test_it_sends_a_code_through_the_outbox_and_opens_the_request_r40(org, daytime):
    contact = make_contact(org, phone="06 12 34 00 01", language="en")
    assert intake.request_code(org, "06 12 34 00 01", ip="203.0.113.9") is None
    message = Message.objects.for_org(org).get(contact=contact)
    assert (message.message_class, message.source, message.purpose_id) == ("rights_request", "reply", None)
    code = sent_code()
    assert "It expires in 10 minutes" in LocmemProvider.sent_to(NUMBER)[0].body
    (req,) = intake.open_public_request(org, NUMBER, code, kind="access", details="Toutes mes données")
    assert (req.channel, req.contact_id, req.language, req.status) == ("public", contact.pk, "en", "received")
    assert req.created_by_kind == "subject"
    assert VerificationCode.objects.for_org(org).get().consumed_at is not None
    with pytest.raises(ValidationError) as exc:  # consumed: used once only
        intake.open_public_request(org, NUMBER, code, kind="access")
    assert exc.value.error_dict["code"][0].code == "code_invalid"


def test_it_answers_an_unknown_number_the_same_and_sends_nothing(org, daytime):
    make_contact(org, phone=NUMBER)
    assert intake.request_code(org, OTHER) is None
    assert not Message.objects.for_org(org).exists()
    assert Worker().run_once() == 0 and LocmemProvider.outbox == []
    with pytest.raises(ValidationError) as exc:
        intake.open_public_request(org, OTHER, "123456", kind="access")
    assert exc.value.error_dict["code"][0].code == "code_invalid"
    assert not RightsRequest.objects.for_org(org).exists()


def test_it_limits_codes_per_number_per_hour_known_or_not(org):
    make_contact(org, phone=NUMBER)
    for number in (NUMBER, OTHER):
        for _ in range(intake.MAX_CODES_PER_HOUR):
            intake.request_code(org, number)
        with pytest.raises(ValidationError) as exc:
            intake.request_code(org, number)
        assert exc.value.error_dict["phone"][0].code == "too_many_codes"
    with time_machine.travel(timezone.now() + timedelta(minutes=61), tick=False):
        intake.request_code(org, NUMBER)


def test_it_expires_a_code_after_ten_minutes(org, daytime):
    make_contact(org, phone=NUMBER)
    intake.request_code(org, NUMBER)
    code = sent_code()
    with time_machine.travel(timezone.now() + timedelta(minutes=11), tick=False), \
            pytest.raises(ValidationError) as exc:
        intake.open_public_request(org, NUMBER, code, kind="erasure")
    assert exc.value.error_dict["code"][0].code == "code_invalid"


def test_it_counts_wrong_tries_and_stops_after_five(org, daytime):
    make_contact(org, phone=NUMBER)
    intake.request_code(org, NUMBER)
    code = sent_code()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    codes = []
    for _ in range(intake.MAX_ATTEMPTS):
        with pytest.raises(ValidationError) as exc:
            intake.open_public_request(org, NUMBER, wrong, kind="access")
        codes.append(exc.value.error_dict["code"][0].code)
    assert codes == ["code_invalid"] * 4 + ["too_many_attempts"]
    assert VerificationCode.objects.for_org(org).get().attempts == intake.MAX_ATTEMPTS
    with pytest.raises(ValidationError) as exc:  # even the right code is refused now
        intake.open_public_request(org, NUMBER, code, kind="access")
    assert exc.value.error_dict["code"][0].code == "too_many_attempts"
    assert AuditEvent.objects.filter(organisation=org, action="privacy.code_rejected").count() == 5


def test_it_never_stores_the_code_in_clear(org, daytime):
    make_contact(org, phone=NUMBER)
    intake.request_code(org, NUMBER)
    code = sent_code()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {VerificationCode._meta.db_table}")
        rows = cursor.fetchall()
    assert len(rows) == 1 and code not in repr(rows) and NUMBER not in repr(rows)
    row = VerificationCode.objects.for_org(org).get()
    assert row.code_hash == intake.code_hash(org, row.id, code) and len(row.code_hash) == 64
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT params FROM {Message._meta.db_table}")
        assert code.encode() not in bytes(cursor.fetchone()[0])  # the SMS's params are sealed


def test_it_opens_one_request_per_contact_sharing_the_number(org, daytime):
    parent, child = make_contact(org, phone=NUMBER), make_contact(org, phone=NUMBER)
    intake.request_code(org, NUMBER)
    assert Message.objects.for_org(org).count() == 1
    opened = intake.open_public_request(org, NUMBER, sent_code(), kind="objection", language="fr")
    assert {r.contact_id for r in opened} == {parent.pk, child.pk}
    assert len({r.reference for r in opened}) == 2


def test_it_checks_the_request_before_spending_the_code(org, daytime):
    make_contact(org, phone=NUMBER)
    intake.request_code(org, NUMBER)
    code = sent_code()
    with pytest.raises(ValidationError) as exc:
        intake.open_public_request(org, NUMBER, code, kind="everything", language="de")
    assert set(exc.value.message_dict) == {"kind", "language"}
    assert VerificationCode.objects.for_org(org).get().attempts == 0
    with pytest.raises(ValidationError) as exc:
        intake.request_code(org, "12")
    assert set(exc.value.message_dict) == {"phone"}


def test_it_keeps_codes_of_one_organisation_to_itself_r63(world, daytime):
    make_contact(world.a, phone=NUMBER)
    make_contact(world.b, phone=NUMBER)
    intake.request_code(world.a, NUMBER)
    code = sent_code()
    with pytest.raises(ValidationError):
        intake.open_public_request(world.b, NUMBER, code, kind="access")
    assert len(intake.open_public_request(world.a, NUMBER, code, kind="access")) == 1


def test_it_purges_old_codes(org):
    intake.request_code(org, OTHER)
    assert intake.purge_codes(timezone.now() + timedelta(hours=23)) == 0
    assert intake.purge_codes(timezone.now() + timedelta(days=2)) == 1
