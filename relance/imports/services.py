"""Importing contacts from a CSV file (R-04, R-15, R-31, R-60, R-61, R-65).

`import_contacts()` reads and checks every row first (csv_import.py, rows.py, then the checks that
need the database below), so a dry run and a real import report the same rows; then, unless it is
a dry run:
- all_or_nothing: any bad row (invalid, quarantined, on the STOP list) and nothing is written; else
  every row in ONE transaction, rolled back whole if a row still fails while written;
- good_rows_only: the good rows in transactions of CHUNK rows, each row in its own savepoint, with
  progress after each chunk; the bad rows are reported.
Contacts are written by the contacts service (create_contact / update_contact, matched by external
reference), consents by the consent service (record_consent, method "import", with the row's proof),
information by record_information (R-04, the batch's stated source). Each writes its own audit
event; the batch adds `import.validated` (dry run) or `import.completed` with the counts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from relance.accounts.models import Organisation, Site
from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent import services as consent
from relance.consent.models import ConsentEvent, ConsentState, Notice, Purpose
from relance.consent.policy import PROMOTIONAL_CLASSES, Basis, ConsentStatus
from relance.contacts import services as contacts
from relance.contacts.models import Contact, SuppressionEntry
from relance.keystore.router import KEYSTORE_DB
from relance.lib.logs import looks_personal

from . import rows as checks
from .csv_import import CONSENT_FIELDS, Problem, Table, read_table
from .models import ImportBatch
from .rows import INVALID, QUARANTINED, SUPPRESSED, VALID, ConsentRule, Context, Row

logger = logging.getLogger("relance.imports")
CHUNK = 500
Progress = Callable[[str, int, int], None]  # (stage "validate" or "import", rows done, rows in all)
MODES = {"all": ImportBatch.Mode.ALL_OR_NOTHING, "good": ImportBatch.Mode.GOOD_ROWS_ONLY}
# Existing contacts an import leaves alone (matched by external reference).
REFUSED_STATUSES = {
    Contact.Status.ERASED: ("erased_contact", gettext_lazy(
        "The contact with this reference was erased: it cannot be imported again.")),
    Contact.Status.DECEASED: ("deceased_contact", gettext_lazy(
        "The contact with this reference is marked deceased (R-45): it is not changed by an import.")),
    Contact.Status.RESTRICTED: ("restricted_contact", gettext_lazy(
        "Processing of the contact with this reference is restricted (R-44): an import does not change it.")),
}


@dataclass
class Plan:
    """What the checks decided, and what the writing needs."""

    org: Organisation
    purpose: Purpose | None
    rule: ConsentRule | None
    table: Table
    rows: list[Row]
    unchanged: int = 0  # matched contacts the file did not change

    def good(self) -> list[Row]:
        return [row for row in self.rows if row.status == VALID]


# --- options ------------------------------------------------------------------------------------
def check_options(org: Organisation, *, purpose: Purpose | None, mode: str, source: str, collector: str) -> str:
    """Every problem with what was asked (not with the file), at once; returns the mode's value."""
    errors: dict[str, list[str]] = {}
    mode = MODES.get(mode, mode)
    if mode not in ImportBatch.Mode.values:
        errors["mode"] = [_("Choose one of: %s.") % ", ".join(ImportBatch.Mode.values)]
    for name, value, max_length in (("source", source, 300), ("collector", collector, 200)):
        if len(value) > max_length:
            errors[name] = [_("Give at most %(max)d characters.") % {"max": max_length}]
        elif looks_personal(value):
            errors[name] = [_("Describe the source without a phone number or an e-mail address.")]
    if purpose is not None:
        errors.update(_purpose_errors(org, purpose, source))
    if errors:
        raise ValidationError(errors)
    return mode


def _purpose_errors(org: Organisation, purpose: Purpose, source: str) -> dict[str, list[str]]:
    if purpose.organisation_id != org.pk:
        return {"purpose": [_("No such purpose in your organisation.")]}
    if purpose.status == Purpose.Status.RETIRED:
        return {"purpose": [_("This purpose is retired: nothing can be imported for it.")]}
    if not Notice.objects.for_org(org).filter(purpose=purpose).exists():
        return {"purpose": [_("Publish the purpose's notice before importing for it (R-04, R-11).")]}
    if purpose.consent_based and purpose.refresh_per_event:
        return {"purpose": [_("This purpose asks for consent again at each event: an imported consent cannot "
                              "be recorded for it. Import the contacts without a purpose.")]}
    if not purpose.consent_based and not source:
        return {"source": [_("Say where the data comes from (the stated source): the batch is informed with the "
                             "purpose's notice under that source (R-04).")]}
    return {}


