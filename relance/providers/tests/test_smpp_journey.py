"""The whole way through SMPP (issue 5, "done when"): a reminder leaves through an SMPP account bound
to the SMSC simulator, its delivery receipt comes back on the bind and marks it delivered (R-29), and a
STOP sent from the phone is in effect once the SMSC has our deliver_sm_resp (R-33)."""

from __future__ import annotations

import time

import pytest
import time_machine
from django.db import connection

from relance.contacts import services as contacts
from relance.messaging.models import Message
from relance.messaging.tests.helpers import TUESDAY_MORNING, enqueue, informed_contact, make_template, service_purpose
from relance.messaging.worker import Worker
from relance.providers import services
from relance.testing import SYSTEM

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(databases=["default", "keys"], transaction=True)]
NUMBER = "+33612345678"


def wait_until(condition, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def journey(world, smsc):
    if connection.vendor != "postgresql":  # the PostgreSQL pass of `make test` runs it (mandatory in CI)
        pytest.skip("needs PostgreSQL: receipts and STOP are applied on the SMPP client's own thread")
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        purpose = service_purpose(world.a)
        template = make_template(purpose)
        contact = informed_contact(world.a, purpose, phone=NUMBER)
        account = services.create_account(world.a, name="smsc", kind="smpp", actor=SYSTEM, credentials={
            "host": smsc.host, "port": smsc.port, "system_id": "relance", "password": "secret"})
        worker = Worker("journey")
        try:
            yield purpose, template, contact, account, worker
        finally:
            worker.close()


def test_it_sends_through_smpp_and_applies_the_receipt_from_the_bind(journey, smsc):
    purpose, template, contact, account, worker = journey
    message = enqueue(contact, purpose, template)
    assert worker.run_once() == 1
    sent = Message.unscoped.get(pk=message.pk)
    assert sent.status in (Message.Status.SENT, Message.Status.DELIVERED)
    assert sent.provider == account.label and sent.provider_ref
    [submit] = smsc.messages()
    assert submit["destination_addr"].endswith("33612345678") and submit["registered_delivery"] & 1
    delivered = wait_until(lambda: Message.unscoped.filter(pk=message.pk, status=Message.Status.DELIVERED).first())
    assert delivered.provider_ref == sent.provider_ref


def test_it_puts_a_stop_from_the_bind_in_effect_before_acknowledging_it(journey, smsc):
    """R-33: when the SMSC has our deliver_sm_resp, the number is suppressed and nothing more goes."""
    purpose, template, contact, account, worker = journey
    enqueue(contact, purpose, template)
    worker.run_once()
    sender = smsc.messages()[0]["source_addr"]
    pending = enqueue(contact, purpose, template)
    answer = smsc.mo(NUMBER, sender, "STOP")
    assert answer["delivered"] and answer["command_status"] == 0, answer
    assert contacts.is_suppressed(world_org(contact), NUMBER)
    assert Message.unscoped.get(pk=pending.pk).status == Message.Status.SUPPRESSED
    worker.run_once()
    after = smsc.messages()[1:]
    assert Message.unscoped.get(pk=pending.pk).status == Message.Status.SUPPRESSED
    # Only the STOP acknowledgement may follow, never the pending reminder.
    assert len(after) <= 1 and all(m["destination_addr"].endswith("33612345678") for m in after)
    replies = Message.unscoped.filter(organisation=contact.organisation, source="reply")
    assert replies.count() == len(after)


def world_org(contact):
    return contact.organisation


def test_it_keeps_the_bind_open_for_replies_while_there_is_nothing_to_send(journey, smsc):
    *_, worker = journey
    assert worker.router.keep_bound() == 1
    assert wait_until(lambda: smsc.stats()["bound"] >= 1)
