"""Small helpers for the contacts tests."""

from __future__ import annotations

import json

from django.db import connection

from relance.audit.models import AuditEvent
from relance.audit.services import chain_for


def events(org, action: str | None = None) -> list[AuditEvent]:
    rows = AuditEvent.objects.filter(chain=chain_for(org)).order_by("seq")
    if action:
        rows = rows.filter(action=action)
    return list(rows)


def raw_row(contact) -> str:
    """The contact's row exactly as the database holds it, as text (what a dump would show)."""
    table = contact._meta.db_table
    pk = contact._meta.pk.get_db_prep_value(contact.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608 (table name is ours)
        row = cursor.fetchone()
    assert row is not None
    return " ".join(bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v) for v in row)


def details_text(event: AuditEvent) -> str:
    return json.dumps(event.details, ensure_ascii=False)
