"""`relance doctor`: check the configuration this process runs with, and say what to fix (issue 10).

Each check gives one `Finding`: ok, warning, error or skipped, a message and, for a problem, what to
fix (which variable, which command). Sections: settings, keys, databases, providers, clock,
organisations (sending windows, senders, provider accounts), worker. A check that fails in an
unexpected way is an error naming the exception's class, never its text: nothing secret or personal
is printed (no key, no password, no SECRET_KEY, no contact data; organisations are named by slug).
"""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation
from relance.consent.policy import MessageClass
from relance.keystore import services as keys
from relance.keystore.models import ScopeKey
from relance.lib import crypto
from relance.messaging import sending, windows
from relance.messaging.models import Campaign, Message, SendingSettings
from relance.providers.kinds import adapter, missing_credentials
from relance.providers.models import ProviderAccount
from relance.providers.smpp import pdu

OK, WARNING, ERROR, SKIPPED = "ok", "warning", "error", "skipped"
NETWORK_TIMEOUT = 3.0  # seconds for each connection attempt
CLOCK_TOLERANCE = 2.0  # seconds between this machine's clock and the database's
BACKLOG_MINUTES = 5  # a due message waiting longer than this means no worker is sending
WINDOW_HORIZON_DAYS = 7  # each sending window must open within this many days
MIN_POSTGRESQL = 14  # Django 5.2's minimum
HSTS_MIN_SECONDS = 15_768_000  # six months
HTTP_BASE_URLS = {
    "twilio": "https://api.twilio.com",
    "vonage": "https://rest.nexmo.com",
    "ovh": "https://eu.api.ovh.com/1.0",
    "brevo": "https://api.brevo.com/v3",
}
FAMILY_CLASS = {windows.SERVICE: MessageClass.SERVICE, windows.PROMOTIONAL: MessageClass.PROMOTIONAL_COMMERCIAL}


@dataclass
class Finding:
    id: str  # "keys.wrapped", "databases.default.migrations"…: stable, for scripts
    status: str
    message: str
    fix: str = ""
    data: dict = field(default_factory=dict)

    @property
    def section(self) -> str:
        return self.id.split(".", 1)[0]

    def as_dict(self) -> dict:
        return {"section": self.section, **asdict(self)}


def production() -> bool:
    return getattr(settings, "RELANCE_ENV", "embedded") == "production"


def _failure(exc: BaseException) -> str:
    return exc.__class__.__name__


