"""Key store operations: create, use, destroy and rotate keys (R-60, R-61, R-62).

Unwrapped keys are cached in process memory for a short time (scope keys 5 minutes, subject keys
one minute) so that hot paths do not unwrap on every field; destroying a key evicts it here at
once, and from other processes within a minute. Which wrap-key version is the active one is only
cached for a few seconds, so that after a rotation every process wraps new keys with the new
version (rotate_scope waits that long before its last sweep).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from relance.lib import crypto
from relance.lib.crypto import CryptoError, MasterKeyring

from .models import ScopeKey, SubjectKey
from .router import KEYSTORE_DB

PLATFORM_SCOPE = "platform"
SCOPE_TTL = 300.0
SUBJECT_TTL = 60.0
ACTIVE_TTL = 5.0
ROTATION_SETTLE = ACTIVE_TTL + 1.0
ROTATION_BATCH = 500


class KeyDestroyed(CryptoError):
    """The subject's data key no longer exists: its data is unreadable for good."""


def org_scope(organisation_id: int) -> str:
    return f"org:{organisation_id}"


# --- the master keyring, re-read when its file changes -------------------------------------
_lock = threading.Lock()
_keyring: tuple[object, MasterKeyring] | None = None


def _keyring_source() -> tuple[object, str]:
    if getattr(settings, "RELANCE_MASTER_KEY", None):
        return ("env", settings.RELANCE_MASTER_KEY), settings.RELANCE_MASTER_KEY
    path = Path(settings.RELANCE_MASTER_KEY_FILE)
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size), path.read_text()


def master_keyring() -> MasterKeyring:
    global _keyring
    stamp, text = _keyring_source()
    with _lock:
        if _keyring is None or _keyring[0] != stamp:
            _keyring = (stamp, crypto.parse_master_keyring(text))
        return _keyring[1]


def keyring_from_file() -> bool:
    """True when the keyring is the embedded default's file, which Relance may rewrite."""
    return not getattr(settings, "RELANCE_MASTER_KEY", None) and bool(getattr(settings, "RELANCE_MASTER_KEY_FILE", None))


def add_master_key_to_file() -> str:
    """Prepend a new primary master key to the keyring file (embedded default); returns its id."""
    if not keyring_from_file():
        raise CryptoError(
            "the master keyring is given by the environment (RELANCE_MASTER_KEY or RELANCE_MASTER_KEY_FILE): "
            "put a new key first in it, restart every process, then rotate"
        )
    path = Path(settings.RELANCE_MASTER_KEY_FILE)
    old = path.read_text()
    crypto.parse_master_keyring(old)  # refuse to build on a malformed file
    line = crypto.new_master_key_line()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(line + "\n" + old)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    # Scope keys are about to be wrapped with the new key: it must survive a crash.
    _fsync_directory(path.parent)
    return line.split(":", 1)[0]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- small TTL cache -----------------------------------------------------------------------
class _TTLCache:
    def __init__(self, ttl: float, size: int):
        self.ttl, self.size, self.data = ttl, size, {}

    def get(self, key):
        hit = self.data.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, key, value):
        if len(self.data) >= self.size:
            self.data.clear()
        self.data[key] = (time.monotonic() + self.ttl, value)

    def pop(self, key):
        self.data.pop(key, None)

    def clear(self):
        self.data.clear()


_scope_cache = _TTLCache(SCOPE_TTL, 10_000)
_subject_cache = _TTLCache(SUBJECT_TTL, 50_000)
_active_cache = _TTLCache(ACTIVE_TTL, 10_000)


def clear_caches() -> None:
    global _keyring
    _scope_cache.clear()
    _subject_cache.clear()
    _active_cache.clear()
    _keyring = None


# --- scope keys ----------------------------------------------------------------------------
def _unwrap_scope_key(row: ScopeKey) -> bytes:
    master = master_keyring().key(row.master_key_id)
    aad = crypto.key_aad("scope", f"{row.scope}|{row.purpose}|{row.version}")
    return crypto.open_sealed(master, row.wrapped, aad)


