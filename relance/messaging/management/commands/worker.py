"""`relance worker`: send due messages until SIGTERM (run as many as you like against PostgreSQL)."""

import threading

from django.core.management.base import BaseCommand

from relance.messaging.worker import Worker, stop_on_signals


class Command(BaseCommand):
    help = "Send due messages until stopped (SIGTERM finishes the current batch first)."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="worker name shown on claims (default host:pid:random)")
        parser.add_argument("--batch", type=int, default=None, help="messages claimed per round")

    def handle(self, *args, **options):
        stop = threading.Event()
        stop_on_signals(stop)
        worker = Worker(options["name"], batch_size=options["batch"])
        self.stdout.write(f"Worker {worker.name} started (Ctrl+C or SIGTERM to stop).")
        self.stdout.flush()
        worker.run(stop)
        self.stdout.write(f"Worker stopped: {worker.totals}")
