"""`relance setup`: apply migrations to the main database and the key store."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Apply migrations to both databases (main and key store)."

    def handle(self, *args, **options):
        verbosity = options["verbosity"]
        for alias in settings.DATABASES:
            if verbosity:
                self.stdout.write(f"Migrating database '{alias}'…")
            call_command("migrate", database=alias, interactive=False, verbosity=max(verbosity - 1, 0))
        if verbosity:
            self.stdout.write(self.style.SUCCESS("Both databases are up to date."))
