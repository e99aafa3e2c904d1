"""`relance consent`: the consent ledger's scheduled work and set-up.

- `expire`: the expiry sweep (R-13): an `expired` event for every consent past its validity, with
  progress; run it daily (decide() already treats a lapsed consent as expired in between).
- `preset --org SLUG`: create the organisation kind's preset purposes with their French and English
  notices, and activate them (idempotent). Health purposes need `--dpia-ref` or `--dpia-not-needed`
  (R-72); without either they stay in draft and the command says why.

Output names counts, codes and slugs only, never personal data.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.audit.services import Actor
from relance.consent import presets, services


class Command(BaseCommand):
    help = "Consent ledger tools: 'expire' (the R-13 sweep) and 'preset --org SLUG' (preset purposes and notices)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("expire", help="record an 'expired' event for every consent past its validity")
        preset = sub.add_parser("preset", help="create and activate the preset purposes of an organisation's kind")
        preset.add_argument("--org", required=True, metavar="SLUG", help="the organisation's short name")
        dpia = preset.add_mutually_exclusive_group()
        dpia.add_argument("--dpia-ref", default="", help="reference of the DPIA covering the health purposes (R-72)")
        dpia.add_argument("--dpia-not-needed", default="", metavar="REASON",
                          help="why no DPIA is needed for the health purposes (R-72)")

    def handle(self, *args, action, **options):
        if action == "expire":
            self.expire()
        else:
            self.preset(options["org"], options["dpia_ref"], options["dpia_not_needed"])

    def expire(self) -> None:
        def show(done: int, total: int) -> None:
            self.stdout.write(f"\rchecked {done}/{total} lapsed consent(s)", ending="")
            self.stdout.flush()

        count = services.expire_consents(timezone.now(), progress=show)
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"{count} consent(s) expired."))

    def preset(self, slug: str, dpia_ref: str, dpia_not_needed: str) -> None:
        org = Organisation.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organisation with the short name {slug!r}.")
        try:
            report = presets.apply_preset(org, actor=Actor.system("cli"), dpia_ref=dpia_ref,
                                          dpia_not_needed_reason=dpia_not_needed)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()))
        for code in report.created:
            self.stdout.write(f"created    {code}")
        for code in report.existing:
            self.stdout.write(f"kept       {code} (already there)")
        for code, languages in report.notices.items():
            self.stdout.write(f"notice     {code}: published {', '.join(languages)}")
        for code in report.activated:
            self.stdout.write(f"activated  {code}")
        for code, errors in report.drafts.items():
            fields = ", ".join(sorted(errors)) if errors else "optional: activate it when you want it"
            self.stdout.write(f"draft      {code}: {fields}")
        self.stdout.write(self.style.SUCCESS(f"Preset '{org.kind}' applied to {org.slug}."))
