"""The fault-injection harness: due SMS through an SMPP account bound to the SMSC simulator, sent by
`relance worker` child processes, and the accounting of what the SMSC received per message.

- `populate()` creates an organisation (bench world: informed contacts with distinct numbers, one
  short GSM-7 template), an SMPP provider account bound to the simulator and N due messages (some
  with a short validity, R-23); it answers a `Plan`: message id → destination digits as the SMSC
  sees them. It runs in this process (the test database) or in a child (`python -m
  tests.reliability.fleet populate …`, for a private PostgreSQL cluster).
- `Fleet` runs `relance worker` children on a database (`child_env()`: the test database), with a
  short lease and idle time, each child's output appended to a log file under var/test/reliability;
  `kill9()` is SIGKILL, `restart()` a new child in the same slot.
- `account()` reads every message's status and timeline (plain SQL: the same code reads the test
  database through Django or a private cluster through psycopg) and the simulator's tally, and
  counts what the delivery promises are about (docs/delivery.md): not final, lost, duplicated,
  duplicates marked for reconciliation, expired messages submitted late.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BODY = "Rappel : votre rendez-vous approche."  # one GSM-7 part with the STOP mention
FINAL = ("delivered", "failed", "suppressed", "expired", "cancelled")
# The worker's settings in the children: a claim abandoned by a killed worker is taken back after
# LEASE seconds; retries come back after about a second (RELANCE_RETRY_BASE_SECONDS); an account's
# circuit, opened by an outage, lets a probe through after a few seconds.
CHILD_SETTINGS = {
    "RELANCE_WORKER_LEASE_SECONDS": "3",
    "RELANCE_WORKER_IDLE_SECONDS": "1",
    "RELANCE_RETRY_BASE_SECONDS": "1",
    "RELANCE_CIRCUIT_OPEN_SECONDS": "3",
    "RELANCE_SMS_PROVIDER": "accounts",  # the SMPP account or nothing: never a silent fallback
    "RELANCE_DEMO": "false",
    "DEBUG": "false",
    "PYTHONUNBUFFERED": "1",
}
ACCOUNT_OPTIONS = {"window": 32, "submit_timeout_seconds": 5, "reconnect_max_seconds": 2, "bind_timeout_seconds": 3,
                   "enquire_link_seconds": 5}


def log_dir() -> Path:
    base = Path(os.environ.get("RELANCE_VAR_DIR") or ROOT / "var" / "test")
    path = base / "reliability"
    path.mkdir(parents=True, exist_ok=True)
    return path


def digits(n: int) -> str:
    """The n-th contact's number as the SMSC sees destination_addr (bench world: +336 10 000 000 + n)."""
    return f"336{10_000_000 + n:08d}"


# --- the organisation, its SMPP account and its due messages -----------------------------------------
@dataclass
class Plan:
    organisation_id: int
    numbers: dict[str, str]  # message id → destination digits
    valid_until: dict[str, str] = field(default_factory=dict)  # message id → ISO time, the short-lived ones

    def to_json(self) -> str:
        return json.dumps({"organisation_id": self.organisation_id, "numbers": self.numbers,
                           "valid_until": self.valid_until})

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        return cls(data["organisation_id"], data["numbers"], data.get("valid_until", {}))


