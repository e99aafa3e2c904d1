"""Start and steer the SMSC simulator (tests/smsc/server.js) from tests.

`SmscSimulator` runs one node process: an SMPP 3.4 server (our SMPP client and Jasmin bind to it)
and an HTTP control API; each method below is one control call and returns its parsed JSON.
Fixtures: `smsc_process` (one process per test session) and `smsc` (the same process, reset before
each test: default behaviour, counters zeroed, every client connection closed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SIMULATOR = ROOT / "tests" / "smsc"
READY = "smsc-simulator listening"


class SmscError(RuntimeError):
    """The simulator refused a control call (400/404) or did not start."""


class SmscSimulator:
    def __init__(self, *, system_id: str | None = None, password: str | None = None,
                 host: str = "127.0.0.1", node: str | None = None):
        self.host = host
        self.system_id = system_id
        self.password = password
        self.node = node or shutil.which("node")
        self.port: int | None = None
        self.control_port: int | None = None
        self._process: subprocess.Popen | None = None
        self._stderr = None

    # -- process -------------------------------------------------------------------------------

    def start(self, port: int = 0, control_port: int = 0, timeout: float = 10.0) -> SmscSimulator:
        command = [self.node, str(SIMULATOR / "server.js"), "--host", self.host,
                   "--port", str(port), "--control-port", str(control_port)]
        if self.system_id is not None:
            command += ["--system-id", self.system_id]
        if self.password is not None:
            command += ["--password", self.password]
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(  # noqa: S603 (our node script, arguments from the test)
            command, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        line = self._first_line(timeout)
        if not line.startswith(READY):
            self.stop()
            raise SmscError(f"the SMSC simulator did not start: {line!r} {self._errors()}")
        fields = dict(part.split("=", 1) for part in line.split()[2:])
        self.port, self.control_port = int(fields["smpp"]), int(fields["control"])
        return self

    def _first_line(self, timeout: float) -> str:
        # readline() blocks: read in a thread so that a hung node cannot hang the test session.
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self._process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        return found[0].strip() if found else ""

    def _errors(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()
        self._stderr.close()
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- control API ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float = 10.0):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://{self.host}:{self.control_port}{path}", data=data, method=method,
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http://127.0.0.1 only)
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise SmscError(f"{method} {path}: {error.code} {error.read().decode(errors='replace')}") from None

    def stats(self, since: int = 0) -> dict:
        """GET /stats: counters, bound sessions and the submits from index `since` on."""
        return self._call("GET", f"/stats?since={since}")

    def messages(self, since: int = 0) -> list[dict]:
        """GET /messages: the recorded submit_sm (last 2,000) from index `since` on."""
        return self._call("GET", f"/messages?since={since}")["messages"]

    def tally(self) -> dict[str, dict[str, int]]:
        """GET /tally: {"submits": {destination: n}, "accepted": {destination: n}, "last_at":
        {destination: ms since the epoch}} since the last reset, every submit_sm counted (the ring of
        /messages keeps only the last 2,000)."""
        return self._call("GET", "/tally")

    def behaviour(self, **changes) -> dict:
        """POST /behaviour (merged into the current one); with no argument, GET /behaviour."""
        if not changes:
            return self._call("GET", "/behaviour")
        return self._call("POST", "/behaviour", changes)

    def mo(self, source: str, destination: str, text: str | None = None, *,
           data_coding: int | None = None, **extra) -> dict:
        """POST /mo: a deliver_sm to a bound receiver; {"delivered": bool, "command_status"|"reason"}."""
        body = {"source": source, "destination": destination, **extra}
        if text is not None:
            body["text"] = text
        if data_coding is not None:
            body["data_coding"] = data_coding
        return self._call("POST", "/mo", body)

    def drop(self) -> dict:
        """POST /drop: close every client connection now."""
        return self._call("POST", "/drop", {})

    def down(self, seconds: float) -> dict:
        """POST /down: close connections and refuse new ones for `seconds`."""
        return self._call("POST", "/down", {"seconds": seconds})

    def up(self) -> dict:
        """POST /up: listen again now (ends a /down early)."""
        return self._call("POST", "/up", {})

    def reset(self, keep_connections: bool = False) -> dict:
        """POST /reset: default behaviour, counters and records zeroed, listening; connections closed
        unless `keep_connections` (a long-lived client such as Jasmin's connector stays bound)."""
        return self._call("POST", "/reset", {"keep_connections": keep_connections})

    def wait_for(self, condition, timeout: float = 5.0, interval: float = 0.02) -> dict:
        """Poll GET /stats until `condition(stats)` is true; returns those stats or raises."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.stats(since=1 << 53)
            if condition(current):
                return current
            if time.monotonic() > deadline:
                raise AssertionError(f"SMSC simulator: condition not met within {timeout} s: {current}")
            time.sleep(interval)


def missing_reason() -> str | None:
    if not shutil.which("node"):
        return "node is not installed"
    if not (SIMULATOR / "node_modules" / "smpp").is_dir():
        return "tests/smsc/node_modules is missing: run `make smsc-sim`"
    return None


def require_simulator() -> None:
    """Skip (outside CI) or fail (CI=true) when the simulator cannot run here."""
    reason = missing_reason()
    _needs("SMSC simulator", reason is None, reason or "")


def _needs(service: str, available: bool, why: str) -> None:
    try:
        from conftest import needs
    except ImportError:  # imported outside this repository's pytest run
        needs = _needs_here
    needs(service, available, why)


def _needs_here(service: str, available: bool, why: str) -> None:
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{service} is mandatory with CI=true: {why}")
    pytest.skip(f"{service} unavailable: {why}")


@pytest.fixture(scope="session")
def smsc_process():
    require_simulator()
    simulator = SmscSimulator().start()
    yield simulator
    simulator.stop()


@pytest.fixture
def smsc(smsc_process):
    if not smsc_process.running:
        raise SmscError(f"the SMSC simulator exited: {smsc_process._errors()}")
    smsc_process.reset()
    return smsc_process
