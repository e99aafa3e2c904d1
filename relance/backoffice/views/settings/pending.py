"""The file of a dry run, kept until the person runs the import for real (or gives up).

A contacts file is personal data (R-60, R-61): it is kept sealed with a data key of its own in the key
store (AES-256-GCM, wrapped by the organisation's key), under var/pending-imports/. Only the session
that uploaded it knows the key's id. Running the import (or abandoning it) destroys the key, so the
file is unreadable from then on even if its deletion failed; files older than a day are deleted at
the next upload.

A limit: the file lives on the machine that received it. With several web machines, route a session
to one machine (sticky sessions) or upload through the API, which takes the file in one request.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from django.conf import settings

from relance.keystore import services as keys
from relance.lib import crypto

SESSION_KEY = "relance.pending_imports"
MAX_AGE_SECONDS = 24 * 3600


def _folder() -> Path:
    folder = Path(settings.VAR_DIR) / "pending-imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _path(batch_id) -> Path:
    return _folder() / f"{uuid.UUID(str(batch_id))}.sealed"


def _aad(batch_id) -> bytes:
    return crypto.key_aad("pending-import", str(batch_id))


def _clean_old() -> None:
    limit = time.time() - MAX_AGE_SECONDS
    for path in _folder().glob("*.sealed"):
        if path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)


def keep(request, batch, data: bytes) -> None:
    """Seal the file of dry run `batch` for this session."""
    _clean_old()
    key_id = keys.create_subject_key(keys.org_scope(batch.organisation_id))
    _path(batch.pk).write_bytes(crypto.seal(keys.subject_key(key_id), data, _aad(batch.pk)))
    pending = dict(request.session.get(SESSION_KEY, {}))
    pending[str(batch.pk)] = str(key_id)
    request.session[SESSION_KEY] = pending


def available(request, batch) -> bool:
    return str(batch.pk) in request.session.get(SESSION_KEY, {}) and _path(batch.pk).exists()


def take(request, batch) -> bytes | None:
    """The file of dry run `batch`, and forget it: key destroyed, file deleted, session entry gone."""
    pending = dict(request.session.get(SESSION_KEY, {}))
    key_id = pending.pop(str(batch.pk), None)
    request.session[SESSION_KEY] = pending
    path = _path(batch.pk)
    if key_id is None or not path.exists():
        return None
    try:
        return crypto.open_sealed(keys.subject_key(uuid.UUID(key_id)), path.read_bytes(), _aad(batch.pk))
    except crypto.CryptoError:
        return None
    finally:
        keys.destroy_subject_key(uuid.UUID(key_id))
        path.unlink(missing_ok=True)
