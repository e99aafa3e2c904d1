"""The data generator (issue 8 item 1) writes data the product can use: sealed contacts that open
with their own keys (R-60) and are found by their keyed hashes (R-61), consent ledgers whose chains
verify (R-10, R-11) with their projection, messages with their timelines; and it leaves the schema's
indexes as it found them. Also `bench report` and the argument checks of `bench all`.
No timing is asserted: figures are what `relance bench` measures."""

from __future__ import annotations

import json
import os

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count

from relance.accounts.models import Organisation
from relance.audit.models import ChainHead
from relance.bench import all as bench_all
from relance.bench import generate, report
from relance.consent import ledger
from relance.consent import services as consent
from relance.consent.models import ConsentEvent, ConsentState
from relance.contacts.models import Contact
from relance.contacts.services import index_for, name_key
from relance.messaging.models import Message, MessageEvent

pytestmark = pytest.mark.django_db(databases=["default", "keys"], transaction=True)
needs_postgresql = pytest.mark.skipif(
    os.environ.get("RELANCE_TEST_DATABASE") != "postgres",
    reason="the generator fills PostgreSQL by COPY; the PostgreSQL pass of `make test` runs this")


def _indexes() -> set[str]:
    tables = [m._meta.db_table for m in (Contact, ConsentEvent, ConsentState, Message, MessageEvent)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [tables])
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def generated(tmp_path):
    before = _indexes()
    path = tmp_path / "generate.json"
    call_command("bench", "generate", "--contacts", "800", "--rows", "6000", "--orgs", "4", "--json", str(path))
    return json.loads(path.read_text()), before


@needs_postgresql
def test_generated_contacts_are_sealed_and_found_by_their_keyed_hashes(generated):
    """R-60, R-61: every personal field sealed with the contact's key, the indexes usable for lookups."""
    result, _ = generated
    assert result["contacts"] == 800 and len(result["organisations"]) == 4
    kinds = {o["kind"] for o in result["organisations"]}
    assert kinds == {"library", "occupational_health", "health", "answering_service"}
    org = Organisation.objects.get(slug=result["organisations"][0]["slug"])
    assert Contact.objects.for_org(org).count() == result["organisations"][0]["contacts"] == 320
    contact = Contact.objects.for_org(org).order_by("created_at").first()
    assert contact.first_name and contact.last_name and contact.phone.startswith("+33")
    assert contact.phone_index == index_for(org, "phone", contact.phone)
    assert contact.last_name_index == index_for(org, "last_name", name_key(contact.last_name))
    found = Contact.objects.for_org(org).filter(phone_index=index_for(org, "phone", contact.phone))
    assert list(found) == [contact]
    with connection.cursor() as cursor:  # the clear text is nowhere in the table
        cursor.execute(f"SELECT count(*) FROM {Contact._meta.db_table} WHERE position(%s::bytea in phone) > 0 "
                       "OR position(%s::bytea in last_name) > 0",
                       [contact.phone.encode(), contact.last_name.encode()])
        assert cursor.fetchone()[0] == 0


@needs_postgresql
def test_generated_consent_ledgers_verify_and_their_projection_follows_them(generated):
    """R-10, R-11: chained as the service chains them; the head continues the chain; states fold the events."""
    result, _ = generated
    assert result["consent_events"] > 0
    for summary in result["organisations"]:
        org = Organisation.objects.get(slug=summary["slug"])
        head = ChainHead.objects.get(chain=ledger.chain_name(org.pk))
        assert head.last_seq == summary["consent_events"] == ConsentEvent.objects.for_org(org).count()
        assert consent.verify_ledger(head) is None
    library = Organisation.objects.get(slug=result["organisations"][0]["slug"])
    states = dict(ConsentState.objects.for_org(library).values_list("status").annotate(n=Count("id")))
    assert states.get("given", 0) > 0 and set(states) <= {"given", "withdrawn", "objected"}
    withdrawn = ConsentState.objects.for_org(library).filter(status="withdrawn").first()
    if withdrawn is not None:
        last = ConsentEvent.objects.for_org(library).filter(
            contact_id=withdrawn.contact_id, purpose_id=withdrawn.purpose_id).order_by("-seq").first()
        assert last.action == "withdrawn" and withdrawn.last_event_id == last.pk
    # A new event through the service continues the generated chain.
    contact = Contact.objects.for_org(library).first()
    purpose = ConsentState.objects.for_org(library).first().purpose
    from relance.audit.services import Actor

    consent.record_consent(contact, purpose, "sms", "objected", actor=Actor.system("test"), expressed_by="subject",
                           method="api")
    assert consent.verify_ledger(ChainHead.objects.get(chain=ledger.chain_name(library.pk))) is None


