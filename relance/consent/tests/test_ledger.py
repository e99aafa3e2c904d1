"""The consent ledger (R-10, R-11): events need their notice, rows are chained per organisation and
checked by `relance audit verify`, evidence is sealed, and the projection is a fold of the ledger."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relance.audit.models import AuditEvent, ChainHead
from relance.audit.services import Actor
from relance.consent import ledger, services
from relance.consent.models import AppendOnlyError, ConsentEvent, ConsentState
from relance.consent.policy import ConsentStatus
from relance.keystore import services as keys
from relance.testing import SYSTEM, make_contact, make_user

from .helpers import give, make_consent_purpose, make_purpose, notice_of

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _state(contact, purpose, channel="sms") -> ConsentState:
    return ConsentState.objects.for_org(contact.organisation_id).get(contact=contact, purpose=purpose, channel=channel)


def _record(contact, purpose, action, **kwargs):
    values = {"actor": SYSTEM, "expressed_by": "subject", "method": "web_form"}
    values.update(kwargs)
    return services.record_consent(contact, purpose, kwargs.pop("channel", "sms"), action, **values)


def _errors(call) -> dict:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


# --- recording -------------------------------------------------------------------------------
def test_it_rejects_given_without_a_notice(world):
    """R-11: `given` (and `renewed`) without the notice the person saw is rejected; nothing is written."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    for action in ("given", "renewed"):
        assert "notice" in _errors(lambda a=action: _record(contact, purpose, a))
    assert not ConsentEvent.objects.for_org(world.a).exists()
    assert not ChainHead.objects.filter(chain=ledger.chain_name(world.a.pk)).exists()


def test_it_rejects_a_notice_of_another_purpose(world):
    """R-10: consent is per purpose: the notice must be this purpose's."""
    purpose, other = make_consent_purpose(world.a), make_consent_purpose(world.a)
    errors = _errors(lambda: _record(make_contact(world.a), purpose, "given", notice=notice_of(other)))
    assert set(errors) == {"notice"}


def test_it_records_the_notice_version_hash_language_and_validity(world):
    """R-10, R-13: the event keeps the notice id, version and hash; validity follows the purpose."""
    purpose, contact = make_consent_purpose(world.a, consent_validity_days=365), make_contact(world.a)
    notice = notice_of(purpose, "en")
    event = give(contact, purpose, notice=notice)
    assert (event.notice, event.notice_version, event.notice_sha256) == (notice, 1, notice.sha256)
    assert event.language == "en"
    assert event.valid_until == event.occurred_at + timedelta(days=365)
    state = _state(contact, purpose)
    assert (state.status, state.valid_until, state.last_event) == (ConsentStatus.GIVEN, event.valid_until, event)
    audit = AuditEvent.objects.get(organisation=world.a, action="consent.recorded")
    assert audit.target_id == str(event.pk) and audit.details["action"] == "given"


def test_it_refuses_a_validity_longer_than_the_purpose_allows(world):
    """R-13: a consent cannot outlast the purpose's validity."""
    purpose, contact = make_consent_purpose(world.a, consent_validity_days=30), make_contact(world.a)
    errors = _errors(lambda: give(contact, purpose, valid_until=timezone.now() + timedelta(days=31)))
    assert set(errors) == {"valid_until"}
    event = give(contact, purpose, valid_until=timezone.now() + timedelta(days=10))
    assert event.valid_until < event.occurred_at + timedelta(days=30)


def test_it_reports_every_problem_of_an_event_at_once(world):
    """R-10: channel, action, method, language, evidence: all named in one error."""
    purpose, contact = make_consent_purpose(world.a, channels=["email"]), make_contact(world.a)
    errors = _errors(lambda: services.record_consent(
        contact, purpose, "sms", "agreed", actor=SYSTEM, expressed_by="neighbour", method="telepathy",
        language="de", evidence={"ip": "1.2.3.4", "shoe_size": "44"}))
    assert set(errors) == {"channel", "action", "expressed_by", "method", "language", "evidence"}


def test_it_refuses_consent_decisions_on_a_purpose_that_does_not_rest_on_consent(world):
    """R-04, R-31: on a public-task purpose the person objects; there is no consent to give."""
    purpose, contact = make_purpose(world.a), make_contact(world.a)
    assert set(_errors(lambda: _record(contact, purpose, "given", notice=notice_of(purpose)))) == {"action"}
    _record(contact, purpose, "objected")
    assert _state(contact, purpose).status == ConsentStatus.OBJECTED
    _record(contact, purpose, "restored")
    assert _state(contact, purpose).status == ConsentStatus.NONE


