"""`relance backup` and `relance restore` on the configured databases (issue 10, R-60, R-43).

Each test runs on SQLite and on PostgreSQL (whichever the pass configures). Restorations go into the
test databases themselves (in place, as in production) or into fresh ones the test creates and drops:
SQLite files in tmp_path, PostgreSQL databases named after the configured test database + "_rst".
"""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import subprocess
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connections

from relance.contacts.models import Contact, SuppressionEntry
from relance.keystore import services as keys
from relance.keystore.models import SubjectKey
from relance.ops import backup
from relance.privacy import erasure
from relance.testing import SYSTEM, make_contact, make_org

# Committed data: pg_dump and pg_restore work in other processes. The tests on files alone need no database.
both_databases = pytest.mark.django_db(transaction=True, databases=["default", "keys"])

T0 = datetime(2026, 11, 2, 10, 15, tzinfo=UTC)


def run(command: str, *args, **options) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO(), language="en", **options)
    return out.getvalue()


def backup_json(directory: Path, *args) -> dict:
    return json.loads(run("backup", *args, dir=str(directory), json=True))


def files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def people(org) -> tuple[Contact, Contact]:
    ada = make_contact(org, first_name="Ada", last_name="Lovelace", phone="+33612345678", email="ada@example.org")
    bob = make_contact(org, first_name="Bob", last_name="Martin", phone="+33698765432", email="bob@example.org")
    return ada, bob


def read(contact_id) -> tuple[str, str, str, str]:
    keys.clear_caches()
    contact = Contact.unscoped.get(pk=contact_id)
    return contact.first_name, contact.last_name, contact.phone, contact.email


def key_ids_in(path: Path) -> set[uuid.UUID]:
    """The subject key ids a key store backup holds (read from the file itself)."""
    if path.suffix == ".sqlite3":
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return {uuid.UUID(row[0]) for row in db.execute("SELECT id FROM keystore_subjectkey")}
    env, _name = backup._pg_env("keys")
    text = subprocess.run(["pg_restore", "--data-only", "--table=keystore_subjectkey", "--file=-", str(path)],
                          env=env, capture_output=True, text=True, check=True).stdout
    rows = text.split("FROM stdin;\n", 1)[1].split("\n\\.", 1)[0] if "FROM stdin;" in text else ""
    return {uuid.UUID(line.split("\t", 1)[0]) for line in rows.splitlines() if line}


@contextmanager
def fresh_databases(tmp_path: Path):
    """Point both aliases at new, empty databases for the block; drop them afterwards."""
    saved = {}
    for alias in ("default", "keys"):
        conn = connections[alias]
        name = conn.settings_dict["NAME"]
        if conn.vendor == "sqlite":
            new = str(tmp_path / f"{alias}-fresh.sqlite3")
        else:
            new = f"{name}_rst"[:63]
            with conn.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{new}" WITH (FORCE)')
                cursor.execute(f'CREATE DATABASE "{new}"')
        # An in-memory SQLite test database ignores close(): keep its connection aside meanwhile.
        saved[alias] = (name, conn.connection, new)
        conn.connection = None
        conn.settings_dict["NAME"] = new
    try:
        yield
    finally:
        for alias, (name, raw, new) in saved.items():
            conn = connections[alias]
            conn.close()
            conn.settings_dict["NAME"] = name
            conn.connection = raw
            if conn.vendor == "postgresql":
                with conn.cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{new}" WITH (FORCE)')
        keys.clear_caches()


