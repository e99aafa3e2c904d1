"""`relance demo`: load the demo data (idempotent) and print the logins."""

from django.core.management.base import BaseCommand

from relance.ops.demo import load_demo, logins_text
from relance.ops.demo_messaging import load_messaging_demo


class Command(BaseCommand):
    help = "Load demo organisations, sites and staff users (safe to run again) and print the logins."

    def add_arguments(self, parser):
        parser.add_argument("--quiet-logins", action="store_true", help="do not print the logins")

    def handle(self, *args, **options):
        result = load_demo()
        if result.created_organisations or result.created_users or result.created_memberships:
            self.stdout.write(
                f"Demo data loaded: {result.created_organisations} organisation(s), "
                f"{result.created_users} user(s), {result.created_memberships} membership(s) created."
            )
        else:
            self.stdout.write("Demo data already present: nothing to do.")
        messaging = load_messaging_demo()
        self.stdout.write(f"Demo reminders: {messaging.events} event(s) scheduled from now; the first SMS are due "
                          "within a minute (simulated phone: /app/phone/).")
        if not options["quiet_logins"]:
            self.stdout.write(logins_text())
