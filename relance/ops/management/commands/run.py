"""`relance run`: everything on the embedded default, in one process.

Migrates both databases, loads the demo data, prints the logins, then serves the web application.
The background worker joins this process when the messaging pipeline exists (issue 4).
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from relance.ops.server import serve


class Command(BaseCommand):
    help = "Prepare the embedded default (migrate, demo data) and serve it."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="do not load the demo data")

    def handle(self, *args, **options):
        call_command("setup", verbosity=1, stdout=self.stdout)
        if not options["no_demo"]:
            call_command("demo", stdout=self.stdout)
        where = ", ".join(str(db["NAME"]) for db in settings.DATABASES.values())
        self.stdout.write(f"Databases: {where}")

        def ready(server):
            url = f"http://{options['host']}:{server.effective_port}/app/"
            self.stdout.write(self.style.SUCCESS(f"Relance is ready: {url}  (Ctrl+C to stop)"))
            self.stdout.flush()

        serve(options["host"], options["port"], on_ready=ready)