@both_databases
def test_backup_then_restore_into_fresh_databases(tmp_path):
    """R-60, issue 10: both databases backed up (manifest: sha256, size, migrations, master key id,
    never a key), restored into new empty databases: every field reads back; a second restoration
    into the now full databases is refused without --yes."""
    org = make_org()
    ada, bob = people(org)
    summary = backup_json(tmp_path / "b")
    written = {item["kind"]: item for item in summary["written"]}
    assert set(written) == {"main", "keys"} and summary["error"] is None
    ring = keys.master_keyring()
    for item in written.values():
        path = Path(item["path"])
        assert path.name.startswith(f"relance-{item['kind']}-") and path.stat().st_mode & 0o077 == 0
        manifest_text = Path(item["manifest"]).read_text()
        manifest = json.loads(manifest_text)
        assert manifest["sha256"] == backup.sha256(path) and manifest["bytes"] == path.stat().st_size
        assert manifest["master_key_id"] == ring.primary_id
        assert "keystore.0001_initial" in manifest["migrations"]
        for secret in ring.keys.values():  # the key id, never the key
            encodings = {secret.hex(), base64.b64encode(secret).decode(), base64.urlsafe_b64encode(secret).decode()}
            assert not any(text.rstrip("=") in manifest_text for text in encodings)
    assert written["main"]["content"]["contacts"] == 2
    assert written["keys"]["content"]["subject_keys"] >= 2
    assert ada.data_key_id in key_ids_in(Path(written["keys"]["path"]))

    with fresh_databases(tmp_path):
        assert not backup.non_empty_tables("default")
        out = run("restore", written["main"]["path"], keys=written["keys"]["path"])
        assert "Restored the main database" in out and "Restored the key store" in out
        assert read(ada.pk) == ("Ada", "Lovelace", "+33612345678", "ada@example.org")
        assert read(bob.pk) == ("Bob", "Martin", "+33698765432", "bob@example.org")
        with pytest.raises(CommandError, match="not empty"):
            run("restore", written["main"]["path"])


@both_databases
def test_erased_contact_stays_unreadable_after_restoring_an_old_backup(tmp_path):
    """R-60, R-43: back up, erase Ada, let the key window pass, back up again (the old key store
    backup is deleted), restore the OLD main database with the CURRENT key store: Ada's row comes back
    but nothing of her can be decrypted, while Bob, in the same backup, reads fine; no key backup left
    holds her key. --erase-unreadable turns her back into a tombstone, her number suppressed (R-31)."""
    directory = tmp_path / "b"
    with time_machine.travel(T0, tick=True) as clock:
        org = make_org()
        ada, bob = people(org)
        first = {item["kind"]: Path(item["path"]) for item in backup_json(directory)["written"]}
        assert ada.data_key_id in key_ids_in(first["keys"])  # the check below can fail
        phone_hash = ada.phone_index

        erasure.erase_contact(ada, actor=SYSTEM)
        assert not SubjectKey.objects.filter(id=ada.data_key_id).exists()

        clock.shift(timedelta(days=backup.key_window_days(), minutes=1))
        later = backup_json(directory)
        assert [Path(item["path"]).name for item in later["pruned"]] == [first["keys"].name]
        assert first["keys"].name not in files(directory) and first["keys"].name + ".json" not in files(directory)
        assert first["main"].exists()
        remaining = [directory / name for name in files(directory) if name.startswith("relance-keys-")
                     and not name.endswith(".json")]
        assert len(remaining) == 1 and all(ada.data_key_id not in key_ids_in(path) for path in remaining)

        out = run("restore", str(first["main"]), yes=True)
        assert "1 contact of this backup has no data key" in out
        revived = Contact.unscoped.get(pk=ada.pk)
        assert revived.status == Contact.Status.ACTIVE and revived.sealed_bytes("first_name")
        for name in ("first_name", "last_name", "phone", "email"):
            keys.clear_caches()
            with pytest.raises(keys.KeyDestroyed):
                getattr(Contact.unscoped.get(pk=ada.pk), name)
        assert read(bob.pk) == ("Bob", "Martin", "+33698765432", "bob@example.org")
        assert not SuppressionEntry.objects.for_org(org).filter(phone_hash=phone_hash).exists()  # added after the backup

        out = run("restore", erase_unreadable=True)
        assert "Erased them again: 1" in out
        tomb = Contact.unscoped.get(pk=ada.pk)
        assert tomb.status == Contact.Status.ERASED and tomb.sealed_bytes("first_name") is None
        assert tomb.phone_index is None and SuppressionEntry.objects.for_org(org).filter(phone_hash=phone_hash).exists()
        assert read(bob.pk)[0] == "Bob"


