"""relance bench <scenario>: the SPEC §7 benchmarks, results as JSON (bench/results/).

`dispatch`, `stop` and `smpp` are run here; every other scenario is a module of relance.bench with
`run(command, options) -> dict` and optional `ARGUMENTS` (relance/bench/scenario.py)."""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from relance.bench import dispatch, scenario
from relance.messaging.models import Message

# Scenario modules of relance.bench (run(command, options) -> dict), in the order `all` runs them.
MODULES = ("generate", "purge", "export", "audience", "upsert", "api", "plans", "report", "all")
BUILT_IN = ("dispatch", "stop", "smpp")


def _modules():
    for name in MODULES:
        if importlib.util.find_spec(f"relance.bench.{name}") is not None:
            yield name, importlib.import_module(f"relance.bench.{name}")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--batch takes sizes separated by commas, such as 100,500,1000; got {text!r}") from None
    if not sizes or any(size < 1 for size in sizes):
        raise CommandError("--batch sizes must be positive whole numbers, such as 500")
    return sizes


class Command(BaseCommand):
    help = ("Benchmarks of SPEC §7: `dispatch` (messages/s through the worker), `stop` (STOP to suppression) and "
            "`smpp` (submit_sm/s through one bind, to the SMSC simulator and through Jasmin).")

    def add_arguments(self, parser):
        modules = dict(_modules())
        parser.add_argument("which", choices=[*BUILT_IN, *modules])
        parser.add_argument("--contacts", type=int, default=0, help="purge/export: contacts (0: the default)")
        parser.add_argument("--rows", type=int, default=0, help="purge: message rows to purge (0: the scenario's default)")
        parser.add_argument("--messages", type=int, default=50_000, help="due messages to send (dispatch)")
        parser.add_argument("--batch", default="", help="worker batch sizes, e.g. 100,500,1000 (default: the setting)")
        parser.add_argument("--workers", type=int, default=2, help="also measure this many worker processes (dispatch)")
        parser.add_argument("--stops", type=int, default=500, help="STOP messages to send (stop)")
        parser.add_argument("--json", dest="json_path", default="", help="write the result to this file")
        parser.add_argument("--allow-sqlite", action="store_true", help="run on SQLite (figures only indicative)")
        parser.add_argument("--in-process", action="store_true",
                            help="one worker in this process instead of child processes (SQLite test databases)")
        parser.add_argument("--client", action="store_true",
                            help="stop: Django's test client and an inline worker instead of HTTP and a worker thread")
        parser.add_argument("--keep", action="store_true", help="keep the bench organisation's data afterwards")
        parser.add_argument("--worker-only", action="store_true", help="internal: one child worker")
        parser.add_argument("--profile", default="", help="internal: cProfile output of a child worker")
        parser.add_argument("--window", type=int, default=32, help="smpp: submit_sm in flight")
        parser.add_argument("--jasmin-messages", type=int, default=2000, help="smpp: messages through Jasmin (0: skip)")
        for module in modules.values():
            for flag, keywords in getattr(module, "ARGUMENTS", ()):
                parser.add_argument(flag, **keywords)

    def handle(self, *args, which, **options):
        if which == "smpp":
            self._smpp(options)
            return
        if which not in BUILT_IN:
            # A scenario module: run(command, options) measures and returns its result, written here.
            progress = scenario.progress_for(self, which)
            result = importlib.import_module(f"relance.bench.{which}").run(self, options)
            if result is not None:
                scenario.write(self, result, options["json_path"] or scenario.default_path(which), progress)
            return
        batches = _sizes(options["batch"]) if options["batch"] else [settings.RELANCE_WORKER_BATCH]
        if options["worker_only"]:
            dispatch.child_main(batches[0], options["profile"] or None)
            return
        if connection.vendor == "sqlite" and not options["allow_sqlite"]:
            raise CommandError("The benchmarks measure PostgreSQL: set DATABASE_URL (e.g. "
                               "DATABASE_URL=postgres://postgres@127.0.0.1:5432/relance_bench) or pass --allow-sqlite "
                               "for indicative figures.")

        # Their workers claim every due message of the database: none may be due soon but the bench's own
        # (the generator's scheduled ones are days ahead; a campaign kept by `bench audience --keep` is not).
        soon = timezone.now() + datetime.timedelta(hours=12)
        others = Message.unscoped.filter(status__in=Message.PENDING, due_at__lte=soon).count()
        if others:
            raise CommandError(f"This database has {others} messages due within 12 hours, and the bench's workers "
                               "would send them (to the null provider): other organisations' messages, or a campaign "
                               "left by `relance bench audience --keep`. Run the benchmarks on a database of their "
                               "own (`make bench` starts from fresh ones).")

        def progress(text: str) -> None:
            self.stderr.write(f"[bench {which}] {text}")
            sys.stderr.flush()

        if which == "dispatch":
            if options["messages"] < 1 or options["workers"] < 1:
                raise CommandError("--messages and --workers must be at least 1")
            result = dispatch.run(options["messages"], batches, options["workers"], in_process=options["in_process"],
                                  progress=progress, keep=options["keep"])
        else:
            from relance.bench import stop

            if options["stops"] < 1:
                raise CommandError("--stops must be at least 1")
            result = stop.run(options["stops"], batch_size=batches[0], client=options["client"], progress=progress,
                              keep=options["keep"])
        self._write(result, options["json_path"], progress)

    def _write(self, result: dict, json_path: str, progress) -> None:
        scenario.write(self, result, json_path, progress)

    def _smpp(self, options) -> None:
        """No database: the provider and its bind only (relance/bench/smpp.py)."""
        from relance.bench import smpp

        if options["messages"] < 1 or options["window"] < 1 or options["jasmin_messages"] < 0:
            raise CommandError("--messages and --window must be at least 1, --jasmin-messages at least 0")
        batch = _sizes(options["batch"])[0] if options["batch"] else 1000

        def progress(text: str) -> None:
            self.stderr.write(f"[bench smpp] {text}")
            sys.stderr.flush()

        result = smpp.run(options["messages"], batch=batch, window=options["window"],
                          jasmin_count=options["jasmin_messages"], progress=progress)
        json_path = options["json_path"] or f"bench/results/smpp-{datetime.date.today().isoformat()}.json"
        self._write(result, json_path, progress)
        self.stderr.write(smpp.summary(result))
