"""`relance bench smpp` (SPEC §7): submit_sm per second through ONE bind of our SMPP client, with
delivery receipts flowing back on the same bind, to the local SMSC simulator (tests/smsc) and then
through Jasmin 0.11.1 relaying to a simulator (relance/providers/testing/jasmin.py), in one run.

Scope "provider+bind": SmppProvider.send() in batches, as the worker calls it, but no database and
no worker (the dispatch bench measures those). Messages retried (throttling) are sent again in the
next batch, so every message ends accepted or failed; receipts are counted by a Listener.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from relance.providers.base import Listener, Outgoing, Result
from relance.providers.kinds import AccountConfig
from relance.providers.smpp import SmppProvider

TEXT = "Rappel : RDV demain à 9h30 au cabinet. Répondez STOP pour ne plus recevoir de rappels."  # GSM-7, 1 part
MAX_ROUNDS = 50  # resends of throttled messages before the bench gives up on them


class CountingListener(Listener):
    """Counts receipts; `done` is set once `expected` have arrived."""

    def __init__(self, expected: int):
        self.expected = expected
        self.count = 0
        self.statuses: Counter = Counter()
        self.last_at = 0.0
        self.done = threading.Event()
        self._lock = threading.Lock()

    def receipts(self, provider: str, receipts: list) -> None:
        with self._lock:
            self.count += len(receipts)
            self.statuses.update(receipt.status for receipt in receipts)
            self.last_at = time.perf_counter()
            if self.count >= self.expected:
                self.done.set()


def messages(count: int, prefix: str) -> list[Outgoing]:
    return [Outgoing(ref=f"{prefix}{i}", channel="sms", to=f"+3361{i % 100_000_000:08d}", body=TEXT, sender="Relance")
            for i in range(count)]


def measure(host: str, port: int, system_id: str, password: str, *, count: int, batch: int, window: int,
            receipt_timeout: float, progress: Callable[[str], None]) -> dict:
    """Send `count` messages through one bind and wait for their receipts."""
    listener = CountingListener(count)
    config = AccountConfig(id=None, label="smpp:bench", kind="smpp", channel="sms",
                           credentials={"host": host, "port": port, "system_id": system_id, "password": password},
                           options={"window": window, "submit_timeout_seconds": 30})
    provider = SmppProvider(config)
    provider.listener = listener
    provider.open()
    try:
        outcome = _send_all(provider, messages(count, "b"), batch, progress)
        started = outcome.pop("started")
        sent_at = time.perf_counter()
        listener.done.wait(receipt_timeout)
        stats = dict(provider.client.stats)
    finally:
        provider.close()
    seconds = sent_at - started
    receipts_seconds = (listener.last_at or sent_at) - started
    return {
        "messages": count, "batch": batch, "window": window, **outcome,
        "submit_sm": stats["submitted"], "seconds": round(seconds, 3),
        "submit_sm_per_second": round(stats["submitted"] / seconds, 1) if seconds else None,
        "accepted_per_second": round(outcome["results"].get("sent", 0) / seconds, 1) if seconds else None,
        "receipts": listener.count, "receipt_statuses": dict(listener.statuses),
        "all_receipts_arrived": listener.count >= outcome["results"].get("sent", 0),
        "receipts_per_second": round(listener.count / receipts_seconds, 1) if receipts_seconds > 0 else None,
        "client": stats,
    }


def _send_all(provider: SmppProvider, outgoing: list[Outgoing], batch: int, progress) -> dict:
    """Send in batches; what comes back RETRY is sent again in a later round."""
    final: Counter = Counter()
    retries: Counter = Counter()
    started = time.perf_counter()
    waiting, rounds = outgoing, 0
    while waiting and rounds < MAX_ROUNDS:
        again = []
        for start in range(0, len(waiting), batch):
            part = waiting[start:start + batch]
            for message, result in zip(part, provider.send(part), strict=True):
                if result.status == Result.RETRY:
                    retries[result.error] += 1
                    again.append(message)
                else:
                    final[result.status] += 1
        rounds += 1
        if again:
            progress(f"{len(again)} retried ({dict(retries)}), round {rounds + 1}")
            time.sleep(0.05)
        waiting = again
    final.update({Result.RETRY: len(waiting)})
    return {"started": started, "results": {k: v for k, v in final.items() if v}, "retries": dict(retries),
            "rounds": rounds}


def simulator_run(count: int, batch: int, window: int, progress) -> dict:
    from relance.providers.testing.smsc import SmscSimulator

    simulator = SmscSimulator().start()
    try:
        progress(f"simulator on port {simulator.port}: {count} messages, batches of {batch}, window {window}")
        result = measure(simulator.host, simulator.port, "relance", "bench", count=count, batch=batch, window=window,
                         receipt_timeout=60, progress=progress)
        result["smsc_stats"] = {k: v for k, v in simulator.stats().items() if isinstance(v, int)}
        return result
    finally:
        simulator.stop()


def jasmin_run(count: int, batch: int, window: int, progress) -> dict | str:
    """The same through Jasmin; a string saying why when it cannot run here. Jasmin answers
    submit_sm before relaying, at its connector's pace: receipts/s is its end-to-end rate."""
    try:
        from relance.providers.testing.jasmin import JasminError, jasmin_pair, missing_reason
    except ImportError as error:
        return f"unavailable: relance.providers.testing.jasmin cannot be imported ({error})"
    reason = missing_reason()
    if reason:
        return f"unavailable: {reason}"
    try:
        with jasmin_pair() as (gateway, _simulator):
            progress(f"jasmin on port {gateway.port}: {count} messages")
            return measure(gateway.host, gateway.port, gateway.system_id, gateway.password, count=count,
                           batch=batch, window=window, receipt_timeout=60 + count / 10, progress=progress)
    except (JasminError, OSError) as error:
        return f"unavailable: {error}"


def run(count: int = 50_000, *, batch: int = 1000, window: int = 32, jasmin_count: int = 2000,
        progress: Callable[[str], None] = print) -> dict:
    result = {"benchmark": "smpp", "scope": "provider+bind", "target_submit_sm_per_second": 5000,
              "simulator": simulator_run(count, batch, window, progress)}
    result["jasmin"] = jasmin_run(jasmin_count, batch, window, progress) if jasmin_count else "unavailable: skipped"
    figure = result["simulator"]["submit_sm_per_second"] or 0
    result["target_met"] = figure >= 5000 and result["simulator"]["all_receipts_arrived"]
    return result


def summary(result: dict) -> str:
    sim = result["simulator"]
    lines = [f"simulator: {sim['submit_sm_per_second']} submit_sm/s ({sim['messages']} messages, window "
             f"{sim['window']}), receipts {sim['receipts']} ({sim['receipts_per_second']}/s), all arrived: "
             f"{sim['all_receipts_arrived']}"]
    jasmin = result["jasmin"]
    if isinstance(jasmin, dict):
        lines.append(f"jasmin: {jasmin['submit_sm_per_second']} submit_sm/s ({jasmin['messages']} messages, "
                     f"retries {jasmin['retries']}), receipts {jasmin['receipts']} ({jasmin['receipts_per_second']}/s)")
    else:
        lines.append(f"jasmin: {jasmin}")
    return "\n".join(lines)
