"""`make run` from a fresh clone creates its environment, migrates, loads the demo data, serves the
login page and sends the demo's first reminders to the console within a minute and a half; the
SQLite files it leaves hold no clear demo personal value (R-60, R-61), not even the sent texts."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from relance.ops.demo import DEMO_PERSONAL_VALUES
from relance.ops.demo_messaging import DEMO_MESSAGING_VALUES
from tests.dumps import leaks

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process, deadline: float, log: Path) -> str:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"make run exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
                return response.read().decode()
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer in time")


def _wait_for_text(log: Path, text: str, process, deadline: float) -> None:
    """The worker of `relance run` sends the demo reminders (due a minute after start) to the console."""
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        if process.poll() is not None:
            break
        time.sleep(1)
    raise AssertionError(f"{text!r} never appeared:\n{log.read_text()[-3000:]}")


@pytest.mark.skipif(os.environ.get("RELANCE_TEST_DATABASE") == "postgres",
                    reason="make run is the embedded default; it runs once, in the SQLite pass")
def test_it_serves_the_login_page_from_a_fresh_clone(tmp_path):
    clone = tmp_path / "relance"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "RELANCE_", "VIRTUAL_ENV", "DJANGO_", "PYTEST"))}
    log = (tmp_path / "make-run.log").open("w")
    process = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=clone, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        page = _wait_for(f"http://127.0.0.1:{port}/app/login/", process, time.monotonic() + 900,
                         tmp_path / "make-run.log")
        assert 'type="password"' in page and "csrfmiddlewaretoken" in page
        output = (tmp_path / "make-run.log").read_text()
        assert "admin@relance.test" in output  # the demo logins are printed
        _wait_for_text(tmp_path / "make-run.log", "[SMS console-", process, time.monotonic() + 90)
        stored = b"".join(path.read_bytes() for path in (clone / "var").glob("*.sqlite3*"))
        personal = sorted(set(DEMO_PERSONAL_VALUES) | set(DEMO_MESSAGING_VALUES))
        assert leaks(stored.decode("utf-8", errors="replace"), personal) == []
        assert (clone / "var" / "master.key").stat().st_mode & 0o777 == 0o600
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
