"""R-65: the audit trail is append-only and hash-chained per organisation; `relance audit verify`
names the first broken row when a row was edited, deleted, reordered or inserted."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from relance.audit.chain import GENESIS, first_break, hashed_fields, row_digest
from relance.audit.models import AppendOnlyError, AuditEvent, ChainHead
from relance.audit.services import Actor, chain_for, record, verify
from relance.testing import make_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
ACTOR = Actor.system("tests")


def _events(org, n):
    with transaction.atomic():
        return [record(org, ACTOR, "test.event", target_type="thing", target_id=str(i), details={"i": i})
                for i in range(n)]


def _verify_output(capsys, *chains):
    args = ["audit", "verify"] + [f"--chain={c}" for c in chains]
    with pytest.raises(CommandError) as caught:
        call_command(*args)
    return caught.value, capsys.readouterr().err


def _sql(statement, params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_it_verifies_an_intact_chain(capsys):
    """A fresh chain verifies and the command exits 0."""
    org = make_org()
    _events(org, 5)
    call_command("audit", "verify")
    assert "none broken" in capsys.readouterr().out


def test_it_detects_an_edited_row(capsys):
    """R-65: editing a row's content breaks its hash; the first broken row is named."""
    org = make_org()
    rows = _events(org, 5)
    _sql("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"i": 99}', rows[2].pk])
    error, err = _verify_output(capsys, chain_for(org))
    assert error.returncode == 1
    assert f"row {rows[2].pk} (seq {rows[2].seq})" in err and "edited" in err


def test_it_detects_an_edited_action_or_actor(capsys):
    """R-65: every column is covered by the hash, not only details."""
    org = make_org()
    rows = _events(org, 3)
    _sql("UPDATE audit_auditevent SET actor_id = %s WHERE id = %s", ["someone-else", rows[1].pk])
    _error, err = _verify_output(capsys, chain_for(org))
    assert f"row {rows[1].pk}" in err


def test_it_detects_a_deleted_middle_row(capsys):
    """R-65: deleting a row leaves a gap in the sequence."""
    org = make_org()
    rows = _events(org, 5)
    _sql("DELETE FROM audit_auditevent WHERE id = %s", [rows[1].pk])
    _error, err = _verify_output(capsys, chain_for(org))
    assert f"row {rows[2].pk} (seq {rows[2].seq})" in err and "deleted" in err


def test_it_detects_a_deleted_last_row(capsys):
    """R-65: deleting the newest row is caught by the chain head."""
    org = make_org()
    rows = _events(org, 4)
    _sql("DELETE FROM audit_auditevent WHERE id = %s", [rows[-1].pk])
    _error, err = _verify_output(capsys, chain_for(org))
    assert "end of chain" in err and "deleted" in err


def test_it_detects_reordered_rows(capsys):
    """R-65: swapping two rows' positions breaks the links."""
    org = make_org()
    rows = _events(org, 5)
    a, b = rows[1], rows[3]
    _sql("UPDATE audit_auditevent SET seq = -1 WHERE id = %s", [a.pk])
    _sql("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [a.seq, b.pk])
    _sql("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [b.seq, a.pk])
    _error, err = _verify_output(capsys, chain_for(org))
    assert f"row {b.pk} (seq {a.seq})" in err


def test_it_detects_a_row_inserted_out_of_order(capsys):
    """R-65: a forged row slipped into the chain, even with a self-consistent hash, is caught."""
    org = make_org()
    rows = _events(org, 3)
    forged = AuditEvent(chain=chain_for(org), seq=rows[1].seq, organisation=org, created_at=rows[1].created_at,
                        actor_kind="user", actor_id="x", action="forged", prev_hash=rows[0].hash)
    forged.hash = row_digest(hashed_fields(forged))
    # Make room: shift the later rows up by one, as an attacker would.
    for row in reversed(rows[1:]):
        _sql("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [row.seq + 1, row.pk])
    ChainHead.objects.filter(chain=chain_for(org)).update(last_seq=rows[-1].seq + 1)
    forged.save()
    _error, err = _verify_output(capsys, chain_for(org))
    assert f"row {rows[1].pk}" in err and "does not link" in err


def test_it_refuses_updates_and_deletes_through_the_orm():
    """R-65: append-only at the application level."""
    org = make_org()
    row = _events(org, 1)[0]
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=row.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=row.pk).delete()


@pytest.mark.django_db(transaction=True, databases=["default", "keys"])
def test_it_rolls_back_with_the_change():
    """R-65: if the change fails, its audit event disappears with it; outside a transaction it refuses."""
    org = make_org()
    before = AuditEvent.objects.filter(chain=chain_for(org)).count()
    with pytest.raises(RuntimeError, match="inside the transaction"):
        record(org, ACTOR, "test.outside")
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        record(org, ACTOR, "test.rolled_back")
        1 / 0  # noqa: B018
    assert AuditEvent.objects.filter(chain=chain_for(org)).count() == before
    assert all(found is None for _chain, found in verify([chain_for(org)]))


def test_it_refuses_personal_data_in_details():
    """R-65: details without clear personal data."""
    org = make_org()
    with pytest.raises(ValueError, match="personal data"), transaction.atomic():
        record(org, ACTOR, "test.bad", details={"to": "jeanne.martin@example.org"})
    with pytest.raises(ValueError, match="personal data"), transaction.atomic():
        record(org, ACTOR, "test.bad", details={"nested": {"phone": "+33 6 12 34 56 78"}})


def test_it_keeps_one_chain_per_organisation():
    """R-65: chains are per organisation; the platform has its own."""
    a, b = make_org(), make_org()
    _events(a, 2)
    _events(b, 3)
    assert list(AuditEvent.objects.filter(chain=chain_for(b)).values_list("seq", flat=True).order_by("seq"))[-3:] \
        == [2, 3, 4]  # seq 1 is organisation.created
    assert AuditEvent.objects.filter(chain=chain_for(a), organisation=b).count() == 0
    assert all(found is None for _chain, found in verify())


def test_it_walks_pure_rows_without_a_database():
    """The chain arithmetic is pure: first_break() on plain rows."""

    class Row:
        def __init__(self, seq, prev):
            import datetime

            self.pk, self.chain, self.seq, self.organisation_id = seq, "c", seq, None
            self.created_at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
            self.actor_kind, self.actor_id, self.action = "system", "t", "a"
            self.target_type = self.target_id = self.ip = ""
            self.details, self.prev_hash = {}, prev
            self.hash = row_digest(hashed_fields(self))

    rows, prev = [], GENESIS
    for seq in range(1, 4):
        rows.append(Row(seq, prev))
        prev = rows[-1].hash
    assert first_break("c", rows, 3, prev, 0, "") is None
    assert "deleted" in first_break("c", rows[:2], 3, prev, 0, "").reason
    rows[1].action = "changed"
    assert first_break("c", rows, 3, prev, 0, "").seq == 2


@pytest.mark.django_db(transaction=True, databases=["default", "keys"])
def test_it_keeps_the_chain_whole_under_concurrent_writers():
    """R-65: concurrent writers on one organisation never fork the chain (PostgreSQL row lock)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself; the row-lock path is PostgreSQL's")
    org = make_org()
    errors = []

    def writer(n):
        try:
            for i in range(15):
                with transaction.atomic():
                    record(org, ACTOR, "test.concurrent", target_id=f"{n}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert AuditEvent.objects.filter(chain=chain_for(org), action="test.concurrent").count() == 60
    assert all(found is None for _chain, found in verify([chain_for(org)]))
