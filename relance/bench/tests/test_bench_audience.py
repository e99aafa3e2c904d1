"""`relance bench audience` end to end at a tiny size (SPEC §7: a campaign to 1,000,000 contacts
filtered by consent and enqueued in ≤ 60 s). PostgreSQL only: the organisation is filled by COPY
(relance/bench/generate.py). No timing is asserted: these tests check the structure of the result,
that the counts add up (R-20), that no message went to a contact without consent (R-20, R-21), and
that the clean-up leaves no contact data behind."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from relance.accounts.models import Organisation
from relance.contacts.models import Contact
from relance.messaging.models import Campaign, Message

pytestmark = [pytest.mark.django_db(databases=["default", "keys"], transaction=True), pytest.mark.e2e]

CONTACTS = 2000


def _postgresql_only():
    if connection.vendor != "postgresql":
        reason = "the audience benchmark fills PostgreSQL by COPY (set RELANCE_TEST_DATABASE=postgres)"
        print(f"skipped: {reason}")  # noqa: T201 - the reason, printed as asked for skipped bench tests
        pytest.skip(reason)


def _run(tmp_path, *args: str) -> dict:
    path = tmp_path / "audience.json"
    call_command("bench", "audience", "--contacts", str(CONTACTS), "--json", str(path), *args)
    return json.loads(path.read_text())


def test_it_counts_the_audience_enqueues_only_consenting_contacts_and_cleans_up(tmp_path):
    """SPEC §7 audience, R-20 (every contact counted, as a recipient or by reason), R-21 (only those
    decide() lets through get a message: none without a given consent)."""
    _postgresql_only()
    result = _run(tmp_path)
    assert result["benchmark"] == "audience" and result["contacts"] == CONTACTS
    assert result["purpose"] == "newsletter" and result["channel"] == "sms"
    preview, enqueue, checks = result["preview"], result["enqueue"], result["checks"]
    assert preview["total"] == CONTACTS == enqueue["audience"]
    assert preview["recipients"] + sum(preview["excluded"].values()) == CONTACTS
    assert enqueue["recipients"] + sum(enqueue["excluded"].values()) == CONTACTS
    # The library profile: 55 % gave consent, some withdrew; the others never did.
    assert 0 < enqueue["recipients"] < CONTACTS
    assert set(enqueue["excluded"]) == {"no_consent", "withdrawn"}
    assert enqueue["recipients"] == enqueue["messages_written"] == enqueue["timeline_rows"] == \
        checks["contacts_with_consent"]
    assert enqueue["status"] == Campaign.Status.COMPLETED
    assert checks["messages_without_consent"] == 0
    assert all(checks[name] for name in ("preview_adds_up", "campaign_adds_up", "matches_preview",
                                         "messages_match"))
    assert {"seconds", "contacts_per_second", "messages_per_second"} <= set(enqueue)
    # Cleaned up: no message, and the contacts left are the ledger's, erased, without sealed fields.
    org = Organisation.objects.get(slug=result["organisation"])
    assert not Message.objects.for_org(org).exists()
    left = Contact.objects.for_org(org)
    assert left.exists() and not left.exclude(status=Contact.Status.ERASED).exists()
    assert not left.filter(phone__isnull=False).exists() and not left.filter(data_key_id__isnull=False).exists()


def test_it_keeps_the_campaign_and_its_messages_with_keep(tmp_path):
    """--keep leaves the campaign's messages in place, each to a contact who gave consent (R-20)."""
    _postgresql_only()
    result = _run(tmp_path, "--keep")
    org = Organisation.objects.get(slug=result["organisation"])
    campaign = Campaign.objects.for_org(org).get()
    assert Message.objects.for_org(org).filter(campaign=campaign).count() == result["enqueue"]["recipients"] > 0
    assert campaign.audience == Contact.objects.for_org(org).count() == CONTACTS


def test_it_refuses_sqlite():
    """The generator writes by COPY: on SQLite the scenario says what to set instead of failing later."""
    if connection.vendor != "sqlite":
        pytest.skip("checks the refusal on SQLite")
    with pytest.raises(CommandError, match="DATABASE_URL"):
        call_command("bench", "audience", "--contacts", "10")
