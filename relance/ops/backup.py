"""Backups of the main database and of the key store, and their restoration (issue 10, R-60).

Each database is backed up to its own file, with a manifest next to it (`<file>.json`: sha256,
size, migration state, Relance version, the id of the master key in use, never a key):

- PostgreSQL: `pg_dump -Fc` (custom format; needs the PostgreSQL client tools);
- SQLite: the online backup API (a consistent copy while the application runs).

Key store backups live at most `RELANCE_KEY_BACKUP_DAYS` (7): each backup run deletes the older
ones, so that a contact's data key destroyed by an erasure (R-43) cannot come back from a backup
after that window, while main database backups (`RELANCE_BACKUP_DAYS`, 35) keep only ciphertext
that no remaining key opens. Restoring a key store backup older than the window is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.keystore.router import KEYSTORE_DB
from relance.lib.env import env_int

MAIN, KEYS = "main", "keys"
ALIASES = {MAIN: "default", KEYS: KEYSTORE_DB}
FORMAT = 1
NAME_RE = re.compile(r"^relance-(main|keys)-(\d{8}T\d{6}Z)\.(dump|sqlite3)(\.json|\.partial)?$")
# Filled by `migrate` itself: a database holding rows only there is still an empty target.
BOOTSTRAP_TABLES = {"django_migrations", "django_content_type", "auth_permission"}
CHUNK = 2000
PG_OPTION_VARS = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
                  "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT"}

Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or a restoration that cannot go on; the message says why and what to do."""


@dataclass
class Written:
    kind: str
    path: Path
    manifest: dict


@dataclass
class Pruned:
    kind: str
    path: Path
    age_days: float
    extra: list[Path] = field(default_factory=list)


# --- settings ------------------------------------------------------------------------------
def backup_dir() -> Path:
    configured = getattr(settings, "RELANCE_BACKUP_DIR", None) or os.environ.get("RELANCE_BACKUP_DIR")
    return Path(configured) if configured else Path(settings.VAR_DIR) / "backups"


def key_window_days() -> int:
    return int(getattr(settings, "RELANCE_KEY_BACKUP_DAYS", 7))


def main_window_days() -> int:
    return int(getattr(settings, "RELANCE_BACKUP_DAYS", None) or env_int("RELANCE_BACKUP_DAYS", 35))


def window_days(kind: str) -> int:
    return key_window_days() if kind == KEYS else main_window_days()


def engine(alias: str) -> str:
    vendor = connections[alias].vendor
    if vendor not in {"postgresql", "sqlite"}:
        raise BackupError(_("Database engine %(engine)s is not supported by relance backup.") % {"engine": vendor})
    return vendor


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def file_name(kind: str, moment: datetime, vendor: str) -> str:
    return f"relance-{kind}-{stamp(moment)}.{'dump' if vendor == 'postgresql' else 'sqlite3'}"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def relance_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("relance")
    except PackageNotFoundError:
        return "unknown"


def master_key_id() -> str | None:
    from relance.keystore import services as keys

    try:
        return keys.master_keyring().primary_id
    except Exception:  # an unreadable keyring does not stop a backup; the manifest says so
        return None


def applied_migrations(alias: str) -> list[str]:
    recorder = MigrationRecorder(connections[alias])
    if not recorder.has_table():
        return []
    return sorted(f"{app}.{name}" for app, name in recorder.applied_migrations())


# --- PostgreSQL client tools ---------------------------------------------------------------
def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(_(
            "%(tool)s is not installed: install the PostgreSQL client tools (Debian: apt-get install "
            "postgresql-client), of the server's major version or newer, then run the command again."
        ) % {"tool": name})
    return path


def _pg_env(alias: str) -> tuple[dict, str]:
    config = connections[alias].settings_dict
    env = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if config.get(key):
            env[var] = str(config[key])
    options = config.get("OPTIONS") or {}
    for key, var in PG_OPTION_VARS.items():
        if options.get(key):
            env[var] = str(options[key])
    return env, str(config["NAME"])


def _run_pg(argv: list[str], env: dict, what: str) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True)  # noqa: S603 (pg tools, our arguments)
    if done.returncode != 0:
        raise BackupError(_("%(what)s failed (exit %(code)s): %(error)s") % {
            "what": what, "code": done.returncode, "error": done.stderr.strip()[-2000:]})


