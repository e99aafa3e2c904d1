"""`relance doctor` on the configured databases (issue 10): a healthy test configuration passes, and each
planted fault gives its ERROR (or WARNING) with what to fix. Runs on SQLite and on PostgreSQL.

Faults are real: a keyring that lost a master key, a key under the wrong id, a keyring file readable by
others, a new empty database (SQLite file or PostgreSQL database) in place of the migrated one, the key
store pointed at the main database, an SMPP account on a closed port, this process's clock moved away
from the database's, a sending window with no day, a message no worker took. Every run's output is
scanned for the master keys (base64, url-safe base64, hex), SECRET_KEY, provider passwords and the
contacts' data (R-61).
"""

from __future__ import annotations

import base64
import io
import json
import socket
import sqlite3
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.conf import settings
from django.core.management import call_command
from django.db import connections, transaction
from django.test import override_settings
from django.utils import timezone

from relance.audit.services import Actor
from relance.keystore import services as keys
from relance.lib import crypto
from relance.messaging import outbox
from relance.messaging.models import Message, SendingSettings
from relance.messaging.tests.helpers import informed_contact, service_purpose
from relance.ops import doctor
from relance.providers.models import ProviderAccount
from relance.providers.services import create_account
from relance.providers.testing.smsc import smsc, smsc_process  # noqa: F401 (fixtures)
from relance.testing import make_contact, make_org

both = pytest.mark.django_db(databases=["default", "keys"])
# Tests that point an alias at another database commit: the swap needs autocommit connections.
both_committed = pytest.mark.django_db(transaction=True, databases=["default", "keys"])
SMPP_PASSWORD = "s3cret-smpp-pw"
PERSON = {"first_name": "Ada", "last_name": "Lovelace", "phone": "+33612345678", "email": "ada@example.org"}
GOOD_PRODUCTION = {
    "RELANCE_ENV": "production", "DEBUG": False, "ALLOWED_HOSTS": ["relance.example.org"],
    "SECRET_KEY": "k" * 20 + "Zx9-Qw7_Lp3+Mn5!Rt8=Vb2" + "y" * 20, "RELANCE_PUBLIC_URL": "https://relance.example.org",
    "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_HSTS_SECONDS": 31536000,
    "RELANCE_WEBHOOK_SECRET": "w" * 40,
}


def secrets_in_play() -> list[str]:
    """What must never be printed: every encoding of every master key, SECRET_KEY, passwords, personal data."""
    found = [settings.SECRET_KEY, SMPP_PASSWORD, *PERSON.values()]
    try:
        ring = keys.master_keyring()
    except Exception:  # noqa: BLE001 (a planted broken keyring: nothing to look for)
        return found
    for key in ring.keys.values():
        found += [key.hex(), base64.b64encode(key).decode().rstrip("="), base64.urlsafe_b64encode(key).decode().rstrip("=")]
    return found


def assert_no_secrets(text: str, extra: tuple[str, ...] = ()) -> None:
    leaked = [secret for secret in [*secrets_in_play(), *extra] if secret and secret in text]
    assert not leaked, f"doctor printed {len(leaked)} secret or personal value(s)"


def doctor_run(*args: str, language: str = "en", extra_secrets: tuple[str, ...] = ()) -> tuple[int, str]:
    """`relance doctor ARGS`: its exit status and output, scanned for secrets."""
    out = io.StringIO()
    try:
        call_command("doctor", *args, language=language, stdout=out, stderr=io.StringIO(), no_color=True)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    text = out.getvalue()
    assert_no_secrets(text, extra_secrets)
    return code, text


def doctor_json(*args: str) -> tuple[int, dict]:
    code, text = doctor_run("--json", *args)
    return code, json.loads(text)


def by_id(report: dict) -> dict[str, dict]:
    return {item["id"]: item for item in report["checks"]}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def alias_pointed_at(alias: str, name: str, **other):
    """Point one alias at another database for the block (as relance/ops/tests/test_backup.py does)."""
    conn = connections[alias]
    saved = {key: conn.settings_dict.get(key) for key in ("NAME", *other)}
    raw = conn.connection  # an in-memory SQLite test database dies with its connection: keep it aside
    conn.connection = None
    conn.settings_dict.update(NAME=name, **other)
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.update(saved)
        conn.connection = raw
        keys.clear_caches()


def people():
    org = make_org(slug="mediatheque-doctor")
    make_contact(org, **PERSON)
    return org