def populate(count: int, host: str, port: int, *, expiring: int = 0, expire_in: float = 0.0,
             options: dict | None = None) -> Plan:
    """`count` due SMS of a new organisation, to `count` distinct numbers, through one SMPP account
    bound to host:port; the first `expiring` of them valid for `expire_in` seconds only (R-23)."""
    from django.db import transaction
    from django.utils import timezone

    from relance.bench import world
    from relance.messaging import outbox
    from relance.messaging.models import Template
    from relance.providers import services
    from relance.testing import SYSTEM

    org = world.create_org(f"chaos-{uuid.uuid4().hex[:8]}")
    purpose = world.create_purpose(org)
    template = Template.objects.create(organisation=org, purpose=purpose, code="rappel", channel="sms", language="fr",
                                       body=BODY)
    batch_id = uuid.uuid4()
    world.inform_batch(purpose, batch_id)
    people = world.create_contacts(org, count, batch_id, progress=lambda text: None)
    services.create_account(org, name="smsc", kind="smpp", actor=SYSTEM, options={**ACCOUNT_OPTIONS, **(options or {})},
                            credentials={"host": host, "port": port, "system_id": "relance", "password": "secret"})
    now = timezone.now()
    plan = Plan(org.pk, {})
    for start in range(0, count, world.CHUNK):
        with transaction.atomic():
            built = world.due_messages(purpose, template, people[start:start + world.CHUNK], first=start)
            for n, message in enumerate(built, start):
                if n < expiring:
                    message.valid_until = now + timedelta(seconds=expire_in)
                    plan.valid_until[str(message.pk)] = message.valid_until.isoformat()
                plan.numbers[str(message.pk)] = digits(n)
            outbox.enqueue_many(built, decided=True)
    return plan


def populate_in_child(env: dict, count: int, host: str, port: int, **kwargs) -> Plan:
    """`populate()` in a child process on the databases of `env` (a private cluster)."""
    command = [sys.executable, "-m", "tests.reliability.fleet", "populate", json.dumps(
        {"count": count, "host": host, "port": port, **kwargs})]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    if done.returncode:
        raise RuntimeError(f"populate failed ({done.returncode}): {done.stderr[-3000:]}")
    return Plan.from_json(done.stdout.strip().splitlines()[-1])


# --- the workers ------------------------------------------------------------------------------
def child_env(**overrides: str) -> dict:
    """The environment of a child on this process's (test) databases, with the chaos settings."""
    from relance.bench.http import child_env as databases

    return {**databases(), **CHILD_SETTINGS, **overrides}


