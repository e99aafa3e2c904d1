"""Importing contacts: the report, the modes, the STOP list, proof of consent, information, upserts,
encryption (SPEC §4, R-04, R-10, R-15, R-31, R-60, R-61, R-65)."""

import csv
import io
import json
import time as clock
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relance.audit.models import AuditEvent
from relance.audit.services import chain_for
from relance.consent import services as consent
from relance.consent.decision import informed
from relance.consent.models import ConsentEvent, Information
from relance.consent.tests.helpers import give, make_consent_purpose, make_purpose, notice_of
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.contacts.services import index_for
from relance.contacts.tests.helpers import raw_row
from relance.imports import services
from relance.imports.csv_import import FileRefused
from relance.imports.models import ImportBatch
from relance.testing import SYSTEM, make_contact, make_org, make_site

from .files import HEADER, contacts_file, e164, mobile, row_values

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
SOURCE = "Fichier des inscrits 2026"


def _run(org, data, **options) -> ImportBatch:
    if isinstance(data, str):
        data = data.encode()
    return services.import_contacts(org, data, actor=SYSTEM, **options)


def _contacts(org):
    return Contact.objects.for_org(org)


def _lines(batch) -> dict[int, set[str]]:
    found = {}
    for problem in batch.report["problems"]:
        found.setdefault(problem["line"], set()).add(problem["code"])
    return found