# --- backing up ----------------------------------------------------------------------------
def _sqlite_backup(alias: str, target: Path) -> None:
    conn = connections[alias]
    conn.ensure_connection()
    copy = sqlite3.connect(target)
    try:
        conn.connection.backup(copy)  # one step: a consistent snapshot, writers keep going (WAL)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        copy.close()


def _pg_backup(alias: str, target: Path) -> None:
    env, name = _pg_env(alias)
    _run_pg([_pg_tool("pg_dump"), "--format=custom", "--no-password", f"--file={target}", f"--dbname={name}"],
            env, "pg_dump")


def _describe(kind: str, alias: str) -> dict:
    """What the manifest says about the content: counts and key ids, never personal data or a key."""
    if kind == KEYS:
        from relance.keystore.models import ScopeKey, SubjectKey

        return {"scope_keys": ScopeKey.objects.count(), "subject_keys": SubjectKey.objects.count(),
                "wrapped_by_master_keys": sorted(set(ScopeKey.objects.values_list("master_key_id", flat=True)))}
    from relance.accounts.models import Organisation
    from relance.contacts.models import Contact

    return {"organisations": Organisation.objects.count(), "contacts": Contact.unscoped.count()}


def back_up(kind: str, directory: Path, now: datetime, progress: Progress | None = None) -> Written:
    alias = ALIASES[kind]
    vendor = engine(alias)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = directory / file_name(kind, now, vendor)
    manifest_path = final.with_name(final.name + ".json")
    partial = final.with_name(final.name + ".partial")
    for existing in (final, manifest_path):
        if existing.exists():
            raise BackupError(_("%(path)s already exists: a backup is never overwritten.") % {"path": existing})
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(_("%(path)s exists: another backup is running, or one was interrupted (delete it).")
                          % {"path": partial})
    os.close(fd)
    try:
        if progress:
            progress(_("Backing up the %(what)s (%(engine)s) to %(path)s…") % {
                "what": _("main database") if kind == MAIN else _("key store"), "engine": vendor, "path": final})
        if vendor == "sqlite":
            partial.unlink()
            _sqlite_backup(alias, partial)
            os.chmod(partial, 0o600)
        else:
            _pg_backup(alias, partial)
        manifest = {
            "format": FORMAT,
            "kind": kind,
            "engine": vendor,
            "file": final.name,
            "bytes": partial.stat().st_size,
            "sha256": sha256(partial),
            "created_at": now.astimezone(UTC).isoformat(),
            "relance_version": relance_version(),
            "master_key_id": master_key_id(),
            "migrations": applied_migrations(alias),
            "content": _describe(kind, alias),
        }
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.link(partial, final)  # fails rather than overwrite
        partial.unlink()
        tmp = manifest_path.with_name(manifest_path.name + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, manifest_path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Written(kind, final, manifest)


# --- pruning -------------------------------------------------------------------------------
def backup_files(directory: Path) -> list[tuple[str, datetime, Path]]:
    """(kind, time, path) of every backup file of the directory (manifests, partial files included)."""
    found = []
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            match = NAME_RE.match(path.name)
            if match:
                found.append((match.group(1), parse_stamp(match.group(2)), path))
    return found


def prune(directory: Path, now: datetime) -> list[Pruned]:
    """Delete key store backups as old as the key window and main backups as old as theirs (R-60)."""
    pruned: dict[str, Pruned] = {}
    for kind, moment, path in backup_files(directory):
        age = now - moment
        if age < timedelta(days=window_days(kind)):
            continue
        base = NAME_RE.match(path.name).group(0).removesuffix(".json").removesuffix(".partial")
        path.unlink(missing_ok=True)
        entry = pruned.setdefault(base, Pruned(kind, directory / base, age.total_seconds() / 86400))
        if path.name != base:
            entry.extra.append(path)
    return sorted(pruned.values(), key=lambda item: item.path.name)


# --- restoring -----------------------------------------------------------------------------
def read_manifest(path: Path) -> dict:
    manifest_path = path.with_name(path.name + ".json")
    if not path.is_file():
        raise BackupError(_("%(path)s: no such backup file.") % {"path": path})
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise BackupError(_("%(path)s has no manifest (%(manifest)s): it cannot be checked, so it is not restored.")
                          % {"path": path, "manifest": manifest_path.name})
    except (OSError, ValueError) as exc:
        raise BackupError(_("The manifest %(manifest)s cannot be read: %(error)s") % {"manifest": manifest_path, "error": exc})
    if manifest.get("format") != FORMAT or manifest.get("kind") not in ALIASES:
        raise BackupError(_("The manifest %(manifest)s is not a Relance backup manifest.") % {"manifest": manifest_path})
    return manifest


def verify(path: Path, manifest: dict) -> None:
    size = path.stat().st_size
    if size != manifest.get("bytes") or sha256(path) != manifest.get("sha256"):
        raise BackupError(_(
            "%(path)s does not match its manifest (sha256 or size differs): the file is damaged or was "
            "changed. Nothing was restored."
        ) % {"path": path})


def age_days(manifest: dict, now: datetime) -> float:
    return (now - datetime.fromisoformat(manifest["created_at"])).total_seconds() / 86400


def non_empty_tables(alias: str) -> list[str]:
    conn = connections[alias]
    with conn.cursor() as cursor:
        tables = [name for name in conn.introspection.table_names(cursor) if name not in BOOTSTRAP_TABLES]
        busy = []
        for name in tables:
            cursor.execute(f"SELECT 1 FROM {conn.ops.quote_name(name)} LIMIT 1")  # noqa: S608 (introspected names)
            if cursor.fetchone():
                busy.append(name)
        return busy


def _unknown_migrations(manifest: dict) -> list[str]:
    known = {f"{app}.{name}" for app, name in MigrationLoader(None, ignore_no_migrations=True).disk_migrations}
    return sorted(set(manifest.get("migrations", [])) - known)


def check(path: Path, kind: str | None, now: datetime, *, force: bool) -> dict:
    """Everything that can be checked before touching a database; returns the manifest."""
    manifest = read_manifest(path)
    if kind and manifest["kind"] != kind:
        raise BackupError(_("%(path)s is a backup of the %(found)s, not of the %(expected)s.") % {
            "path": path, "found": manifest["kind"], "expected": kind})
    vendor = engine(ALIASES[manifest["kind"]])
    if manifest["engine"] != vendor:
        raise BackupError(_("%(path)s is a %(found)s backup; the configured database is %(expected)s.") % {
            "path": path, "found": manifest["engine"], "expected": vendor})
    verify(path, manifest)
    unknown = _unknown_migrations(manifest)
    if unknown and not force:
        raise BackupError(_(
            "%(path)s comes from a newer Relance (migrations unknown here: %(names)s): upgrade Relance first, "
            "or use --force."
        ) % {"path": path, "names": ", ".join(unknown[:5])})
    if manifest["kind"] == KEYS:
        age = age_days(manifest, now)
        if age >= key_window_days() and not force:
            raise BackupError(_(
                "%(path)s is a key store backup %(age).1f days old, older than the key window "
                "(RELANCE_KEY_BACKUP_DAYS=%(days)s). It should not exist: key store backups rotate out so that "
                "the data key of a contact erased since then cannot come back (R-60). Restoring it would make "
                "readable again every contact erased after it was made. Refused; --force restores it anyway."
            ) % {"path": path, "age": age, "days": key_window_days()})
        needed = set(manifest.get("content", {}).get("wrapped_by_master_keys", []))
        missing = sorted(needed - set(_keyring_ids()))
        if missing and not force:
            raise BackupError(_(
                "%(path)s needs master key(s) %(ids)s, which the keyring does not hold: nothing in it could be "
                "opened. Put the old key(s) back in the keyring (after the primary one), or use --force."
            ) % {"path": path, "ids": ", ".join(missing)})
    return manifest


def _keyring_ids() -> list[str]:
    from relance.keystore import services as keys

    try:
        return list(keys.master_keyring().keys)
    except Exception:
        return []


def _sqlite_restore(alias: str, path: Path) -> None:
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if source.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise BackupError(_("%(path)s is not a sound SQLite database.") % {"path": path})
        conn = connections[alias]
        conn.ensure_connection()
        source.backup(conn.connection)
    finally:
        source.close()


def _pg_restore(alias: str, path: Path, progress: Progress | None) -> None:
    conn = connections[alias]
    with conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        others = cursor.fetchone()[0]
        if others and progress:
            progress(_("Warning: %(count)s other session(s) use this database; the restoration waits for their locks. "
                       "Stop relance serve and the workers.") % {"count": others})
        # Objects of newer migrations, absent from the dump, go too.
        for name in conn.introspection.table_names(cursor):
            cursor.execute(f"DROP TABLE IF EXISTS {conn.ops.quote_name(name)} CASCADE")
    conn.close()
    env, name = _pg_env(alias)
    _run_pg([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-acl", "--single-transaction",
             "--exit-on-error", "--no-password", f"--dbname={name}", str(path)], env, "pg_restore")


def restore(path: Path, manifest: dict, *, replace: bool, progress: Progress | None = None) -> dict:
    """Restore one backup into its configured database; returns what was done."""
    kind = manifest["kind"]
    alias = ALIASES[kind]
    busy = non_empty_tables(alias)
    if busy and not replace:
        raise BackupError(_(
            "The %(what)s is not empty (%(count)s tables hold rows, e.g. %(names)s): restoring replaces its "
            "whole content. Stop the application, then run the command again with --yes."
        ) % {"what": _("main database") if kind == MAIN else _("key store"), "count": len(busy),
             "names": ", ".join(busy[:3])})
    if progress:
        progress(_("Restoring %(path)s into the %(what)s…") % {
            "path": path.name, "what": _("main database") if kind == MAIN else _("key store")})
    if manifest["engine"] == "sqlite":
        _sqlite_restore(alias, path)
    else:
        _pg_restore(alias, path, progress)
    connections[alias].close()
    return {"kind": kind, "file": str(path), "created_at": manifest["created_at"],
            "migrations_applied": migrate_if_needed(alias, progress), "content": manifest.get("content", {})}


def migrate_if_needed(alias: str, progress: Progress | None = None) -> int:
    from django.core.management import call_command

    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        if progress:
            progress(_("The backup is older than this Relance: applying %(count)s migration(s)…") % {"count": len(plan)})
        call_command("migrate", database=alias, interactive=False, verbosity=0)
    return len(plan)


def contacts_without_key() -> list | None:
    """Contacts (not erased) whose data key the key store no longer holds: erased after the backup.
    None when one of the databases cannot answer (e.g. a key store not set up yet)."""
    try:
        return _contacts_without_key()
    except DatabaseError:
        return None


def _contacts_without_key() -> list:
    from relance.contacts.models import Contact
    from relance.keystore.models import SubjectKey

    missing, batch = [], []

    def flush():
        present = {str(key) for key in SubjectKey.objects.filter(id__in=[key for _, key in batch]).values_list("id", flat=True)}
        missing.extend(pk for pk, key in batch if str(key) not in present)
        batch.clear()

    rows = (Contact.unscoped.exclude(status=Contact.Status.ERASED).exclude(data_key_id=None)
            .order_by("pk").values_list("pk", "data_key_id"))
    for row in rows.iterator(chunk_size=CHUNK):
        batch.append(row)
        if len(batch) >= CHUNK:
            flush()
    if batch:
        flush()
    return missing


def keyed_contacts() -> int:
    from relance.contacts.models import Contact

    return Contact.unscoped.exclude(status=Contact.Status.ERASED).exclude(data_key_id=None).count()


def erase_unreadable(contact_ids: list) -> int:
    """Erase again (R-43) the contacts erased after the backup: tombstone, suppression list entry."""
    from relance.audit.services import Actor
    from relance.contacts.models import Contact
    from relance.privacy import erasure

    actor, done = Actor.system("restore"), 0
    for contact in Contact.unscoped.filter(pk__in=contact_ids).exclude(status=Contact.Status.ERASED):
        try:
            erasure.erase_contact(contact, actor=actor, reason="request")
        except erasure.AlreadyErased:
            continue
        done += 1
    return done


def now() -> datetime:
    return timezone.now()
