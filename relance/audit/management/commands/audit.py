"""`relance audit verify`: check the audit chains (and the consent ledger chains once they exist)."""

import sys

from django.core.management.base import BaseCommand, CommandError

from relance.audit.services import verify


class Command(BaseCommand):
    help = "Audit trail tools. 'verify' checks every hash chain and names the first broken row."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("verify", help="verify the hash chains; exit 1 at the first broken row")
        check.add_argument("--chain", action="append", help="only this chain (e.g. org:3); repeatable")

    def handle(self, *args, **options):
        broken = 0
        checked = 0
        for chain, found in verify(options.get("chain")):
            checked += 1
            if found is None:
                self.stdout.write(f"ok      {chain}")
            else:
                broken += 1
                self.stderr.write(f"BROKEN  {found}")
        if broken:
            raise CommandError(f"{broken} of {checked} chain(s) broken", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"{checked} chain(s) verified, none broken"))
        sys.stdout.flush()
