"""`relance register`: the Art. 30 record of processing activities (R-70).

- `relance register --org SLUG [--format json|html|pdf] [--language fr|en] [--output FILE]`: the
  organisation's record as controller (Art. 30(1)).
- `relance register --platform ...`: the platform's own record as processor (Art. 30(2)).
- `--check`: list every empty mandatory field and exit 1 if there is one (nothing is written).

Every generation is an audit event (`privacy.register_generated`). Without `--output` the record
goes to standard output (PDF as bytes).
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from relance.accounts.models import Organisation
from relance.audit.services import Actor
from relance.privacy import register
from relance.privacy.register_document import FORMATS, render

ACTOR = Actor.system("cli")


def write_output(command: BaseCommand, content: bytes, output: str | None) -> None:
    """To FILE, or to standard output (bytes, so a PDF survives a redirection)."""
    if output:
        Path(output).write_bytes(content)
        command.stderr.write(f"Written to {output} ({len(content)} bytes).")
        return
    command.stdout.flush()
    stream = getattr(command.stdout, "_out", sys.stdout)
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        buffer.write(content)
        buffer.flush()
    else:  # a text stream (call_command with stdout=StringIO): text formats only
        stream.write(content.decode("utf-8", errors="replace"))


def organisation(slug: str) -> Organisation:
    org = Organisation.objects.filter(slug=slug).first()
    if org is None:
        raise CommandError(f"No organisation with the short name {slug!r}.")
    return org


class Command(BaseCommand):
    help = "The Art. 30 record: --org SLUG (controller) or --platform (processor); --check lists empty fields."

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--org", metavar="SLUG", help="the organisation's short name")
        who.add_argument("--platform", action="store_true", help="the platform's own processor record")
        parser.add_argument("--format", choices=FORMATS, default="json")
        parser.add_argument("--language", choices=("fr", "en"), default=None,
                            help="default: the organisation's first language (fr for the platform)")
        parser.add_argument("--output", metavar="FILE", help="write here instead of standard output")
        parser.add_argument("--check", action="store_true",
                            help="list the empty mandatory fields; exit 1 if there is any")

    def handle(self, *args, **options):
        org = None if options["platform"] else organisation(options["org"])
        language = options["language"] or (org.default_language if org else "fr")
        if options["check"]:
            return self.check(org, language)
        fmt = options["format"]
        if org is None:
            record = register.generate_processor_record(actor=ACTOR, language=language, fmt=fmt)
        else:
            record = register.generate_register(org, actor=ACTOR, language=language, fmt=fmt)
        write_output(self, render(record, fmt), options["output"])
        missing = register.missing_fields(record)
        if missing:
            self.stderr.write(f"{len(missing)} mandatory field(s) still empty: run with --check to list them.")

    def check(self, org, language: str) -> None:
        if org is None:
            record = register.build_processor_record(language=language)
        else:
            record = register.build_register(org, language=language)
        missing = register.missing_fields(record)
        for path in missing:
            self.stdout.write(f"missing  {path}")
        if missing:
            raise CommandError(f"{len(missing)} mandatory field(s) of the register are empty.", returncode=1)
        self.stdout.write(self.style.SUCCESS("Every mandatory field of the register is filled in."))