def consent_rule(purpose: Purpose | None) -> ConsentRule | None:
    if purpose is None:
        return None
    return ConsentRule(proof_required=purpose.message_class in PROMOTIONAL_CLASSES,
                       records_consent=purpose.legal_basis == Basis.CONSENT,
                       channels=tuple(purpose.channels or ()), validity_days=purpose.consent_validity_days)


# --- checking -----------------------------------------------------------------------------------
def plan_import(org: Organisation, data: bytes, *, purpose: Purpose | None = None, mapping: dict | None = None,
                delimiter: str | None = None, progress: Progress | None = None) -> Plan:
    """Read and check every row; raises FileRefused when the file as a whole cannot be read."""
    table = read_table(data, mapping, delimiter)
    rule = consent_rule(purpose)
    sites = {site.code.lower(): site for site in Site.objects.for_org(org)}
    ctx, known = Context(org, timezone.now(), sites, rule), checks.known_messages()
    checked = []
    for line, cells in table.rows:
        checked.append(checks.check_row(table.header, line, cells, ctx, known))
        if progress and len(checked) % CHUNK == 0:
            progress("validate", len(checked), len(table.rows))
    plan = Plan(org, purpose, rule, table, checked)
    unused = rule is None or not (rule.proof_required or rule.records_consent)
    for name in CONSENT_FIELDS if unused else ():
        if name in table.header.fields:
            table.header.warnings.append(Problem(1, table.header.column_of(name), name, "consent_not_used", _(
                "Consent columns are used only for a purpose that rests on consent or is promotional: this "
                "column is not imported.")))
    _check_duplicates(plan)
    for start in range(0, len(checked), CHUNK):
        _check_against_database(plan, checked[start:start + CHUNK])
    if progress:
        progress("validate", len(checked), len(checked))
    return plan


def _problem(row: Row, status: str, plan: Plan, name: str, code: str, message: str) -> None:
    column = plan.table.header.column_of(name) if name in plan.table.header.fields else ""
    row.refuse(status, Problem(row.line, column, name, code, message))


def _check_duplicates(plan: Plan) -> None:
    """One external reference, one contact: a later row with the same reference is refused."""
    first: dict[str, int] = {}
    for row in plan.rows:
        if row.ref_index is None:
            continue
        if row.ref_index in first:
            _problem(row, INVALID, plan, "external_ref", "duplicate_ref",
                     _("Same external reference as line %(line)d: only the first one is kept.")
                     % {"line": first[row.ref_index]})
        else:
            first[row.ref_index] = row.line


def _check_against_database(plan: Plan, chunk: list[Row]) -> None:
    """Existing contacts (by external reference), the STOP list (R-31), withdrawn consents."""
    org = plan.org
    refs = [row.ref_index for row in chunk if row.ref_index]
    existing = {ref: (pk, phone, email, status) for ref, pk, phone, email, status in Contact.objects.for_org(org).filter(
        external_ref_index__in=refs).values_list("external_ref_index", "pk", "phone_index", "email_index", "status")}
    for row in chunk:
        if row.ref_index in existing:
            row.contact_id, phone, email, status = existing[row.ref_index]
            row.phone_index, row.email_index = row.phone_index or phone, row.email_index or email
            if status in REFUSED_STATUSES:
                code, message = REFUSED_STATUSES[status]
                _problem(row, INVALID, plan, "external_ref", code, str(message))
        elif row.status == VALID and not (row.values.get("phone") or row.values.get("email")):
            _problem(row, INVALID, plan, "phone", "no_contact_point", _("Give a phone number or an e-mail address."))
    hashes = {row.phone_index for row in chunk if row.phone_index}
    stopped = set(SuppressionEntry.objects.for_org(org).filter(channel="sms", phone_hash__in=hashes)
                  .values_list("phone_hash", flat=True))
    for row in chunk:
        if row.phone_index in stopped:
            _problem(row, SUPPRESSED, plan, "phone", "on_stop_list", _(
                "This number is on the STOP list: it is never enrolled again (R-31)."))
    _check_consent(plan, chunk)


