"""`relance doctor`: check the configuration this process runs with and say what to fix (relance/ops/doctor.py).

    relance doctor [--json] [--language fr|en] [--no-network] [--strict]

One line per check (OK, WARNING, ERROR, SKIPPED), each problem followed by what to fix. Exit status 0
when no check is an error, 1 otherwise; with --strict, 2 when there are warnings but no error.
"""

from __future__ import annotations

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import translation
from django.utils.translation import gettext as _

from relance.ops import doctor


class Command(BaseCommand):
    requires_system_checks = []  # a failing system check is one of the findings, not a reason to stop
    help = ("Check this configuration (settings, master keys, databases, providers, clock, sending windows, "
            "worker) and say what to fix. Exit 0: no error; 1: errors; 2: warnings only, with --strict.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the checks as one JSON document")
        parser.add_argument("--language", choices=["fr", "en"], help="language of the messages (default: fr)")
        parser.add_argument("--no-network", action="store_true",
                            help="do not connect to providers or the SMTP server (configuration only)")
        parser.add_argument("--strict", action="store_true", help="exit 2 when there are warnings but no error")

    def handle(self, *args, **options):
        with translation.override(options["language"] or settings.LANGUAGE_CODE):
            findings = doctor.run(network=not options["no_network"])
            code = doctor.exit_code(findings, options["strict"])
            if options["json"]:
                self.stdout.write(json.dumps({
                    "environment": settings.RELANCE_ENV, "exit_code": code, "counts": doctor.counts(findings),
                    "checks": [item.as_dict() for item in findings]}, ensure_ascii=False, indent=2))
            else:
                self.print_text(findings)
        if code:
            sys.exit(code)

    def print_text(self, findings) -> None:
        words = {doctor.OK: _("OK"), doctor.WARNING: _("WARNING"), doctor.ERROR: _("ERROR"),
                 doctor.SKIPPED: _("SKIPPED")}
        styles = {doctor.OK: self.style.SUCCESS, doctor.WARNING: self.style.WARNING, doctor.ERROR: self.style.ERROR,
                  doctor.SKIPPED: str}
        width = max(len(word) for word in words.values())
        self.stdout.write(_("Relance doctor (%(environment)s)") % {"environment": settings.RELANCE_ENV})
        for item in findings:
            self.stdout.write(f"{styles[item.status](words[item.status].ljust(width))}  {item.id}: {item.message}")
            if item.fix and item.status in (doctor.WARNING, doctor.ERROR):
                self.stdout.write(f"{'':{width}}  " + _("fix: %(text)s") % {"text": item.fix})
        total = doctor.counts(findings)
        self.stdout.write(_("%(ok)s OK, %(warning)s warning(s), %(error)s error(s), %(skipped)s skipped.") % total)
