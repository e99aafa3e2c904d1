"""Message templates, the editor's preview, and the organisation's sending settings (R-22, R-24,
R-25, R-26, R-30, R-34).

Templates are read with `templates:read` and written with `templates:write`; a template the linter
refuses answers 422 with the word or field at fault and the rule. The preview needs only
`templates:read`: it changes nothing. Sending settings are read with `organisation:read` and changed
with `settings:write`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints

from relance.messaging import templates as services
from relance.messaging.models import Template
from relance.messaging.sending import settings_for

from ..auth import actor, needs
from ..errors import NotFound
from ..schemas import Code, PageOut, PageParams, Strict, page
from .purposes import needs_owned

router = Router(tags=["templates"])

READ, WRITE = "templates:read", "templates:write"
SETTINGS_READ, SETTINGS_WRITE = "organisation:read", "settings:write"

Channel = Literal["sms", "email"]
Language = Literal["fr", "en"]
MessageClassIn = Literal["service", "promotional_commercial", "promotional_noncommercial", "consent_request",
                         "rights_request", "breach_notice"]
Body = Annotated[str, StringConstraints(max_length=20000)]
Subject = Annotated[str, StringConstraints(max_length=200)]


def _templates(org):
    return Template.objects.for_org(org)


def owned_template(request, template_id: int) -> Template:
    template = _templates(request.organisation).filter(pk=template_id).first()
    if template is None:
        raise NotFound()
    return template


class TemplateIn(Strict):
    purpose_id: int
    code: Code
    channel: Channel
    language: Language = "fr"
    body: Body = Field(..., description="The text, with placeholders such as {first_name}, {date}, {time}")
    subject: Subject = Field("", description="E-mail only, required there")
    transliterate: bool = Field(False, description="Replace characters that force UCS-2 (R-26), when the "
                                                   "organisation allows it")


class TemplatePatch(Strict):
    """Only the fields given change; each change makes a new version."""

    body: Body = None
    subject: Subject = None
    transliterate: bool = None


class TemplateOut(Schema):
    id: int
    purpose_id: int
    code: str
    channel: str
    language: str
    subject: str
    body: str
    transliterate: bool
    status: str = Field(..., description="active or retired")
    version: int
    lint_override: list[str] = Field(..., description="Words the DPO let through (R-24)")
    created_at: datetime
    updated_at: datetime


class TemplatePage(PageOut):
    items: list[TemplateOut]


class TemplateFilters(PageParams):
    purpose_id: int | None = None
    channel: Channel | None = None
    language: Language | None = None
    status: Literal["active", "retired"] | None = None


class PreviewIn(Strict):
    body: Body
    channel: Channel
    language: Language = "fr"
    message_class: MessageClassIn = Field("service", description="The purpose's message class: promotional "
                                                                 "classes need the sender and an opt-out (R-25)")
    subject: Subject = ""
    sample: dict[str, Annotated[str, StringConstraints(max_length=300)]] | None = Field(
        None, description="Values for placeholders, instead of the realistic samples")
    transliterate: bool = False


class ProblemOut(Schema):
    code: str = Field(..., examples=["health_word"])
    severity: str = Field(..., description="error (refuses the template) or warning")
    field: str
    word: str = Field(..., description="The word, placeholder or characters at fault")
    message: str
    rule: str


class PreviewOut(Schema):
    text: str = Field(..., description="The text with sample values, as a person would receive it")
    subject: str
    channel: str
    encoding: str | None = Field(..., description="GSM-7 or UCS-2 (SMS only)")
    segments: int | None
    units: int | None = Field(..., description="Septets (GSM-7) or UTF-16 code units (UCS-2)")
    per_segment_limit: int | None
    remaining_in_last: int | None
    ucs2_characters: list[str]
    transliteration_applied: bool
    transliterated: str | None = Field(..., description="The text transliterated, when that would make it GSM-7")
    transliterated_segments: int | None
    transliteration: list[list[str]] = Field(..., description="[original, replacement] pairs")
    errors: list[ProblemOut]
    warnings: list[ProblemOut]


class SendingSettingsOut(Schema):
    sms_sender: str
    shared_sender: bool
    stop_mention: str
    email_from: str
    keywords: dict
    windows: dict
    holiday_subdivision: str
    stop_rate_threshold: float = Field(..., description="Percent (R-34)")
    allow_transliteration: bool
    updated_at: datetime


class SendingSettingsPatch(Strict):
    """Only the fields given change; every invalid field is reported at once."""

    sms_sender: str = Field(None, description="3–11 letters or digits, or a short code")
    shared_sender: bool = None
    stop_mention: str = Field(None, description='e.g. "STOP au 36111" (R-25)')
    email_from: str = None
    keywords: dict = Field(None, description='{"stop": [...], "start": [...], "info": [...]} (R-30)')
    windows: dict = Field(None, description='{"promotional": {"start": "09:00", "end": "19:00", "days": [0, 1, 2, 3, 4]}}'
                                            " (R-22)")
    holiday_subdivision: str = None
    stop_rate_threshold: Decimal = Field(None, description="Percent of STOP replies over 24 h that pauses campaigns "
                                                           "(R-34)")
    allow_transliteration: bool = None


@router.get("/templates", response=TemplatePage, **needs(READ))
def list_templates(request, filters: Query[TemplateFilters]):
    """The organisation's templates, by purpose, code, channel and language."""
    queryset = _templates(request.organisation)
    for name in ("purpose_id", "channel", "language", "status"):
        value = getattr(filters, name)
        if value is not None:
            queryset = queryset.filter(**{name: value})
    return page(queryset.order_by("purpose_id", "code", "channel", "language", "pk"), filters)


