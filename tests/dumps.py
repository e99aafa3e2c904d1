"""Dumping the test databases as text, to prove no clear personal value is stored (R-60, R-61)."""

from __future__ import annotations

import os
import shutil
import subprocess

from django.db import connections


def dump_database(alias: str) -> str:
    connection = connections[alias]
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        return "\n".join(connection.connection.iterdump())
    if connection.vendor == "postgresql":
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise RuntimeError("pg_dump is needed to dump PostgreSQL (Debian package postgresql-client)")
        settings = connection.settings_dict
        env = {**os.environ, "PGPASSWORD": settings.get("PASSWORD") or ""}
        args = [pg_dump, "--no-owner", "--data-only", "-h", settings["HOST"] or "127.0.0.1",
                "-p", str(settings["PORT"] or 5432), "-U", settings["USER"] or "postgres", settings["NAME"]]
        return subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    raise RuntimeError(f"no dump for {connection.vendor}")


def forms_of(value: str) -> list[str]:
    """The ways a clear value could show in a dump: as text, or hex-encoded inside a binary column."""
    raw = value.encode()
    return [value, value.lower(), raw.hex(), raw.hex().upper()]


def leaks(text: str, values: list[str]) -> list[str]:
    return [value for value in values if any(form in text for form in forms_of(value))]