# --- settings ------------------------------------------------------------------------------
def check_settings() -> Iterator[Finding]:
    if production():
        yield Finding("settings.environment", OK, _("RELANCE_ENV=production."))
    else:
        yield Finding("settings.environment", WARNING,
                      _("Embedded mode (SQLite files and secrets generated under var/): for trying Relance, "
                        "not for production."),
                      _("In production set RELANCE_ENV=production, with PostgreSQL databases and every secret given "
                        "(docs/operations.md)."))
    strong = _strong_secret(settings.SECRET_KEY or "")
    if strong:
        yield Finding("settings.secret_key", OK, _("SECRET_KEY is long and random enough."))
    else:
        yield Finding("settings.secret_key", ERROR if production() else WARNING,
                      _("SECRET_KEY is weak (fewer than 50 characters, too few different ones, or Django's "
                        "'django-insecure-' default)."),
                      _("Set SECRET_KEY (or SECRET_KEY_FILE) to 50 or more random characters, e.g. the output of "
                        "`python3 -c 'import secrets; print(secrets.token_urlsafe(50))'`, then restart."))
    if not production():
        return
    if settings.DEBUG:
        yield Finding("settings.debug", ERROR, _("DEBUG is on: error pages show code and settings to anyone."),
                      _("Set DEBUG=false (or remove it: production defaults to off)."))
    else:
        yield Finding("settings.debug", OK, _("DEBUG is off."))
    hosts = list(settings.ALLOWED_HOSTS)
    if not hosts:
        yield Finding("settings.allowed_hosts", ERROR, _("ALLOWED_HOSTS is empty: every request is refused."),
                      _("Set ALLOWED_HOSTS to the host names people use, comma-separated (relance.example.org)."))
    elif "*" in hosts:
        yield Finding("settings.allowed_hosts", WARNING, _("ALLOWED_HOSTS accepts any host ('*')."),
                      _("Set ALLOWED_HOSTS to the host names people use, comma-separated (relance.example.org)."))
    else:
        yield Finding("settings.allowed_hosts", OK, _("ALLOWED_HOSTS: %(hosts)s.") % {"hosts": ", ".join(hosts)})
    if settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE:
        yield Finding("settings.cookies", OK, _("Session and CSRF cookies are sent over HTTPS only."))
    else:
        yield Finding("settings.cookies", ERROR, _("Session or CSRF cookies may be sent over plain HTTP."),
                      _("Run with RELANCE_ENV=production unchanged: it sets SESSION_COOKIE_SECURE and "
                        "CSRF_COOKIE_SECURE."))
    if (settings.SECURE_HSTS_SECONDS or 0) >= HSTS_MIN_SECONDS:
        yield Finding("settings.hsts", OK, _("HSTS: %(seconds)s s.") % {"seconds": settings.SECURE_HSTS_SECONDS})
    else:
        yield Finding("settings.hsts", WARNING, _("HSTS is off or shorter than six months."),
                      _("Set RELANCE_HSTS_SECONDS=31536000, or have the reverse proxy send Strict-Transport-Security "
                        "(docs/operations.md)."))
    public_url = settings.RELANCE_PUBLIC_URL or ""
    if urlsplit(public_url).scheme == "https":
        yield Finding("settings.public_url", OK, _("RELANCE_PUBLIC_URL is %(url)s.") % {"url": public_url})
    else:
        yield Finding("settings.public_url", ERROR,
                      _("RELANCE_PUBLIC_URL (%(url)s) is not https: the links in messages would go out in clear.")
                      % {"url": public_url},
                      _("Set RELANCE_PUBLIC_URL to the https:// address people reach Relance at."))
    if settings.RELANCE_WEBHOOK_SECRET:
        yield Finding("settings.webhook_secret", OK, _("RELANCE_WEBHOOK_SECRET is set."))
    else:
        yield Finding("settings.webhook_secret", WARNING,
                      _("RELANCE_WEBHOOK_SECRET is not set: the built-in providers' webhooks refuse every call."),
                      _("Set RELANCE_WEBHOOK_SECRET (or RELANCE_WEBHOOK_SECRET_FILE) to a long random value."))


def check_django() -> Iterator[Finding]:
    """Django's system checks (the doctor itself runs without them, so that it reports rather than stops)."""
    from django.core import checks

    found = [message for message in checks.run_checks() if not message.is_silenced()]
    for message in found:
        status = ERROR if message.level >= checks.ERROR else WARNING if message.level >= checks.WARNING else OK
        yield Finding(f"settings.django.{message.id or 'check'}", status, str(message.msg), str(message.hint or ""))
    if not found:
        yield Finding("settings.django", OK, _("Django's system checks pass."))


def _strong_secret(value: str) -> bool:
    # Django's own test (security.W009), without printing anything of the value.
    return len(value) >= 50 and len(set(value)) >= 5 and not value.startswith("django-insecure-")


# --- keys ----------------------------------------------------------------------------------
def _keyring_place() -> str:
    if getattr(settings, "RELANCE_MASTER_KEY", None):
        return "RELANCE_MASTER_KEY_FILE" if os.environ.get("RELANCE_MASTER_KEY_FILE") and not \
            os.environ.get("RELANCE_MASTER_KEY") else "RELANCE_MASTER_KEY"
    return str(settings.RELANCE_MASTER_KEY_FILE)


