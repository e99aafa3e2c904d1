"""The worker's loop survives its database connection being cut (a PostgreSQL restart or failover):
the round that meets the dead connection fails and is logged, the next one connects again
(docs/delivery.md, "Database restarts"; tests/reliability/test_outage_postgres.py restarts a real
cluster under `relance worker` processes)."""

from __future__ import annotations

import threading

import psycopg
import pytest
import time_machine
from django.db import connection

from relance.messaging.models import Message
from relance.messaging.tests.helpers import TUESDAY_MORNING, enqueue, informed_contact, make_template, service_purpose
from relance.messaging.worker import Worker
from relance.providers.locmem import LocmemProvider
from relance.testing import make_org

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(databases=["default", "keys"], transaction=True)]


def terminate_backend_of_this_connection() -> None:
    """pg_terminate_backend() of Django's own connection, from another connection: what a restart
    does to it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k not in ("cursor_factory", "context")},
                         autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_the_worker_loop_connects_again_after_its_connection_was_cut():
    """R-29: nothing stays unsent because the worker's connection died under it."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: a server-side connection to terminate")
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        org = make_org()
        purpose = service_purpose(org)
        contact = informed_contact(org, purpose)
        message = enqueue(contact, purpose, make_template(purpose))
        worker = Worker("reconnect", provider_for=lambda channel: LocmemProvider(channel))
        terminate_backend_of_this_connection()
        rounds = []
        stop = threading.Event()
        original = worker.run_once

        def counted():
            rounds.append(1)
            if len(rounds) >= 3:
                stop.set()
            return original()

        worker.run_once = counted
        worker.run(stop, idle=0.05)
        assert Message.unscoped.get(pk=message.pk).status in (Message.Status.SENT, Message.Status.DELIVERED)
        assert [out.to for out in LocmemProvider.outbox] == [contact.phone]
