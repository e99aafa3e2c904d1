"""Concurrent writes on PostgreSQL: the unique external reference and the R-29 counter hold."""

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from relance.contacts import rules, services
from relance.contacts.models import Contact
from relance.testing import make_contact, make_org

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(databases=["default", "keys"], transaction=True)]


def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite test databases live in memory, one per connection")


def _in_threads(count, work):
    results = []

    def run():
        try:
            results.append(work())
        except Exception as exc:  # kept to be asserted on
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_it_turns_a_race_on_the_external_reference_into_a_field_error(monkeypatch):
    """Two creations with one external_ref at once: one contact, and a 422-style error for the other."""
    _needs_postgres()
    org = make_org()
    check = rules.check

    def slow_check(*args, **kwargs):
        check(*args, **kwargs)
        time.sleep(0.3)  # both pass the check before either inserts

    monkeypatch.setattr(rules, "check", slow_check)
    results = _in_threads(2, lambda: make_contact(org, external_ref="RACE-1"))
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], ValidationError), results
    assert list(errors[0].message_dict) == ["external_ref"]
    assert Contact.objects.for_org(org).count() == 1


def test_it_counts_every_concurrent_permanent_failure():
    """R-29: receipts processed at once by several workers are all counted (the row is locked)."""
    _needs_postgres()
    contact = make_contact(make_org())
    _in_threads(3, lambda: services.record_delivery_failure(
        Contact.objects.for_org(contact.organisation_id).get(pk=contact.pk), permanent=True))
    fresh = Contact.objects.for_org(contact.organisation).get(pk=contact.pk)
    assert fresh.permanent_failures == 3 and not fresh.number_valid
