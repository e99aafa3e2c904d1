"""Access and portability exports (R-42, issue 6): create one for a contact, list them, read one as
JSON (portability), HTML or PDF (a readable document in the person's language).

Scope `exports:read` for all: an export IS the person's data. Creating and every read are audit
events (R-65); the POST answers with the export's metadata only, so that idempotency records hold
no personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from relance.contacts.models import Contact
from relance.keystore.services import KeyDestroyed
from relance.privacy import exports
from relance.privacy.models import AccessExport, RightsRequest

from ..auth import actor, needs
from ..errors import ApiError
from ..schemas import PageOut, PageParams, Strict, page
from .purposes import needs_owned

router = Router(tags=["exports"])

SCOPE = "exports:read"
Language = Literal["fr", "en"]


def _contacts(org):
    return Contact.objects.for_org(org)


def _exports(org):
    return AccessExport.objects.for_org(org)


class ExportIn(Strict):
    language: Language | None = Field(None, description="fr or en; the person's language by default")
    request_id: UUID | None = Field(None, description="The rights request (access or portability) this answers")


class ExportOut(Schema):
    id: UUID
    contact_id: UUID
    request_id: UUID | None
    language: str
    sha256: str = Field(..., description="SHA-256 of the JSON document, to prove what was handed over")
    items: int = Field(..., description="Messages, replies, consent events, events, requests and notices given")
    created_at: datetime
    created_by_kind: str


class ExportPage(PageOut):
    items: list[ExportOut]


class ExportFilters(Schema):
    contact_id: UUID | None = None


class RenderParams(Schema):
    language: Language | None = Field(None, description="fr or en; the export's language by default")


DOCUMENT_RESPONSES = {
    "html": {"200": {"description": "A standalone HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}},
    "pdf": {"200": {"description": "An A4 PDF document",
                    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}},
}


def _owned_for(rendering: str | None = None) -> dict:
    options = needs_owned(SCOPE, "export_id", _exports)
    if rendering:
        options["openapi_extra"] = {**options["openapi_extra"], "responses": DOCUMENT_RESPONSES[rendering]}
    return options


def _request(org, request_id: UUID | None) -> RightsRequest | None:
    if request_id is None:
        return None
    found = RightsRequest.objects.for_org(org).filter(pk=request_id).first()
    if found is None:
        raise ValidationError({"request_id": [_("Unknown in your organisation.")]})
    return found


def _document(request, export_id: UUID) -> tuple[AccessExport, dict]:
    export = _exports(request.organisation).get(pk=export_id)
    try:
        return export, exports.read_export(export, actor=actor(request))
    except KeyDestroyed:
        raise ApiError(_("This person's data was erased: the export can no longer be read."), code="export_erased",
                       status=410) from None


@router.post("/contacts/{uuid:contact_id}/exports", response={201: ExportOut},
             **needs_owned(SCOPE, "contact_id", _contacts))
def create_access_export(request, contact_id: UUID, payload: ExportIn):
    """Build the contact's access export (R-42): every field, every message with its text, replies,
    consent history, events, requests, purposes, the providers that carried the messages, retention,
    rights and how to complain. Kept sealed with the person's key; read it with GET /exports/{id}."""
    org = request.organisation
    contact = _contacts(org).get(pk=contact_id)
    export = exports.create_export(contact, actor=actor(request), request=_request(org, payload.request_id),
                                   language=payload.language)
    return Status(201, export)


@router.get("/exports", response=ExportPage, **needs(SCOPE))
def list_access_exports(request, filters: Query[ExportFilters], params: Query[PageParams]):
    """The organisation's exports, newest first (metadata only)."""
    rows = _exports(request.organisation)
    if filters.contact_id is not None:
        rows = rows.filter(contact_id=filters.contact_id)
    return page(rows.order_by("-created_at", "id"), params)


@router.get("/exports/{uuid:export_id}", response=dict, **_owned_for())
def get_access_export(request, export_id: UUID):
    """The export's JSON document (machine-readable, for portability, Art. 20): an audited read."""
    return _document(request, export_id)[1]


@router.get("/exports/{uuid:export_id}/html", response=dict, **_owned_for("html"))
def get_access_export_html(request, export_id: UUID, params: Query[RenderParams]):
    """The export as a readable HTML page, in the export's language unless `language` says otherwise."""
    export, document = _document(request, export_id)
    return HttpResponse(exports.render_html(document, params.language or export.language),
                        content_type="text/html; charset=utf-8")


@router.get("/exports/{uuid:export_id}/pdf", response=dict, **_owned_for("pdf"))
def get_access_export_pdf(request, export_id: UUID, params: Query[RenderParams]):
    """The export as an A4 PDF, in the export's language unless `language` says otherwise."""
    export, document = _document(request, export_id)
    language = params.language or export.language
    response = HttpResponse(exports.render_pdf(document, language), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="access-export-{export.pk}-{language}.pdf"'
    return response