def test_it_restores_only_a_consent_that_was_given(world):
    """R-11: `restored` (START after STOP) brings back an earlier consent and its notice; never a new one."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    assert "action" in _errors(lambda: _record(contact, purpose, "restored"))
    given_event = give(contact, purpose)
    _record(contact, purpose, "withdrawn", method="sms_keyword")
    restored = _record(contact, purpose, "restored", method="sms_keyword")
    assert restored.notice == given_event.notice and restored.notice_sha256 == given_event.notice_sha256
    assert _state(contact, purpose).status == ConsentStatus.GIVEN


def test_it_needs_the_event_reference_when_consent_is_asked_at_each_event(world):
    """R-13 refresh_per_event: a consent is for one appointment."""
    purpose = make_consent_purpose(world.a, consent_validity_days=None, refresh_per_event=True)
    contact = make_contact(world.a)
    assert set(_errors(lambda: give(contact, purpose))) == {"event_ref"}
    give(contact, purpose, event_ref="appt-1")
    assert _state(contact, purpose).event_ref == "appt-1"


def test_it_names_the_staff_member_who_recorded_on_the_persons_behalf(world):
    """R-10: `staff_on_behalf` carries the staff user's id, a member of the organisation."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    assert set(_errors(lambda: give(contact, purpose, expressed_by="staff_on_behalf"))) == {"staff_user"}
    outsider = make_user(world.b)
    assert set(_errors(lambda: give(contact, purpose, expressed_by="staff_on_behalf",
                                    staff_user=outsider))) == {"staff_user"}
    staff = world.users_a["operator"]
    event = give(contact, purpose, expressed_by="staff_on_behalf", staff_user=staff, method="phone_call")
    assert event.staff_user_id == staff.pk


def test_it_needs_the_proof_of_an_imported_consent(world):
    """R-15: an imported consent carries its source and original collector."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    errors = _errors(lambda: give(contact, purpose, method="import", evidence={"import_batch": "b-1"}))
    assert "source" in errors["evidence"][0] and "original_collector" in errors["evidence"][0]
    give(contact, purpose, method="import", evidence={"import_batch": "b-1", "source": "Fair 2026 paper form",
                                                      "original_collector": "Médiathèque Nord", "form_ref": "F-12"})


def test_it_refuses_a_moment_in_the_future(world):
    """R-10: the time of an event is when the person decided: never later than now."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    assert set(_errors(lambda: give(contact, purpose, occurred_at=timezone.now() + timedelta(hours=1)))) == {
        "occurred_at"}


def test_it_lets_a_later_stop_win_over_an_older_paper_form_typed_afterwards(world):
    """R-10, R-12: the projection follows when the person acted: a form signed before a STOP and typed
    after it does not bring consent back."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    now = timezone.now()
    _record(contact, purpose, "withdrawn", method="sms_keyword", occurred_at=now - timedelta(days=1))
    give(contact, purpose, method="paper_form", occurred_at=now - timedelta(days=30))
    assert _state(contact, purpose).status == ConsentStatus.WITHDRAWN


# --- evidence ---------------------------------------------------------------------------------
def test_it_seals_the_evidence_with_the_contacts_key_and_truncates_the_ip(world):
    """R-10, R-60: the evidence is sealed (no clear text in the row) with the contact's own data key."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    event = give(contact, purpose, evidence={"ip": "203.0.113.77", "user_agent": "UniqueAgent/9.9"})
    assert event.data_key_id == contact.data_key_id
    stored = ConsentEvent.objects.for_org(world.a).get(pk=event.pk)
    assert services.evidence_of(stored) == {"ip": "203.0.113.0", "user_agent": "UniqueAgent/9.9"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT evidence FROM consent_consentevent WHERE id = %s", [event.pk.hex
                       if connection.vendor == "sqlite" else event.pk])
        raw = bytes(cursor.fetchone()[0])
    assert b"UniqueAgent" not in raw and b"203.0.113" not in raw


