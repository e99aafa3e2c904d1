"""Several workers against one PostgreSQL: every due message is claimed by exactly one of them."""

from __future__ import annotations

import threading
import time

import pytest
import time_machine
from django.db import connection, connections, transaction

from relance.messaging import outbox
from relance.messaging.models import Message
from relance.messaging.tests.helpers import TUESDAY_MORNING, informed_contact, make_template, service_purpose
from relance.messaging.worker import Worker
from relance.providers.base import Result
from relance.providers.locmem import LocmemProvider
from relance.testing import make_org

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(databases=["default", "keys"], transaction=True)]


class SlowLocmem(LocmemProvider):
    """Takes a little time per batch, so that the workers' rounds overlap."""

    def send(self, batch):
        time.sleep(0.02)
        return super().send(batch)


def test_two_workers_share_the_queue_without_sending_anything_twice():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SKIP LOCKED claims between connections")
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        org = make_org()
        purpose = service_purpose(org)
        template = make_template(purpose)
        contacts = [informed_contact(org, purpose) for _ in range(20)]
        with transaction.atomic():
            messages = [outbox.build(contacts[i % 20], purpose, "sms", template=template, due_at=TUESDAY_MORNING,
                                     source="api", params={"starts_at": "2026-11-26T09:00:00+00:00"}) for i in range(400)]
            outbox.enqueue_many(messages, decided=True)
        sent_by: dict[str, int] = {}

        def work(name):
            worker = Worker(name, batch_size=25, provider_for=lambda channel: SlowLocmem(channel))
            try:
                while worker.run_once():
                    pass
                sent_by[name] = worker.totals["sent"]
            finally:
                connections.close_all()

        threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    refs = [item.ref for item in LocmemProvider.outbox]
    assert len(refs) == 400 and len(set(refs)) == 400  # each message handed to the provider once
    assert Message.objects.for_org(org).filter(status=Message.Status.SENT).count() == 400
    assert all(count > 0 for count in sent_by.values()) and sum(sent_by.values()) == 400, sent_by
    assert Result.SENT == "sent"