def check_keys(store: bool = True) -> Iterator[Finding]:
    """The keyring: its file, its syntax; with `store` (the key store is usable), what it must open."""
    place = _keyring_place()
    path = settings.RELANCE_MASTER_KEY_FILE if place != "RELANCE_MASTER_KEY" else None
    if path:
        yield from _keyring_file(Path(path))
    try:
        ring = keys.master_keyring()
    except OSError as exc:
        yield Finding("keys.keyring", ERROR, _("The master keyring (%(place)s) cannot be read: %(error)s.")
                      % {"place": place, "error": _failure(exc)},
                      _("Give the keyring in RELANCE_MASTER_KEY or in the file RELANCE_MASTER_KEY_FILE names, "
                        "readable by the user running Relance."))
        return
    except crypto.MasterKeyError as exc:
        yield Finding("keys.keyring", ERROR, _("The master keyring (%(place)s) is malformed: %(error)s.")
                      % {"place": place, "error": str(exc)},
                      _("Write one 'id:base64-key' per line, the primary key first (docs/operations.md)."))
        return
    yield Finding("keys.keyring", OK, _("Master keyring from %(place)s: %(count)s key(s), primary %(primary)s.")
                  % {"place": place, "count": len(ring.keys), "primary": ring.primary_id},
                  data={"key_ids": list(ring.keys), "primary": ring.primary_id})
    if not store:
        yield Finding("keys.wrapped", SKIPPED, _("The key store is unreachable or not migrated: the keys it holds "
                                                 "were not checked against the keyring."))
        return
    in_use = {row["master_key_id"]: row["n"] for row in
              ScopeKey.objects.values("master_key_id").annotate(n=Count("id")).order_by()}
    missing = sorted(kid for kid in in_use if kid not in ring.keys)
    for kid in missing:
        scopes = sorted(set(ScopeKey.objects.filter(master_key_id=kid).values_list("scope", flat=True)))
        yield Finding("keys.wrapped", ERROR,
                      _("Master key %(kid)s wraps %(count)s key(s) of the key store (%(scopes)s) but is not in the "
                        "keyring: the data of these organisations cannot be read.")
                      % {"kid": kid, "count": in_use[kid], "scopes": _scope_names(scopes)},
                      _("Put the line of master key %(kid)s back into %(place)s (from your offline copy) and restart "
                        "every process; `relance keys status` shows what each master key wraps.")
                      % {"kid": kid, "place": place}, data={"key_id": kid, "scope_keys": in_use[kid]})
    if not missing:
        yield Finding("keys.wrapped", OK,
                      _("Every master key that wraps keys of the key store is in the keyring (%(count)s scope key(s)).")
                      % {"count": sum(in_use.values())}, data={"in_use": in_use})
    failed = []
    for kid in sorted(set(in_use) - set(missing)):
        row = ScopeKey.objects.filter(master_key_id=kid).order_by("id").first()
        if row is None:
            continue
        try:
            crypto.open_sealed(ring.key(kid), row.wrapped,
                               crypto.key_aad("scope", f"{row.scope}|{row.purpose}|{row.version}"))
        except crypto.CryptoError:
            failed.append(kid)
    for kid in failed:
        yield Finding("keys.unwrap", ERROR,
                      _("Master key %(kid)s in the keyring does not open the keys it wraps: the line with this id "
                        "holds another key.") % {"kid": kid},
                      _("Restore the right key for id %(kid)s in %(place)s from your offline copy, then restart.")
                      % {"kid": kid, "place": place})
    if not failed:
        yield Finding("keys.unwrap", OK if in_use else SKIPPED,
                      _("A sample key under each master key in use opens.") if in_use
                      else _("The key store holds no key yet: nothing to open."))


def _scope_names(scopes: list[str]) -> str:
    slugs = {keys.org_scope(pk): slug for pk, slug in Organisation.objects.values_list("pk", "slug")}
    names = [slugs.get(scope, scope) for scope in scopes]
    return ", ".join(names[:5]) + (" …" if len(names) > 5 else "")


def _keyring_file(path: Path) -> Iterator[Finding]:
    try:
        info = path.stat()
    except OSError as exc:
        yield Finding("keys.keyring_file", ERROR, _("The keyring file %(path)s cannot be read: %(error)s.")
                      % {"path": path, "error": _failure(exc)},
                      _("Check RELANCE_MASTER_KEY_FILE: the file must exist and be readable by the user running "
                        "Relance."))
        return
    mode = info.st_mode & 0o777
    problems = []
    if mode & 0o077:
        problems.append(_("mode %(mode)s lets other users read it") % {"mode": f"{mode:o}"})
    if info.st_uid != os.geteuid():
        problems.append(_("it belongs to uid %(owner)s, not to the user running Relance (uid %(me)s)")
                        % {"owner": info.st_uid, "me": os.geteuid()})
    if not problems:
        yield Finding("keys.keyring_file", OK, _("Keyring file %(path)s: mode %(mode)s, owned by this user.")
                      % {"path": path, "mode": f"{mode:o}"})
        return
    yield Finding("keys.keyring_file", ERROR if production() and mode & 0o077 else WARNING,
                  _("Keyring file %(path)s: %(problems)s.") % {"path": path, "problems": "; ".join(problems)},
                  _("Run `chmod 600 %(path)s` and `chown` it to the user running Relance.") % {"path": path})


# --- databases -----------------------------------------------------------------------------
def _label(alias: str) -> str:
    return _("Main database") if alias == "default" else _("Key store")


def _where(alias: str) -> str:
    conf = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return f"sqlite {conf['NAME']}"
    return f"{connections[alias].vendor} {conf.get('HOST') or 'localhost'}:{conf.get('PORT') or 5432}/{conf['NAME']}"


