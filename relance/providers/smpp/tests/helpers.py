"""Test helpers: a provider bound to a simulator, and a Listener that records what it was given."""

from __future__ import annotations

import threading
import time

from relance.providers.base import Inbound, Listener, Outgoing, Receipt
from relance.providers.kinds import AccountConfig
from relance.providers.smpp import SmppProvider


class RecordingListener(Listener):
    """Records receipts and MO; `hold` makes inbound() wait for `release`, `fail` makes it raise."""

    def __init__(self):
        self.receipts_got: list[Receipt] = []
        self.inbound_got: list[Inbound] = []
        self.calls = 0
        self.hold = False
        self.fail = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.returned = threading.Event()

    def receipts(self, provider: str, receipts: list[Receipt]) -> None:
        assert provider == "smpp:7"
        self.calls += 1
        self.receipts_got.extend(receipts)

    def inbound(self, provider: str, message: Inbound) -> None:
        assert provider == "smpp:7"
        self.entered.set()
        if self.hold:
            self.release.wait(10)
        if self.fail:
            raise RuntimeError("the database is away")
        self.inbound_got.append(message)
        self.returned.set()

    def receipt_for(self, provider_ref: str, timeout: float = 5.0) -> Receipt:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.receipts_got if r.provider_ref == provider_ref]
            if found:
                return found[0]
            time.sleep(0.01)
        raise AssertionError(f"no receipt for {provider_ref} within {timeout} s")


def config(host: str, port: int, *, password: str = "secret", **options) -> AccountConfig:
    credentials = {"host": host, "port": port, "system_id": "relance", "password": password}
    return AccountConfig(id=7, label="smpp:7", kind="smpp", channel="sms", credentials=credentials, options=options)


def bound(smsc, listener: Listener | None = None, **options) -> SmppProvider:
    provider = SmppProvider(config(smsc.host, smsc.port, **options))
    provider.listener = listener or RecordingListener()
    provider.open()
    return provider


def sms(ref: str, to: str = "+33612345678", body: str = "Rappel : RDV demain à 9h30", sender: str = "Clinique"):
    return Outgoing(ref=ref, channel="sms", to=to, body=body, sender=sender)


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.01)
