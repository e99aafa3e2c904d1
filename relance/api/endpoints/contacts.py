"""Contacts: create, read, change, look up, restrict, mark deceased, link a guardian.

Personal data (R-60, R-61, R-65):
- a contact's personal fields leave the API in `ContactOut` only, which is built from
  `contacts.read_personal_data()` (it writes `contact.read`) and refuses a model instance;
- writes answer with `ContactSummary`, which holds no personal data: a key with `contacts:write`
  alone cannot read anyone through a write, and idempotency records never hold personal data;
- lookups are POSTs, so phone numbers and e-mail addresses never sit in URLs or access logs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from ninja import Field, Router, Schema, Status
from pydantic import StringConstraints, model_validator

from relance.contacts import services as contacts
from relance.contacts.models import Contact

from ..auth import actor, needs
from ..errors import NotFound
from ..idempotency import replay_by_id
from ..schemas import Strict

router = Router(tags=["contacts"])

Text = Annotated[str, StringConstraints(max_length=300)]
PERSONAL = tuple(contacts.PERSONAL_FIELDS)


class ContactSummary(Schema):
    """A contact without its personal data (what writes answer)."""

    id: UUID
    language: str
    site_id: int | None
    guardian_id: UUID | None
    guardian_relation: str = Field(..., description="parent, legal_guardian, relative, proxy; empty without guardian")
    status: str = Field(..., description="active, restricted (R-44), deceased (R-45) or erased")
    status_changed_at: datetime | None
    number_valid: bool = Field(..., description="false after three permanent delivery failures, until rectified (R-29)")
    email_valid: bool
    source: str
    created_at: datetime
    updated_at: datetime


class ContactOut(ContactSummary):
    """A contact with its personal data; each one served is an audited read (R-65)."""

    first_name: str | None
    last_name: str | None
    phone: str | None = Field(..., description="E.164")
    email: str | None
    birth_date: str | None = Field(..., json_schema_extra={"format": "date"})
    minor: bool | None
    external_ref: str | None

    @model_validator(mode="before")
    @classmethod
    def _only_from_an_audited_read(cls, data: Any) -> Any:
        source = getattr(data, "_obj", data)  # ninja wraps the value in a DjangoGetter
        if not isinstance(source, dict):
            raise TypeError("ContactOut is built by contact_out(), from read_personal_data(), never from a model")
        return data


class LookupOut(Schema):
    items: list[ContactOut]


class ContactIn(Strict):
    """Every field is checked by the service; a 422 lists every invalid one at once."""

    first_name: Text | None = None
    last_name: Text | None = None
    phone: Text | None = Field(None, description="Any usual format; read with the organisation's country. "
                                                 "Must be able to receive SMS.", examples=["06 12 34 56 78"])
    email: Text | None = None
    birth_date: Text | None = Field(None, description="YYYY-MM-DD, not in the future", json_schema_extra={"format": "date"})
    minor: bool | None = Field(None, description="When the birth date is unknown: is the person under 18?")
    external_ref: Text | None = Field(None, description="Your software's id for this person; unique in the organisation")
    language: Text | None = Field(None, description="One of the organisation's languages; its first one by default")
    site_id: int | None = None
    guardian_id: Text | None = Field(None, description="An adult contact of the organisation (R-14)",
                                     json_schema_extra={"format": "uuid"})
    guardian_relation: Text = Field("", description="parent, legal_guardian, relative or proxy (with guardian_id)")


class ContactPatch(Strict):
    """Only the fields given are changed; null clears a field."""

    first_name: Text | None = None
    last_name: Text | None = None
    phone: Text | None = None
    email: Text | None = None
    birth_date: Text | None = Field(None, json_schema_extra={"format": "date"})
    minor: bool | None = None
    external_ref: Text | None = None
    language: Text | None = None
    site_id: int | None = None


class LookupIn(Strict):
    """Exactly one of the three. A phone number matches in any format; an e-mail in any case."""

    phone: Text | None = None
    email: Text | None = None
    external_ref: Text | None = None


class GuardianIn(Strict):
    """The whole guardian link: without `guardian_id` (or with null), the contact has no guardian."""

    guardian_id: Text | None = Field(None, description="An adult contact of the organisation (R-14)",
                                     json_schema_extra={"format": "uuid"})
    relation: Text = Field("", description="parent, legal_guardian, relative or proxy")


def _service_fields(values: dict) -> dict:
    """API names to service names (site_id → site, guardian_id → guardian)."""
    renamed = {"site_id": "site", "guardian_id": "guardian"}
    return {renamed.get(name, name): value for name, value in values.items()}


def contact_out(request, contact: Contact, purpose: str) -> dict:
    """THE way personal data reaches a response: through the audited read."""
    summary = ContactSummary.model_validate(contact).model_dump()
    return {**summary, **contacts.read_personal_data(contact, actor=actor(request), purpose=purpose)}


def owned_contact(request, contact_id: UUID) -> Contact:
    contact = contacts.get_contact(request.organisation, contact_id, actor=actor(request))
    if contact is None:
        raise NotFound()
    return contact


def _lookup_body(request, payload: LookupIn) -> dict:
    found = contacts.lookup(request.organisation, actor=actor(request), **payload.dict())
    return {"items": [contact_out(request, contact, "api.lookup") for contact in found]}


def _rerender_lookup(request, _resource_id: str):
    """An Idempotency-Key replay of a lookup runs it again (audited) rather than storing its answer."""
    from ..main import api

    body = _lookup_body(request, LookupIn.model_validate_json(request.body))
    return api.create_response(request, LookupOut.model_validate(body).model_dump(), status=200)


@router.post("/contacts", response={201: ContactSummary}, **needs("contacts:write"))
def create_contact(request, payload: ContactIn):
    """Create a contact. Several contacts may share a phone number or an e-mail address (families);
    `external_ref` is unique. The answer holds no personal data: read it with GET."""
    contact = contacts.create_contact(request.organisation, actor=actor(request), source=Contact.Source.API,
                                      **_service_fields(payload.dict()))
    return Status(201, contact)


@router.post("/contacts/lookup", response=LookupOut, **needs("contacts:read"))
@replay_by_id(_rerender_lookup)
def lookup_contacts(request, payload: LookupIn):
    """Find contacts by exact phone number, e-mail address or external reference (a POST, so that
    these values never appear in URLs or logs). At most 100 contacts, oldest first; every contact
    returned is an audited read."""
    return _lookup_body(request, payload)


@router.get("/contacts/{uuid:contact_id}", response=ContactOut, **needs("contacts:read"))
def get_contact(request, contact_id: UUID):
    """A contact with its personal data (an audited read, R-65)."""
    return contact_out(request, owned_contact(request, contact_id), "api.get")


@router.patch("/contacts/{uuid:contact_id}", response=ContactSummary, **needs("contacts:write"))
def update_contact(request, contact_id: UUID, payload: ContactPatch):
    """Change some fields. A new phone number is valid again for sending (R-29)."""
    contact = owned_contact(request, contact_id)
    changes = _service_fields(payload.dict(exclude_unset=True))
    if changes:
        contact = contacts.update_contact(contact, actor=actor(request), **changes)
    return contact


@router.post("/contacts/{uuid:contact_id}/restrict", response=ContactSummary, **needs("contacts:write"))
def restrict_contact(request, contact_id: UUID):
    """Restriction of processing (R-44): the contact receives nothing until it is lifted."""
    return contacts.restrict_contact(owned_contact(request, contact_id), actor=actor(request))


@router.post("/contacts/{uuid:contact_id}/lift-restriction", response=ContactSummary, **needs("contacts:write"))
def lift_contact_restriction(request, contact_id: UUID):
    return contacts.lift_restriction(owned_contact(request, contact_id), actor=actor(request))


@router.post("/contacts/{uuid:contact_id}/deceased", response=ContactSummary, **needs("contacts:write"))
def mark_contact_deceased(request, contact_id: UUID):
    """R-45: sending stops at once; the organisation's policy then erases the data."""
    return contacts.mark_deceased(owned_contact(request, contact_id), actor=actor(request))


@router.put("/contacts/{uuid:contact_id}/guardian", response=ContactSummary, **needs("contacts:write"))
def set_contact_guardian(request, contact_id: UUID, payload: GuardianIn):
    """Set the contact's guardian (an adult contact of the organisation, no circle), or remove it with null."""
    contact = owned_contact(request, contact_id)
    return contacts.link_guardian(contact, payload.guardian_id, payload.relation, actor=actor(request))