def check_databases(usable: set[str] | None = None, reachable: set[str] | None = None) -> Iterator[Finding]:
    """Reachable, migrated, PostgreSQL in production, key store separate. `reachable` gets the aliases that
    answer, `usable` those that are migrated too."""
    usable = set() if usable is None else usable
    reachable = set() if reachable is None else reachable
    for alias, variable in (("default", "DATABASE_URL"), ("keys", "RELANCE_KEYSTORE_URL")):
        connection = connections[alias]
        started = time.monotonic()
        try:
            connection.ensure_connection()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:  # noqa: BLE001 (any driver error means unreachable)
            yield Finding(f"databases.{alias}.connect", ERROR,
                          _("%(label)s (%(where)s) is unreachable: %(error)s.")
                          % {"label": _label(alias), "where": _where(alias), "error": _failure(exc)},
                          _("Check %(variable)s and that PostgreSQL runs and accepts this user "
                            "(`pg_isready -h HOST -p PORT`).") % {"variable": variable})
            continue
        elapsed = (time.monotonic() - started) * 1000
        reachable.add(alias)
        version = ""
        if connection.vendor == "postgresql":
            major, minor = divmod(connection.pg_version, 10000)
            version = f"PostgreSQL {major}.{minor}"
        yield Finding(f"databases.{alias}.connect", OK, _("%(label)s (%(where)s) answers in %(ms)s ms.")
                      % {"label": _label(alias), "where": _where(alias), "ms": f"{elapsed:.0f}"}
                      + (f" {version}." if version else ""),
                      data={"milliseconds": round(elapsed, 1), "vendor": connection.vendor, "version": version})
        if connection.vendor == "postgresql" and connection.pg_version < MIN_POSTGRESQL * 10000:
            yield Finding(f"databases.{alias}.version", ERROR,
                          _("%(version)s is too old: Relance needs PostgreSQL %(minimum)s or later.")
                          % {"version": version, "minimum": MIN_POSTGRESQL},
                          _("Upgrade PostgreSQL (docs/operations.md, upgrades)."))
        if connection.vendor == "sqlite" and production():
            yield Finding(f"databases.{alias}.engine", ERROR,
                          _("%(label)s: SQLite in production, one writer at a time, one worker only.")
                          % {"label": _label(alias)},
                          _("Set %(variable)s to a PostgreSQL database (postgres://USER@HOST:5432/NAME), then run "
                            "`relance setup`.") % {"variable": variable})
        migrated = _migrations(alias)
        if migrated.status == OK:
            usable.add(alias)
        yield migrated
    yield _separation()


def _migrations(alias: str) -> Finding:
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        first = plan[0][0]
        return Finding(f"databases.{alias}.migrations", ERROR,
                       _("%(label)s: %(count)s migration(s) not applied (first: %(first)s).")
                       % {"label": _label(alias), "count": len(plan), "first": f"{first.app_label}.{first.name}"},
                       _("Run `relance setup` (it migrates both databases); after an upgrade, before starting "
                         "the web and worker processes."), data={"unapplied": len(plan)})
    return Finding(f"databases.{alias}.migrations", OK, _("%(label)s: every migration is applied.") % {"label": _label(alias)})


def _identity(alias: str) -> tuple:
    conf, vendor = connections[alias].settings_dict, connections[alias].vendor
    if vendor == "sqlite":
        name = str(conf["NAME"])
        return (vendor, name if name.startswith("file:") or name == ":memory:" else str(Path(name).resolve()))
    host = conf.get("HOST") or "localhost"
    host = "localhost" if host in ("127.0.0.1", "::1") else host
    return (vendor, host, str(conf.get("PORT") or "5432"), conf["NAME"])


def _separation() -> Finding:
    if _identity("default") != _identity("keys"):
        return Finding("databases.separate", OK, _("The key store is a database of its own."))
    return Finding("databases.separate", ERROR if production() else WARNING,
                   _("The key store is the main database itself: a backup of the main database then holds the "
                     "keys, and erasing a person's key no longer reaches old backups (R-60)."),
                   _("Give RELANCE_KEYSTORE_URL a database of its own (another name, or another server), run "
                     "`relance setup`, and restore the key store into it (docs/backup.md)."))


