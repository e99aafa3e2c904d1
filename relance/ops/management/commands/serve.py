"""`relance serve`: the web application only (migrations and demo data are not touched)."""

from django.core.management.base import BaseCommand

from relance.ops.server import serve


class Command(BaseCommand):
    help = "Serve the web application (back-office /app/, API /api/v1/, public pages /p/)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=8)

    def handle(self, *args, **options):
        def ready(server):
            self.stdout.write(f"Relance is serving on http://{options['host']}:{server.effective_port}/ "
                              "(Ctrl+C to stop)")
            self.stdout.flush()

        serve(options["host"], options["port"], options["threads"], on_ready=ready)
