"""The real application over HTTP in a second process, for the API benchmarks (SPEC §7).

`Server` starts `relance serve` (waitress, as in production) as a child process on a free local
port, with the databases this process uses (so the benchmark's own data, committed here, is what
the server reads), and waits until an authenticated API call answers. `Client` is one persistent
HTTP/1.1 connection (http.client) that reconnects after a failure. `api_key` issues the bench
organisation's key through the accounts service (audited like any other key).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import quote

from django.db import connections

from relance.accounts import services as accounts
from relance.accounts.models import Organisation

from . import world as bench_world

API = "/api/v1"
READY_PATH = f"{API}/organisation"
SERVING = re.compile(r"serving on http://[^:/]+:(\d+)/")


def database_url(alias: str) -> str:
    """A DATABASE_URL for the child naming the database this process uses (the test database in tests)."""
    config = connections[alias].settings_dict
    name = str(config["NAME"])
    if config["ENGINE"].endswith("sqlite3"):
        if name == ":memory:" or "mode=memory" in name or name.startswith("file:"):
            raise RuntimeError("The API benchmarks serve the application from a second process, which cannot share "
                               "an in-memory SQLite database: use PostgreSQL or a SQLite file.")
        return f"sqlite:///{os.path.abspath(name)}"
    if not config["ENGINE"].endswith("postgresql"):
        raise RuntimeError(f"unsupported database engine for the API benchmarks: {config['ENGINE']}")
    user = quote(config.get("USER") or "", safe="")
    password = quote(config.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host, port = config.get("HOST") or "127.0.0.1", config.get("PORT") or "5432"
    return f"postgres://{credentials}{host}:{port}/{quote(name, safe='')}"


def child_env(debug: bool = False) -> dict:
    env = os.environ.copy()
    env["DATABASE_URL"] = database_url("default")
    env["RELANCE_KEYSTORE_URL"] = database_url("keys")
    # DEBUG keeps every query in memory and renders debug pages: the server runs as in production.
    env["DEBUG"] = "true" if debug else "false"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def api_key(org: Organisation, scopes: list[str]) -> str:
    """The full secret of a new key of the bench organisation (shown once, never stored)."""
    _key, secret = accounts.create_api_key(org, actor=bench_world.BENCH, name="bench", scopes=scopes)
    return secret


def revoke_keys(org: Organisation) -> None:
    from relance.accounts.models import ApiKey

    for key in ApiKey.objects.for_org(org).filter(revoked_at__isnull=True):
        accounts.revoke_api_key(key, actor=bench_world.BENCH)


class Client:
    """One persistent HTTP/1.1 connection to the server, with the bench key."""

    def __init__(self, port: int, secret: str, timeout: float = 30):
        self.port, self.timeout = port, timeout
        self.headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json",
                        "Accept-Language": "en", "Connection": "keep-alive"}
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.connection.request(method, path, body=body, headers=headers)
            answer = self.connection.getresponse()
            data = answer.read()
        except Exception:
            self.close()  # the next request opens a new connection
            raise
        if answer.will_close:
            self.close()
        return answer.status, data

    def json(self, method: str, path: str, payload=None) -> tuple[int, dict]:
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self.request(method, path, body)
        try:
            return status, json.loads(data) if data else {}
        except ValueError:
            return status, {"raw": data[:500].decode(errors="replace")}

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Server:
    """`relance serve` in a child process on a free port; `with Server(secret) as server: server.port`."""

    def __init__(self, secret: str, *, threads: int = 8, progress=None, debug: bool = False):
        self.secret, self.threads, self.progress, self.debug = secret, threads, progress, debug
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.output: list[str] = []

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        command = [sys.executable, "-m", "relance.cli", "serve", "--host", "127.0.0.1", "--port", "0",
                   "--threads", str(self.threads)]
        # Our own interpreter and command line, no outside input.
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,  # noqa: S603
                                        env=child_env(self.debug))
        found = threading.Event()

        def read():  # the port from the serving line, then keep draining the pipe (it must not fill up)
            for line in self.process.stdout:
                self.output = [*self.output[-50:], line.rstrip()]
                match = SERVING.search(line)
                if match and not found.is_set():
                    self.port = int(match.group(1))
                    found.set()
            found.set()

        threading.Thread(target=read, name="bench-server-output", daemon=True).start()
        deadline = time.monotonic() + timeout
        if not found.wait(timeout) or not self.port:
            self.stop()
            raise RuntimeError("the bench server did not start:\n" + "\n".join(self.output[-20:]))
        client = Client(self.port, self.secret, timeout=10)
        try:
            while True:  # ready when an authenticated call answers
                try:
                    status, _ = client.request("GET", READY_PATH)
                    if status == 200:
                        break
                    problem = f"HTTP {status}"
                except OSError as exc:
                    problem = str(exc)
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the bench server is not ready ({problem}):\n" + "\n".join(self.output[-20:]))
                time.sleep(0.1)
        finally:
            client.close()
        if self.progress:
            self.progress(f"server ready on port {self.port} (pid {self.process.pid}, {self.threads} threads)")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def load_average() -> list[float] | None:
    """The machine's 1, 5 and 15-minute load averages: a busy machine shows in the figures."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None