# --- providers -----------------------------------------------------------------------------
def check_providers(network: bool) -> Iterator[Finding]:
    accounts = list(ProviderAccount.unscoped.filter(enabled=True).select_related("organisation")
                    .order_by("organisation_id", "channel", "priority", "pk"))
    if not network:
        yield Finding("providers.network", SKIPPED, _("Provider and SMTP connections not tried (--no-network)."))
    if not accounts:
        yield Finding("providers.accounts", OK, _("No provider account is enabled."))
    for account in accounts:
        yield from _account(account, network)
    if network and settings.RELANCE_EMAIL_PROVIDER == "django":
        yield _smtp("providers.smtp")


def _account_name(account: ProviderAccount) -> str:
    owner = account.organisation.slug if account.organisation_id else _("platform")
    return f"{owner}/{account.name} ({account.kind})"


def _account(account: ProviderAccount, network: bool) -> Iterator[Finding]:
    ident, name = f"providers.{account.pk}", _account_name(account)
    change = _("Correct it with `relance providers set` or in the back office (Settings → Providers).")
    try:
        adapter(account.kind)
        credentials = account.secrets()
    except (ValueError, crypto.CryptoError) as exc:
        yield Finding(ident, ERROR, _("Provider account %(name)s cannot be used: %(error)s.")
                      % {"name": name, "error": _failure(exc)}, change)
        return
    missing = missing_credentials(account.kind, credentials)
    if missing:
        yield Finding(ident, ERROR, _("Provider account %(name)s lacks credential fields: %(fields)s.")
                      % {"name": name, "fields": ", ".join(missing)}, change)
        return
    if account.circuit != ProviderAccount.Circuit.CLOSED:
        yield Finding(f"{ident}.circuit", WARNING,
                      _("Provider account %(name)s: circuit %(state)s since %(since)s (last error %(error)s): it takes "
                        "no traffic, or only a probe.")
                      % {"name": name, "state": account.circuit, "error": account.last_error or "-",
                         "since": account.opened_at.isoformat(timespec="seconds") if account.opened_at else "-"},
                      _("Look at the provider's status and the worker's log; the circuit closes by itself after a "
                        "successful probe batch."), data={"circuit": account.circuit})
    if not network:
        yield Finding(ident, OK, _("Provider account %(name)s is configured.") % {"name": name},
                      data={"circuit": account.circuit})
        return
    if account.kind == "smpp":
        yield _probe(ident, name, lambda: _smpp_bind(credentials), change)
    elif account.kind in HTTP_BASE_URLS:
        url = str((account.options or {}).get("base_url") or HTTP_BASE_URLS[account.kind])
        yield _probe(ident, name, lambda: _http_connect(url), change)
    elif account.kind == "django":
        yield _smtp(ident)
    else:
        yield Finding(ident, OK, _("Provider account %(name)s is built in: no network.") % {"name": name})


def _probe(ident: str, name: str, attempt: Callable[[], str], change: str) -> Finding:
    started = time.monotonic()
    try:
        where = attempt()
    except ProbeError as exc:
        return Finding(ident, ERROR, _("Provider account %(name)s: %(problem)s.") % {"name": name, "problem": exc.text},
                       exc.fix or change)
    elapsed = (time.monotonic() - started) * 1000
    return Finding(ident, OK, _("Provider account %(name)s: %(where)s answers (%(ms)s ms).")
                   % {"name": name, "where": where, "ms": f"{elapsed:.0f}"}, data={"milliseconds": round(elapsed, 1)})


class ProbeError(Exception):
    def __init__(self, text: str, fix: str = ""):
        super().__init__(text)
        self.text, self.fix = text, fix


def _connect(host: str, port: int) -> socket.socket:
    try:
        return socket.create_connection((host, port), timeout=NETWORK_TIMEOUT)
    except OSError as exc:
        raise ProbeError(_("cannot connect to %(host)s:%(port)s (%(error)s)")
                         % {"host": host, "port": port, "error": _failure(exc)},
                         _("Check the host and port in the account's settings, the firewall, and that the server "
                           "runs.")) from None


