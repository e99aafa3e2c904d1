"""Periodic jobs the worker runs beside sending (the daily purge, outgoing webhooks, deadline checks).

Apps register their jobs in `AppConfig.ready()`; `relance.messaging.worker` runs the due ones in its
housekeeping round. The registry lives here, at the bottom of the layers, so that an app above
messaging (privacy) and one below it (webhooks) can both register without importing the worker.
A job's failure is logged and does not stop the others or the sending loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("relance.housekeeping")


@dataclass
class Job:
    name: str
    run: Callable[[], object]
    every_seconds: float
    last_run: float = field(default=0.0)


JOBS: dict[str, Job] = {}


def register(name: str, run: Callable[[], object], *, every_seconds: float) -> None:
    """Run `run()` from the worker at most once every `every_seconds` (per worker process)."""
    JOBS[name] = Job(name, run, every_seconds)


def run_due(clock: Callable[[], float] = time.monotonic) -> list[str]:
    """Run every job whose interval has passed; returns the names run."""
    ran = []
    for job in list(JOBS.values()):
        now = clock()
        if job.last_run and now - job.last_run < job.every_seconds:
            continue
        job.last_run = now
        try:
            job.run()
        except Exception:
            log.exception("housekeeping job failed", extra={"job": job.name})
        ran.append(job.name)
    return ran
