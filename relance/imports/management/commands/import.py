"""`relance import contacts FILE --org SLUG ...`: import contacts from a CSV file (R-04, R-15, R-31).

Shows its progress on one line, then every bad line of the file as "line 17: Téléphone: <reason>"
(the column and the reason, never the value: R-61), then a summary. Exit status 1 when nothing was
imported (or, with --dry-run, would be) because of bad rows or a file that cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from relance.accounts.models import Organisation
from relance.audit.services import Actor
from relance.consent.models import Purpose
from relance.imports import services
from relance.imports.csv_import import MAX_BYTES, FileRefused, limit
from relance.imports.models import ImportBatch


class Command(BaseCommand):
    help = "Import contacts from a CSV file: 'relance import contacts FILE --org SLUG [options]'."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        contacts = sub.add_parser("contacts", help="import contacts from a CSV file (UTF-8 or Windows-1252; ; , or tab)")
        contacts.add_argument("file", help="the CSV file; its first line names the columns")
        contacts.add_argument("--org", required=True, metavar="SLUG", help="the organisation's short name")
        contacts.add_argument("--purpose", metavar="CODE", help="the purpose the contacts are imported for: a consent "
                                                                "purpose records each row's proven consent, another "
                                                                "basis records the batch's information (R-04)")
        contacts.add_argument("--mode", choices=["all", "good"], default="all",
                              help="all: nothing is imported if any row is bad (default); good: the good rows are")
        contacts.add_argument("--dry-run", action="store_true", help="check and report, write no contact")
        contacts.add_argument("--map", action="append", default=[], metavar="COLUMN=FIELD",
                              help="map a column to a field (first_name, last_name, phone, email, birth_date, minor, "
                                   "external_ref, language, site, consent_source, consent_date, consent_ref, "
                                   "consent_collector, consent_channel) or to 'ignore'; repeat for each column")
        contacts.add_argument("--source", default="", help="where the data comes from (the stated source, R-04)")
        contacts.add_argument("--collector", default="", help="who collected the data originally")
        contacts.add_argument("--delimiter", choices=[";", ",", "tab"], help="the separator (guessed by default)")
        contacts.add_argument("--report", metavar="FILE.json", help="write the full report as JSON to this file")
        contacts.add_argument("--language", choices=["fr", "en"], help="language of the messages")

    def handle(self, *args, **options):
        with translation.override(options["language"] or settings.LANGUAGE_CODE):
            self.import_contacts(options)

    def import_contacts(self, options) -> None:
        org = Organisation.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(_("No organisation with the short name %(slug)s.") % {"slug": options["org"]})
        purpose = None
        if options["purpose"]:
            purpose = Purpose.objects.for_org(org).filter(code=options["purpose"]).first()
            if purpose is None:
                raise CommandError(_("No purpose with the code %(code)s in this organisation.")
                                   % {"code": options["purpose"]})
        data = self.read(Path(options["file"]))
        delimiter = "\t" if options["delimiter"] == "tab" else options["delimiter"]
        try:
            batch = services.import_contacts(
                org, data, actor=Actor.system("cli"), purpose=purpose, mode=options["mode"],
                dry_run=options["dry_run"], mapping=parse_map(options["map"]), source=options["source"],
                collector=options["collector"], delimiter=delimiter, progress=self.progress)
        except FileRefused as exc:
            raise CommandError(exc.message)
        except ValidationError as exc:
            raise CommandError(" ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items()))
        finally:
            self.end_progress()
        self.show(batch)
        if options["report"]:
            Path(options["report"]).write_text(json.dumps(report_json(batch), ensure_ascii=False, indent=2) + "\n",
                                               encoding="utf-8")
        if nothing_imported(batch):
            raise CommandError(_("Nothing was imported: correct the lines above and run the import again."),
                               returncode=1)

    def read(self, path: Path) -> bytes:
        try:
            if path.stat().st_size > limit("MAX_BYTES", MAX_BYTES):
                raise CommandError(_("The file is larger than %(max)d MB. Split it into smaller files.")
                                   % {"max": limit("MAX_BYTES", MAX_BYTES) // (1024 * 1024)})
            return path.read_bytes()
        except OSError as exc:
            raise CommandError(_("Cannot read the file: %(reason)s.") % {"reason": exc.strerror or exc})

    # output
    _progress_shown = False

    def progress(self, stage: str, done: int, total: int) -> None:
        label = _("checked") if stage == "validate" else _("imported")
        self.stdout.write(f"\r{label} {done}/{total}" + " " * 10, ending="")
        self.stdout.flush()
        self._progress_shown = True

    def end_progress(self) -> None:
        if self._progress_shown:
            self.stdout.write("")
            self._progress_shown = False

    def show(self, batch: ImportBatch) -> None:
        for warning in batch.report.get("warnings", []):
            self.stdout.write(self.style.WARNING(line_of(warning)))
        for problem in batch.report.get("problems", []):
            self.stdout.write(line_of(problem))
        self.stdout.write(summary(batch))


def parse_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        column, sep, name = pair.rpartition("=")
        if not sep or not column.strip():
            raise CommandError(_("Give each mapping as \"Column=field\"."))
        mapping[column.strip()] = name.strip()
    return mapping


def line_of(problem: dict) -> str:
    if not problem["column"]:
        return _("line %(line)d: %(message)s") % problem
    return _("line %(line)d: %(column)s: %(message)s") % problem


def summary(batch: ImportBatch) -> str:
    counts = ngettext("%(rows)d row: %(valid)d good, %(invalid)d invalid, %(quarantined)d quarantined (no proof of "
                      "consent), %(suppressed)d on the STOP list or withdrawn.",
                      "%(rows)d rows: %(valid)d good, %(invalid)d invalid, %(quarantined)d quarantined (no proof of "
                      "consent), %(suppressed)d on the STOP list or withdrawn.", batch.rows) % vars(batch)
    if batch.status == ImportBatch.Status.VALIDATED:
        outcome = _("Dry run: nothing was written (batch %(id)s).") % {"id": batch.pk}
    else:
        outcome = _("%(created)d created, %(updated)d updated (batch %(id)s).") % {
            "created": batch.created, "updated": batch.updated, "id": batch.pk}
    return f"{counts} {outcome}"


def nothing_imported(batch: ImportBatch) -> bool:
    if batch.status == ImportBatch.Status.VALIDATED:
        bad = batch.rows - batch.valid
        return batch.valid == 0 or (batch.mode == ImportBatch.Mode.ALL_OR_NOTHING and bad > 0)
    return batch.status == ImportBatch.Status.FAILED


def report_json(batch: ImportBatch) -> dict:
    return {"id": str(batch.pk), "status": batch.status, "mode": batch.mode, "dry_run": batch.dry_run,
            **{name: getattr(batch, name) for name in
               ("rows", "valid", "invalid", "quarantined", "suppressed", "created", "updated")},
            **batch.report}
