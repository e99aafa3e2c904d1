"""The issue's mandatory proofs of erasure (R-43, R-60, R-61), on real commits:

1. after erasure, a dump of BOTH databases (SQLite: iterdump of each; PostgreSQL: pg_dump of each
   test database) holds nothing of the person: name, phone, e-mail, external reference, message
   body, evidence, event reference, the person's own words;
2. a copy of the main database taken BEFORE the erasure (SQLite backup(); PostgreSQL pg_dump restored
   into a scratch database) still holds the person's ciphertexts, which decrypted before; once the
   key store no longer has the key, every one of them raises KeyDestroyed.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid

import pytest
from django.db import connections

from relance.keystore import services as keys
from relance.keystore.fields import EncryptedTextField, SealedModel
from relance.keystore.router import KEYSTORE_DB
from relance.lib.crypto import field_aad
from relance.privacy.personal_data import HOLDINGS
from relance.webhooks import delivery
from relance.webhooks.tests.receiver import Receiver

from .test_erasure import SECRETS, erase_now, populate

pytestmark = pytest.mark.django_db(databases=["default", "keys"], transaction=True)


@pytest.fixture(autouse=True)
def _local_http(settings):
    settings.RELANCE_WEBHOOKS_ALLOW_LOCAL_HTTP = True


def _is_postgres(alias: str = "default") -> bool:
    return connections[alias].vendor == "postgresql"


def _pg_env(alias: str) -> tuple[list[str], dict]:
    s = connections[alias].settings_dict
    args = ["-h", s.get("HOST") or "127.0.0.1", "-p", str(s.get("PORT") or 5432), "-U", s.get("USER") or "postgres"]
    return args, {**os.environ, "PGPASSWORD": s.get("PASSWORD") or ""}


def dump(alias: str) -> str:
    """The whole database as text, as an operator's backup would hold it."""
    connection = connections[alias]
    if _is_postgres(alias):
        args, env = _pg_env(alias)
        result = subprocess.run(["pg_dump", *args, "--no-owner", connection.settings_dict["NAME"]], env=env,
                                capture_output=True, check=True, timeout=120)
        return result.stdout.decode()
    connection.ensure_connection()
    return "\n".join(connection.connection.iterdump())


class Snapshot:
    """A copy of the main database at one moment, read with plain SQL (no Django, no caches)."""

    def __init__(self):
        connection = connections["default"]
        connection.ensure_connection()
        if _is_postgres():
            self.name = f"relance_snap_{uuid.uuid4().hex[:10]}"
            args, env = _pg_env("default")
            subprocess.run(["createdb", *args, self.name], env=env, check=True, timeout=60)
            dumped = subprocess.run(["pg_dump", *args, "--no-owner", connection.settings_dict["NAME"]], env=env,
                                    capture_output=True, check=True, timeout=120).stdout
            subprocess.run(["psql", *args, "-q", "-v", "ON_ERROR_STOP=1", "-d", self.name], input=dumped, env=env,
                           capture_output=True, check=True, timeout=120)
            import psycopg

            s = connection.settings_dict
            self.db = psycopg.connect(host=s.get("HOST") or "127.0.0.1", port=s.get("PORT") or 5432,
                                      user=s.get("USER") or "postgres", password=s.get("PASSWORD") or "",
                                      dbname=self.name, autocommit=True)
        else:
            self.name, self.db = None, sqlite3.connect(":memory:")
            connection.connection.backup(self.db)

    def rows(self, table: str, columns: list[str]) -> list[tuple]:
        return list(self.db.execute(f'SELECT id, data_key_id, {", ".join(columns)} FROM "{table}"'))

    def close(self):
        self.db.close()
        if self.name:
            args, env = _pg_env("default")
            subprocess.run(["dropdb", *args, "--if-exists", self.name], env=env, check=True, timeout=60)


def sealed_values(snapshot: Snapshot, key_id: uuid.UUID) -> list[tuple[str, str, str, bytes]]:
    """Every (table, column, row id, ciphertext) of the copy sealed with this data key."""
    from django.apps import apps

    found = []
    for holding in HOLDINGS:
        model = apps.get_model(holding.model)
        if not issubclass(model, SealedModel):
            continue
        columns = [f.column for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        for row in snapshot.rows(model._meta.db_table, columns):
            if row[1] is None or uuid.UUID(str(row[1])) != key_id:
                continue
            row_id = str(uuid.UUID(str(row[0]))) if len(str(row[0])) in (32, 36) else str(row[0])
            found += [(model._meta.db_table, column, row_id, bytes(value))
                      for column, value in zip(columns, row[2:], strict=True) if value is not None]
    return found


def test_it_leaves_nothing_of_the_person_in_a_dump_of_either_database():
    """R-43, R-61: after erasure (webhook delivered), no trace of the person in either database's dump."""
    from relance.testing import make_org

    org = make_org()
    with Receiver() as server:
        person, _ = populate(org, endpoint_url=server.url)
        key_id = person.data_key_id
        erase_now(person)
        assert delivery.deliver_due()["delivered"] == 1  # connected systems told (Art. 19)
    assert b"PAT-ZQ-7781" in server.received[0]["body"]
    main, key_store = dump("default"), dump(KEYSTORE_DB)
    assert "contacts_contact" in main and "keystore_subjectkey" in key_store
    for secret in SECRETS:
        assert secret not in main, f"{secret!r} is still in the main database"
        assert secret not in key_store, f"{secret!r} is in the key store"
    assert str(key_id) not in key_store and key_id.hex not in key_store


def test_it_leaves_an_older_copy_of_the_main_database_unreadable():
    """R-43, R-60: a backup taken before the erasure holds ciphertexts that opened then and raise
    KeyDestroyed now that the key store no longer has the key."""
    from relance.testing import make_org

    org = make_org()
    person, _ = populate(org)
    key_id = person.data_key_id
    snapshot = Snapshot()
    try:
        before = sealed_values(snapshot, key_id)
        tables = {table for table, *_ in before}
        assert {"contacts_contact", "messaging_message", "consent_consentevent", "reminders_event",
                "privacy_rightsrequest", "privacy_accessexport"} <= tables
        opened = [keys.decrypt_text(key_id, value, field_aad(table, column, row_id))
                  for table, column, row_id, value in before]
        assert "Zéphyrine" in opened and "Texte-secret-ZQ-0042" in opened  # the copy was readable
        erase_now(person)
        keys.clear_caches()  # another process, or this one a minute later: no cached key
        for table, column, row_id, value in sealed_values(snapshot, key_id):
            with pytest.raises(keys.KeyDestroyed):
                keys.decrypt_text(key_id, value, field_aad(table, column, row_id))
    finally:
        snapshot.close()
