"""relance bench dispatch | stop: the SPEC §7 benchmarks, results as JSON (bench/results/)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from relance.bench import dispatch, machine
from relance.messaging.models import Message


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--batch takes sizes separated by commas, such as 100,500,1000; got {text!r}") from None
    if not sizes or any(size < 1 for size in sizes):
        raise CommandError("--batch sizes must be positive whole numbers, such as 500")
    return sizes


class Command(BaseCommand):
    help = "Benchmarks of SPEC §7: `dispatch` (messages/s through the worker) and `stop` (STOP to suppression)."

    def add_arguments(self, parser):
        parser.add_argument("which", choices=["dispatch", "stop"])
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

    def handle(self, *args, which, **options):
        batches = _sizes(options["batch"]) if options["batch"] else [settings.RELANCE_WORKER_BATCH]
        if options["worker_only"]:
            dispatch.child_main(batches[0], options["profile"] or None)
            return
        if connection.vendor == "sqlite" and not options["allow_sqlite"]:
            raise CommandError("The benchmarks measure PostgreSQL: set DATABASE_URL (e.g. "
                               "DATABASE_URL=postgres://postgres@127.0.0.1:5432/relance_bench) or pass --allow-sqlite "
                               "for indicative figures.")

        others = (Message.unscoped.filter(status__in=Message.PENDING)
                  .exclude(organisation__slug__startswith="bench-").count())
        if others:
            raise CommandError(f"This database has {others} pending messages of other organisations, and the bench's "
                               "workers would send them (to the null provider). Run the benchmarks on a database of "
                               "their own, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/relance_bench.")

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
        result["machine"] = machine.describe()
        result["command"] = " ".join(["relance", *sys.argv[1:]]) if sys.argv[0].endswith("relance") else ""
        text = json.dumps(result, indent=2, sort_keys=True)
        if options["json_path"]:
            path = Path(options["json_path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n")
            progress(f"written {path}")
        self.stdout.write(text)
