"""What the contacts app holds about a person, for access and portability exports (R-42) and consent
receipts. Erasure is issue 6's (privacy).

`export()` does not write an audit event itself: its callers (a rights-request export, a receipt)
record the export as one event of their own (R-65).
"""

from __future__ import annotations

from .models import Contact
from .validation import PERSONAL_FIELDS


def export(contact: Contact) -> dict:
    """Every field of the contact about the person, in clear, JSON-ready."""
    erased = contact.status == Contact.Status.ERASED
    data = {name: None if erased else getattr(contact, name) for name in PERSONAL_FIELDS}
    data["minor"] = None if data["minor"] is None else data["minor"] == "yes"
    return {
        "id": str(contact.pk),
        **data,
        "language": contact.language,
        "site": contact.site_id,
        "guardian": str(contact.guardian_id) if contact.guardian_id else None,
        "guardian_relation": contact.guardian_relation or None,
        "guardian_of": [str(pk) for pk in Contact.objects.for_org(contact.organisation_id)
                        .filter(guardian_id=contact.pk).order_by("created_at", "pk").values_list("pk", flat=True)],
        "status": contact.status,
        "status_changed_at": _iso(contact.status_changed_at),
        "number_valid": contact.number_valid,
        "permanent_delivery_failures": contact.permanent_failures,
        "email_valid": contact.email_valid,
        "source": contact.source,
        "import_batch": str(contact.import_batch_id) if contact.import_batch_id else None,
        "created_at": _iso(contact.created_at),
        "updated_at": _iso(contact.updated_at),
        "last_activity_at": _iso(contact.last_activity_at),
    }


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None