@router.post("/templates", response={201: TemplateOut}, **needs(WRITE))
def create_template(request, payload: TemplateIn):
    """Create a template. Refused with 422 naming each field or word at fault: health words and
    placeholders (R-24), missing sender or opt-out in promotional messages (R-25)."""
    values = payload.dict()
    template = services.create_template(request.organisation, actor=actor(request), purpose=values.pop("purpose_id"),
                                        **values)
    return Status(201, template)


@router.post("/templates/preview", response=PreviewOut, **needs(READ))
def preview_template(request, payload: PreviewIn):
    """The text with sample values, its encoding and segments (R-26), and the linter's errors and
    warnings. Nothing is saved."""
    return services.preview(request.organisation, **payload.dict())


@router.get("/templates/{int:template_id}", response=TemplateOut, **needs(READ))
def get_template(request, template_id: int):
    return owned_template(request, template_id)


@router.patch("/templates/{int:template_id}", response=TemplateOut,
              **needs_owned(WRITE, "template_id", _templates))
def update_template(request, template_id: int, payload: TemplatePatch):
    """Change the text, subject or transliteration; checked again like a new template."""
    template = owned_template(request, template_id)
    changes = payload.dict(exclude_unset=True)
    nulls = sorted(name for name, value in changes.items() if value is None)
    if nulls:
        raise ValidationError({name: [_("Give a value, not null.")] for name in nulls})
    return services.update_template(template, actor=actor(request), **changes) if changes else template


@router.post("/templates/{int:template_id}/retire", response=TemplateOut,
             **needs_owned(WRITE, "template_id", _templates))
def retire_template(request, template_id: int):
    """Retire a template: it is kept for the messages that used it, and can no longer change."""
    return services.retire_template(owned_template(request, template_id), actor=actor(request))


@router.get("/sending-settings", response=SendingSettingsOut, **needs(SETTINGS_READ))
def get_sending_settings(request):
    """How the organisation sends: sender, opt-out mention, keywords, windows, STOP-rate threshold."""
    return settings_for(request.organisation)


@router.patch("/sending-settings", response=SendingSettingsOut, **needs(SETTINGS_WRITE))
def update_sending_settings(request, payload: SendingSettingsPatch):
    """Change the sending settings; 422 names every invalid field at once."""
    changes = payload.dict(exclude_unset=True)
    if not changes:
        return settings_for(request.organisation)
    return services.update_sending_settings(request.organisation, actor=actor(request), **changes)
