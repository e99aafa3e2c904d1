"""`relance compliance --org SLUG --month YYYY-MM [--format json|html|pdf] [--language fr|en]
[--output FILE]`: the monthly compliance report (R-73), the month taken in the organisation's time
zone. Counts and codes only; the generation is an audit event."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from relance.audit.services import Actor
from relance.privacy import compliance

from .register import organisation, write_output


def last_month() -> str:
    today = timezone.localdate()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


class Command(BaseCommand):
    help = "The monthly compliance report of an organisation (R-73): --org SLUG --month YYYY-MM."

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", required=True, help="the organisation's short name")
        parser.add_argument("--month", metavar="YYYY-MM", default=None, help="default: last month")
        parser.add_argument("--format", choices=("json", "html", "pdf"), default="json")
        parser.add_argument("--language", choices=("fr", "en"), default=None,
                            help="default: the organisation's first language")
        parser.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    def handle(self, *args, **options):
        org = organisation(options["org"])
        try:
            year, month = compliance.parse_month(options["month"] or last_month())
        except ValidationError as exc:
            raise CommandError(" ".join(exc.message_dict["month"])) from None
        fmt = options["format"]
        report = compliance.generate_monthly_report(org, year, month, actor=Actor.system("cli"), fmt=fmt,
                                                    language=options["language"] or org.default_language)
        write_output(self, compliance.render(report, fmt), options["output"])