def test_pruning_keeps_backups_younger_than_their_window(tmp_path):
    """R-60: key store backups go when they reach RELANCE_KEY_BACKUP_DAYS, main ones at
    RELANCE_BACKUP_DAYS, with their manifests and leftover partial files; younger ones and foreign
    files stay; `backup --prune` alone writes nothing."""
    directory = tmp_path / "b"
    directory.mkdir()
    days, main_days = backup.key_window_days(), backup.main_window_days()

    def plant(kind: str, moment: datetime, *suffixes: str) -> str:
        name = backup.file_name(kind, moment, "postgresql")
        for suffix in ("", *suffixes):
            (directory / (name + suffix)).write_bytes(b"x")
        return name

    old_keys = plant("keys", T0, ".json")
    crashed_keys = plant("keys", T0 + timedelta(hours=1), ".partial")
    young_keys = plant("keys", T0 + timedelta(days=3), ".json")
    old_main = plant("main", T0, ".json")
    (directory / "notes.txt").write_text("not a backup")
    before = files(directory)
    with time_machine.travel(T0 + timedelta(days=days, seconds=-1), tick=False) as clock:
        assert backup_json(directory, "--prune")["pruned"] == [] and files(directory) == before

        clock.shift(timedelta(hours=1, seconds=1))
        summary = backup_json(directory, "--prune")
        assert summary["written"] == []
        assert sorted(Path(item["path"]).name for item in summary["pruned"]) == sorted([old_keys, crashed_keys])
        assert files(directory) == sorted([old_main, old_main + ".json", young_keys, young_keys + ".json", "notes.txt"])

        clock.shift(timedelta(days=main_days - days))
        pruned = [Path(item["path"]).name for item in backup_json(directory, "--prune")["pruned"]]
        assert sorted(pruned) == sorted([old_main, young_keys]) and files(directory) == ["notes.txt"]


@both_databases
def test_restore_refusals(tmp_path):
    """Issue 10, R-60: a damaged file (sha256), a missing manifest, a non-empty target without --yes,
    a key store backup older than the window (unless --force) and one needing an absent master key
    are all refused before anything is touched."""
    directory = tmp_path / "b"
    with time_machine.travel(T0, tick=True) as clock:
        org = make_org()
        ada, _bob = people(org)
        written = {item["kind"]: Path(item["path"]) for item in backup_json(directory)["written"]}
        later = make_contact(org, first_name="Later")

        damaged = tmp_path / written["main"].name
        damaged.write_bytes(written["main"].read_bytes())
        Path(str(damaged) + ".json").write_text(Path(str(written["main"]) + ".json").read_text())
        with open(damaged, "r+b") as handle:
            handle.seek(damaged.stat().st_size // 2)
            byte = handle.read(1)
            handle.seek(-1, 1)
            handle.write(bytes([byte[0] ^ 0xFF]))
        with pytest.raises(CommandError, match="does not match its manifest"):
            run("restore", str(damaged), yes=True)
        Path(str(damaged) + ".json").unlink()
        with pytest.raises(CommandError, match="has no manifest"):
            run("restore", str(damaged), yes=True)
        with pytest.raises(CommandError, match="not empty"):
            run("restore", str(written["main"]))
        with pytest.raises(CommandError, match="is a backup of the keys"):
            run("restore", str(written["keys"]))
        assert Contact.unscoped.filter(pk=later.pk).exists()  # nothing was touched

        manifest_path = Path(str(written["keys"]) + ".json")
        manifest = json.loads(manifest_path.read_text())
        manifest["content"]["wrapped_by_master_keys"].append("m-gone")
        manifest_path.write_text(json.dumps(manifest))
        with pytest.raises(CommandError, match="m-gone"):
            run("restore", keys=str(written["keys"]), yes=True)
        manifest["content"]["wrapped_by_master_keys"].remove("m-gone")
        manifest_path.write_text(json.dumps(manifest))

        clock.shift(timedelta(days=backup.key_window_days()))
        with pytest.raises(CommandError, match="R-60"):
            run("restore", keys=str(written["keys"]), yes=True)
        run("restore", keys=str(written["keys"]), yes=True, force=True)
        assert read(ada.pk)[0] == "Ada"


def test_missing_postgresql_client_tools_are_named(tmp_path, monkeypatch):
    """Issue 10: without pg_dump the backup stops with what to install, and leaves no partial file."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("pg_dump only backs up PostgreSQL (SQLite uses its online backup API)")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(CommandError, match="postgresql-client"):
        run("backup", dir=str(tmp_path / "b"), main_only=True)
    assert files(tmp_path / "b") == []


def test_restore_command_exit_status(tmp_path, capsys):
    """Issue 10: `relance restore` of a missing file exits 1 with a message on standard error, in
    English or in French (the default)."""
    from relance.ops.management.commands.restore import Command

    for language, text in (["--language", "en"], "no such backup file"), ([], "ce fichier de sauvegarde n'existe pas"):
        with pytest.raises(SystemExit) as exit_info:
            Command().run_from_argv(["relance", "restore", str(tmp_path / "missing.dump"), *language])
        assert exit_info.value.code == 1 and text in capsys.readouterr().err