def _check_consent(plan: Plan, chunk: list[Row]) -> None:
    """The channels a proven consent is recorded on; a person who withdrew or objected stays out."""
    if plan.rule is None or not plan.rule.records_consent:
        return
    proven = [row for row in chunk if row.proof and row.status == VALID]
    for row in proven:
        reachable = {"sms"} if row.phone_index else set()
        reachable |= {"email"} if row.email_index else set()
        channels = row.proof["channels"] or set(plan.rule.channels)
        row.proof["channels"] = sorted(channels & reachable)
        if not row.proof["channels"]:
            _problem(row, INVALID, plan, "consent_channel", "no_channel", _(
                "The consent is for %(channels)s, and this row gives no way to reach the person there.")
                     % {"channels": ", ".join(sorted(channels))})
    ids = [row.contact_id for row in proven if row.contact_id]
    states = {(contact, channel): (status, since) for contact, channel, status, since in ConsentState.objects.for_org(
        plan.org).filter(contact_id__in=ids, purpose=plan.purpose).values_list(
        "contact_id", "channel", "status", "last_occurred_at")}
    for row in proven:
        held = [states.get((row.contact_id, channel), ("", None)) for channel in row.proof["channels"]]
        if any(status in (ConsentStatus.WITHDRAWN, ConsentStatus.OBJECTED) for status, _since in held):
            _problem(row, SUPPRESSED, plan, "consent_source", "withdrawn", _(
                "This person withdrew their consent or objected: an import never enrols them again (R-31)."))
            continue
        # A consent as recent as this proof is already in the ledger: importing the file again adds nothing.
        row.proof["channels"] = [channel for channel, (status, since) in zip(row.proof["channels"], held, strict=True)
                                 if not (status == ConsentStatus.GIVEN and since and since >= row.proof["occurred_at"])]


# --- the batch and its report -------------------------------------------------------------------
def _counts(plan: Plan) -> dict[str, int]:
    statuses = [row.status for row in plan.rows]
    return {"rows": len(statuses), "valid": statuses.count(VALID), "invalid": statuses.count(INVALID),
            "quarantined": statuses.count(QUARANTINED), "suppressed": statuses.count(SUPPRESSED)}


def _report(plan: Plan) -> dict:
    problems = [{**problem.as_dict(), "status": row.status} for row in plan.rows for problem in row.problems]
    order = {column: index for index, column in enumerate(plan.table.header.columns)}
    return {
        "encoding": plan.table.encoding, "delimiter": plan.table.delimiter, "columns": plan.table.header.mapped,
        "warnings": [warning.as_dict() for warning in plan.table.header.warnings],
        "problems": sorted(problems, key=lambda p: (p["line"], order.get(p["column"], -1))),
        "unchanged": plan.unchanged,
    }


def _new_batch(plan: Plan, data: bytes, actor: Actor, *, mode: str, dry_run: bool, source: str,
               collector: str) -> ImportBatch:
    batch = ImportBatch(organisation=plan.org, purpose=plan.purpose, mode=mode, dry_run=dry_run, source=source,
                        collector=collector, file_sha256=hashlib.sha256(data).hexdigest(), file_size=len(data),
                        encoding=plan.table.encoding, delimiter=plan.table.delimiter)
    if plan.purpose is not None and not plan.purpose.consent_based:
        batch.notice = consent.current_notice(plan.purpose, plan.org.default_language) or \
            Notice.objects.for_org(plan.org).filter(purpose=plan.purpose).order_by("-published_at").first()
    if actor.kind == "user":
        batch.created_by_id = actor.id
    elif actor.kind == "api_key":
        batch.api_key_id = int(actor.id)
    return batch


def _finish(batch: ImportBatch, plan: Plan, status: str, actor: Actor, action: str) -> ImportBatch:
    """Save the batch's outcome and its one audit event (counts and codes only)."""
    for name, value in _counts(plan).items():
        setattr(batch, name, value)
    batch.status, batch.report, batch.finished_at = status, _report(plan), timezone.now()
    with transaction.atomic():
        batch.save()
        audit.record(plan.org, actor, action, target=batch, details={
            "status": status, "mode": batch.mode, "purpose": plan.purpose.code if plan.purpose else "",
            **{name: getattr(batch, name) for name in
               ("rows", "valid", "invalid", "quarantined", "suppressed", "created", "updated")}})
    return batch


