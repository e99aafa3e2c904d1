"""Request and response shapes shared by the endpoints, and the one pagination helper."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from django.db.models import QuerySet
from ninja import Field, Schema
from pydantic import ConfigDict, StringConstraints, field_validator

MAX_PAGE = 200


class Strict(Schema):
    """Request bodies refuse unknown fields, so a typo is reported instead of silently ignored.

    Every aware date-time is taken in UTC: an offset such as +21:25 (ISO 8601 allows it, PostgreSQL's
    timestamptz does not beyond ±15:59) was a 500 on PostgreSQL (tests/reliability/test_api_fuzz.py)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value):
        if isinstance(value, datetime) and value.tzinfo is not None:
            try:
                return value.astimezone(UTC)
            except OverflowError:
                raise ValueError("date out of range") from None
        return value


class ErrorOut(Schema):
    code: str = Field(..., examples=["validation_error"])
    message: str = Field(..., examples=["2 fields are not valid: see 'fields'."])
    fields: dict[str, list[str]] = Field(default_factory=dict, examples=[{"code": ["This field is required."]}])


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=MAX_PAGE, description=f"How many items (1–{MAX_PAGE}).")
    offset: int = Field(0, ge=0, le=2**63 - 1, description="How many items to skip.")


class PageOut(Schema):
    """Subclass with `items: list[ItemOut]` for each listed resource."""

    count: int
    limit: int
    offset: int


def page(queryset: QuerySet, params: PageParams) -> dict:
    items = list(queryset[params.offset:params.offset + params.limit])
    return {"items": items, "count": queryset.count(), "limit": params.limit, "offset": params.offset}


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                        pattern=r"^[-a-zA-Z0-9_]+$")]
