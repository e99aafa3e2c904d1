"""What every `relance bench` scenario shares: its progress lines, the PostgreSQL check and the JSON
result written under bench/results/ (SPEC §7).

A scenario is a module of this package with `run(command, options) -> dict` (the result, also
printed) and, when it takes options of its own, `ARGUMENTS`: a list of (flag, argparse keywords)
that the command adds to its parser. The command writes the result with `write()`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from django.core.management.base import CommandError
from django.db import connection

from . import machine

Progress = Callable[[str], None]
RESULTS = Path("bench/results")


def progress_for(command, name: str) -> Progress:
    def progress(text: str) -> None:
        command.stderr.write(f"[bench {name}] {text}")
        sys.stderr.flush()

    return progress


def require_postgresql(name: str, options: dict) -> None:
    if connection.vendor == "sqlite" and not options.get("allow_sqlite"):
        raise CommandError(f"The {name} benchmark measures PostgreSQL: set DATABASE_URL (e.g. "
                           "DATABASE_URL=postgres://postgres@127.0.0.1:5432/relance_bench) or pass --allow-sqlite "
                           "for indicative figures.")


def database() -> dict:
    vendor = connection.vendor
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()" if vendor == "postgresql" else "SELECT sqlite_version()")
        version = cursor.fetchone()[0]
    return {"vendor": vendor, "version": version, "indicative_only": vendor != "postgresql"}


def default_path(name: str) -> Path:
    return RESULTS / f"{name}-{connection.vendor}.json"


def write(command, result: dict, json_path: str | Path, progress: Progress) -> Path | None:
    """The result with the machine and the command line, to `json_path` (none: not written) and stdout."""
    result.setdefault("machine", machine.describe())
    result.setdefault("command", " ".join(["relance", *sys.argv[1:]]) if sys.argv[0].endswith("relance") else "")
    text = json.dumps(result, indent=2, sort_keys=True, default=str)
    path = None
    if json_path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
        progress(f"written {path}")
    command.stdout.write(text)
    return path


def organisation(slug: str):
    from relance.accounts.models import Organisation

    try:
        return Organisation.objects.get(slug=slug)
    except Organisation.DoesNotExist:
        raise CommandError(f"There is no organisation {slug!r} in this database.") from None


def estimated_rows(models) -> dict:
    """The planner's row counts of whole tables (instant, unlike count(*) on ten million rows)."""
    if connection.vendor != "postgresql":
        return {m._meta.db_table: m._base_manager.count() for m in models}
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reltuples::bigint FROM pg_class WHERE relname = ANY(%s)",
                       [[m._meta.db_table for m in models]])
        return dict(cursor.fetchall())


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0–100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_stats(ms: list[float], digits: int = 2) -> dict:
    """p50, p95, p99, max and mean of latencies in milliseconds (None each when there are none)."""
    if not ms:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {"p50": round(percentile(ms, 50), digits), "p95": round(percentile(ms, 95), digits),
            "p99": round(percentile(ms, 99), digits), "max": round(max(ms), digits),
            "mean": round(sum(ms) / len(ms), digits)}