# --- the one entry point ------------------------------------------------------------------------
def import_contacts(org: Organisation, data: bytes, *, actor: Actor, purpose: Purpose | None = None,
                    mode: str = ImportBatch.Mode.ALL_OR_NOTHING, dry_run: bool = False, mapping: dict | None = None,
                    source: str = "", collector: str = "", delimiter: str | None = None,
                    progress: Progress | None = None) -> ImportBatch:
    """Check the file and (unless dry_run) import it. Raises ValidationError for bad options and
    csv_import.FileRefused for a file that cannot be read at all; bad rows are in the report."""
    source, collector = (source or "").strip(), (collector or "").strip()
    mode = check_options(org, purpose=purpose, mode=mode, source=source, collector=collector)
    plan = plan_import(org, data, purpose=purpose, mapping=mapping, delimiter=delimiter, progress=progress)
    batch = _new_batch(plan, data, actor, mode=mode, dry_run=dry_run, source=source, collector=collector)
    if dry_run:
        return _finish(batch, plan, ImportBatch.Status.VALIDATED, actor, "import.validated")
    good = plan.good()
    if not good or (mode == ImportBatch.Mode.ALL_OR_NOTHING and len(good) < len(plan.rows)):
        return _finish(batch, plan, ImportBatch.Status.FAILED, actor, "import.completed")
    batch.status = ImportBatch.Status.RUNNING
    batch.save()
    writer = Writer(plan, batch, actor)
    try:
        if mode == ImportBatch.Mode.ALL_OR_NOTHING:
            writer.all_or_nothing(progress)
        else:
            writer.good_rows_only(progress)
    except BaseException:
        _interrupted(batch, plan, actor)
        raise
    imported = batch.created + batch.updated + plan.unchanged
    return _finish(batch, plan, ImportBatch.Status.IMPORTED if imported else ImportBatch.Status.FAILED, actor,
                   "import.completed")


def _interrupted(batch: ImportBatch, plan: Plan, actor: Actor) -> None:
    """An unexpected error (or Ctrl-C) while writing: record what is true, then let it propagate."""
    if batch.mode == ImportBatch.Mode.ALL_OR_NOTHING:
        batch.created = batch.updated = plan.unchanged = 0
    status = ImportBatch.Status.IMPORTED if batch.created + batch.updated + plan.unchanged else ImportBatch.Status.FAILED
    try:
        _finish(batch, plan, status, actor, "import.completed")
    except Exception:  # the database itself may be what failed; the original error matters more
        logger.exception("import.finish_failed", extra={"batch": str(batch.pk)})


# --- writing ------------------------------------------------------------------------------------
class _Rollback(Exception):
    """A row failed while written in all_or_nothing mode: undo everything."""