def test_it_keeps_the_chain_verifiable_after_the_contact_is_crypto_shredded(world, capsys):
    """R-11, R-43: destroying the contact's key makes the evidence unreadable; the chain still verifies."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    event = give(contact, purpose)
    keys.destroy_subject_key(contact.data_key_id)
    keys.clear_caches()
    assert services.evidence_of(ConsentEvent.objects.for_org(world.a).get(pk=event.pk)) is None
    call_command("audit", "verify", f"--chain={ledger.chain_name(world.a.pk)}")
    assert "none broken" in capsys.readouterr().out


def test_it_never_updates_or_deletes_a_ledger_row(world):
    """R-11: rows are append-only through the ORM."""
    event = give(make_contact(world.a), make_consent_purpose(world.a))
    event.action = "refused"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        ConsentEvent.objects.for_org(world.a).update(action="refused")
    with pytest.raises(AppendOnlyError):
        ConsentEvent.objects.for_org(world.a).delete()
    with pytest.raises(AppendOnlyError):
        event.delete()


# --- the chain ----------------------------------------------------------------------------------
def _events(org, n):
    purpose = make_consent_purpose(org)
    contact = make_contact(org)
    return [give(contact, purpose) if i % 2 == 0 else _record(contact, purpose, "withdrawn") for i in range(n)]


def test_it_chains_each_organisations_ledger_separately(world):
    """R-11: each row carries the hash of the previous row of ITS organisation."""
    rows_a, rows_b = _events(world.a, 4), _events(world.b, 3)
    for rows in (rows_a, rows_b):
        assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
        assert rows[0].prev_hash == "0" * 64
        assert all(later.prev_hash == earlier.hash for earlier, later in zip(rows, rows[1:], strict=False))
    head = ChainHead.objects.get(chain=ledger.chain_name(world.a.pk))
    assert (head.last_seq, head.last_hash) == (4, rows_a[-1].hash)


def _verify_fails(capsys) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("audit", "verify")
    assert caught.value.returncode == 1
    return capsys.readouterr().err


def _sql(statement, params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _pk(event):
    return event.pk.hex if connection.vendor == "sqlite" else event.pk


def test_it_detects_an_edited_ledger_row_through_relance_audit_verify(world, capsys):
    """R-11: `relance audit verify` checks the ledger chains too and names the edited row."""
    rows = _events(world.a, 5)
    call_command("audit", "verify")
    assert f"ok      {ledger.chain_name(world.a.pk)}" in capsys.readouterr().out
    _sql("UPDATE consent_consentevent SET action = %s WHERE id = %s", ["given", _pk(rows[1])])
    err = _verify_fails(capsys)
    assert f"chain {ledger.chain_name(world.a.pk)}: row {rows[1].pk} (seq 2)" in err and "edited" in err
    assert "org:" + str(world.b.pk) not in err


def test_it_detects_a_changed_occurrence_time_or_notice_hash(world, capsys):
    """R-11: every column is covered, the times and the notice hash included."""
    rows = _events(world.a, 3)
    _sql("UPDATE consent_consentevent SET notice_sha256 = %s WHERE id = %s", ["f" * 64, _pk(rows[0])])
    assert f"row {rows[0].pk} (seq 1)" in _verify_fails(capsys)


def test_it_detects_a_deleted_ledger_row(world, capsys):
    """R-11: a deleted row leaves a gap in the sequence, named at the next row."""
    rows = _events(world.a, 4)
    _sql("DELETE FROM consent_consentevent WHERE id = %s", [_pk(rows[1])])
    err = _verify_fails(capsys)
    assert f"chain {ledger.chain_name(world.a.pk)}: row {rows[2].pk} (seq 3)" in err and "deleted" in err


def test_it_detects_replaced_evidence(world, capsys):
    """R-11: the evidence ciphertext is covered by the hash: swapping it breaks the chain."""
    rows = _events(world.a, 3)
    _sql("UPDATE consent_consentevent SET evidence = (SELECT evidence FROM consent_consentevent WHERE id = %s) "
         "WHERE id = %s", [_pk(rows[2]), _pk(rows[0])])
    assert f"row {rows[0].pk} (seq 1)" in _verify_fails(capsys)


# --- the projection is a fold of the ledger -------------------------------------------------------
ACTIONS = ["given", "refused", "withdrawn", "objected", "renewed", "restored"]
STATUS_OF = {"given": "given", "renewed": "given", "restored": "given", "refused": "refused",
             "withdrawn": "withdrawn", "objected": "objected", "expired": "expired"}


def reference_fold(events, consent_based):
    """The projection rule written again, independently of ledger.fold: per track, the last event in
    (occurred_at, seq) order decides; a guardian track exists only for consent purposes."""
    result = {"subject": ("none", None), "guardian": ("none", None)}
    for track in result:
        mine = [e for e in events if ("guardian" if consent_based and e.expressed_by == "guardian" else "subject") == track]
        if mine:
            last = sorted(mine, key=lambda e: (e.occurred_at, e.seq))[-1]
            status = STATUS_OF[last.action]
            if last.action == "restored" and not consent_based:
                status = "none"
            result[track] = (status, last.valid_until if status == "given" else None)
    return result


STEP = st.tuples(st.sampled_from(ACTIONS), st.sampled_from(["subject", "guardian"]), st.integers(0, 5000))


def test_it_projects_exactly_the_fold_of_the_ledger(world):
    """R-10: whatever the sequence of events (accepted or refused, recorded out of time order), the
    ConsentState in the database equals the fold of the contact's ledger rows."""
    consent = make_consent_purpose(world.a, consent_validity_days=90)
    public = make_purpose(world.a)
    guardian = make_contact(world.a, birth_date="1980-01-01")
    now = timezone.now()

    @settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.booleans(), st.lists(STEP, min_size=1, max_size=7))
    def run(consent_based, steps):
        purpose = consent if consent_based else public
        child = make_contact(world.a, birth_date=str((now - timedelta(days=365 * 10)).date()))
        for action, by, minutes_ago in steps:
            extra = {"guardian": guardian} if by == "guardian" else {}
            if action in ("given", "renewed"):
                extra["notice"] = notice_of(purpose)
            try:
                _record(child, purpose, action, expressed_by=by, occurred_at=now - timedelta(minutes=minutes_ago),
                        **extra)
            except ValidationError:
                pass  # refused events write nothing; the fold must still hold
        events = list(ConsentEvent.objects.for_org(world.a).filter(contact=child))
        state = ConsentState.objects.for_org(world.a).filter(contact=child).first()
        if not events:
            assert state is None
            return
        expected = reference_fold(events, consent_based)
        assert (state.status, state.valid_until) == expected["subject"]
        assert (state.guardian_status, state.guardian_valid_until) == expected["guardian"]
        pure = ledger.fold(events, consent_based)
        assert (pure["subject"].status, pure["guardian"].status) == (expected["subject"][0], expected["guardian"][0])

    run()
    call_command("audit", "verify", f"--chain={ledger.chain_name(world.a.pk)}")


