"""`relance breaches`: the breach register for a DPO (R-71).

- `list [--org SLUG]`: every incident with its clock; exits 1 when an incident owed to the CNIL is
  past its deadline without a recorded notification (a cron job or a monitor can watch for it).
- `show REF [--org SLUG]`: one incident, its clock and what Art. 33(3) still misses.
- `draft REF [--org SLUG] [--format json|html|pdf] [--language fr|en] [--output PATH]`: the draft
  notification for the CNIL; a PDF goes to PATH (default `<REF>-<language>.pdf`).

Output names references, counts and dates only, never a contact's data.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.privacy import breach_notice, breaches
from relance.privacy.documents import to_html, to_pdf
from relance.privacy.models import Breach


class Command(BaseCommand):
    help = "The breach register (R-71): 'list' with each clock, 'show REF', 'draft REF' for the CNIL."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="every incident and its clock; exit 1 when one is overdue")
        listing.add_argument("--org", metavar="SLUG", help="one organisation (default: all)")
        show = sub.add_parser("show", help="one incident with its clock and missing Art. 33(3) items")
        draft = sub.add_parser("draft", help="the draft notification for the CNIL")
        for parser_ in (show, draft):
            parser_.add_argument("reference", metavar="REF", help="the incident's reference, e.g. INC-2026-001")
            parser_.add_argument("--org", metavar="SLUG", help="needed when several organisations use REF")
        draft.add_argument("--format", choices=["json", "html", "pdf"], default="json")
        draft.add_argument("--language", choices=["fr", "en"], help="default: the organisation's first language")
        draft.add_argument("--output", metavar="PATH", help="write to this file ('-' for standard output)")

    def handle(self, *args, action, **options):
        if action == "list":
            self.list(options.get("org"))
        elif action == "show":
            self.show(self.find(options["reference"], options.get("org")))
        else:
            self.draft(self.find(options["reference"], options.get("org")), options)

    # --- lookups -------------------------------------------------------------------------
    def organisation(self, slug: str | None) -> Organisation | None:
        if slug is None:
            return None
        org = Organisation.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organisation with the short name {slug!r}.")
        return org

    def find(self, reference: str, slug: str | None) -> Breach:
        org = self.organisation(slug)
        # A DPO's command across the platform: deliberately unscoped, narrowed by --org when given.
        found = (Breach.objects.for_org(org) if org else Breach.unscoped).filter(reference=reference.upper())
        rows = list(found.select_related("organisation")[:2])
        if not rows:
            raise CommandError(f"No incident {reference!r}{' in ' + slug if slug else ''}. "
                               "Run 'relance breaches list' to see the references.")
        if len(rows) > 1:
            raise CommandError(f"Several organisations have an incident {reference!r}: add --org SLUG.")
        return rows[0]

    # --- actions -------------------------------------------------------------------------
    def list(self, slug: str | None) -> None:
        org, now = self.organisation(slug), timezone.now()
        rows = (Breach.objects.for_org(org) if org else Breach.unscoped.all()).select_related("organisation")
        overdue = 0
        for breach in rows.order_by("organisation__slug", "aware_at"):
            self.stdout.write(self.line(breach, now))
            overdue += breaches.is_overdue(breach, now)
        if overdue:
            self.stderr.write(self.style.ERROR(
                f"{overdue} incident(s) past the deadline without a recorded notification to the CNIL: notify "
                "now (with the reasons for the delay) or assess them unlikely to result in a risk."))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"{rows.count()} incident(s); none overdue."))

    def line(self, breach: Breach, now) -> str:
        tick = breaches.clock(breach, now)
        if breach.notified_at:
            state = f"notified {breach.notified_at:%Y-%m-%d %H:%M}{' (late)' if tick['late'] else ''}"
        elif not tick["needs_notification"]:
            state = "not notifiable (unlikely risk)"
        elif tick["overdue"]:
            state = f"OVERDUE by {-tick['hours_left']:.1f} h"
        else:
            state = f"{tick['hours_left']:.1f} h left"
        return (f"{breach.organisation.slug:<16} {breach.reference:<13} {breach.status:<9} "
                f"{breach.risk or 'unassessed':<10} deadline {tick['deadline']:%Y-%m-%d %H:%M %Z}  {state}")

    def show(self, breach: Breach) -> None:
        now = timezone.now()
        self.stdout.write(self.line(breach, now))
        draft = breach_notice.draft_cnil_notification(breach, language="en", now=now)
        self.stdout.write(f"title: {breach.title}")
        self.stdout.write(f"kinds: {', '.join(breach.kinds)}; categories: {', '.join(breach.data_categories)}")
        self.stdout.write(f"approx. people: {breach.approx_subjects}; approx. records: {breach.approx_records}; "
                          f"listed contacts: {draft['a_nature']['listed_subjects']}")
        self.stdout.write(f"people told: {breach.subjects_notified_at or 'no'}")
        missing = draft["missing"]
        self.stdout.write(f"missing for the notification: {', '.join(missing) if missing else 'nothing'}")

    def draft(self, breach: Breach, options) -> None:
        language = options.get("language") or breach.organisation.default_language
        fmt, output = options["format"], options.get("output")
        if fmt == "json":
            content = json.dumps(breach_notice.draft_cnil_notification(breach, language=language), indent=2,
                                 ensure_ascii=False)
        else:
            document = breach_notice.draft_document(breach, language=language)
            content = to_pdf(document) if fmt == "pdf" else to_html(document)
        if fmt == "pdf" and not output:
            output = f"{breach.reference}-{language}.pdf"
        if not output or output == "-":
            if isinstance(content, bytes):
                self.stdout._out.buffer.write(content)
            else:
                self.stdout.write(content)
            return
        path = Path(output)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
        self.stdout.write(self.style.SUCCESS(f"Draft for {breach.reference} written to {path}."))
