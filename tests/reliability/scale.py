"""The two scales of the fault-injection tests, and where they write what they measured.

`make test` runs every test of tests/reliability at the fast scale; `make chaos` runs those marked
`chaos` with RELANCE_CHAOS=long. A test asks `scale(fast, long)` for each of its sizes, and `record`s
its figures (faults injected, messages checked, lost, duplicated, latencies) as JSON under
`$RELANCE_ARTIFACTS/reliability/` (default `artifacts/reliability/`), from which `make chaos` prints
the table that docs/reliability.md copies (`python -m tests.reliability.report`).
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LONG = os.environ.get("RELANCE_CHAOS", "").lower() == "long"


def scale(fast, long):
    """`long` under `make chaos` (RELANCE_CHAOS=long), `fast` in `make test`."""
    return long if LONG else fast


def results_dir() -> Path:
    base = Path(os.environ.get("RELANCE_ARTIFACTS") or ROOT / "artifacts")
    path = base / "reliability"
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(name: str, figures: dict, *, database: str | None = None) -> Path:
    """Write one test's figures; `name` is a short slug (crash-kill9, outage-smsc, load-api...).

    The file is named after the scale and the database so that the fast and long runs, and the
    SQLite and PostgreSQL passes, do not overwrite each other's figures."""
    from django.db import connection

    engine = database or connection.vendor
    document = {
        "name": name,
        "scale": "long" if LONG else "fast",
        "database": engine,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({os.cpu_count()} cores, {platform.machine()})",
        "figures": figures,
    }
    path = results_dir() / f"{name}.{document['scale']}.{engine}.json"
    path.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    # A test that travels in time (time_machine) would date its figures in the future: the file's
    # modification time comes from the kernel, which no test can move.
    document["at"] = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    path.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    return path
