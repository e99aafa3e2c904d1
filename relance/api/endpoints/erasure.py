"""Erasure (R-43): crypto-shredding of one contact, through the API."""

from __future__ import annotations

from uuid import UUID

from ninja import Field, Router, Schema

from relance.privacy import erasure

from ..auth import actor, needs
from ..errors import ApiError
from .contacts import owned_contact

router = Router(tags=["erasure"])


class ErasureOut(Schema):
    contact: UUID
    status: str = Field(..., description="always 'erased'")
    counts: dict[str, int] = Field(..., description="rows acted on per holding (privacy/personal_data.py)")


class AlreadyErased(ApiError):
    status, code = 409, "already_erased"


@router.post("/contacts/{uuid:contact_id}/erase", response=ErasureOut, **needs("erasure:write"))
def erase_contact(request, contact_id: UUID):
    """Erase the contact now (R-43): its data key is destroyed, its messages, replies, events and
    consent states are deleted, and it stays as a tombstone (status `erased`) so that the consent
    ledger keeps its proofs. The number's keyed hash stays on the suppression list (R-31), and the
    `contact.erased` webhook tells your connected systems. Cannot be undone. 409 when already erased."""
    contact = owned_contact(request, contact_id)
    try:
        counts = erasure.erase_contact(contact, actor=actor(request), reason="request")
    except erasure.AlreadyErased as exc:
        raise AlreadyErased(exc.message) from None
    return {"contact": contact.pk, "status": "erased", "counts": counts}