def _smpp_bind(credentials: dict) -> str:
    host, port = str(credentials["host"]), int(credentials["port"])
    sock = _connect(host, port)
    try:
        sock.sendall(pdu.bind_transceiver(1, str(credentials["system_id"]), str(credentials["password"]),
                                          str(credentials.get("system_type") or "")))
        buffer, deadline = bytearray(), time.monotonic() + NETWORK_TIMEOUT
        while True:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = sock.recv(4096)
            if not chunk:
                raise ProbeError(_("the SMSC at %(host)s:%(port)s closed the connection during bind")
                                 % {"host": host, "port": port})
            buffer += chunk
            answers, _used = pdu.split_stream(buffer)
            answer = next((p for p in answers if p.sequence == 1), None)
            if answer is not None:
                break
        if answer.command_id != pdu.BIND_TRANSCEIVER_RESP or answer.status:
            raise ProbeError(_("the SMSC at %(host)s:%(port)s refused the bind (status 0x%(status)02x)")
                             % {"host": host, "port": port, "status": answer.status},
                             _("Check system_id, password and system_type with the SMSC operator, then "
                               "`relance providers set`."))
        try:
            sock.sendall(pdu.pack(pdu.UNBIND, 2))
            sock.settimeout(1.0)
            sock.recv(4096)
        except OSError:
            pass
    except (OSError, pdu.PduError) as exc:
        raise ProbeError(_("no bind answer from %(host)s:%(port)s (%(error)s)")
                         % {"host": host, "port": port, "error": _failure(exc)}) from None
    finally:
        sock.close()
    return _("SMPP bind at %(host)s:%(port)s") % {"host": host, "port": port}


def _http_connect(url: str) -> str:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ProbeError(_("the base URL %(url)s has no host") % {"url": url})
    port = parts.port or (443 if parts.scheme == "https" else 80)
    sock = _connect(parts.hostname, port)
    try:
        if parts.scheme == "https":
            try:
                with ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname):
                    pass
            except (OSError, ssl.SSLError) as exc:
                raise ProbeError(_("TLS with %(host)s:%(port)s failed (%(error)s)")
                                 % {"host": parts.hostname, "port": port, "error": _failure(exc)},
                                 _("Check the machine's CA certificates and any proxy intercepting TLS.")) from None
    finally:
        sock.close()
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _smtp(ident: str) -> Finding:
    host, port = settings.EMAIL_HOST, int(settings.EMAIL_PORT)
    started = time.monotonic()
    fix = _("Check EMAIL_HOST, EMAIL_PORT, EMAIL_USE_TLS / EMAIL_USE_SSL and that the SMTP server accepts this "
            "machine.")
    try:
        factory = smtplib.SMTP_SSL if getattr(settings, "EMAIL_USE_SSL", False) else smtplib.SMTP
        with factory(host, port, timeout=NETWORK_TIMEOUT) as server:
            code, _text = server.ehlo()
            if code != 250:
                raise smtplib.SMTPResponseException(code, b"EHLO")
            server.quit()
    except (OSError, smtplib.SMTPException) as exc:
        return Finding(ident, ERROR, _("The SMTP server %(host)s:%(port)s does not answer EHLO (%(error)s).")
                       % {"host": host, "port": port, "error": _failure(exc)}, fix)
    elapsed = (time.monotonic() - started) * 1000
    return Finding(ident, OK, _("The SMTP server %(host)s:%(port)s answers EHLO (%(ms)s ms).")
                   % {"host": host, "port": port, "ms": f"{elapsed:.0f}"}, data={"milliseconds": round(elapsed, 1)})


# --- clock ---------------------------------------------------------------------------------
def _database_now(alias: str = "default") -> datetime:
    connection = connections[alias]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT clock_timestamp()")  # now() is the transaction's start
            value = cursor.fetchone()[0]
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        cursor.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
        return datetime.fromisoformat(cursor.fetchone()[0]).replace(tzinfo=UTC)


def check_clock() -> Iterator[Finding]:
    before = timezone.now()
    database = _database_now()
    after = timezone.now()
    skew = (database - (before + (after - before) / 2)).total_seconds()
    if abs(skew) > CLOCK_TOLERANCE:
        yield Finding("clock.database", ERROR,
                      _("This machine's clock and the main database's differ by %(skew)s s (more than %(limit)s s): "
                        "claims, leases and deadlines go wrong.") % {"skew": f"{skew:+.1f}", "limit": CLOCK_TOLERANCE},
                      _("Synchronise both machines with NTP (`timedatectl set-ntp true`, chrony or "
                        "systemd-timesyncd)."), data={"skew_seconds": round(skew, 3)})
    else:
        yield Finding("clock.database", OK, _("This machine's clock and the main database's agree (%(skew)s s).")
                      % {"skew": f"{skew:+.2f}"}, data={"skew_seconds": round(skew, 3)})
    if not settings.USE_TZ:
        yield Finding("clock.time_zone", ERROR, _("USE_TZ is off: dates would be stored without their time zone."),
                      _("Do not override USE_TZ: Relance stores every date in UTC."))
    else:
        try:
            windows.zone(settings.TIME_ZONE)
        except ValueError:
            yield Finding("clock.time_zone", ERROR, _("TIME_ZONE %(zone)s is unknown.") % {"zone": settings.TIME_ZONE},
                          _("Install the tzdata package (and python's tzdata), or correct TIME_ZONE."))
        else:
            yield Finding("clock.time_zone", OK, _("Dates stored in UTC; default time zone %(zone)s.")
                          % {"zone": settings.TIME_ZONE})
    yield _ntp()