class Writer:
    def __init__(self, plan: Plan, batch: ImportBatch, actor: Actor):
        self.plan, self.batch, self.actor = plan, batch, actor
        self.org, self.purpose, self.rule = plan.org, plan.purpose, plan.rule
        self.notices = self._notices()

    def _notices(self) -> dict[tuple[str, int | None], Notice]:
        """Notices of the purpose by (language, version), and by (language, None) the current one."""
        found: dict[tuple[str, int | None], Notice] = {}
        if self.purpose is None:
            return found
        for notice in Notice.objects.for_org(self.org).filter(purpose=self.purpose).order_by("language", "version"):
            found[(notice.language, notice.version)] = found[(notice.language, None)] = notice
        return found

    # modes
    def all_or_nothing(self, progress: Progress | None) -> None:
        rows = self.plan.good()
        try:
            with transaction.atomic(), transaction.atomic(using=KEYSTORE_DB):
                self._inform_batch()
                for start in range(0, len(rows), CHUNK):
                    self._chunk(rows[start:start + CHUNK], stop_on_error=True)
                    if progress:
                        progress("import", min(start + CHUNK, len(rows)), len(rows))
        except _Rollback:
            self.batch.created = self.batch.updated = self.plan.unchanged = 0

    def good_rows_only(self, progress: Progress | None) -> None:
        rows = self.plan.good()
        with transaction.atomic():
            self._inform_batch()
        for start in range(0, len(rows), CHUNK):
            with transaction.atomic(), transaction.atomic(using=KEYSTORE_DB):
                self._chunk(rows[start:start + CHUNK], stop_on_error=False)
            if progress:
                progress("import", min(start + CHUNK, len(rows)), len(rows))

    # rows
    def _chunk(self, rows: list[Row], *, stop_on_error: bool) -> None:
        existing = {c.pk: c for c in Contact.objects.for_org(self.org).filter(
            pk__in=[row.contact_id for row in rows if row.contact_id])}
        self._recheck_stop_list(rows)
        written = []
        for row in rows:
            if row.status != VALID:
                continue
            try:
                # Each row whole or not at all (its contact with its consent). A key made for a row
                # that is then undone is left in the key store: it seals nothing, and costs less
                # than a savepoint there for every row.
                with transaction.atomic():
                    written.append(self._write(row, existing.get(row.contact_id)))
            except ValidationError as exc:
                for name, messages in _messages(exc).items():
                    for message in messages:
                        _problem(row, INVALID, self.plan, name, "refused", message)
                if stop_on_error:
                    raise _Rollback()
        # Contacts informed by this batch find its Information through import_batch_id.
        Contact.objects.for_org(self.org).filter(pk__in=written, import_batch_id__isnull=True).update(
            import_batch_id=self.batch.pk)

    def _recheck_stop_list(self, rows: list[Row]) -> None:
        """A STOP may have arrived since the checks (R-31): look again inside the writing transaction."""
        hashes = {row.phone_index for row in rows if row.phone_index and row.status == VALID}
        stopped = set(SuppressionEntry.objects.for_org(self.org).filter(channel="sms", phone_hash__in=hashes)
                      .values_list("phone_hash", flat=True))
        for row in rows:
            if row.status == VALID and row.phone_index in stopped:
                _problem(row, SUPPRESSED, self.plan, "phone", "on_stop_list", _(
                    "This number is on the STOP list: it is never enrolled again (R-31)."))

    def _write(self, row: Row, contact: Contact | None):
        if contact is not None:
            earlier_batch, before = contact.import_batch_id, contact.updated_at
            contact = contacts.update_contact(contact, actor=self.actor, **row.values)
            if contact.updated_at != before:
                self.batch.updated += 1
            else:
                self.plan.unchanged += 1
        else:
            earlier_batch = None
            contact = contacts.create_contact(self.org, actor=self.actor, source=Contact.Source.IMPORT, **row.values)
            self.batch.created += 1
        if row.proof and self.rule.records_consent:
            self._record_consent(row, contact)
        elif earlier_batch and earlier_batch != self.batch.pk and self.batch.notice_id:
            # Its import_batch_id names an earlier batch: inform this contact on its own.
            consent.record_information(self.purpose, self._notice(contact.language, None), actor=self.actor,
                                       method="import", contact=contact, source=self.batch.source)
        return contact.pk

    def _record_consent(self, row: Row, contact: Contact) -> None:
        """R-10, R-15: a `given` event per channel, with the row's proof and this batch as evidence."""
        proof = row.proof
        version = _version(proof["form_ref"])
        notice = self._notice(contact.language, version)
        evidence = {"source": proof["source"], "collected_at": proof["collected_at"], "form_ref": proof["form_ref"],
                    "original_collector": proof["original_collector"], "import_batch": str(self.batch.pk)}
        for channel in proof["channels"]:
            consent.record_consent(contact, self.purpose, channel, ConsentEvent.Action.GIVEN, actor=self.actor,
                                   expressed_by=ConsentEvent.ExpressedBy.SUBJECT, method=ConsentEvent.Method.IMPORT,
                                   notice=notice, language=notice.language, evidence=evidence,
                                   occurred_at=proof["occurred_at"])

    def _notice(self, language: str, version: int | None) -> Notice:
        for key in ((language, version), (language, None), (self.org.default_language, None)):
            if key in self.notices:
                return self.notices[key]
        return next(notice for (lang, v), notice in self.notices.items() if v is None)

    def _inform_batch(self) -> None:
        """R-04: for a purpose on another basis than consent, the batch is informed under its stated source."""
        if self.batch.notice_id:
            consent.record_information(self.purpose, self.batch.notice, actor=self.actor, method="import",
                                       import_batch_id=self.batch.pk, source=self.batch.source)


def _version(reference: str) -> int | None:
    """'v2', 'V2' or '2' names the purpose's notice version 2; anything else is a form reference."""
    text = reference.strip().lower().removeprefix("notice").strip().removeprefix("v").strip()
    return int(text) if text.isdigit() and len(text) < 6 else None


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {name: [str(m) for e in errors for m in e.messages] for name, errors in exc.error_dict.items()}
    return {"": [str(m) for m in exc.messages]}
