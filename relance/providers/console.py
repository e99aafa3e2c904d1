"""The console provider of the embedded default (`make run`): prints each SMS instead of sending it.

For development and the demo only (production refuses it, see settings). The number is masked; the
text is shown because showing it is the point of the demo. Receipts are simulated by the worker
through the same receipt path a real provider uses (`simulated_receipts`).
"""

from __future__ import annotations

import itertools
import sys
import threading

from .base import Outgoing, Provider, Result

_counter = itertools.count(1)
_lock = threading.Lock()


def mask(address: str) -> str:
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}…@{domain}"
    return address[:4] + "…" + address[-2:] if len(address) > 6 else "…"


class ConsoleProvider(Provider):
    name = "console"
    simulated_receipts = True

    def __init__(self, channel: str = "sms", stream=None):
        self.channel = channel
        self.stream = stream

    def send(self, batch: list[Outgoing]) -> list[Result]:
        out = self.stream or sys.stdout
        results = []
        with _lock:
            for item in batch:
                ref = f"console-{next(_counter)}"
                head = f"[{item.channel.upper()} {ref}] to {mask(item.to)} from {item.sender or '-'}"
                if item.channel == "sms":
                    head += f" ({item.segments} part(s), {item.encoding})"
                out.write(f"{head}\n    {item.body.replace(chr(10), chr(10) + '    ')}\n")
                results.append(Result.sent(item.ref, ref))
            out.flush()
        return results
