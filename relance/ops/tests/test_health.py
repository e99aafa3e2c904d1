"""/healthz and /readyz (issue 10, item 4; docs/monitoring.md).

Liveness answers without a database. Readiness tries the real things: the key store is swapped for a
connection to a closed port (PostgreSQL) or to a file that cannot be opened (SQLite), then for an
empty database (reachable, not migrated), and the master keyring for one that lacks the key the key
store's rows were wrapped with. The answer lists what failed by name, without an address, a secret
or personal data. Neither endpoint needs a login, a session or a CSRF token, or writes an audit event.
"""

from __future__ import annotations

import json
import socket
from contextlib import contextmanager

import pytest
from django.db import connection, connections
from django.db.utils import load_backend
from django.test import override_settings

from relance.audit.models import AuditEvent
from relance.keystore import services as keys
from relance.lib.crypto import new_master_key_line
from relance.ops import health


@pytest.fixture(autouse=True)
def _forget_migration_checks():
    health._migrated.clear()
    yield
    health._migrated.clear()


def test_healthz_needs_no_database(client):
    """Issue 10: liveness is the process alone (no django_db mark: any query would fail the test)."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_ready(client, db_both):
    """Issue 10: both databases answer and are migrated, the master keyring holds every key in use."""
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready" and body["failed"] == []
    assert body["checks"] == {"database": "ok", "database_migrations": "ok", "keystore": "ok",
                              "keystore_migrations": "ok", "master_key": "ok"}


def test_no_login_no_csrf_no_audit(client, db_both, monkeypatch):
    """§3.7, R-70: anonymous GET and HEAD are answered (no redirect to the login page), POST is refused
    as a method (405, not a CSRF failure), nothing is written to the audit trail."""
    monkeypatch.delenv("RELANCE_METRICS_TOKEN", raising=False)  # embedded mode, from the machine itself
    monkeypatch.delenv("RELANCE_METRICS_TOKEN_FILE", raising=False)
    before = AuditEvent.objects.count()
    for url in ("/healthz", "/readyz", "/metrics"):
        assert client.get(url).status_code == 200, url
        assert client.head(url).status_code == 200, url
        assert client.post(url).status_code == 405, url
    assert AuditEvent.objects.count() == before
    assert "sessionid" not in client.cookies


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def keystore_replaced(**changes):
    """The "keys" alias answered by another connection (its settings changed) for the duration."""
    original = connections["keys"]
    settings_dict = {**original.settings_dict, **changes}
    replacement = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "keys")
    connections["keys"] = replacement
    try:
        yield
    finally:
        replacement.close()
        connections["keys"] = original


def unreachable() -> dict:
    if connection.vendor == "postgresql":
        return {"HOST": "127.0.0.1", "PORT": str(_closed_port())}
    return {"NAME": "/nonexistent-directory/keys.sqlite3"}


def assert_clean(text: str) -> None:
    """No address, password or path in a readiness answer."""
    for word in ("127.0.0.1", "password", "nonexistent", "postgres://", "Traceback"):
        assert word not in text, word


def test_readyz_503_when_the_key_store_is_unreachable(client, db_both):
    """R-60, issue 10: the key store's database is down (a closed port): 503, "keystore" failed, the
    checks that need it skipped; the main database still reported ok; nothing revealing in the body."""
    with keystore_replaced(**unreachable()):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["failed"] == ["keystore", "keystore_migrations", "master_key"]
    assert body["checks"]["keystore"] == "OperationalError"
    assert body["checks"]["database"] == "ok"
    assert_clean(response.content.decode())
    assert client.get("/readyz").status_code == 200  # back once the key store answers


def test_readyz_503_when_the_key_store_is_not_migrated(client, db_both, tmp_path):
    """Issue 10: a reachable but empty key store (never migrated) is not ready."""
    empty = {"NAME": "postgres"} if connection.vendor == "postgresql" else {"NAME": str(tmp_path / "empty.sqlite3")}
    with keystore_replaced(**empty):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["keystore"] == "ok"
    assert "keystore_migrations" in body["failed"]
    assert_clean(response.content.decode())


def test_readyz_503_when_the_master_key_is_missing_or_wrong(client, db_both, tmp_path):
    """R-60, issue 10: a keyring that does not load, or lacks the master key the scope keys were
    wrapped with (a wrong RELANCE_MASTER_KEY after a restore), is not ready; the key is never shown."""
    keys.ensure_scope(keys.PLATFORM_SCOPE)  # a scope key wrapped with the configured master key
    other = new_master_key_line()
    try:
        with override_settings(RELANCE_MASTER_KEY=other):
            keys.clear_caches()
            response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["master_key"] == "UnknownMasterKey"
        assert other.split(":")[-1] not in response.content.decode()
        with override_settings(RELANCE_MASTER_KEY="", RELANCE_MASTER_KEY_FILE=str(tmp_path / "missing.key")):
            keys.clear_caches()
            response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["master_key"] == "FileNotFoundError"
        assert_clean(json.dumps(response.json()))
    finally:
        keys.clear_caches()
    assert client.get("/readyz").status_code == 200


def test_probes_are_never_redirected_to_https(client, settings):
    """docs/monitoring.md: with RELANCE_SSL_REDIRECT on, a plain-HTTP probe still gets its answer."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/app/").status_code == 301