def _ntp() -> Finding:
    tool = shutil.which("timedatectl")
    answer = None
    if tool:
        try:
            done = subprocess.run([tool, "show", "--property=NTPSynchronized", "--value"],  # noqa: S603
                                  capture_output=True, text=True, timeout=NETWORK_TIMEOUT)
            answer = done.stdout.strip() if done.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            answer = None
    if answer == "yes":
        return Finding("clock.ntp", OK, _("The system clock is synchronised (NTP)."))
    if answer == "no":
        return Finding("clock.ntp", WARNING, _("The system clock is not synchronised by NTP."),
                       _("Run `timedatectl set-ntp true` (systemd-timesyncd) or set up chrony."))
    return Finding("clock.ntp", SKIPPED, _("NTP state unknown here (no timedatectl, or no systemd): check that the "
                                           "clock is synchronised."))


# --- organisations: sending windows, senders, accounts --------------------------------------
def check_organisations(now: datetime) -> Iterator[Finding]:
    orgs = list(Organisation.objects.order_by("slug"))
    sms_accounts = _accounts_by_org("sms")
    email_accounts = _accounts_by_org("email")
    problems = 0
    for org in orgs:
        found = list(_organisation(org, now, sms_accounts, email_accounts))
        problems += len(found)
        yield from found
    if not problems:
        yield Finding("organisations", OK,
                      _("%(count)s organisation(s): sending windows valid and open within %(days)s days.")
                      % {"count": len(orgs), "days": WINDOW_HORIZON_DAYS}, data={"organisations": len(orgs)})


def _accounts_by_org(channel: str) -> Counter:
    rows = ProviderAccount.unscoped.filter(channel=channel, enabled=True).values_list("organisation_id", flat=True)
    return Counter(rows)


def _organisation(org: Organisation, now: datetime, sms_accounts: Counter, email_accounts: Counter) -> Iterator[Finding]:
    ident = f"organisations.{org.slug}"
    fix = _("Correct the organisation's sending windows in the back office (Settings → Sending).")
    # Read only: an organisation without settings row uses the defaults (settings_for would create it).
    settings_row = SendingSettings.unscoped.filter(organisation=org).first() or SendingSettings(organisation=org)
    for family, message_class in FAMILY_CLASS.items():
        label = _("service") if family == windows.SERVICE else _("promotional")
        try:
            rules = sending.policy(org, message_class, settings_row)
            if rules.exclude_holidays:
                windows.public_holidays(rules.country, rules.subdiv, now.year)
            opens = windows.next_slot(now, rules)
        except ValueError as exc:
            yield Finding(f"{ident}.{family}_window", ERROR,
                          _("Organisation %(org)s: its %(family)s sending window is unusable (%(error)s): no such "
                            "message can go out.") % {"org": org.slug, "family": label, "error": str(exc)}, fix)
            continue
        if opens is not None and opens - now > timedelta(days=WINDOW_HORIZON_DAYS):
            yield Finding(f"{ident}.{family}_window", WARNING,
                          _("Organisation %(org)s: its %(family)s sending window next opens on %(date)s, more than "
                            "%(days)s days from now.")
                          % {"org": org.slug, "family": label, "date": opens.date().isoformat(),
                             "days": WINDOW_HORIZON_DAYS}, fix)
    if not production():
        return
    if not settings_row.sms_sender:
        yield Finding(f"{ident}.sender", WARNING,
                      _("Organisation %(org)s has no SMS sender set: its SMS show %(sender)s.")
                      % {"org": org.slug, "sender": sending.sms_sender(org, settings_row)},
                      _("Set the sender agreed with the provider in Settings → Sending."))
    for channel, counts, setting in (("sms", sms_accounts, "RELANCE_SMS_PROVIDER"),
                                     ("email", email_accounts, "RELANCE_EMAIL_PROVIDER")):
        if getattr(settings, setting) == "accounts" and not (counts.get(org.pk) or counts.get(None)):
            yield Finding(f"{ident}.{channel}_account", WARNING,
                          _("Organisation %(org)s has no enabled %(channel)s provider account (nor the platform): "
                            "its messages fail with no_provider_account.") % {"org": org.slug, "channel": channel},
                          _("Add one: `relance providers add --org %(org)s …` or in Settings → Providers.")
                          % {"org": org.slug})


