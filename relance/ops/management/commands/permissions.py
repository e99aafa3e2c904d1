"""`relance permissions [--write]`: the role permission matrix, as docs/permissions.md holds it."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from relance.accounts.permissions import matrix_markdown

HEADER = """# Permissions

Generated from `relance/accounts/permissions.py` by `relance permissions --write`; a test fails
when this file and the code disagree. Every back-office view and API endpoint checks its action
(or API scope) through `relance.accounts.permissions.require()`; nothing else decides access.

"""


def document() -> str:
    return HEADER + matrix_markdown()


class Command(BaseCommand):
    help = "Print the role permission matrix; --write updates docs/permissions.md."

    def add_arguments(self, parser):
        parser.add_argument("--write", action="store_true")

    def handle(self, *args, **options):
        if options["write"]:
            path = Path(settings.BASE_DIR) / "docs" / "permissions.md"
            path.write_text(document())
            self.stdout.write(f"wrote {path}")
        else:
            self.stdout.write(document())