# --- a healthy configuration -----------------------------------------------------------------
@both
def test_healthy_test_configuration_passes():
    """Issue 10, R-60, R-61: the test configuration (embedded, both databases migrated, keys in place) has
    no ERROR and exits 0; --strict turns its one warning (embedded mode) into exit 2; no secret printed."""
    people()
    code, text = doctor_run()
    assert code == 0, text
    assert "ERROR" not in text
    for check in ("databases.default.migrations", "databases.keys.migrations", "databases.separate", "keys.keyring",
                  "keys.wrapped", "keys.unwrap", "clock.database", "organisations", "worker.backlog"):
        assert f"OK       {check}:" in text, check
    assert "WARNING  settings.environment: Embedded mode" in text
    strict, _ = doctor_run("--strict")
    assert strict == 2


@both
def test_json_output_shape():
    """Issue 10: --json is one document: environment, exit_code, counts per status, and every check with
    section, id, status, message, fix and data; the ids are stable."""
    people()
    code, report = doctor_json("--no-network")
    assert code == 0 and report["exit_code"] == 0 and report["environment"] == "embedded"
    assert set(report["counts"]) == {"ok", "warning", "error", "skipped"}
    assert sum(report["counts"].values()) == len(report["checks"])
    for item in report["checks"]:
        assert set(item) == {"section", "id", "status", "message", "fix", "data"}
        assert item["status"] in {"ok", "warning", "error", "skipped"} and item["id"].startswith(item["section"])
    assert {item["section"] for item in report["checks"]} == set(doctor.SECTIONS)
    checks = by_id(report)
    assert checks["keys.wrapped"]["data"]["in_use"] == {keys.master_keyring().primary_id: 2}  # wrap + index
    assert checks["providers.network"]["status"] == "skipped"


# --- keys ------------------------------------------------------------------------------------
@both
def test_master_key_missing_from_keyring_in_both_languages():
    """R-60, R-62, issue 10: the keyring was replaced by one without the master key that wraps the
    organisation's keys: ERROR naming the key id and the organisation, with the fix, in English and
    French; exit 1. Neither the old nor the new keyring's bytes are printed."""
    org = people()
    old = keys.master_keyring()
    old_secrets = tuple(text for key in old.keys.values() for text in
                        (key.hex(), base64.urlsafe_b64encode(key).decode().rstrip("=")))
    with override_settings(RELANCE_MASTER_KEY=crypto.new_master_key_line()):
        keys.clear_caches()
        code, text = doctor_run(extra_secrets=old_secrets)
        assert code == 1
        assert (f"ERROR    keys.wrapped: Master key {old.primary_id} wraps 2 key(s) of the key store "
                f"({org.slug}) but is not in the keyring") in text
        assert f"fix: Put the line of master key {old.primary_id} back into RELANCE_MASTER_KEY" in text
        code, text = doctor_run(language="fr", extra_secrets=old_secrets)
        assert code == 1
        assert f"ERREUR     keys.wrapped: La clé maîtresse {old.primary_id}" in text
        assert "correction : Remettez la ligne de la clé maîtresse" in text
    keys.clear_caches()


@both
def test_wrong_key_under_a_known_id():
    """R-60: the keyring holds the right id with another key: the sample unwrap fails, ERROR keys.unwrap."""
    people()
    primary = keys.master_keyring().primary_id
    other = base64.urlsafe_b64encode(crypto.new_key()).decode().rstrip("=")
    with override_settings(RELANCE_MASTER_KEY=f"{primary}:{other}"):
        keys.clear_caches()
        code, text = doctor_run("--no-network", extra_secrets=(other,))
    keys.clear_caches()
    assert code == 1
    assert f"ERROR    keys.unwrap: Master key {primary} in the keyring does not open the keys it wraps" in text


@both
def test_malformed_keyring():
    """R-60: a keyring that does not parse is an ERROR saying how to write it; the key store is not read."""
    with override_settings(RELANCE_MASTER_KEY="m1:not-base64!"):
        keys.clear_caches()
        code, report = doctor_json("--no-network")
    keys.clear_caches()
    keyring = by_id(report)["keys.keyring"]
    assert code == 1 and keyring["status"] == "error" and "is malformed" in keyring["message"]
    assert "'id:base64-key' per line" in keyring["fix"]


