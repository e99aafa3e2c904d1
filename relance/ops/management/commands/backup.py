"""`relance backup`: back up the main database and the key store, and rotate old backups (R-60).

    relance backup [--dir DIR] [--main-only | --keys-only] [--json]
    relance backup --prune            # only delete the backups past their window

Each run deletes the key store backups as old as RELANCE_KEY_BACKUP_DAYS (7) and the main database
backups as old as RELANCE_BACKUP_DAYS (35), even when the backup itself fails. Exit status 1 when a
backup could not be written. Output names files, sizes and counts only (docs/backup.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _

from relance.ops import backup


class Command(BaseCommand):
    help = "Back up the main database and the key store; delete backups past their window (docs/backup.md)."

    def add_arguments(self, parser):
        parser.add_argument("--dir", metavar="DIR", help="where backups go (default RELANCE_BACKUP_DIR or var/backups)")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--main-only", action="store_true", help="back up the main database only")
        which.add_argument("--keys-only", action="store_true", help="back up the key store only")
        which.add_argument("--prune", action="store_true", help="back up nothing; only delete backups past their window")
        parser.add_argument("--json", action="store_true", help="print a JSON summary on standard output")
        parser.add_argument("--language", choices=["fr", "en"], help="language of the messages")

    def handle(self, *args, **options):
        with translation.override(options["language"] or settings.LANGUAGE_CODE):
            return self.run(options)

    def say(self, text: str) -> None:
        (sys.stderr if self.as_json else self.stdout).write(text + ("\n" if self.as_json else ""))

    def run(self, options) -> None:
        self.as_json = options["json"]
        directory = Path(options["dir"]) if options["dir"] else backup.backup_dir()
        now = backup.now()
        kinds = [] if options["prune"] else [backup.MAIN] if options["main_only"] else \
            [backup.KEYS] if options["keys_only"] else [backup.MAIN, backup.KEYS]
        written, error = [], None
        for kind in kinds:
            try:
                done = backup.back_up(kind, directory, now, self.say)
            except backup.BackupError as exc:
                error = str(exc)
                break
            written.append(done)
            self.say(_("  %(file)s: %(size)s bytes, sha256 %(sha)s") % {
                "file": done.path.name, "size": f"{done.manifest['bytes']:,}", "sha": done.manifest["sha256"][:16]})
        # Pruning runs even when a backup failed: an expired key backup must not outlive its window.
        pruned = backup.prune(directory, now)
        for item in pruned:
            if item.kind == backup.KEYS:
                self.say(_("Deleted key store backup %(file)s (%(age).1f days old; key window %(days)s days, R-60).") % {
                    "file": item.path.name, "age": item.age_days, "days": backup.key_window_days()})
            else:
                self.say(_("Deleted main database backup %(file)s (%(age).1f days old; kept %(days)s days).") % {
                    "file": item.path.name, "age": item.age_days, "days": backup.main_window_days()})
        if not pruned:
            self.say(_("No backup past its window in %(dir)s.") % {"dir": directory})
        if self.as_json:
            self.stdout.write(json.dumps({
                "directory": str(directory),
                "written": [{**item.manifest, "path": str(item.path), "manifest": str(item.path) + ".json"}
                            for item in written],
                "pruned": [{"kind": item.kind, "path": str(item.path), "age_days": round(item.age_days, 2)}
                           for item in pruned],
                "key_window_days": backup.key_window_days(),
                "main_window_days": backup.main_window_days(),
                "error": error,
            }, indent=2))
        if error:
            raise CommandError(error)
        if written:
            self.say(self.style.SUCCESS(_("Backup written to %(dir)s.") % {"dir": directory}))
