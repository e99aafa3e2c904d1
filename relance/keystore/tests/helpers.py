"""Raw SQL helpers for key-store tests: read and copy sealed columns behind the ORM's back."""

from __future__ import annotations

from django.db import connection


def _names(model, column: str) -> tuple[str, str, str]:
    quote = connection.ops.quote_name
    return quote(model._meta.db_table), quote(model._meta.get_field(column).column), quote(model._meta.pk.column)


def _pk(model, pk):
    return model._meta.pk.get_db_prep_value(pk, connection)


def raw_column(model, pk, column: str) -> bytes | None:
    table, col, pk_col = _names(model, column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {col} FROM {table} WHERE {pk_col} = %s", [_pk(model, pk)])
        value = cursor.fetchone()[0]
    return None if value is None else bytes(value)


def copy_column(model, source_pk, source_column: str, target_pk, target_column: str | None = None) -> None:
    """UPDATE target.column = source.column, as someone with write access to the database could."""
    table, src, pk_col = _names(model, source_column)
    _, dst, _ = _names(model, target_column or source_column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {dst} = (SELECT {src} FROM {table} WHERE {pk_col} = %s) WHERE {pk_col} = %s",
            [_pk(model, source_pk), _pk(model, target_pk)],
        )
        assert cursor.rowcount == 1


def dump_default_database() -> bytes:
    """Every value of every table of the main database, as one blob (what a backup would hold)."""
    parts: list[bytes] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value))
                    elif value is not None:
                        parts.append(str(value).encode())
    return b"\n".join(parts)