@both
def test_keyring_file_readable_by_others(tmp_path):
    """R-60: a keyring file in mode 644 is a WARNING (embedded) and an ERROR in production, with chmod."""
    people()
    path = tmp_path / "master.key"
    path.write_text(Path(settings.RELANCE_MASTER_KEY_FILE).read_text())
    path.chmod(0o644)
    with override_settings(RELANCE_MASTER_KEY=None, RELANCE_MASTER_KEY_FILE=str(path)):
        _, text = doctor_run("--no-network")
        assert f"WARNING  keys.keyring_file: Keyring file {path}: mode 644 lets other users read it." in text
        assert f"fix: Run `chmod 600 {path}`" in text
        with override_settings(**GOOD_PRODUCTION):
            code, report = doctor_json("--no-network")
        assert by_id(report)["keys.keyring_file"]["status"] == "error" and code == 1
        path.chmod(0o600)
        code, text = doctor_run("--no-network")
        assert "OK       keys.keyring_file:" in text and code == 0
    keys.clear_caches()


# --- databases -------------------------------------------------------------------------------
@both_committed
def test_unmigrated_database(tmp_path):
    """Issue 10: the main database is a new, empty one (a real SQLite file, or a real PostgreSQL database):
    ERROR naming the unapplied migrations and `relance setup`; the sections that need it are skipped."""
    conn = connections["default"]
    if conn.vendor == "sqlite":
        empty = str(tmp_path / "empty.sqlite3")
        sqlite3.connect(empty).close()
    else:
        empty = f"{conn.settings_dict['NAME']}_doc"[:63]
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{empty}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{empty}"')
    try:
        with alias_pointed_at("default", empty):
            code, report = doctor_json("--no-network")
    finally:
        if conn.vendor == "postgresql":
            with conn.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{empty}" WITH (FORCE)')
    checks = by_id(report)
    assert code == 1
    migrations = checks["databases.default.migrations"]
    assert migrations["status"] == "error" and migrations["data"]["unapplied"] > 40
    assert "Run `relance setup`" in migrations["fix"]
    assert checks["databases.keys.migrations"]["status"] == "ok"
    assert {checks[name]["status"] for name in ("organisations", "worker", "providers")} == {"skipped"}


@both_committed
def test_key_store_equal_to_main_database_in_production():
    """R-60, issue 10: RELANCE_KEYSTORE_URL naming the main database is an ERROR in production (a WARNING in
    embedded mode), with the fix."""
    main = connections["default"].settings_dict
    same = {key: main.get(key) for key in ("HOST", "PORT") if connections["keys"].vendor == "postgresql"}
    with alias_pointed_at("keys", main["NAME"], **same):
        code, report = doctor_json("--no-network")
        assert by_id(report)["databases.separate"]["status"] == "warning"
        with override_settings(**GOOD_PRODUCTION):
            code, report = doctor_json("--no-network")
    separate = by_id(report)["databases.separate"]
    assert code == 1 and separate["status"] == "error"
    assert "The key store is the main database itself" in separate["message"]
    assert "Give RELANCE_KEYSTORE_URL a database of its own" in separate["fix"]


# --- settings --------------------------------------------------------------------------------
@both
def test_production_settings():
    """Issue 10, SPEC §3.7: in production, DEBUG on, a weak SECRET_KEY, no ALLOWED_HOSTS, cookies over HTTP,
    no HSTS, an http public URL and no webhook secret are each reported with their variable; good
    production settings report OK."""
    with override_settings(**GOOD_PRODUCTION):
        _, report = doctor_json("--no-network")
    checks = by_id(report)
    for name in ("debug", "secret_key", "allowed_hosts", "cookies", "hsts", "public_url", "webhook_secret"):
        assert checks[f"settings.{name}"]["status"] == "ok", name
    bad = {"DEBUG": True, "SECRET_KEY": "short-secret", "ALLOWED_HOSTS": [], "SESSION_COOKIE_SECURE": False,
           "SECURE_HSTS_SECONDS": 0, "RELANCE_PUBLIC_URL": "http://relance.example.org", "RELANCE_WEBHOOK_SECRET": ""}
    with override_settings(**{**GOOD_PRODUCTION, **bad}):
        code, report = doctor_json("--no-network")
    checks = by_id(report)
    assert code == 1
    expected = {"debug": ("error", "DEBUG=false"), "secret_key": ("error", "SECRET_KEY"),
                "allowed_hosts": ("error", "ALLOWED_HOSTS"), "cookies": ("error", "SESSION_COOKIE_SECURE"),
                "hsts": ("warning", "RELANCE_HSTS_SECONDS"), "public_url": ("error", "RELANCE_PUBLIC_URL"),
                "webhook_secret": ("warning", "RELANCE_WEBHOOK_SECRET")}
    for name, (status, variable) in expected.items():
        assert checks[f"settings.{name}"]["status"] == status and variable in checks[f"settings.{name}"]["fix"], name
    assert "short-secret" not in json.dumps(report)


