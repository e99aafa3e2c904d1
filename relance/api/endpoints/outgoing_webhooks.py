"""API of privacy operations: outgoing_webhooks (issue 6)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["webhooks"])
