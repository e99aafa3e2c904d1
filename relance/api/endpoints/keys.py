from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema

from ..auth import needs

router = Router(tags=["keys"])


class KeyOut(Schema):
    """The calling key; its secret is never stored, so it can never be shown again."""

    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None


@router.get("/keys/current", response=KeyOut, **needs())
def current_key(request):
    return request.auth