@both
def test_django_system_check_failure_is_a_finding():
    """Issue 10: a failing Django system check (STATICFILES_DIRS not a list) does not stop the doctor: it is
    one ERROR line with Django's id, and the other checks still run."""
    with override_settings(STATICFILES_DIRS="relance/static"):
        code, report = doctor_json("--no-network")
    checks = by_id(report)
    assert code == 1 and checks["settings.django.staticfiles.E001"]["status"] == "error"
    assert checks["databases.default.migrations"]["status"] == "ok"


# --- providers -------------------------------------------------------------------------------
@both
def test_smpp_account_on_a_closed_port():
    """Issue 10: an SMPP account whose SMSC does not listen is an ERROR naming host and port (never the
    password), with the fix; --no-network does not try it."""
    org = people()
    port = closed_port()
    account = create_account(org, name="SMSC", kind="smpp", actor=Actor.system("test"), credentials={
        "host": "127.0.0.1", "port": port, "system_id": "relance", "password": SMPP_PASSWORD})
    code, text = doctor_run()
    assert code == 1
    assert (f"ERROR    providers.{account.pk}: Provider account {org.slug}/SMSC (smpp): cannot connect to "
            f"127.0.0.1:{port} (ConnectionRefusedError).") in text
    assert "fix: Check the host and port in the account's settings" in text
    code, text = doctor_run("--no-network")
    assert code == 0 and f"OK       providers.{account.pk}: Provider account {org.slug}/SMSC (smpp) is configured." in text


@both
def test_http_vendor_account_reachable_or_not():
    """Issue 10: an HTTP vendor account is tried by a TCP connection to its base URL's host, no request
    sent: OK when something listens, ERROR naming host and port when nothing does; an open circuit is a
    WARNING."""
    org = people()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        account = create_account(org, name="Vonage", kind="vonage", actor=Actor.system("test"),
                                 credentials={"api_key": "k", "api_secret": "abcdef0123456789"},
                                 options={"base_url": f"http://127.0.0.1:{port}"})
        _, report = doctor_json()
        assert by_id(report)[f"providers.{account.pk}"]["status"] == "ok"
    ProviderAccount.unscoped.filter(pk=account.pk).update(circuit=ProviderAccount.Circuit.OPEN, last_error="http_500",
                                                          opened_at=timezone.now())
    code, report = doctor_json()
    checks = by_id(report)
    assert code == 1 and f"cannot connect to 127.0.0.1:{port}" in checks[f"providers.{account.pk}"]["message"]
    assert checks[f"providers.{account.pk}.circuit"]["status"] == "warning"
    assert "http_500" in checks[f"providers.{account.pk}.circuit"]["message"]


@both
def test_smpp_account_binds_to_the_simulator(smsc):  # noqa: F811 (the fixture)
    """Issue 10: an SMPP account pointing at the SMSC simulator binds and unbinds: OK, with the time taken."""
    org = people()
    account = create_account(org, name="SMSC", kind="smpp", actor=Actor.system("test"), credentials={
        "host": smsc.host, "port": smsc.port, "system_id": "relance", "password": SMPP_PASSWORD})
    _, report = doctor_json()
    check = by_id(report)[f"providers.{account.pk}"]
    assert check["status"] == "ok", check
    assert f"SMPP bind at {smsc.host}:{smsc.port} answers" in check["message"]


@both
def test_smtp_server_reachable_and_not():
    """Issue 10: with RELANCE_EMAIL_PROVIDER=django the SMTP server gets connect + EHLO + QUIT: OK against
    aiosmtpd, ERROR on a closed port."""
    controller = Controller(object(), hostname="127.0.0.1", port=closed_port())
    controller.start()
    try:
        with override_settings(RELANCE_EMAIL_PROVIDER="django", EMAIL_HOST="127.0.0.1", EMAIL_PORT=controller.port):
            _, report = doctor_json()
        assert by_id(report)["providers.smtp"]["status"] == "ok"
    finally:
        controller.stop()
    with override_settings(RELANCE_EMAIL_PROVIDER="django", EMAIL_HOST="127.0.0.1", EMAIL_PORT=closed_port()):
        code, report = doctor_json()
    assert code == 1 and by_id(report)["providers.smtp"]["status"] == "error"
    assert "EMAIL_HOST" in by_id(report)["providers.smtp"]["fix"]