def _create_scope_key(scope: str, purpose: str, version: int) -> ScopeKey:
    ring = master_keyring()
    aad = crypto.key_aad("scope", f"{scope}|{purpose}|{version}")
    return ScopeKey.objects.create(
        scope=scope,
        purpose=purpose,
        version=version,
        wrapped=crypto.seal(ring.key(ring.primary_id), crypto.new_key(), aad),
        master_key_id=ring.primary_id,
    )


def _newest_scope_key(scope: str, purpose: str) -> ScopeKey | None:
    keys = ScopeKey.objects.filter(scope=scope, purpose=purpose).order_by("-version")
    return keys.filter(retired_at__isnull=True).first() or keys.first()


def _active_scope_key(scope: str, purpose: str) -> ScopeKey:
    row = _newest_scope_key(scope, purpose)
    if row is None:
        # Two processes may create the first key at once: the unique constraint keeps one.
        try:
            with transaction.atomic(using=KEYSTORE_DB):
                row = _create_scope_key(scope, purpose, 1)
        except IntegrityError:
            row = _newest_scope_key(scope, purpose)
    return row


def scope_key(scope: str, purpose: str, version: int | None = None) -> tuple[int, bytes]:
    if version is None:
        version = _active_cache.get((scope, purpose))
        if version is None:
            row = _active_scope_key(scope, purpose)
            _active_cache.put((scope, purpose), row.version)
            value = (row.version, _unwrap_scope_key(row))
            _scope_cache.put((scope, purpose, row.version), value)
            return value
    hit = _scope_cache.get((scope, purpose, version))
    if hit:
        return hit
    row = ScopeKey.objects.get(scope=scope, purpose=purpose, version=version)
    value = (row.version, _unwrap_scope_key(row))
    _scope_cache.put((scope, purpose, version), value)
    return value


def ensure_scope(scope: str) -> None:
    """Create a scope's keys now (an organisation's, when it is created)."""
    scope_key(scope, ScopeKey.WRAP)
    scope_key(scope, ScopeKey.INDEX)


def blind_index(scope: str, kind: str, normalised_value: str) -> str:
    _, key = scope_key(scope, ScopeKey.INDEX)
    return crypto.blind_index(key, kind, normalised_value)


# --- subject keys --------------------------------------------------------------------------
def create_subject_key(scope: str) -> uuid.UUID:
    version, wrap_key = scope_key(scope, ScopeKey.WRAP)
    key_id = uuid.uuid4()
    data_key = crypto.new_key()
    SubjectKey.objects.create(
        id=key_id,
        scope=scope,
        wrap_version=version,
        wrapped=crypto.seal(wrap_key, data_key, crypto.key_aad("subject", str(key_id))),
    )
    _subject_cache.put(key_id, data_key)
    return key_id


def subject_key(key_id: uuid.UUID) -> bytes:
    hit = _subject_cache.get(key_id)
    if hit:
        return hit
    row = SubjectKey.objects.filter(id=key_id).first()
    if row is None:
        raise KeyDestroyed("this person's data key was destroyed: the data is unreadable")
    _, wrap_key = scope_key(row.scope, ScopeKey.WRAP, row.wrap_version)
    data_key = crypto.open_sealed(wrap_key, row.wrapped, crypto.key_aad("subject", str(key_id)))
    _subject_cache.put(key_id, data_key)
    return data_key


def destroy_subject_key(key_id: uuid.UUID) -> bool:
    """Crypto-shredding: delete the key; every value sealed with it becomes unreadable."""
    _subject_cache.pop(key_id)
    deleted, _ = SubjectKey.objects.filter(id=key_id).delete()
    _subject_cache.pop(key_id)  # a concurrent read may have cached it again meanwhile
    return bool(deleted)


def encrypt_text(key_id: uuid.UUID, text: str, aad: bytes) -> bytes:
    return crypto.seal(subject_key(key_id), text.encode(), aad)


