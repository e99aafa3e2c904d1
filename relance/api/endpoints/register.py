"""API of privacy operations: register (issue 6)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["register"])