# --- worker --------------------------------------------------------------------------------
def check_worker(now: datetime) -> Iterator[Finding]:
    late = now - timedelta(minutes=BACKLOG_MINUTES)
    waiting = (Message.unscoped.filter(status=Message.Status.SCHEDULED, due_at__lte=late)
               .exclude(campaign__status=Campaign.Status.PAUSED).aggregate(n=Count("id"), oldest=Min("due_at")))
    if waiting["n"]:
        yield Finding("worker.backlog", WARNING,
                      _("%(count)s due message(s) wait for more than %(minutes)s minutes (the oldest since %(since)s): "
                        "is a worker running?")
                      % {"count": waiting["n"], "minutes": BACKLOG_MINUTES,
                         "since": waiting["oldest"].isoformat(timespec="seconds")},
                      _("Start one: `relance worker` (systemd: `systemctl start relance-worker@1`); check its log."),
                      data={"waiting": waiting["n"]})
    else:
        yield Finding("worker.backlog", OK, _("No due message waits for more than %(minutes)s minutes.")
                      % {"minutes": BACKLOG_MINUTES}, data={"waiting": 0})
    lease = now - timedelta(seconds=settings.RELANCE_WORKER_LEASE_SECONDS)
    in_flight = Message.unscoped.filter(status__in=[Message.Status.CLAIMED, Message.Status.SENDING])
    stale = in_flight.filter(claimed_at__lt=lease).count()
    if stale:
        yield Finding("worker.stale_claims", WARNING,
                      _("%(count)s message(s) claimed longer ago than the lease (%(lease)s s): their worker stopped.")
                      % {"count": stale, "lease": settings.RELANCE_WORKER_LEASE_SECONDS},
                      _("A running worker takes them back at its next round: make sure one runs (`relance worker`)."),
                      data={"stale": stale})
    else:
        recent = in_flight.count()
        yield Finding("worker.stale_claims", OK, _("No claim older than the lease; %(count)s message(s) in flight.")
                      % {"count": recent}, data={"stale": 0, "in_flight": recent})


# --- running everything --------------------------------------------------------------------
SECTIONS = ("settings", "databases", "keys", "providers", "clock", "organisations", "worker")
NEEDS_DATABASES = {"providers": ("default", "keys"), "organisations": ("default", "keys"), "worker": ("default",)}


def run(*, network: bool = True, now: datetime | None = None) -> list[Finding]:
    """Every check, in SECTIONS order; a section whose database is unreachable or unmigrated is skipped."""
    findings: list[Finding] = []
    usable: set[str] = set()
    reachable: set[str] = set()
    checks = {
        "settings": lambda: [*check_settings(), *check_django()],
        "databases": lambda: check_databases(usable, reachable),
        "keys": lambda: check_keys("keys" in usable),
        "providers": lambda: check_providers(network),
        "clock": check_clock,
        "organisations": lambda: check_organisations(now or timezone.now()),
        "worker": lambda: check_worker(now or timezone.now()),
    }
    for section in SECTIONS:
        if any(alias not in usable for alias in NEEDS_DATABASES.get(section, ())) or (
                section == "clock" and "default" not in reachable):
            findings.append(Finding(section, SKIPPED, _("Not checked: a database it needs is unreachable or not "
                                                        "migrated (see the databases lines).")))
            continue
        try:
            findings.extend(checks[section]())
        except Exception as exc:  # noqa: BLE001 (one broken check must not hide the others)
            findings.append(Finding(section, ERROR, _("The %(section)s check failed: %(error)s.")
                                    % {"section": section, "error": _failure(exc)},
                                    _("Run `relance doctor` again; if it persists, report it with the log.")))
    return findings


def exit_code(findings: list[Finding], strict: bool = False) -> int:
    statuses = {item.status for item in findings}
    if ERROR in statuses:
        return 1
    if strict and WARNING in statuses:
        return 2
    return 0


def counts(findings: list[Finding]) -> dict[str, int]:
    found = Counter(item.status for item in findings)
    return {status: found.get(status, 0) for status in (OK, WARNING, ERROR, SKIPPED)}
