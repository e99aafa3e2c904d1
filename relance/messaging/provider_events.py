"""What a provider with its own connection (SMPP) hands back: receipts and messages from people.

The provider calls these from its own thread and acknowledges to the SMSC only once they return, so
an acknowledged receipt is recorded and an acknowledged STOP is in effect (R-33). An exception makes
the provider answer "try again later" instead of acknowledging.
"""

from __future__ import annotations

from django.db import close_old_connections

from relance.providers.base import Inbound, Listener, Receipt

from . import inbound as inbound_replies
from .receipts import apply_receipt


class WorkerListener(Listener):
    def receipts(self, provider: str, receipts: list[Receipt]) -> None:
        close_old_connections()  # this runs on the provider's thread: drop a connection the database closed
        for receipt in receipts:
            apply_receipt(provider, receipt)

    def inbound(self, provider: str, message: Inbound) -> None:
        close_old_connections()
        inbound_replies.receive(message, provider=provider)