# --- clock -----------------------------------------------------------------------------------
@both
def test_clock_skew_between_this_process_and_the_database():
    """Issue 10: this process's clock 30 s ahead of the database's now() (time_machine moves the
    application's clock only) is an ERROR with the NTP fix; the normal clock is OK."""
    target = timezone.now() + timedelta(seconds=30)
    with time_machine.travel(target, tick=True):
        code, report = doctor_json("--no-network")
    clock = by_id(report)["clock.database"]
    assert code == 1 and clock["status"] == "error"
    assert 27 < -clock["data"]["skew_seconds"] < 33
    assert "NTP" in clock["fix"]


# --- organisations and the worker --------------------------------------------------------------
@both
def test_empty_sending_window_and_production_gaps():
    """R-22, issue 10: a promotional window with no day of the week is an ERROR naming the organisation;
    in production an organisation with no SMS sender and no provider account gets WARNINGs."""
    org = people()
    SendingSettings.unscoped.update_or_create(organisation=org, defaults={"windows": {"promotional": {"days": []}}})
    code, report = doctor_json("--no-network")
    window = by_id(report)[f"organisations.{org.slug}.promotional_window"]
    assert code == 1 and window["status"] == "error"
    assert "needs at least one day" in window["message"] and "Settings → Sending" in window["fix"]
    assert f"organisations.{org.slug}.service_window" not in by_id(report)
    with override_settings(**GOOD_PRODUCTION, RELANCE_SMS_PROVIDER="accounts"):
        _, report = doctor_json("--no-network")
    checks = by_id(report)
    assert checks[f"organisations.{org.slug}.sender"]["status"] == "warning"
    assert checks[f"organisations.{org.slug}.sms_account"]["status"] == "warning"
    assert "relance providers add --org" in checks[f"organisations.{org.slug}.sms_account"]["fix"]


@both
def test_no_worker_running():
    """Issue 10, R-33: a message due 10 minutes ago that nobody claimed is a WARNING asking whether a
    worker runs; a claim older than the lease is a WARNING too; the exit stays 0 (warnings only)."""
    org = make_org()
    purpose = service_purpose(org)
    contact = informed_contact(org, purpose, **PERSON)
    now = timezone.now()
    with transaction.atomic():
        late = outbox.enqueue(contact, purpose, "sms", due_at=now - timedelta(minutes=10), source="api")
        stale = outbox.enqueue(contact, purpose, "sms", due_at=now - timedelta(minutes=10), source="api")
    assert Message.unscoped.get(pk=late.pk).status == Message.Status.SCHEDULED
    Message.unscoped.filter(pk=stale.pk).update(status=Message.Status.CLAIMED, claimed_by="gone:1",
                                                claimed_at=now - timedelta(seconds=settings.RELANCE_WORKER_LEASE_SECONDS + 60))
    code, text = doctor_run("--no-network")
    assert code == 0
    assert "WARNING  worker.backlog: 1 due message(s) wait for more than 5 minutes" in text and "is a worker running?" in text
    assert "WARNING  worker.stale_claims: 1 message(s) claimed longer ago than the lease (300 s)" in text
    assert "fix: Start one: `relance worker`" in text


def test_secret_scan_can_fail():
    """R-61: the scan every run goes through catches a planted key, in hex or url-safe base64."""
    key = crypto.new_key()
    for planted in (key.hex(), base64.urlsafe_b64encode(key).decode()):
        with pytest.raises(AssertionError, match="secret"):
            assert_no_secrets(f"OK  keys.keyring: {planted}", extra=(key.hex(), base64.urlsafe_b64encode(key).decode()))
    with pytest.raises(AssertionError):
        assert_no_secrets(f"x {settings.SECRET_KEY} y")


def test_exit_codes():
    """Issue 10: 0 without errors, 1 with an error, 2 for warnings only under --strict."""
    ok, warn, err = (doctor.Finding("a", status, "m") for status in (doctor.OK, doctor.WARNING, doctor.ERROR))
    assert doctor.exit_code([ok, warn]) == 0 and doctor.exit_code([ok, warn], strict=True) == 2
    assert doctor.exit_code([warn, err], strict=True) == 1 and doctor.exit_code([ok], strict=True) == 0