def test_it_audits_each_event_without_personal_data(world):
    """R-65: the audit event of a consent names ids and codes only."""
    event = give(make_contact(world.a), make_consent_purpose(world.a),
                 evidence={"ip": "198.51.100.7", "user_agent": "Agent"})
    audit = AuditEvent.objects.get(organisation=world.a, action="consent.recorded")
    text = json.dumps(audit.details)
    assert "198.51" not in text and "Agent" not in text and str(event.contact_id) in text
    assert audit.actor_kind == "system"


def test_it_records_the_api_key_as_the_actor(world):
    """R-65: who wrote the row is in the row (and covered by its hash)."""
    actor = Actor("api_key", "42", "203.0.113.0")
    event = give(make_contact(world.a), make_consent_purpose(world.a), actor=actor, method="api")
    assert (event.actor_kind, event.actor_id) == ("api_key", "42")


@pytest.mark.django_db(transaction=True, databases=["default", "keys"])
def test_it_keeps_the_ledger_chain_whole_under_concurrent_writers():
    """R-11: concurrent writers in one organisation never fork its ledger chain, and each state still
    equals the fold of its rows (PostgreSQL row lock on the chain head)."""
    import threading

    from django.db import connections

    from relance.testing import make_org

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself; the row-lock path is PostgreSQL's")
    org = make_org()
    purpose = make_consent_purpose(org)
    contacts = [make_contact(org) for _ in range(4)]
    errors = []

    def writer(contact):
        try:
            for i in range(6):
                if i % 2 == 0:
                    give(contact, purpose)
                else:
                    services.withdraw_everywhere(contact, "sms", actor=SYSTEM, method="sms_keyword")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(c,)) for c in contacts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    rows = list(ConsentEvent.objects.for_org(org).order_by("seq"))
    assert [r.seq for r in rows] == list(range(1, 25))
    call_command("audit", "verify", f"--chain={ledger.chain_name(org.pk)}")
    for contact in contacts:
        mine = [r for r in rows if r.contact_id == contact.pk]
        assert _state(contact, purpose).status == reference_fold(mine, True)["subject"][0] == "withdrawn"
