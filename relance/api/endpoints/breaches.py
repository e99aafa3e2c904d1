"""API of privacy operations: breaches (issue 6)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["breaches"])