def decrypt_text(key_id: uuid.UUID, sealed: bytes, aad: bytes) -> str:
    return crypto.open_sealed(subject_key(key_id), sealed, aad).decode()


# --- rotation: re-wrap in small batches while the application keeps serving -----------
Progress = Callable[[int, int], None]


def rotate_master(progress: Progress | None = None) -> int:
    """Re-wrap every scope key that is not under the primary master key."""
    ring = master_keyring()
    stale = list(ScopeKey.objects.exclude(master_key_id=ring.primary_id).values_list("pk", flat=True))
    for done, pk in enumerate(stale, start=1):
        with transaction.atomic(using=KEYSTORE_DB):
            row = ScopeKey.objects.select_for_update().get(pk=pk)
            aad = crypto.key_aad("scope", f"{row.scope}|{row.purpose}|{row.version}")
            clear = _unwrap_scope_key(row)
            row.wrapped = crypto.seal(ring.key(ring.primary_id), clear, aad)
            row.master_key_id = ring.primary_id
            row.save(update_fields=["wrapped", "master_key_id"])
        if progress:
            progress(done, len(stale))
    _scope_cache.clear()
    return len(stale)


def rotate_scope(scope: str, progress: Progress | None = None) -> int:
    """New wrap-key version for a scope; re-wrap its subject keys; retire the old versions.

    Each batch is its own short transaction, so readers and writers keep working: a subject key is
    readable under its old version until its batch commits, and under the new one after. An
    interrupted rotation (two active versions) is resumed rather than started again.
    """
    new_row = _rotation_target(scope)
    started = time.monotonic()
    _scope_cache.clear()
    _active_cache.clear()
    new_key = _unwrap_scope_key(new_row)
    total = SubjectKey.objects.filter(scope=scope).exclude(wrap_version=new_row.version).count()
    done = _rewrap_pending(scope, new_row.version, new_key, total, 0, progress)
    # Other processes may still wrap new keys with the old version until their cache of the
    # active version expires: wait that long, then sweep once more.
    time.sleep(max(0.0, started + ROTATION_SETTLE - time.monotonic()))
    done = _rewrap_pending(scope, new_row.version, new_key, total, done, progress)
    ScopeKey.objects.filter(
        scope=scope, purpose=ScopeKey.WRAP, version__lt=new_row.version, retired_at__isnull=True
    ).update(retired_at=timezone.now())
    _scope_cache.clear()
    _active_cache.clear()
    return done


def _rotation_target(scope: str) -> ScopeKey:
    with transaction.atomic(using=KEYSTORE_DB):
        active = list(
            ScopeKey.objects.select_for_update()
            .filter(scope=scope, purpose=ScopeKey.WRAP, retired_at__isnull=True)
            .order_by("-version")
        )
        if len(active) > 1:
            return active[0]
        current = active[0] if active else _active_scope_key(scope, ScopeKey.WRAP)
        return _create_scope_key(scope, ScopeKey.WRAP, current.version + 1)


def _rewrap_pending(scope: str, version: int, new_key: bytes, total: int, done: int, progress: Progress | None) -> int:
    while True:
        with transaction.atomic(using=KEYSTORE_DB):
            batch = list(
                SubjectKey.objects.select_for_update()
                .filter(scope=scope)
                .exclude(wrap_version=version)
                .order_by("id")[:ROTATION_BATCH]
            )
            for row in batch:
                aad = crypto.key_aad("subject", str(row.id))
                _, old_key = scope_key(scope, ScopeKey.WRAP, row.wrap_version)
                row.wrapped = crypto.seal(new_key, crypto.open_sealed(old_key, row.wrapped, aad), aad)
                row.wrap_version = version
            if batch:
                SubjectKey.objects.bulk_update(batch, ["wrapped", "wrap_version"])
        if not batch:
            return done
        done += len(batch)
        if progress:
            progress(done, max(total, done))
