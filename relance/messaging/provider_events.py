"""What a provider with its own connection (SMPP) hands back: receipts and messages from people.

The provider calls these from its own thread and acknowledges to the SMSC only once they return, so
an acknowledged receipt is recorded and an acknowledged STOP is in effect (R-33). An exception makes
the provider answer "try again later" instead of acknowledging.
"""

from __future__ import annotations

from django.db import close_old_connections, connections

from relance.providers.base import Inbound, Listener, Receipt

from . import inbound as inbound_replies
from .receipts import apply_receipts


class WorkerListener(Listener):
    """Runs on the provider's own thread, whose database connections nobody else would close: each
    call closes them when done (receipts come in drained batches, so this is one connect per batch)."""

    def receipts(self, provider: str, receipts: list[Receipt]) -> None:
        close_old_connections()
        try:
            apply_receipts(provider, receipts)
        finally:
            connections.close_all()

    def inbound(self, provider: str, message: Inbound) -> None:
        close_old_connections()
        try:
            inbound_replies.receive(message, provider=provider)
        finally:
            connections.close_all()
