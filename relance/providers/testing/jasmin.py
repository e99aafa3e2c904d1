"""Jasmin 0.11.1, a real SMPP gateway, between our SMPP client and the SMSC simulator (tests).

Relance binds to Jasmin's SMPP server as a user; Jasmin relays every submit_sm through an SMPP
client connector to the simulator (tests/smsc) and brings receipts and MO back to our bind:

    SmppProvider --bind--> jasmind (smpps user) --smppc connector--> SmscSimulator

`JasminGateway.start(host, port)` runs one jasmind from .jasmin-venv (scripts/jasmin-install) with
a configuration of its own in a temporary directory (free ports, logs there, a RabbitMQ vhost of
its own, a dedicated Redis db), then configures it through jCli. `jasmin_pair()` starts the pair
outside pytest (the benchmark); the session fixture `jasmin` starts it once per test session.
docs/smpp-testing.md tells how it works and what Jasmin does with receipts, MO and errors.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from string import Template

import pytest

from relance.providers.testing.smsc import SmscError, SmscSimulator
from relance.providers.testing.smsc import missing_reason as simulator_missing

ROOT = Path(__file__).resolve().parents[3]
VENV = ROOT / ".jasmin-venv"
CONFIG_TEMPLATE = ROOT / "tests" / "jasmin" / "jasmin.cfg"
LAUNCHER = ROOT / "tests" / "jasmin" / "run_jasmind.py"  # jasmind with its lock in our directory
# Redis db 13 is Jasmin's in tests (DLR mappings, keys expire); nothing else in Relance uses it.
REDIS_DB = 13
# jasmind in one process: the DLR lookup and the DLR / deliver_sm throwers run inside it rather
# than as separate daemons (fine for tests; Jasmin recommends separate daemons in production).
DAEMON_OPTIONS = ["--enable-dlr-lookup", "--enable-dlr-thrower", "--enable-deliver-thrower"]
PROMPTS = (b"jcli : ", b"> ")
TELNET_IAC = 255
PR_SET_PDEATHSIG = 1


class JasminError(RuntimeError):
    """jasmind did not start, or refused a jCli command."""


def missing_reason() -> str | None:
    """Why the Jasmin tests cannot run here, or None."""
    if not (VENV / "bin" / "jasmind.py").exists():
        return ".jasmin-venv is missing: run `make jasmin` (scripts/jasmin-install)"
    if not list(VENV.glob(".installed-*")):
        return ".jasmin-venv is incomplete (no stamp): run `make jasmin` again"
    return simulator_missing()


def free_ports(count: int) -> list[int]:
    """Ports free now; all sockets are held open together so the same port is never given twice."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Jcli:
    """jCli, Jasmin's telnet console, scripted: one command, then read up to the next prompt."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self.run("")  # the banner comes before the first prompt

    def run(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\r\n")
        while not self.buffer.endswith(PROMPTS):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise JasminError(f"jCli closed the connection after {line!r}")
            self.buffer += chunk
        text, self.buffer = _printable(self.buffer), b""
        # jCli echoes the command: what follows it is the answer.
        return text.split("\n", 1)[1] if "\n" in text else ""

    def add(self, command: str, settings: list[tuple[str, str]]) -> str:
        """`group -a`, `user -a`, `smppccm -a`…: each key, then `ok`; fails loudly on any complaint."""
        self.run(command)
        for key, value in settings:
            answer = self.run(f"{key} {value}")
            if answer.strip() not in ("", ">") and "arguments:" not in answer:
                self.run("ko")
                raise JasminError(f"jCli refused {command} {key}: {answer.strip()}")
        answer = self.run("ok")
        if "Successfully" not in answer:
            raise JasminError(f"jCli refused {command}: {answer.strip()}")
        return answer

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"quit\r\n")
        self.sock.close()


def _printable(data: bytes) -> str:
    """Drop telnet negotiation (IAC sequences) and terminal escapes; normalise line ends."""
    out = bytearray()
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == TELNET_IAC:
            index += 3
            continue
        if byte == 0x1B:  # ESC c, ESC [4h
            index += 2
            while index < len(data) and not chr(data[index]).isalpha():
                index += 1
            index += 1
            continue
        out.append(byte)
        index += 1
    return out.decode(errors="replace").replace("\r", "")


class JasminGateway:
    """One jasmind, configured to relay everything to one upstream SMSC."""

    def __init__(self, venv: Path = VENV, redis_db: int = REDIS_DB, extra_env: dict | None = None):
        self.venv = Path(venv)
        self.extra_env = dict(extra_env or {})
        self.redis_db = redis_db
        self.host = "127.0.0.1"
        self.port: int | None = None
        # Unique per start: a queue or a receipt left over from an earlier run names another user
        # and another connector, so it can never reach this run's bind.
        tag = secrets.token_hex(3)
        self.system_id = f"rl{tag}"
        self.password = secrets.token_hex(4)  # SMPP passwords are 8 characters at most
        self.connector = f"smsc{tag}"
        self.vhost = f"relance-jasmin-{tag}"
        self.own_vhost = False
        self.directory: Path | None = None
        self.jcli_port: int | None = None
        self.http_port: int | None = None
        self.simulator: SmscSimulator | None = None  # set by jasmin_pair(), with…
        self.simulator_defaults: dict = {}  # …its behaviour at start, to restore between tests
        self._process: subprocess.Popen | None = None

    # -- start and stop ------------------------------------------------------------------------

    def start(self, upstream_host: str, upstream_port: int, timeout: float = 30.0) -> JasminGateway:
        self.directory = Path(tempfile.mkdtemp(prefix="relance-jasmin-"))
        try:
            self._launch()
            self._wait_for_ports(timeout)
            self._configure(upstream_host, upstream_port)
            self.wait_bound(timeout)
        except BaseException:
            self.stop(keep_logs=True)
            raise
        return self

    def _launch(self) -> None:
        (self.directory / "logs").mkdir()
        (self.directory / "store").mkdir()
        self.own_vhost = _rabbitmq_vhost("add", self.vhost)
        ports = free_ports(7)
        self.port, self.jcli_port, self.http_port = ports[0], ports[1], ports[2]
        spec = next(self.venv.glob("lib/python*/site-packages/txamqp/specs/standard/amqp0-9-1.stripped.xml"))
        config = Template(CONFIG_TEMPLATE.read_text()).substitute(
            smpp_port=self.port, jcli_port=self.jcli_port, http_port=self.http_port,
            smpps_pb_port=ports[3], cm_port=ports[4], router_port=ports[5], interceptor_port=ports[6],
            redis_db=self.redis_db, amqp_vhost=self.vhost if self.own_vhost else "/", amqp_spec=spec,
            log_dir=self.directory / "logs", store_dir=self.directory / "store")
        (self.directory / "jasmin.cfg").write_text(config)
        # ROOT_PATH: every default path of Jasmin (/etc/jasmin, /var/log/jasmin) under our directory.
        env = {**os.environ, "ROOT_PATH": str(self.directory), "PYTHONUNBUFFERED": "1",
               "RELANCE_JASMIN_LOCK": str(self.directory / "jasmind"), **self.extra_env}
        with open(self.directory / "jasmind.log", "wb") as output:
            self._process = subprocess.Popen(  # noqa: S603 (our venv's python, our arguments)
                [str(self.venv / "bin" / "python"), str(LAUNCHER), str(self.venv / "bin" / "jasmind.py"),
                 "-c", str(self.directory / "jasmin.cfg"), *DAEMON_OPTIONS],
                cwd=self.directory, env=env, stdout=output, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)

    def _wait_for_ports(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for port in (self.jcli_port, self.port):
            while not _accepts(port):
                if self._process.poll() is not None:
                    raise JasminError(f"jasmind exited ({self._process.returncode}): {self.log_tail()}")
                if time.monotonic() > deadline:
                    raise JasminError(f"jasmind did not listen on {port} within {timeout} s: {self.log_tail()}")
                time.sleep(0.05)

    def _configure(self, upstream_host: str, upstream_port: int) -> None:
        jcli = Jcli(self.jcli_port)
        try:
            jcli.add("group -a", [("gid", "relance")])
            # Defaults grant smpps bind and send with no quota and no throughput limit (ND).
            jcli.add("user -a", [("username", self.system_id), ("password", self.password),
                                 ("uid", self.system_id), ("gid", "relance")])
            jcli.add("smppccm -a", self._connector_settings(upstream_host, upstream_port))
            # Relance numbers go out as they came in (E.164 without "+", TON international).
            jcli.add("mtrouter -a", [("type", "DefaultRoute"), ("connector", f"smppc({self.connector})"),
                                     ("rate", "0")])
            jcli.add("morouter -a", [("type", "DefaultRoute"), ("connector", f"smpps({self.system_id})")])
            answer = jcli.run(f"smppccm -1 {self.connector}")
            if "Successfully" not in answer:
                raise JasminError(f"jCli did not start the connector: {answer.strip()}")
        finally:
            jcli.close()

    def _connector_settings(self, host: str, port: int) -> list[tuple[str, str]]:
        return [
            ("cid", self.connector), ("host", host), ("port", str(port)),
            ("username", "jasmin"), ("password", "jasmin"), ("bind", "transceiver"),
            # 0 = no throttling. The stock value is 1 submit_sm per second per connector.
            ("submit_throughput", "0"),
            # Receipts are kept (redis) one hour waiting for the SMSC's deliver_sm.
            ("dlr_expiry", "3600"),
            # The simulator's message ids are hex in submit_sm_resp and in the receipt: same base.
            ("dlr_msgid", "0"),
            # A lost upstream link is retried after 1 s (stock: 10 s), so a test never waits long.
            ("con_loss_delay", "1"), ("con_fail_delay", "1"),
            # A message routed while the connector is down is retried after 1 s (stock: 120 s).
            ("requeue_delay", "1"),
            ("logfile", str(self.directory / "logs" / "connector.log")), ("logprivacy", "yes"),
        ]

    def connector_status(self) -> str:
        """The connector's session state from `smppccm -l` (BOUND_TRX when bound)."""
        jcli = Jcli(self.jcli_port)
        try:
            listing = jcli.run("smppccm -l")
        finally:
            jcli.close()
        for line in listing.splitlines():
            fields = line.lstrip("#").split()
            if fields and fields[0] == self.connector:
                return fields[2] if len(fields) > 2 else ""
        raise JasminError(f"connector {self.connector} not listed: {listing.strip()}")

    def wait_bound(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while (status := self.connector_status()) != "BOUND_TRX":
            if time.monotonic() > deadline:
                raise JasminError(f"the connector to the SMSC is {status} after {timeout} s: {self.log_tail()}")
            time.sleep(0.1)

    def stop(self, keep_logs: bool = False) -> None:
        """Terminate jasmind (its whole process group: no orphan), drop the vhost, remove the files."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
            self._process = None
        if self.own_vhost:
            _rabbitmq_vhost("delete", self.vhost)
            self.own_vhost = False
        if self.directory is not None and not keep_logs:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, size: int = 3000) -> str:
        """The end of jasmind's output and of its connector log, for failure messages."""
        parts = []
        for name in ("jasmind.log", "logs/connector.log", "logs/messages.log"):
            path = self.directory / name if self.directory else None
            if path and path.exists():
                parts.append(f"[{name}] " + path.read_text(errors="replace")[-size:])
        return "\n".join(parts) or "(no log)"


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, even by SIGKILL (Linux prctl), so a killed
    pytest never leaves a jasmind behind holding ports and queues."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _rabbitmq_vhost(action: str, vhost: str) -> bool:
    """`rabbitmqctl add_vhost` (with guest's permissions) or `delete_vhost`; False if not possible.

    Without it Jasmin shares "/" with others; the per-run user and connector names keep stale
    queues of earlier runs from reaching this run (see JasminGateway.__init__).
    """
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return False
    commands = [[ctl, f"{action}_vhost", vhost]]
    if action == "add":
        commands.append([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"])
    for command in commands:
        try:
            done = subprocess.run(command, capture_output=True, timeout=30)  # noqa: S603 (fixed arguments)
        except (OSError, subprocess.TimeoutExpired):
            return False
        if done.returncode != 0:
            return False
    return True


@contextlib.contextmanager
def jasmin_pair(timeout: float = 30.0):
    """(gateway, simulator): an SMSC simulator and a Jasmin bound to it; both stopped on exit."""
    reason = missing_reason()
    if reason:
        raise JasminError(reason)
    simulator = SmscSimulator().start()
    gateway = JasminGateway()
    try:
        gateway.start(simulator.host, simulator.port, timeout=timeout)
        gateway.simulator = simulator
        gateway.simulator_defaults = simulator.behaviour()
        yield gateway, simulator
    finally:
        gateway.stop()
        simulator.stop()


@pytest.fixture(scope="session")
def jasmin():
    """A Jasmin relaying to an SMSC simulator of its own (`jasmin.simulator`), once per session.

    Not the function-scoped `smsc` fixture: its reset closes every connection, Jasmin's too.
    """
    reason = missing_reason()
    _needs("Jasmin", reason is None, reason or "")
    try:
        pair = jasmin_pair()
        gateway, _simulator = pair.__enter__()
    except (JasminError, SmscError, OSError) as error:
        _needs("Jasmin", False, f"it did not come up: {error}")
    yield gateway
    pair.__exit__(None, None, None)


def _needs(service: str, available: bool, why: str) -> None:
    if available:
        return
    try:
        from conftest import needs
    except ImportError:  # outside this repository's pytest run
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{service} is mandatory with CI=true: {why}")
        pytest.skip(f"{service} unavailable: {why}")
    needs(service, available, why)
