"""API of accountability (R-70, R-73): the Art. 30 register, the processor record, the monthly
compliance report and the controller profile.

Reads need `register:read`; changing the controller profile needs `settings:write`. Each register
or report served is an audit event. The processor record shows only the calling organisation among
the controllers (R-63): the full record is `relance register --platform`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema
from pydantic import StringConstraints

from relance.privacy import compliance, register
from relance.privacy.controller import get_controller_profile, set_controller_profile
from relance.privacy.register_document import CONTENT_TYPES, render

from ..auth import actor, needs
from ..schemas import Strict

router = Router(tags=["register"])

READ = "register:read"
WRITE = "settings:write"


class LanguageParams(Schema):
    language: Literal["fr", "en"] | None = Field(None, description="default: the organisation's first language")


def _language(request, params: LanguageParams) -> str:
    return params.language or request.organisation.default_language


def _file(content: bytes, fmt: str, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
    if fmt == "pdf":
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response


# --- the controller's register (Art. 30(1)) --------------------------------------------------
def _register(request, params: LanguageParams, fmt: str) -> dict:
    return register.generate_register(request.organisation, actor=actor(request), language=_language(request, params),
                                      fmt=fmt)


@router.get("/register", response={200: dict}, **needs(READ))
def get_register(request, params: Query[LanguageParams]):
    """The record of processing activities (Art. 30(1)) from the live configuration, as JSON, with
    `missing_fields`: the dotted paths of every empty mandatory field."""
    record = _register(request, params, "json")
    return {**record, "missing_fields": register.missing_fields(record)}


@router.get("/register/html", response={200: None}, **needs(READ))
def get_register_html(request, params: Query[LanguageParams]):
    """The register as a printable HTML page."""
    return _file(render(_register(request, params, "html"), "html"), "html", "")


@router.get("/register/pdf", response={200: None}, **needs(READ))
def get_register_pdf(request, params: Query[LanguageParams]):
    """The register as a PDF document."""
    record = _register(request, params, "pdf")
    return _file(render(record, "pdf"), "pdf", f"register-{request.organisation.slug}-{record['language']}")


# --- the processor's record (Art. 30(2)) -----------------------------------------------------
def _processor_record(request, params: LanguageParams, fmt: str) -> dict:
    return register.generate_processor_record(actor=actor(request), language=_language(request, params), fmt=fmt,
                                              organisation=request.organisation)


@router.get("/processor-record", response={200: dict}, **needs(READ))
def get_processor_record(request, params: Query[LanguageParams]):
    """The platform's record as processor (Art. 30(2)), limited to your organisation as controller."""
    return _processor_record(request, params, "json")


@router.get("/processor-record/html", response={200: None}, **needs(READ))
def get_processor_record_html(request, params: Query[LanguageParams]):
    return _file(render(_processor_record(request, params, "html"), "html"), "html", "")


@router.get("/processor-record/pdf", response={200: None}, **needs(READ))
def get_processor_record_pdf(request, params: Query[LanguageParams]):
    record = _processor_record(request, params, "pdf")
    return _file(render(record, "pdf"), "pdf", f"processor-record-{record['language']}")


# --- the monthly compliance report (R-73) ----------------------------------------------------
# The month is a query parameter, not a path one: path parameters name objects (test_isolation).
class ReportParams(LanguageParams):
    month: str = Field(..., pattern=r"^\d{4}-\d{2}$", description="YYYY-MM, in the organisation's time zone",
                       examples=["2026-10"])


def _report(request, params: ReportParams, fmt: str) -> dict:
    year, month = compliance.parse_month(params.month)
    return compliance.generate_monthly_report(request.organisation, year, month, actor=actor(request),
                                              language=_language(request, params), fmt=fmt)


@router.get("/compliance", response={200: dict}, **needs(READ))
def get_compliance_report(request, params: Query[ReportParams]):
    """The monthly compliance report (R-73), the month taken in the organisation's time zone:
    messages, suppressed by reason, STOPs, rights requests on time, purges, incidents, DPIA status."""
    return _report(request, params, "json")


@router.get("/compliance/html", response={200: None}, **needs(READ))
def get_compliance_report_html(request, params: Query[ReportParams]):
    return _file(compliance.render(_report(request, params, "html"), "html"), "html", "")


@router.get("/compliance/pdf", response={200: None}, **needs(READ))
def get_compliance_report_pdf(request, params: Query[ReportParams]):
    report = _report(request, params, "pdf")
    return _file(compliance.render(report, "pdf"), "pdf",
                 f"compliance-{request.organisation.slug}-{report['month']}-{report['language']}")


# --- the controller profile ------------------------------------------------------------------
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=5000)]


class ControllerIn(Strict):
    """Every field of the profile (PUT replaces it: an omitted field becomes empty)."""

    legal_name: Short = ""
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=400)] = ""
    contact_email: Short = Field("", description="the controller's contact address (not the DPO's)")
    contact_phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""
    registration_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = Field(
        "", description="SIREN/SIRET, FINESS...")
    representative: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = Field(
        "", description="Art. 27 representative, for a controller outside the EU")
    joint_controllers: Text = ""
    security_measures: Text = Field("", description="one measure per line, added to the platform's own")
    webhook_events_enabled: bool = True


class ControllerOut(Schema):
    legal_name: str
    address: str
    contact_email: str
    contact_phone: str
    registration_number: str
    representative: str
    joint_controllers: str
    security_measures: str
    webhook_events_enabled: bool
    updated_at: str | None = None

    @staticmethod
    def resolve_updated_at(profile) -> str | None:
        return profile.updated_at.isoformat() if profile.updated_at else None


@router.get("/controller", response=ControllerOut, **needs(READ))
def get_controller(request):
    """The controller's identity for the register (empty fields until recorded)."""
    return get_controller_profile(request.organisation)


@router.put("/controller", response=ControllerOut, **needs(WRITE))
def put_controller(request, payload: ControllerIn):
    """Record the controller's identity and contact details; audited with the changed field names."""
    return set_controller_profile(request.organisation, actor=actor(request), **payload.model_dump())