@needs_postgresql
def test_generated_messages_have_their_timelines_and_the_indexes_are_back(generated):
    result, before = generated
    assert result["messages"] == 6000 == Message.unscoped.filter(organisation__slug__startswith="bench-gen-").count()
    statuses = dict(Message.unscoped.values_list("status").annotate(n=Count("id")))
    assert statuses["delivered"] > 4000 and set(statuses) <= set(generate.STATUSES)
    expected = sum(len(generate.TIMELINES[s]) * n for s, n in statuses.items())
    assert result["timeline_rows"] == expected == MessageEvent.unscoped.count()
    delivered = Message.unscoped.filter(status="delivered").first()
    kinds = list(MessageEvent.unscoped.filter(message=delivered).order_by("at").values_list("kind", flat=True))
    assert kinds == ["scheduled", "sent", "delivered"]
    # Nothing due: the workers of the other benchmarks have nothing of the generator's to send.
    from django.utils import timezone

    assert not Message.unscoped.filter(status__in=Message.PENDING, due_at__lte=timezone.now()).exists()
    assert _indexes() == before
    assert set(result["indexes_rebuilt"]) >= {"message_due_idx", "message_contact_idx", "contact_phone_idx"}
    assert generate.existing()["contacts"] == 800


def test_the_generator_refuses_sqlite():
    if connection.vendor != "sqlite":
        pytest.skip("the refusal is about SQLite")
    with pytest.raises(CommandError, match="COPY"):
        call_command("bench", "generate", "--contacts", "10", "--rows", "10")


def test_bench_all_checks_its_arguments_and_never_drops_other_databases(settings):
    if connection.vendor == "sqlite":
        with pytest.raises(CommandError, match="PostgreSQL"):
            call_command("bench", "all", "--quick")
        return
    with pytest.raises(CommandError, match="Unknown steps: nonsense"):
        call_command("bench", "all", "--only", "nonsense")
    # The test database is not a relance_bench… one: --fresh refuses to drop it.
    with pytest.raises(CommandError, match="relance_bench"):
        bench_all.recreate_databases(lambda _text: None)


def test_report_shows_each_figure_against_its_target_and_draws_the_plots(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "dispatch-postgresql.json").write_text(json.dumps({"runs": [
        {"batch": 100, "workers_1": {"per_second": 900}, "workers_2": {"per_second": 1500}, "ratio_to_bare_loop": 0.1},
        {"batch": 500, "workers_1": {"per_second": 6000}, "workers_2": {"per_second": 11000},
         "ratio_to_bare_loop": 0.2}], "bare_loop": {"per_second": 30000}}))
    (results / "stop-postgresql.json").write_text(json.dumps({
        "latency_ms": {"p99": 120.5}, "sends_after_stop": 0, "samples_ms": {"stop": [10, 20, 30, 120.5]}}))
    figures = {row[0]: row for row in report.rows(results)}
    dispatch = next(row for name, row in figures.items() if name.startswith("dispatch, 1 worker"))
    assert dispatch[1:] == ("6,000 msg/s", "≥ 5,000 msg/s", "met") and "best batch: 500" in dispatch[0]
    assert figures["dispatch, ratio to the bare claim-and-mark loop"][3] == "met"
    assert figures["dispatch, 2 workers against 1 (each at its best batch)"][1] == "1.83×"
    assert figures["STOP, p99 from webhook to suppression in effect"][1:] == ("120.5 ms", "≤ 100 ms", "**missed**")
    assert figures["STOP, sends after the STOP (R-33)"][3] == "met"
    assert figures["purge, rows deleted per second (messages and their timeline)"][1:] == (
        "not run", "≥ 100,000 rows/s", "not run")

    out = tmp_path / "docs"
    os.makedirs(out)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the report reads bench/results/ of the current directory
    try:
        (tmp_path / "bench").mkdir()
        results.rename(tmp_path / "bench" / "results")
        call_command("bench", "report", "--out", str(out))
    finally:
        os.chdir(cwd)
    assert (out / "figures.md").read_text().count("| ") > 10
    for name in ("dispatch-throughput.png", "latency.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
