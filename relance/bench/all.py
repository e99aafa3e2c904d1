"""`relance bench all`: every SPEC §7 figure in one run, on a database of its own.

1. With `--fresh` (or when the database holds no generated data), the bench databases are dropped
   and created again (only databases whose name starts with `relance_bench`), then migrated.
2. `generate` fills them (1,000,000 contacts, 10,000,000 messages by default; `--quick` is a small
   trial run of the whole chain).
3. Each scenario runs in its own process (`relance bench <name> --json bench/results/<name>-postgresql.json`),
   so one failing does not stop the others; the purge runs last (it deletes part of the generated data).
4. `report` draws the plots and prints the table of figures against SPEC §7.

The steps, their exit codes and durations are written to bench/results/all-postgresql.json. The exit
status is 1 when a step failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection, connections
from django.utils import timezone

from . import generate, scenario

ARGUMENTS = [
    ("--fresh", {"action": "store_true", "help": "all: drop and re-create the bench databases first"}),
    ("--quick", {"action": "store_true", "help": "all: small sizes, to try the whole chain in a few minutes"}),
    ("--only", {"default": "", "help": "all: run only these steps (comma-separated), e.g. dispatch,stop"}),
    ("--skip", {"default": "", "help": "all: leave these steps out (comma-separated), e.g. smpp"}),
]

FULL = {"contacts": 1_000_000, "rows": 10_000_000, "audience": 1_000_000, "dispatch": 20_000, "stops": 500,
        "events": 10_000, "api_seconds": 20, "smpp": 50_000, "jasmin": 300}
QUICK = {"contacts": 20_000, "rows": 200_000, "audience": 20_000, "dispatch": 2_000, "stops": 50,
         "events": 1_000, "api_seconds": 5, "smpp": 5_000, "jasmin": 50}


def steps(sizes: dict, library: str) -> list[tuple[str, list[str]]]:
    """(name, arguments of `relance bench`) in the order they run."""
    return [
        ("export", ["export", "--org", library]),
        ("plans", ["plans"]),  # after export: its person has real sealed texts to export
        ("dispatch", ["dispatch", "--messages", str(sizes["dispatch"]), "--batch", "100,500,2000", "--workers", "2"]),
        ("stop", ["stop", "--stops", str(sizes["stops"]), "--batch", "100"]),
        ("upsert", ["upsert", "--events", str(sizes["events"])]),
        ("api", ["api", "--seconds", str(sizes["api_seconds"])]),
        ("smpp", ["smpp", "--messages", str(sizes["smpp"]), "--jasmin-messages", str(sizes["jasmin"])]),
        # After the workers' scenarios, with --keep: its million contacts and its half-million scheduled
        # messages go with the database at the next --fresh (deleting them takes minutes at this size).
        ("audience", ["audience", "--contacts", str(sizes["audience"]), "--keep"]),
        ("purge", ["purge", "--org", library]),
    ]


def run(command, options) -> dict:
    if connection.vendor != "postgresql":
        raise CommandError("`relance bench all` measures PostgreSQL: set DATABASE_URL to a database of its own, e.g. "
                           "DATABASE_URL=postgres://postgres@127.0.0.1:5432/relance_bench (see docs/benchmarks.md).")
    progress = scenario.progress_for(command, "all")
    sizes = QUICK if options.get("quick") else FULL
    only = {s for s in (options.get("only") or "").split(",") if s}
    skip = {s for s in (options.get("skip") or "").split(",") if s}
    known = {"generate", "report"} | {name for name, _ in steps(sizes, "")}
    if unknown := (only | skip) - known:
        raise CommandError(f"Unknown steps: {', '.join(sorted(unknown))}. Steps: {', '.join(sorted(known))}.")
    wanted = (lambda name: name in only) if only else (lambda name: name not in skip)
    started, t0 = timezone.now(), time.perf_counter()
    done: list[dict] = []

    if options.get("fresh"):
        recreate_databases(progress)
        done.append(_run_step("setup", ["setup"], progress, bench=False))
    have = generate.existing()
    if wanted("generate") and (have is None or options.get("fresh")):
        done.append(_run_step("generate", ["generate", "--contacts", str(sizes["contacts"]), "--rows",
                                           str(sizes["rows"])], progress))
        connection.close()
        have = generate.existing()
    elif have is not None:
        progress(f"reusing the generated data: {have['contacts']} contacts, about {have['messages_estimate']} "
                 "messages (--fresh to start again)")
    library = next((slug for slug in (have or {}).get("organisations", []) if "-library-" in slug), "")
    for name, arguments in steps(sizes, library):
        if not wanted(name):
            continue
        if "--org" in arguments and not library:
            done.append({"step": name, "exit": None, "seconds": 0, "note": "no generated organisation"})
            continue
        done.append(_run_step(name, arguments, progress))
    if wanted("report"):
        done.append(_run_step("report", ["report"], progress, results=False))
    failed = [step["step"] for step in done if step.get("exit") not in (0, None)]
    result = {"benchmark": "all", "started_at": started.isoformat(), "database": scenario.database(),
              "sizes": sizes, "steps": done, "failed": failed, "total_seconds": round(time.perf_counter() - t0, 1)}
    progress(f"all done in {result['total_seconds'] / 60:.1f} min" + (f"; failed: {', '.join(failed)}" if failed
                                                                        else ""))
    if failed:
        scenario.write(command, result, scenario.default_path("all"), progress)
        raise CommandError(f"Steps failed: {', '.join(failed)} (their output is above; the others' results are "
                           "in bench/results/).")
    return result


def _run_step(name: str, arguments: list[str], progress, *, bench: bool = True, results: bool = True) -> dict:
    argv = [*relance_command(), *(["bench"] if bench else []), *arguments]
    if bench and results:
        argv += ["--json", str(scenario.RESULTS / f"{name}-postgresql.json")]
    progress(f"step {name}: {' '.join(argv[len(relance_command()):])}")
    t = time.perf_counter()
    code = subprocess.call(argv, stdout=subprocess.DEVNULL, env=os.environ.copy())  # noqa: S603 - our own command
    seconds = round(time.perf_counter() - t, 1)
    progress(f"step {name}: exit {code} after {seconds} s")
    return {"step": name, "exit": code, "seconds": seconds, "arguments": arguments}


def relance_command() -> list[str]:
    """How to run `relance` again: this program when it is the `relance` script, else the module."""
    if Path(sys.argv[0]).name == "relance":
        return [sys.argv[0]]
    return [sys.executable, "-m", "relance.cli"]


def recreate_databases(progress) -> None:
    """Drop and create the default and key-store databases: only `relance_bench…` ones, never others."""
    import psycopg

    names = []
    for alias in ("default", "keys"):
        name = settings.DATABASES[alias]["NAME"]
        if alias == "keys" and name == settings.DATABASES["default"]["NAME"]:
            continue
        if not str(name).startswith("relance_bench"):
            raise CommandError(f"--fresh drops and re-creates the databases, so it only does so for ones named "
                               f"relance_bench…; {alias} is {name!r}. Point DATABASE_URL and RELANCE_KEYSTORE_URL at "
                               "relance_bench and relance_bench_keys.")
        names.append((alias, name))
    for alias, _name in names:
        connections[alias].close()
    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    with psycopg.connect(**params, autocommit=True) as admin:
        for _alias, name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
            progress(f"database {name} created")
