"""`relance requests`: a DPO's view of data-subject requests and their deadlines (R-41).

- `list [--org SLUG] [--all] [--json]`: open requests (every request with --all), soonest due first,
  so late ones lead: reference, kind, status, received, due, days left.
- `overdue [--org SLUG] [--json]`: only the open requests past their due date.

Both exit with status 1 when some open request is late, so a cron job can alert on it. Without
--org, every organisation is listed. Output holds references, codes and dates: no personal data.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.privacy import deadlines
from relance.privacy.models import RightsRequest


class Command(BaseCommand):
    help = "Rights requests and their deadlines: list, overdue (exit 1 when some are late)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="open requests, soonest due first")
        listing.add_argument("--all", dest="include_closed", action="store_true", help="closed requests too")
        late = sub.add_parser("overdue", help="open requests past their due date")
        for command in (listing, late):
            command.add_argument("--org", metavar="SLUG", default="")
            command.add_argument("--json", dest="as_json", action="store_true", help="one JSON document on standard output")

    def handle(self, *args, action, org="", as_json=False, include_closed=False, **options):
        now = timezone.now()
        rows = self._requests(self._org(org), include_closed=include_closed and action == "list")
        if action == "overdue":
            rows = rows.filter(status__in=RightsRequest.OPEN, due_at__lt=now)
        lines = [self._line(req, now) for req in rows]
        if as_json:
            self._print_json(lines)
        else:
            self._print_table(lines, now)
        if self._late_exists(org, now):
            sys.exit(1)

    # --- helpers ---
    def _org(self, slug: str):
        if not slug:
            return None
        found = Organisation.objects.filter(slug=slug).first()
        if found is None:
            raise CommandError(f"No organisation with the short name {slug!r}.")
        return found

    def _requests(self, org, *, include_closed: bool):
        # Without --org this is a deliberate platform-wide read: the operator's cron over every tenant.
        rows = RightsRequest.objects.for_org(org) if org else RightsRequest.unscoped.all()
        if not include_closed:
            rows = rows.filter(status__in=RightsRequest.OPEN)
        return rows.select_related("organisation").order_by("due_at", "reference")

    def _late_exists(self, slug: str, now) -> bool:
        rows = self._requests(self._org(slug), include_closed=False)
        return rows.filter(due_at__lt=now).exists()

    def _line(self, req: RightsRequest, now) -> dict:
        tz = req.organisation.time_zone or "Europe/Paris"
        return {
            "organisation": req.organisation.slug, "reference": req.reference, "kind": req.kind,
            "status": req.status, "received": deadlines.local_day(req.received_at, tz).isoformat(),
            "due": deadlines.local_day(req.due_at, tz).isoformat(),
            "days_left": deadlines.days_left(req.due_at, now, tz=tz),
            "late": req.is_open and deadlines.is_late(req.due_at, now),
        }

    def _print_json(self, lines: list[dict]) -> None:
        self.stdout.write(json.dumps({"requests": lines, "late": sum(line["late"] for line in lines)}, indent=2))

    def _print_table(self, lines: list[dict], now) -> None:
        if not lines:
            self.stdout.write("No request.")
            return
        header = ("ORGANISATION", "REFERENCE", "KIND", "STATUS", "RECEIVED", "DUE", "DAYS LEFT")
        rows = [(line["organisation"], line["reference"], line["kind"], line["status"], line["received"],
                 line["due"], f"{line['days_left']}{'  LATE' if line['late'] else ''}") for line in lines]
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=True)))
        late = sum(line["late"] for line in lines)
        if late:
            self.stdout.write(self.style.ERROR(f"{late} request(s) past their due date: answer them now."))