def _csv(rows: list[dict], header=HEADER, delimiter=",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows([row.get(name, "") for name in header] for row in rows)
    return out.getvalue().encode()


def _day(days_ago: int = 30) -> str:
    return (timezone.localdate() - timedelta(days=days_ago)).strftime("%d/%m/%Y")


# --- the 10,000-row file -------------------------------------------------------------------------
# Real commits, as in production: good_rows_only commits every 500 rows. Inside one test transaction,
# PostgreSQL would hold every version of the audit and ledger chain heads (updated once per event)
# and each event would cost more than the one before.
@pytest.mark.django_db(transaction=True, databases=["default", "keys"])
def test_it_names_every_bad_line_of_a_10000_row_file_and_each_mode_imports_exactly_the_good_rows():
    """SPEC §4, R-15, R-31: bad phones, e-mails and dates, missing proof for a promotional purpose,
    numbers on the STOP list and repeated references, each reported on its own line; a dry run
    and all_or_nothing write no contact; good_rows_only writes exactly the good rows."""
    org, generated = make_org(), contacts_file(10_000)
    purpose = make_consent_purpose(org)
    for number in generated.suppressed:
        contacts.suppress_number(org, number, actor=SYSTEM, reason="stop")
    expected = {line: {code} for line, (_column, code, _status) in generated.defects.items()}
    assert len(expected) > 400 and {code for codes in expected.values() for code in codes} == {
        "not_mobile", "not_a_phone", "invalid_email", "invalid_date", "future_date", "missing_consent_proof",
        "on_stop_list", "duplicate_ref"}

    started = clock.perf_counter()
    dry = _run(org, generated.data, purpose=purpose, dry_run=True)
    checked = clock.perf_counter() - started
    assert _lines(dry) == expected
    assert (dry.status, dry.rows, dry.valid) == ("validated", 10_000, len(generated.good_lines))
    assert dry.quarantined == sum(1 for d in generated.defects.values() if d[2] == "quarantined")
    assert dry.suppressed == len(generated.suppressed)
    assert _contacts(org).count() == 0

    refused = _run(org, generated.data, purpose=purpose, mode="all_or_nothing")
    assert (refused.status, refused.created, _lines(refused)) == ("failed", 0, expected)
    assert _contacts(org).count() == 0 and ConsentEvent.objects.for_org(org).count() == 0

    started = clock.perf_counter()
    batch = _run(org, generated.data, purpose=purpose, mode="good_rows_only")
    imported = clock.perf_counter() - started
    print(f"\n10,000 rows: checked in {checked:.1f} s, {batch.created} imported with consent in {imported:.1f} s")
    good_refs = {index_for(org, "external_ref", f"REF-{line - 2:06d}") for line in generated.good_lines}
    assert (batch.status, batch.created, _lines(batch)) == ("imported", len(good_refs), expected)
    assert set(_contacts(org).values_list("external_ref_index", flat=True)) == good_refs
    assert ConsentEvent.objects.for_org(org).filter(method="import", action="given", channel="sms").count() == len(
        good_refs)
    stopped = {index_for(org, "phone", number) for number in generated.suppressed}
    assert not _contacts(org).filter(phone_index__in=stopped).exists()


def test_it_imports_every_row_in_all_or_nothing_mode_when_all_are_good():
    """1,200 rows (three transactions' worth in the other mode) in one transaction, with progress."""
    org, seen = make_org(), []
    generated = contacts_file(1_200, defects=False)
    batch = _run(org, generated.data, mode="all_or_nothing", progress=lambda *args: seen.append(args))
    assert (batch.status, batch.created, batch.rows, batch.report["problems"]) == ("imported", 1_200, 1_200, [])
    assert _contacts(org).count() == 1_200
    assert ("import", 1_200, 1_200) in seen and ("validate", 1_200, 1_200) in seen
    assert _contacts(org).filter(import_batch_id=batch.pk, source="import").count() == 1_200


def test_it_rolls_everything_back_when_a_row_fails_while_written(monkeypatch):
    """all_or_nothing: a row refused by the service at write time (a race) undoes the whole file;
    good_rows_only keeps the others. The row is reported on its line."""
    real = contacts.create_contact
    calls = {"n": 0}

    def flaky(org, **values):
        calls["n"] += 1
        if values.get("external_ref") == "REF-000600":
            raise ValidationError({"external_ref": ["Another contact already has this external reference."]})
        return real(org, **values)

    monkeypatch.setattr(contacts, "create_contact", flaky)
    org, generated = make_org(), contacts_file(700, defects=False)
    batch = _run(org, generated.data, mode="all_or_nothing")
    assert (batch.status, batch.created, batch.valid, batch.invalid) == ("failed", 0, 699, 1)
    assert _lines(batch) == {602: {"refused"}} and batch.report["problems"][0]["column"] == "external_ref"
    assert _contacts(org).count() == 0
    batch = _run(org, generated.data, mode="good_rows_only")
    assert (batch.status, batch.created, _lines(batch)) == ("imported", 699, {602: {"refused"}})
    assert _contacts(org).count() == 699


def test_it_writes_nothing_but_the_batch_on_a_dry_run():
    org = make_org()
    batch = _run(org, contacts_file(50).data, dry_run=True)
    assert batch.status == "validated" and batch.dry_run and batch.valid == 50
    assert _contacts(org).count() == 0
    actions = list(AuditEvent.objects.filter(chain=chain_for(org)).values_list("action", flat=True))
    assert actions[-1] == "import.validated" and "contact.created" not in actions


# --- the STOP list -------------------------------------------------------------------------
def test_it_never_re_enrols_a_number_on_the_stop_list_whatever_its_format():
    """R-31: a number suppressed (then its contact erased or not) is refused by a later import."""
    org = make_org()
    purpose = make_consent_purpose(org)
    contacts.suppress_number(org, "+33 6 12 34 56 78", actor=SYSTEM, reason="stop")
    rows = [dict(row_values(1, _day()), phone="06.12.34.56.78"), row_values(2, _day())]
    batch = _run(org, _csv(rows), purpose=purpose, mode="good_rows_only")
    assert (batch.created, batch.suppressed, _lines(batch)) == (1, 1, {2: {"on_stop_list"}})
    assert batch.report["problems"][0]["message"].startswith("This number is on the STOP list") or \
        "STOP" in batch.report["problems"][0]["message"]
    assert not contacts.find_duplicates(org, phone="+33612345678")
    assert ConsentEvent.objects.for_org(org).count() == 1


def test_it_refuses_an_existing_contact_whose_stored_number_is_on_the_stop_list():
    """R-31: a row that only updates a contact (no phone in the row) still may not re-enrol its number."""
    org = make_org()
    purpose = make_consent_purpose(org)
    make_contact(org, phone="06 12 34 56 78", external_ref="REF-000001")
    contacts.suppress_number(org, "06 12 34 56 78", actor=SYSTEM, reason="stop")
    batch = _run(org, _csv([dict(row_values(1, _day()), phone="")]), purpose=purpose, mode="good_rows_only")
    assert (batch.status, batch.suppressed, _lines(batch)) == ("failed", 1, {2: {"on_stop_list"}})
    assert ConsentEvent.objects.for_org(org).count() == 0


def test_it_refuses_a_person_who_withdrew_their_consent():
    """R-31, R-12: an import never turns a withdrawal back into a consent."""
    org = make_org()
    purpose = make_consent_purpose(org)
    person = make_contact(org, phone=mobile(1), external_ref="REF-000001")
    give(person, purpose)
    consent.record_consent(person, purpose, "sms", "withdrawn", actor=SYSTEM, expressed_by="subject", method="web_form")
    batch = _run(org, _csv([row_values(1, _day())]), purpose=purpose, mode="good_rows_only")
    assert (batch.suppressed, _lines(batch)) == (1, {2: {"withdrawn"}})
    assert ConsentEvent.objects.for_org(org).filter(contact=person).count() == 2


# --- proof of consent ----------------------------------------------------------------
def test_it_quarantines_promotional_rows_without_every_proof_column():
    """R-15: source, date, notice or form reference and original collector, each one required."""
    org = make_org()
    purpose = make_consent_purpose(org)
    rows = [row_values(i, _day()) for i in range(1, 6)]
    for row, name in zip(rows[1:], ["consent_source", "consent_date", "consent_ref", "consent_collector"], strict=True):
        row[name] = ""
    batch = _run(org, _csv(rows), purpose=purpose, mode="good_rows_only")
    assert (batch.created, batch.quarantined) == (1, 4)
    assert {p["line"]: (p["field"], p["status"]) for p in batch.report["problems"]} == {
        3: ("consent_source", "quarantined"), 4: ("consent_date", "quarantined"), 5: ("consent_ref", "quarantined"),
        6: ("consent_collector", "quarantined")}
    assert _contacts(org).count() == 1


def test_it_quarantines_everything_without_proof_columns_for_a_promotional_purpose():
    org = make_org()
    batch = _run(org, "phone\n06 12 34 56 78\n", purpose=make_consent_purpose(org), mode="good_rows_only")
    assert (batch.status, batch.quarantined, batch.created) == ("failed", 1, 0)
    assert {p["field"] for p in batch.report["problems"]} == {"consent_source", "consent_date", "consent_ref",
                                                               "consent_collector"}


def test_it_records_a_proven_consent_with_its_evidence():
    """R-10, R-15: method import, the row's source, date, reference and collector, and the batch."""
    org = make_org()
    purpose = make_consent_purpose(org)
    row = dict(row_values(7, "15/03/2026"), consent_channel="")
    row["consent_date"] = (timezone.localdate() - timedelta(days=3)).isoformat()
    batch = _run(org, _csv([row]), purpose=purpose, collector="Service culture")
    contact = _contacts(org).get()
    events = ConsentEvent.objects.for_org(org).filter(contact=contact).order_by("channel")
    assert [(e.channel, e.action, e.method, e.expressed_by) for e in events] == [
        ("email", "given", "import", "subject"), ("sms", "given", "import", "subject")]
    evidence = consent.evidence_of(events[0])
    midnight = datetime.combine(timezone.localdate() - timedelta(days=3), time.min, ZoneInfo(org.time_zone))
    assert evidence == {"source": "Formulaire papier, accueil", "collected_at": midnight.isoformat(),
                        "form_ref": "FORM-2026-01", "original_collector": "Médiathèque centrale",
                        "import_batch": str(batch.pk)}
    assert events[0].occurred_at == midnight
    assert events[0].notice == notice_of(purpose, "fr") and events[0].notice_sha256 == notice_of(purpose).sha256
    assert events[0].valid_until == events[0].occurred_at + timedelta(days=365)


def test_it_uses_the_notice_version_a_row_names():
    org = make_org()
    purpose = make_consent_purpose(org)
    first = notice_of(purpose, "fr")
    consent.publish_notice(purpose, actor=SYSTEM, language="fr", text="Version 2 du texte.")
    _run(org, _csv([dict(row_values(1, _day()), consent_ref="v1")]), purpose=purpose)
    assert ConsentEvent.objects.for_org(org).get().notice == first


def test_it_quarantines_a_consent_older_than_the_purposes_validity_and_refuses_a_future_one():
    org = make_org()
    purpose = make_consent_purpose(org, consent_validity_days=30)
    rows = [row_values(1, _day(40)), row_values(2, (timezone.localdate() + timedelta(days=2)).strftime("%d/%m/%Y")),
            row_values(3, "le 3 mars")]
    batch = _run(org, _csv(rows), purpose=purpose, mode="good_rows_only")
    assert _lines(batch) == {2: {"consent_expired"}, 3: {"future_date"}, 4: {"invalid_date"}}
    assert (batch.quarantined, batch.invalid) == (1, 2)


# --- information under the stated source -----------------------------------------------------
def test_it_informs_the_batch_under_its_stated_source_for_a_purpose_on_another_basis():
    """R-04: public task: the batch's Information (notice + stated source) makes its contacts informed."""
    org = make_org()
    purpose = make_purpose(org)
    batch = _run(org, contacts_file(3, defects=False).data, purpose=purpose, source=SOURCE)
    record = Information.objects.for_org(org).get()
    assert (record.import_batch_id, record.contact_id, record.source, record.method) == (batch.pk, None, SOURCE,
                                                                                       "import")
    assert batch.notice == record.notice == notice_of(purpose, org.default_language)
    assert all(informed(contact, purpose, timezone.now()) for contact in _contacts(org))


def test_it_refuses_to_import_for_a_purpose_on_another_basis_without_a_stated_source():
    org = make_org()
    with pytest.raises(ValidationError) as caught:
        _run(org, contacts_file(3).data, purpose=make_purpose(org))
    assert list(caught.value.message_dict) == ["source"]


def test_it_informs_a_contact_from_an_earlier_batch_on_its_own():
    """A contact already tied to another batch keeps it, and gets its own Information (nothing lost)."""
    org = make_org()
    purpose, other = make_purpose(org), make_purpose(org)
    data = contacts_file(2, defects=False).data
    first = _run(org, data, purpose=other, source=SOURCE)
    _run(org, data.replace(b"Nom0", b"Nom0-bis"), purpose=purpose, source="Autre source")
    contact = _contacts(org).get(external_ref_index=index_for(org, "external_ref", "REF-000000"))
    assert contact.import_batch_id == first.pk
    assert informed(contact, purpose, timezone.now()) and informed(contact, other, timezone.now())


@pytest.mark.parametrize(("change", "field"), [
    ({"status": "retired"}, "purpose"), ({"consent_based": "refresh"}, "purpose")])
def test_it_refuses_purposes_it_cannot_import_for(change, field):
    org = make_org()
    if "status" in change:
        purpose = consent.retire_purpose(make_purpose(org), actor=SYSTEM)
    else:
        purpose = make_consent_purpose(org, consent_validity_days=None, refresh_per_event=True)
    with pytest.raises(ValidationError) as caught:
        _run(org, contacts_file(3).data, purpose=purpose, source=SOURCE)
    assert field in caught.value.message_dict


def test_it_refuses_another_organisations_purpose_and_an_unknown_mode():
    org = make_org()
    with pytest.raises(ValidationError) as caught:
        _run(org, contacts_file(3).data, purpose=make_purpose(make_org()), mode="some", source=SOURCE)
    assert set(caught.value.message_dict) == {"purpose", "mode"}


# --- upserts and fields -----------------------------------------------------------------------------
def test_it_updates_contacts_matched_by_external_reference_and_keeps_what_a_cell_leaves_empty():
    org = make_org()
    existing = make_contact(org, first_name="Ancien", phone=mobile(1), email="old@example.org",
                            external_ref="REF-000001")
    rows = [dict(row_values(1, _day()), email="", first_name="Nouveau"), row_values(2, _day())]
    batch = _run(org, _csv(rows, header=["first_name", "phone", "email", "external_ref"]))
    assert (batch.created, batch.updated) == (1, 1)
    existing = _contacts(org).get(pk=existing.pk)
    assert (existing.first_name, existing.email, existing.source) == ("Nouveau", "old@example.org", "staff")
    again = _run(org, _csv(rows, header=["first_name", "phone", "email", "external_ref"]))
    assert (again.created, again.updated, again.report["unchanged"], again.status) == (0, 0, 2, "imported")


def test_it_reads_sites_minor_flags_and_languages():
    org = make_org(languages=["fr", "en"])
    site = make_site(org, code="centre")
    data = ("téléphone;site;mineur;langue;date de naissance\n"
            "06 12 34 56 78;CENTRE;oui;English;\n06 12 34 56 79;nowhere;peut-être;klingon;\n"
            f"06 12 34 56 80;;oui;fr;{timezone.localdate().year - 40}-01-01\n")
    batch = _run(org, data, mode="good_rows_only")
    assert _lines(batch) == {3: {"unknown_site", "invalid_yes_no", "unknown_language"}, 4: {"contradicts_birth_date"}}
    contact = _contacts(org).get()
    assert (contact.site_id, contact.minor, contact.language) == (site.pk, "yes", "en")


def test_it_refuses_a_new_contact_without_phone_or_email_and_rows_with_extra_values():
    org = make_org()
    batch = _run(org, "prénom;téléphone;e-mail\nAnne;;\nPaul;06 12 34 56 78;;trop\n", mode="good_rows_only")
    assert _lines(batch) == {2: {"no_contact_point"}, 3: {"extra_values"}}


def test_it_reads_french_headers_semicolons_and_windows_1252_end_to_end():
    org = make_org()
    data = contacts_file(20, delimiter=";", encoding="cp1252", french=True, defects=False).data
    batch = _run(org, data)
    assert (batch.encoding, batch.delimiter, batch.created) == ("windows-1252", ";", 20)
    assert batch.report["columns"]["Téléphone portable"] == "phone"
    contact = _contacts(org).get(external_ref_index=index_for(org, "external_ref", "REF-000003"))
    assert (contact.first_name, contact.phone, contact.birth_date) == ("Prénom3", e164(3), "1953-04-04")


# --- nothing in clear ---------------------------------------------------------
def test_it_keeps_no_clear_value_in_the_database_the_report_or_the_audit():
    """R-60, R-61: imported contacts are sealed; the report and audit events hold codes and counts only."""
    org = make_org()
    purpose = make_consent_purpose(org)
    rows = [dict(row_values(1, _day()), first_name="Zéphyrine", last_name="Quintal"),
            dict(row_values(2, _day()), email="zoe.quintal@nowhere", phone="01 42 68 53 00")]
    batch = _run(org, _csv(rows), purpose=purpose, mode="good_rows_only")
    contact = _contacts(org).get()
    raw = raw_row(contact)
    for clear in ("Zéphyrine", "Quintal", "612000001", "contact1@example.org", "REF-000001"):
        assert clear not in raw
    assert contact.phone_index and contact.phone_index not in (e164(1),)
    event = ConsentEvent.objects.for_org(org).get()
    assert b"Formulaire" not in event.sealed_bytes("evidence")
    stored = json.dumps(ImportBatch.objects.for_org(org).filter(pk=batch.pk).values("report").get(), ensure_ascii=False)
    for clear in ("zoe", "quintal", "53 00", "Zéphyrine"):
        assert clear.lower() not in stored.lower()
    completed = AuditEvent.objects.filter(chain=chain_for(org), action="import.completed").get()
    assert completed.details["created"] == 1 and completed.details["invalid"] == 1
    assert completed.target_id == str(batch.pk)


# --- anything at all -------------------------------------------------------------------------------
CELLS = ["06 12 34 56 78", "", "x", "01/02/1990", "2990-01-01", "a@b", "oui", '"', "é", "+33612345679", "REF-1", "\x00",
         ";", ",", "\n"]
HEADER_LINE = "téléphone;email;date de naissance;référence;mineur;source du consentement"
FILES = st.one_of(
    st.binary(max_size=300),
    st.lists(st.lists(st.sampled_from(CELLS), max_size=8), max_size=8).map(
        lambda rows: "\n".join([HEADER_LINE] + [";".join(row) for row in rows]).encode()),
)


def test_it_answers_any_bytes_with_a_report_or_a_clean_refusal():
    """SPEC §4: random CSV bytes never raise anything but a clean refusal of the file; every row is
    counted exactly once."""
    org = make_org()
    purpose = make_consent_purpose(org)

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(FILES, st.booleans())
    def check(data, with_purpose):
        try:
            batch = _run(org, data, dry_run=True, purpose=purpose if with_purpose else None)
        except FileRefused as exc:
            assert exc.code and exc.message
            return
        assert batch.rows == batch.valid + batch.invalid + batch.quarantined + batch.suppressed
        bad_lines = {p["line"] for p in batch.report["problems"]}
        assert len(bad_lines) == batch.rows - batch.valid

    check()


def test_it_gives_the_same_codes_with_french_messages():
    """The reason codes do not depend on the language of the messages."""
    from django.utils import translation

    org = make_org()
    with translation.override("fr"):
        batch = _run(org, "téléphone;e-mail;date de naissance;mineur\n01 42 68 53 00;x@;2999-01-01;peut-être\n",
                     dry_run=True)
    problems = {p["field"]: (p["code"], p["message"]) for p in batch.report["problems"]}
    assert {field: code for field, (code, _message) in problems.items()} == {
        "phone": "not_mobile", "email": "invalid_email", "birth_date": "future_date", "minor": "invalid_yes_no"}
    assert problems["minor"][1] == "Donnez oui ou non." and "mobile" in problems["phone"][1]


def test_it_leaves_restricted_and_deceased_contacts_alone():
    """R-44, R-45: an import neither changes a restricted contact nor re-enrols a deceased one."""
    org = make_org()
    contacts.restrict_contact(make_contact(org, external_ref="REF-000001"), actor=SYSTEM)
    contacts.mark_deceased(make_contact(org, external_ref="REF-000002"), actor=SYSTEM)
    rows = [row_values(1, _day()), row_values(2, _day()), row_values(3, _day())]
    batch = _run(org, _csv(rows, header=["first_name", "phone", "external_ref"]), mode="good_rows_only")
    assert _lines(batch) == {2: {"restricted_contact"}, 3: {"deceased_contact"}}
    assert (batch.created, batch.updated) == (1, 0)


def test_it_says_consent_columns_are_not_used_for_a_purpose_on_another_basis():
    """R-04: a public-task purpose informs the batch; proof columns are reported as not used, never judged."""
    org = make_org()
    rows = [dict(row_values(1, _day()), consent_collector=""), row_values(2, _day())]
    batch = _run(org, _csv(rows), purpose=make_purpose(org), source=SOURCE)
    assert (batch.created, batch.quarantined) == (2, 0)
    assert {(w["field"], w["code"]) for w in batch.report["warnings"]} >= {
        ("consent_source", "consent_not_used"), ("consent_collector", "consent_not_used")}
    assert ConsentEvent.objects.for_org(org).count() == 0


def test_it_adds_nothing_to_the_ledger_when_the_same_file_is_imported_again():
    """R-11: the ledger only grows with news: a proof no more recent than the consent held is not recorded twice;
    a newer one is (it renews the validity)."""
    org = make_org()
    purpose = make_consent_purpose(org)
    data = _csv([row_values(1, _day(30)), row_values(2, _day(30))])
    _run(org, data, purpose=purpose)
    again = _run(org, data, purpose=purpose)
    assert (again.status, again.report["unchanged"]) == ("imported", 2)
    assert ConsentEvent.objects.for_org(org).count() == 2
    _run(org, _csv([row_values(1, _day(2))]), purpose=purpose)
    assert ConsentEvent.objects.for_org(org).count() == 3
