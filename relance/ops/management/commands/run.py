"""`relance run`: everything on the embedded default, in one process.

Migrates both databases, loads the demo data, prints the logins, then serves the web application
and runs the worker beside it (a thread), so reminders flow and STOP works without anything else
to start. Production runs `relance serve` and any number of `relance worker` processes instead.
"""

import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from relance.messaging.worker import Worker
from relance.ops.server import serve


class Command(BaseCommand):
    help = "Prepare the embedded default (migrate, demo data) and serve it, with the worker."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="do not load the demo data")
        parser.add_argument("--no-worker", action="store_true", help="serve only; run `relance worker` elsewhere")

    def handle(self, *args, **options):
        call_command("setup", verbosity=1, stdout=self.stdout)
        if not options["no_demo"]:
            call_command("demo", stdout=self.stdout)
        where = ", ".join(str(db["NAME"]) for db in settings.DATABASES.values())
        self.stdout.write(f"Databases: {where}")
        stop = threading.Event()
        worker_thread = None
        if not options["no_worker"]:
            worker = Worker()
            worker_thread = threading.Thread(target=worker.run, args=(stop,), name="relance-worker", daemon=True)
            worker_thread.start()
            self.stdout.write(f"Worker {worker.name} started; SMS go to the {settings.RELANCE_SMS_PROVIDER} provider.")

        def ready(server):
            url = f"http://{options['host']}:{server.effective_port}/app/"
            self.stdout.write(self.style.SUCCESS(f"Relance is ready: {url}  (Ctrl+C to stop)"))
            if settings.RELANCE_DEMO:
                self.stdout.write(f"Simulated phone: {url}phone/")
            self.stdout.flush()

        try:
            serve(options["host"], options["port"], on_ready=ready, stop=stop)
        finally:
            stop.set()
            if worker_thread is not None:
                worker_thread.join(30)
