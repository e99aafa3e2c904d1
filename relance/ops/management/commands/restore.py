"""`relance restore MAIN_BACKUP [--keys KEYS_BACKUP] [--yes]`: restore backups made by `relance backup`.

Every check comes before any database is touched: the manifest's sha256 and size, the engine, the
migrations (a backup from a newer Relance is refused), and for a key store backup its age (older
than the key window: refused, R-60) and the master keys it needs. A target holding rows is replaced
only with --yes. Migrations run afterwards when the backup is older than the code. Then the command
counts the contacts whose data key is gone (erased after the backup: unreadable for good) and, with
--erase-unreadable (also alone, after a restoration), erases them again (tombstone and suppression
list, R-43, R-31).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from relance.keystore import services as keys
from relance.ops import backup


class Command(BaseCommand):
    help = "Restore a main database backup (and a key store backup with --keys) made by `relance backup`."

    def add_arguments(self, parser):
        parser.add_argument("main_backup", nargs="?", metavar="MAIN_BACKUP", help="a relance-main-… file")
        parser.add_argument("--keys", metavar="KEYS_BACKUP", help="a relance-keys-… file (younger than the key window)")
        parser.add_argument("--yes", action="store_true", help="replace the content of a database that is not empty")
        parser.add_argument("--force", action="store_true",
                            help="restore a key store backup older than the window, or from a newer Relance")
        parser.add_argument("--erase-unreadable", action="store_true",
                            help="erase again the contacts whose data key is gone (erased after the backup)")
        parser.add_argument("--json", action="store_true", help="print a JSON summary on standard output")
        parser.add_argument("--language", choices=["fr", "en"], help="language of the messages")

    def handle(self, *args, **options):
        with translation.override(options["language"] or settings.LANGUAGE_CODE):
            try:
                return self.run(options)
            except backup.BackupError as exc:
                raise CommandError(str(exc))

    def say(self, text: str) -> None:
        (sys.stderr if self.as_json else self.stdout).write(text + ("\n" if self.as_json else ""))

    def run(self, options) -> None:
        self.as_json = options["json"]
        if not options["main_backup"] and not options["keys"] and not options["erase_unreadable"]:
            raise CommandError(_("Name a main database backup, a key store backup (--keys), or both."))
        now = backup.now()
        plan = []
        if options["keys"]:
            plan.append((Path(options["keys"]), backup.KEYS))
        if options["main_backup"]:
            plan.append((Path(options["main_backup"]), backup.MAIN))
        checked = [(path, backup.check(path, kind, now, force=options["force"])) for path, kind in plan]
        if checked:
            self.say(_("Checked: %(files)s (sha256 matches the manifest).") % {"files": ", ".join(p.name for p, _m in checked)})
        done = []
        for path, manifest in checked:
            report = backup.restore(path, manifest, replace=options["yes"], progress=self.say)
            done.append(report)
            self.say(_("Restored the %(what)s from %(file)s, made %(when)s; %(count)s migration(s) applied.") % {
                "what": _("main database") if report["kind"] == backup.MAIN else _("key store"),
                "file": path.name, "when": report["created_at"], "count": report["migrations_applied"]})
        keys.clear_caches()
        summary = {"restored": done, "unreadable_contacts": 0, "erased_again": 0}
        unreadable = backup.contacts_without_key()
        summary["unreadable_contacts"] = None if unreadable is None else len(unreadable)
        if unreadable is None:
            self.say(_("The contacts' data keys could not be checked: is the key store set up (relance setup)?"))
        elif unreadable:
            self.say(ngettext(
                "%(count)s contact of this backup has no data key in the key store: it was erased after the backup "
                "was made, and its fields cannot be read by anyone (R-60).",
                "%(count)s contacts of this backup have no data key in the key store: they were erased after the "
                "backup was made, and their fields cannot be read by anyone (R-60).", len(unreadable)) % {
                "count": len(unreadable)})
            if options["erase_unreadable"]:
                if len(unreadable) == backup.keyed_contacts():
                    raise CommandError(_(
                        "Not one contact has its data key: the key store does not belong with this main database "
                        "(restore the matching key store with --keys). Nothing was erased."))
                summary["erased_again"] = backup.erase_unreadable(unreadable)
                self.say(_("Erased them again: %(count)s tombstone(s), their numbers back on the suppression list.")
                         % {"count": summary["erased_again"]})
            else:
                self.say(_("`relance restore --erase-unreadable` turns them back into tombstones "
                           "(and puts their numbers back on the suppression list)."))
        if self.as_json:
            self.stdout.write(json.dumps(summary, indent=2, default=str))
        if done:
            self.say(self.style.SUCCESS(_("Restoration finished. Start the application again.")))
