"""`relance purge [--org SLUG] [--dry-run] [--category C ...] [--batch N]`: apply the retention
policies now (R-50), progress on stderr, a summary table on stdout, one PurgeReport per organisation."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from relance.accounts.models import Organisation
from relance.audit.services import Actor
from relance.privacy.models import DataCategory, PurgeReport
from relance.privacy.purge import ORDER, TIMELINE, purge_all


class Command(BaseCommand):
    help = ("Apply the retention policies now (R-50): delete in batches what is past each category's retention, "
            "keep anonymous statistics (R-51) and write a purge report per organisation.")

    def add_arguments(self, parser):
        parser.add_argument("--org", action="append", default=[], metavar="SLUG",
                            help="only this organisation (repeatable; default: every organisation)")
        parser.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")
        parser.add_argument("--category", action="append", default=[], choices=DataCategory.values,
                            help="only this category (repeatable; default: every category)")
        parser.add_argument("--batch", type=int, default=10_000, help="rows per transaction (default 10000)")

    def handle(self, *args, org, dry_run, category, batch, **options):
        if batch < 1:
            raise CommandError("--batch must be at least 1, e.g. --batch 10000")
        organisations = self._organisations(org)

        def progress(organisation, name, rows):
            self.stderr.write(f"[purge {organisation.slug}] {name}: {rows}", ending="\r")
            sys.stderr.flush()

        reports = purge_all(actor=Actor.system("purge-command"), trigger=PurgeReport.Trigger.COMMAND,
                            dry_run=dry_run, categories=category or None, batch=batch, progress=progress,
                            organisations=organisations)
        self.stderr.write("")
        self.stdout.write(summary(reports, dry_run))

    def _organisations(self, slugs: list[str]):
        if not slugs:
            return list(Organisation.objects.order_by("pk"))
        found = {o.slug: o for o in Organisation.objects.filter(slug__in=slugs)}
        missing = [slug for slug in slugs if slug not in found]
        if missing:
            raise CommandError(f"No organisation with the slug {', '.join(missing)}: `relance purge` without --org "
                               "purges them all.")
        return [found[slug] for slug in slugs]


def summary(reports: list[PurgeReport], dry_run: bool) -> str:
    """One line per organisation and category: days kept, cutoff, rows removed (or that would be)."""
    verb = "would remove" if dry_run else "removed"
    lines = [f"{'organisation':<20} {'category':<20} {'days':>6} {'cutoff':<10} {verb:>13}"]
    for report in reports:
        for category in [c for c in ORDER if c in report.counts]:
            policy = report.policies.get(category, {})
            days = f"{policy.get('days', '')}{'*' if policy.get('default') else ''}"
            lines.append(f"{report.organisation.slug:<20} {category:<20} {days:>6} "
                         f"{policy.get('cutoff', '')[:10]:<10} {report.counts[category]:>13}")
        if report.counts.get(TIMELINE):
            lines.append(f"{report.organisation.slug:<20} {'(timeline rows)':<20} {'':>6} {'':<10} "
                         f"{report.counts[TIMELINE]:>13}")
        lines.append(f"{report.organisation.slug:<20} report {report.pk}, {report.stats_rows} statistics rows")
    lines.append("* default duration: the organisation has no policy for this category")
    return "\n".join(lines)
