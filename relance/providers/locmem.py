"""The in-memory provider for tests: keeps what it was given in `outbox`, and can be told to fail.

`LocmemProvider.outbox` is shared by every instance of the process (like django.core.mail.outbox);
tests clear it with `reset()`. `fail_next(n, permanent=…)` makes the next n messages fail, and
`raise_next(error)` makes the next send() raise for the whole batch.
"""

from __future__ import annotations

import itertools
import threading

from .base import Outgoing, Provider, ProviderError, Result

_lock = threading.Lock()
_counter = itertools.count(1)


class LocmemProvider(Provider):
    name = "locmem"
    outbox: list[Outgoing] = []
    _failures: list[tuple[bool, str]] = []
    _raise: list[ProviderError] = []
    _to_fail: set[str] = set()

    def __init__(self, channel: str = "sms"):
        self.channel = channel

    @classmethod
    def reset(cls) -> None:
        with _lock:
            cls.outbox.clear()
            cls._failures.clear()
            cls._raise.clear()
            cls._to_fail.clear()

    @classmethod
    def fail_next(cls, count: int = 1, *, permanent: bool = False, error: str = "") -> None:
        with _lock:
            cls._failures.extend([(permanent, error or ("rejected" if permanent else "busy"))] * count)

    @classmethod
    def fail_for(cls, address: str) -> None:
        """Every message to this number or address fails permanently (an unallocated number)."""
        with _lock:
            cls._to_fail.add(address)

    @classmethod
    def raise_next(cls, error: ProviderError) -> None:
        with _lock:
            cls._raise.append(error)

    def send(self, batch: list[Outgoing]) -> list[Result]:
        with _lock:
            if self._raise:
                raise self._raise.pop(0)
            return [self._one(item) for item in batch]

    def _one(self, item: Outgoing) -> Result:
        if item.to in self._to_fail:
            return Result.failed(item.ref, "unknown_subscriber")
        if self._failures:
            permanent, error = self._failures.pop(0)
            return Result.failed(item.ref, error) if permanent else Result.retry(item.ref, error)
        self.outbox.append(item)
        return Result.sent(item.ref, f"locmem-{next(_counter)}")

    @classmethod
    def sent_to(cls, address: str) -> list[Outgoing]:
        with _lock:
            return [item for item in cls.outbox if item.to == address]
