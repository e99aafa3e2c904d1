"""The null provider: accepts everything and does nothing (dispatch benchmarks measure our side only)."""

from __future__ import annotations

import itertools

from .base import Outgoing, Provider, Result

_counter = itertools.count(1)


class NullProvider(Provider):
    name = "null"

    def send(self, batch: list[Outgoing]) -> list[Result]:
        return [Result.sent(item.ref, f"null-{next(_counter)}") for item in batch]
