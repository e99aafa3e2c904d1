"""PostgreSQL restarted while the workers send (issue 9 §2).

The shared server on 5432 runs the test suite itself: this test starts a private cluster (initdb in
a temporary directory, a free port), migrates it, fills it through a child process
(tests/reliability/fleet.py populate) and runs `relance worker` children on it. Mid-sending the
cluster is restarted with `pg_ctl restart -m fast`, later crashed and restarted with `-m immediate`.
The workers must carry on without being restarted: nothing lost, every duplicate bounded (one batch
per restart) and marked, nothing submitted after its validity (R-23).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import needs
from relance.providers.testing.smsc import smsc, smsc_process  # noqa: F401 (fixtures)
from tests.reliability import fleet
from tests.reliability.scale import record, scale

BIN = Path("/usr/lib/postgresql/15/bin")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A throw-away PostgreSQL 15 cluster owned by the postgres user, trust auth on 127.0.0.1."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="relance-pg-"))
        self.data = self.dir / "data"
        self.log = fleet.log_dir() / "outage-postgres.cluster.log"
        self.port = free_port()
        shutil.chown(self.dir, "postgres", "postgres")
        self.dir.chmod(0o700)
        self.log.write_text("")
        shutil.chown(self.log, "postgres", "postgres")

    def run(self, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run(["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True,  # noqa: S603, S607
                              timeout=timeout, check=False, cwd=self.dir)
        if done.returncode:
            raise RuntimeError(f"{command[0]} failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")
        return done

    def ctl(self, *arguments: str) -> float:
        """pg_ctl with this cluster's options; the seconds it took."""
        started = time.monotonic()
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c max_connections=60")
        self.run(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", *arguments)
        return time.monotonic() - started

    def start(self) -> Cluster:
        self.run(str(BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                 "-E", "UTF8")
        self.ctl("start")
        for name in ("relance", "relance_keys"):
            self.run(str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), name)
        return self

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self.ctl("stop", "-m", "immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def cluster_missing() -> str | None:
    if os.geteuid() != 0:
        return "the private cluster is created as the postgres user through runuser: run as root"
    if not (BIN / "initdb").exists() or not shutil.which("runuser"):
        return f"no {BIN / 'initdb'} or no runuser"
    return None


@pytest.fixture
def cluster():
    reason = cluster_missing()
    needs("private PostgreSQL cluster", reason is None, reason or "")
    private = Cluster()
    try:
        yield private.start()
    finally:
        private.stop()


@pytest.mark.postgres
@pytest.mark.chaos
def test_postgres_restart_during_sending_is_survived_without_restarting_the_worker(cluster, smsc):  # noqa: F811
    """R-29 (every message final, nothing lost), R-23 (nothing sent after its validity),
    docs/delivery.md "Database restarts": a claim or a record lost with the connection is taken back
    after the lease, the record's batch marked for reconciliation; the worker reconnects by itself."""
    from django.db import connection

    if connection.vendor != "postgresql":  # once per `make test`: in its PostgreSQL pass
        pytest.skip("the PostgreSQL pass runs it (a private cluster, whatever the test database)")
    count, workers, batch = scale((600, 2, 50), (10_000, 2, 200))
    env = {**os.environ, **fleet.CHILD_SETTINGS, "DATABASE_URL": cluster.url("relance"),
           "RELANCE_KEYSTORE_URL": cluster.url("relance_keys")}
    started = time.monotonic()
    migrate = subprocess.run([sys.executable, "-m", "relance.cli", "setup"], env=env, cwd=ROOT, capture_output=True,  # noqa: S603
                             text=True, timeout=600, check=False)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    migrate_seconds = time.monotonic() - started
    plan = fleet.populate_in_child(env, count, smsc.host, smsc.port)
    setup_seconds = time.monotonic() - started
    cursor = fleet.psycopg_cursor(cluster.url("relance"))
    log = fleet.log_dir() / "outage-postgres.log"
    history: list = []
    restarts: list = []
    # A restart when the SMSC has seen 30% of the messages (fast), another at 60% (immediate: a crash).
    plan_of_faults = [(0.3, "fast"), (0.6, "immediate")]
    with fleet.Fleet(env, log, batch=batch).start(workers) as workers_:
        began = time.monotonic()
        pids = [child.pid for child in workers_.children]

        def inject():
            if not plan_of_faults:
                return
            submits = smsc.stats(since=1 << 53)["submits"]
            if submits >= plan_of_faults[0][0] * count:
                _share, mode = plan_of_faults.pop(0)
                if mode == "fast":  # a tenth of what waits will have expired when the database is back
                    restarts.append({"short_lived": fleet.shorten_validity(cursor, plan, 10, 1.5)})
                seconds = cluster.ctl("restart", "-m", mode)
                restarts.append({"mode": mode, "at_submits": submits, "after_seconds": round(time.monotonic() - began, 1),
                                 "restart_seconds": round(seconds, 1)})

        fleet.wait_final(cursor, plan, scale(120, 900), during=inject, interval=0.1, history=history)
        seconds = time.monotonic() - began
        tally = smsc.tally()
        same_workers = [child.pid for child in workers_.children if child.poll() is None] == pids
    outcome = fleet.account(cursor, plan, tally, bound=2 * workers * batch, last_submit=tally["last_at"])
    figures = {**outcome.figures, "restarts": restarts, "workers": workers, "batch": batch,
               "migrate_seconds": round(migrate_seconds, 1), "setup_seconds": round(setup_seconds, 1),
               "seconds_to_all_final": round(seconds, 1), "progress": history, "workers_never_restarted": same_workers}
    record("outage-postgres", figures, database="postgresql")
    assert len([r for r in restarts if "mode" in r]) == 2, f"the restarts did not all happen: {restarts}"
    assert same_workers, "a worker process exited: it must survive the database restart"
    problems = fleet.check(outcome)
    assert not problems, f"{problems}; {restarts}; log {log}: {workers_.errors()}"
