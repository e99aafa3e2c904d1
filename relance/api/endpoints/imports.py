"""Contacts imports from CSV files (R-04, R-15, R-31): upload and check or import, then read the report.

The report names each bad row by its line in the file (the header is line 1), its column and a
reason (`code` for programs, `message` for people); it never repeats a value of the file (R-61).
A file that cannot be read at all (too large, binary, a CSV bomb, two columns for one field...)
answers 422 with a code saying why, and nothing is recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status, UploadedFile

from relance.consent.models import Purpose
from relance.imports import services
from relance.imports.csv_import import MAX_BYTES, FileRefused, limit, mapping_from_json
from relance.imports.models import ImportBatch

from ..auth import actor, needs
from ..errors import ApiError, NotFound, invalid

router = Router(tags=["imports"])


class ImportProblemOut(Schema):
    line: int = Field(..., description="Line in the file; the header is line 1")
    column: str = Field(..., description="The column's header as written in the file; empty for the whole row")
    field: str = Field(..., description="The Relance field the column maps to")
    code: str = Field(..., examples=["not_mobile"], description="Stable reason code")
    message: str
    status: str = Field("", description="What happened to the row: invalid, quarantined (R-15) or suppressed (R-31)")


class ReportOut(Schema):
    encoding: str = ""
    delimiter: str = ""
    columns: dict[str, str] = Field(default_factory=dict, description="Each column of the file and its field")
    warnings: list[ImportProblemOut] = Field(default_factory=list, description="Unknown columns, whose data is not imported")
    problems: list[ImportProblemOut] = Field(default_factory=list, description="Every bad row, by line")
    unchanged: int = Field(0, description="Existing contacts the file matched but did not change")


class ImportOut(Schema):
    id: UUID
    status: str = Field(..., description="validated (dry run), imported, or failed (nothing imported)")
    mode: str
    dry_run: bool
    purpose_id: int | None
    source: str
    collector: str
    rows: int
    valid: int
    invalid: int
    quarantined: int = Field(..., description="Rows for a promotional purpose without full proof of consent (R-15)")
    suppressed: int = Field(..., description="Numbers on the STOP list, or people who withdrew (R-31)")
    created: int
    updated: int
    report: ReportOut
    created_at: datetime
    finished_at: datetime | None


def _purpose(request, purpose_id: int | None) -> Purpose | None:
    if purpose_id is None:
        return None
    purpose = Purpose.objects.for_org(request.organisation).filter(pk=purpose_id).first()
    if purpose is None:
        raise ApiError(_("No such purpose in your organisation."), code="validation_error", status=422,
                       fields={"purpose_id": [_("No such purpose in your organisation.")]})
    return purpose


def _mapping(text: str) -> dict | None:
    try:
        return mapping_from_json(text)
    except FileRefused as exc:
        raise ApiError(exc.message, code="validation_error", status=422, fields={"mapping": [exc.message]})


@router.post("/imports", response={201: ImportOut}, **needs("contacts:write"))
def create_import(request, file: File[UploadedFile],
                  purpose_id: Form[int | None] = None,
                  mode: Form[Literal["all_or_nothing", "good_rows_only"]] = "all_or_nothing",
                  dry_run: Form[bool] = False,
                  mapping: Form[str] = "", source: Form[str] = "", collector: Form[str] = ""):
    """Check a CSV file of contacts and, unless `dry_run`, import it: `all_or_nothing` imports nothing
    if any row is bad; `good_rows_only` imports the good rows. UTF-8 (with or without BOM) or
    Windows-1252; `;`, `,` or tab. Columns are recognised by their French or English names, or by
    `mapping` (a JSON object {"column in the file": "field"}, "ignore" to skip one). `source` says
    where the data comes from (required for a purpose on another basis than consent: R-04),
    `collector` who collected it. For a promotional purpose, each row needs its proof of consent (consent_source,
    consent_date, consent_ref, consent_collector) or it is quarantined (R-15); a number on the STOP
    list is never enrolled again (R-31)."""
    data = file.read(limit("MAX_BYTES", MAX_BYTES) + 1)
    try:
        batch = services.import_contacts(
            request.organisation, data, actor=actor(request), purpose=_purpose(request, purpose_id), mode=mode,
            dry_run=dry_run, mapping=_mapping(mapping), source=source, collector=collector)
    except FileRefused as exc:
        raise ApiError(exc.message, code=exc.code, status=422, fields={"file": [exc.message]})
    except ValidationError as exc:
        return invalid({("purpose_id" if name == "purpose" else name): messages
                        for name, messages in exc.message_dict.items()})
    return Status(201, batch)


@router.get("/imports/{uuid:import_id}", response=ImportOut, **needs("contacts:read"))
def get_import(request, import_id: UUID):
    """An import and its report."""
    batch = ImportBatch.objects.for_org(request.organisation).filter(pk=import_id).first()
    if batch is None:
        raise NotFound()
    return batch