class Fleet:
    """`relance worker` children; their stdout and stderr appended to `log`."""

    def __init__(self, env: dict, log: Path, *, batch: int):
        self.env, self.log, self.batch = env, log, batch
        self.children: list[subprocess.Popen | None] = []
        self.started = 0
        self.kills = 0
        log.write_text("")

    def spawn(self) -> subprocess.Popen:
        self.started += 1
        command = [sys.executable, "-m", "relance.cli", "worker", "--batch", str(self.batch),
                   "--name", f"chaos-{self.started}"]
        with self.log.open("ab") as out:
            return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT)  # noqa: S603

    def start(self, count: int) -> Fleet:
        self.children = [self.spawn() for _ in range(count)]
        return self

    def kill9(self, slot: int) -> int:
        """SIGKILL the worker in `slot` (no clean-up of any kind); its pid."""
        child = self.children[slot]
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        self.kills += 1
        self.children[slot] = None
        return child.pid

    def restart(self, slot: int) -> None:
        self.children[slot] = self.spawn()

    def alive(self) -> list[int]:
        return [slot for slot, child in enumerate(self.children) if child is not None and child.poll() is None]

    def stop(self) -> None:
        """SIGTERM every child (the current batch finishes), SIGKILL one that does not stop."""
        for child in self.children:
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            if child is None:
                continue
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def errors(self, limit: int = 20) -> list[str]:
        """The last error lines of the children's log (for a failure's message)."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line[:400] for line in lines if '"ERROR"' in line or "Traceback" in line][-limit:]


# --- reading the outcome --------------------------------------------------------------------------
def django_cursor():
    from django.db import connection

    return connection.cursor()


def psycopg_cursor(url: str):
    """A cursor on a database by URL (the private cluster), autocommit, closed with its connection."""
    import contextlib

    import psycopg

    @contextlib.contextmanager
    def cursor():
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn, conn.cursor() as cur:
            yield cur

    return cursor


def _tables() -> tuple[str, str]:
    from relance.messaging.models import Message, MessageEvent

    return Message._meta.db_table, MessageEvent._meta.db_table


def statuses(cursor_factory, organisation_id: int) -> Counter:
    message, _ = _tables()
    with cursor_factory() as cursor:
        cursor.execute(f"SELECT status, count(*) FROM {message} WHERE organisation_id = %s GROUP BY status",  # noqa: S608
                       [organisation_id])
        return Counter(dict(cursor.fetchall()))


def wait_final(cursor_factory, plan: Plan, timeout: float, *, during=None, interval: float = 0.5,
               history: list | None = None) -> Counter:
    """Poll until every message is final or `timeout`; `during()` is called at each poll (faults).
    Database errors while polling (a restarting cluster) are waited out. `history` gets one
    [seconds, {status: n}] about every second."""
    started = time.monotonic()
    deadline = started + timeout
    current: Counter = Counter()
    sampled = -1.0
    while True:
        if during is not None:
            during()
        try:
            current = statuses(cursor_factory, plan.organisation_id)
        except Exception:  # noqa: BLE001 (the database may be restarting: poll again)
            current = Counter({"unreadable": len(plan.numbers)})
        if history is not None and time.monotonic() - sampled >= 1.0:
            sampled = time.monotonic()
            history.append([round(sampled - started, 1), dict(current)])
        if sum(n for status, n in current.items() if status in FINAL) >= len(plan.numbers):
            return current
        if time.monotonic() > deadline:
            return current
        time.sleep(interval)


def shorten_validity(cursor_factory, plan: Plan, every: int, seconds: float) -> int:
    """Every `every`-th message still scheduled becomes valid for `seconds` more only (R-23): its
    validity passes during the fault that follows. Rows a worker holds are left alone (the
    UPDATE sees them claimed). Records the new limits in `plan.valid_until`; answers how many."""
    message, _ = _tables()
    chosen = [pk for n, pk in enumerate(plan.numbers) if n % every == 0]
    with cursor_factory() as cursor:
        cursor.execute(f"UPDATE {message} SET valid_until = now() + make_interval(secs => %s) "  # noqa: S608
                       "WHERE id = ANY(%s::uuid[]) AND status = 'scheduled' RETURNING id, valid_until",
                       [seconds, chosen])
        for pk, until in cursor.fetchall():
            plan.valid_until[_uuid(pk)] = until.isoformat()
    return len(plan.valid_until)


def _uuid(value) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def _json(value) -> dict:
    if isinstance(value, (bytes, str)):
        value = json.loads(value)
    return value or {}


@dataclass
class Outcome:
    figures: dict
    not_final: list[str]
    lost: list[str]
    duplicated: list[str]
    unmarked: list[str]
    late: list[str]
    status_of: dict[str, str]
    plan_expiring: list[str]


def account(cursor_factory, plan: Plan, tally: dict, *, bound: int, late_slack: float = 2.0,
            last_submit: dict | None = None) -> Outcome:
    """Count, per message, what the SMSC received (tally["submits"][digits], a multipart message
    once per part) against its final status and its timeline.

    - not final: status outside FINAL;
    - lost: delivered/sent but never received, or neither final nor received;
    - duplicated: received more than once; marked when its timeline has `requeued` or `retry` with
      detail reconcile=true (docs/delivery.md); `bound` is the most duplicates the failures allow;
    - late (R-23): an expiring message whose last submit came after valid_until + `late_slack`
      seconds (the decision is taken when the batch is claimed, the submit follows within the batch),
      using the simulator's per-destination time of the last submit when given; else an expired
      message the SMSC received at all.
    """
    message, event = _tables()
    with cursor_factory() as cursor:
        cursor.execute(f"SELECT id, status, segments FROM {message} WHERE organisation_id = %s",  # noqa: S608
                       [plan.organisation_id])
        rows = {_uuid(pk): (status, segments or 1) for pk, status, segments in cursor.fetchall()}
        cursor.execute(f"SELECT message_id, detail FROM {event} WHERE organisation_id = %s "  # noqa: S608
                       "AND kind IN ('requeued', 'retry')", [plan.organisation_id])
        marked = {_uuid(pk) for pk, detail in cursor.fetchall() if _json(detail).get("reconcile") is True}
    submits = tally.get("submits", {})
    copies: dict[str, int] = {}
    not_final, lost, duplicated, unmarked, late = [], [], [], [], []
    for pk, number in plan.numbers.items():
        status, segments = rows.get(pk, ("missing", 1))
        received = -(-submits.get(number, 0) // segments)  # whole messages: parts rounded up
        copies[pk] = received
        if status not in FINAL:
            not_final.append(pk)
        if (status in ("delivered", "sent") or status not in FINAL) and received == 0:
            lost.append(pk)
        if received > 1:
            duplicated.append(pk)
            if pk not in marked:
                unmarked.append(pk)
    for pk, until in plan.valid_until.items():
        number = plan.numbers[pk]
        if last_submit is not None and number in last_submit:
            limit = datetime.fromisoformat(until).timestamp() + late_slack
            if last_submit[number] / 1000 > limit:
                late.append(pk)
        elif last_submit is None and rows.get(pk, ("",))[0] == "expired" and copies[pk]:
            late.append(pk)
    by_status = Counter(status for status, _ in rows.values())
    histogram = Counter(copies.values())
    figures = {
        "messages": len(plan.numbers), "not_final": len(not_final), "lost": len(lost),
        "duplicated": len(duplicated), "duplicates_marked": len(duplicated) - len(unmarked),
        "duplicates_unmarked": len(unmarked), "duplicate_bound": bound, "marked_for_reconciliation": len(marked),
        "submit_sm": sum(submits.get(n, 0) for n in plan.numbers.values()),
        "statuses": dict(by_status), "copies_histogram": {str(k): v for k, v in sorted(histogram.items())},
        "expiring": len(plan.valid_until), "expired": sum(1 for pk in plan.valid_until if rows.get(pk, ("",))[0] == "expired"),
        "submitted_late": len(late),
    }
    status_of = {pk: rows.get(pk, ("missing",))[0] for pk in plan.numbers}
    return Outcome(figures, not_final, lost, duplicated, unmarked, late, status_of, list(plan.valid_until))


def check(outcome: Outcome, *, require: str | None = "delivered") -> list[str]:
    """What broke the promises, in words (empty: they held). `require`: the status every message
    that is not an expiring one must end in (delivered with receipts on)."""
    problems = []
    figures = outcome.figures
    if outcome.not_final:
        problems.append(f"{len(outcome.not_final)} messages not final: {outcome.not_final[:5]}")
    if outcome.lost:
        problems.append(f"{len(outcome.lost)} messages lost: {outcome.lost[:5]}")
    if outcome.unmarked:
        problems.append(f"{len(outcome.unmarked)} duplicates not marked for reconciliation: {outcome.unmarked[:5]}")
    if figures["duplicated"] > figures["duplicate_bound"]:
        problems.append(f"{figures['duplicated']} duplicates exceed the bound {figures['duplicate_bound']}")
    if outcome.late:
        problems.append(f"{len(outcome.late)} expired messages submitted after their validity: {outcome.late[:5]}")
    if require:
        # The short-lived ones may end expired or delivered (sent before their limit).
        expiring = set(outcome.plan_expiring)
        others = [pk for pk, status in outcome.status_of.items() if pk not in expiring and status != require]
        if others:
            problems.append(f"{len(others)} messages not {require}: {figures['statuses']}")
        odd = [pk for pk in expiring if outcome.status_of[pk] not in (require, "expired")]
        if odd:
            problems.append(f"{len(odd)} short-lived messages neither {require} nor expired: {odd[:5]}")
    return problems


# --- the child's entry point: populate a database given by the environment --------------------------
def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "populate":
        print("usage: python -m tests.reliability.fleet populate '{\"count\": N, \"host\": H, \"port\": P}'")
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    import django

    django.setup()
    arguments = json.loads(argv[1])
    plan = populate(arguments.pop("count"), arguments.pop("host"), arguments.pop("port"), **arguments)
    print(plan.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
