"""Issue 10, item 1: production deployment from docs/operations.md and deploy/ alone.

- The systemd units (deploy/systemd/) pass `systemd-analyze verify`, copied to a temporary folder
  with the programs they start made to exist; planted faults (a missing program, a misspelt key, a
  bad value) are reported, so the check can fail.
- The nginx site (deploy/nginx/relance.conf) passes `nginx -t` (when nginx is installed) and a
  structural check: HTTP redirected, TLS, HSTS, the proxy headers overwritten, /metrics restricted,
  static files, request paths out of the access log; a planted fault (HSTS removed) is caught.
- Every environment variable read anywhere in relance/ (and deploy/gunicorn.conf.py) is in the table
  of docs/operations.md and in deploy/relance.env.example; the scanner catches a planted read.
- RELANCE_TRUSTED_PROXIES: the client's address behind nginx (consent evidence, audit, lockout).
- The production-style run (PostgreSQL): the commands of docs/operations.md (each one checked to be
  there, verbatim) on two fresh databases with their own roles, RELANCE_ENV=production and its
  secrets in a temporary /etc/relance; gunicorn and two workers started as their units start them
  (ExecStart read from the unit files), nginx in front when installed; /readyz answers 200, a message
  sent through the API reaches the SMSC simulator through one of the two workers, /metrics wants its
  token, the logs are JSON, and SIGTERM stops every process cleanly.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import needs
from relance.providers.testing import smsc as smsc_fixtures

smsc_process, smsc = smsc_fixtures.smsc_process, smsc_fixtures.smsc

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
NGINX_SITE = DEPLOY / "nginx" / "relance.conf"
ENV_EXAMPLE = DEPLOY / "relance.env.example"
OPERATIONS = ROOT / "docs" / "operations.md"
VENV_BIN = Path(sys.executable).parent
INSTALL = "/srv/relance"  # where docs/operations.md installs the code, its .venv inside
UNIT_FILES = ["relance-web.service", "relance-worker@.service", "relance.target", "relance-backup.service",
              "relance-backup.timer"]


# --- systemd units ---------------------------------------------------------------------------------
def staged_units(folder: Path, text_of=None) -> list[Path]:
    """The units copied to `folder` with /srv/relance/.venv/bin/* made to exist as stubs; the worker
    template instantiated as relance-worker@1.service. `text_of(name, text)` may plant a fault."""
    stubs = folder / "venv-bin"
    stubs.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in UNIT_FILES:
        text = (UNITS / name).read_text()
        for program in re.findall(rf"{INSTALL}/\.venv/bin/([\w.-]+)", text):
            stub = stubs / program
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
        text = text.replace(f"{INSTALL}/.venv/bin", str(stubs))
        if text_of:
            text = text_of(name, text)
        target = folder / name.replace("@.service", "@1.service")
        target.write_text(text)
        paths.append(target)
    return paths


def verify(paths: list[Path]) -> tuple[int, list[str]]:
    """`systemd-analyze verify` on the units: its exit status and every line it printed about them."""
    done = subprocess.run(["systemd-analyze", "verify", *map(str, paths)], capture_output=True, text=True,  # noqa: S607
                          timeout=60, cwd=paths[0].parent)
    names = [path.name for path in paths] + ["relance"]
    lines = [line for line in (done.stdout + done.stderr).splitlines() if any(name in line for name in names)]
    return done.returncode, lines


def needs_systemd_analyze():
    needs("systemd-analyze", shutil.which("systemd-analyze") is not None,
          "the units of deploy/systemd are checked with `systemd-analyze verify` (Debian: the systemd package)")


def test_units_pass_systemd_analyze_verify(tmp_path):
    """Issue 10 item 1: the web, worker, target, backup service and timer units are valid as written."""
    needs_systemd_analyze()
    code, lines = verify(staged_units(tmp_path))
    assert code == 0 and not lines, "\n".join(lines)


@pytest.mark.parametrize("fault", ["missing program", "misspelt key", "bad value"])
def test_systemd_verify_catches_a_planted_fault(tmp_path, fault):
    """The check above can fail: a unit whose program is absent, with a misspelt key or a bad value."""
    needs_systemd_analyze()

    def plant(name, text):
        if name != "relance-web.service":
            return text
        if fault == "missing program":
            return re.sub(r"ExecStart=\S+", "ExecStart=/nonexistent/gunicorn", text)
        if fault == "misspelt key":
            return text.replace("ExecStart=", "ExecStrat=")
        return text.replace("Type=notify", "Type=notifyy")

    code, lines = verify(staged_units(tmp_path, plant))
    assert code != 0 or lines


def unit(name: str) -> dict[str, list[str]]:
    """key → values of a unit file (every section together)."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_units_say_what_the_docs_say():
    """Issue 10 item 1: every service runs as relance with /etc/relance/env; web is gunicorn with the
    config of docs/operations.md, workers `relance worker` stopped by SIGTERM with time to finish a
    batch, both part of relance.target; the backup runs `relance backup` daily."""
    for name in ("relance-web.service", "relance-worker@.service", "relance-backup.service"):
        values = unit(name)
        assert values["User"] == ["relance"] and values["EnvironmentFile"] == ["/etc/relance/env"], name
        assert values["WorkingDirectory"] == [INSTALL], name
    web, worker, backup, timer = (unit(n) for n in ("relance-web.service", "relance-worker@.service",
                                                    "relance-backup.service", "relance-backup.timer"))
    assert web["ExecStart"] == [f"{INSTALL}/.venv/bin/gunicorn --config /etc/relance/gunicorn.conf.py relance.wsgi:application"]
    assert worker["ExecStart"][0].startswith(f"{INSTALL}/.venv/bin/relance worker ")
    assert worker["KillSignal"] == ["SIGTERM"] and int(worker["TimeoutStopSec"][0]) >= 60
    assert web["PartOf"] == worker["PartOf"] == ["relance.target"]
    assert backup["ExecStart"][0].startswith(f"{INSTALL}/.venv/bin/relance backup") and backup["Type"] == ["oneshot"]
    assert timer["OnCalendar"] and timer["Persistent"] == ["true"]
    text = OPERATIONS.read_text()
    for needed in ("systemctl enable --now relance-worker@{1,2}", "systemd-analyze", "relance.target"):
        assert needed in text


# --- nginx -------------------------------------------------------------------------------------------
def site_problems(text: str) -> list[str]:
    """What deploy/nginx/relance.conf must hold, checked on its text."""
    problems = []
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    servers = re.findall(r"^server\s*\{", code, re.M)
    if len(servers) < 2:
        problems.append("two server blocks (HTTP redirect, HTTPS)")
    if not re.search(r"listen\s+80;[\s\S]*return 301 https://\$host\$request_uri;", code):
        problems.append("HTTP redirected to HTTPS")
    if not re.search(r"listen\s+443 ssl", code) or "ssl_certificate " not in code or "ssl_certificate_key" not in code:
        problems.append("TLS on 443 with a certificate")
    if re.search(r"ssl_protocols[^;]*(SSLv|TLSv1(\.1)?[ ;])", code):
        problems.append("no protocol older than TLS 1.2")
    hsts = re.findall(r'add_header Strict-Transport-Security "max-age=(\d+)[^"]*" always;', code)
    if not hsts or min(int(value) for value in hsts) < 31536000:
        problems.append("HSTS for a year at least, on every response (always)")
    bind = re.search(r'"RELANCE_BIND", "([^"]+)"', (DEPLOY / "gunicorn.conf.py").read_text()).group(1)
    if f"server {bind}" not in code or "proxy_pass http://relance_web;" not in code:
        problems.append(f"proxy_pass to gunicorn at {bind}")
    for header in ("Host $host", "X-Forwarded-Proto $scheme", "X-Forwarded-For $remote_addr"):
        if f"proxy_set_header {header};" not in code:
            problems.append(f"proxy_set_header {header} (overwritten, not appended)")
    metrics = re.search(r"location = /metrics \{([^}]*)\}", code)
    if not metrics or "deny all;" not in metrics.group(1):
        problems.append("/metrics restricted (deny all but the monitoring host)")
    if not re.search(r"location /static/ \{[^}]*alias /var/lib/relance/static/;", code):
        problems.append("static files served from RELANCE_VAR_DIR/static")
    for log_format in re.findall(r"log_format[^;]*;", code):
        if re.search(r"\$(request|request_uri|uri|args|query_string)\b", log_format):
            problems.append("no request path or query in the access log (R-61)")
    return problems


def test_nginx_site_holds_tls_hsts_and_proxy_headers():
    """Issue 10 item 1: a reverse proxy example with TLS and HSTS; R-61 for its logs."""
    assert site_problems(NGINX_SITE.read_text()) == []
    env = ENV_EXAMPLE.read_text()
    assert "RELANCE_VAR_DIR=/var/lib/relance" in env and "RELANCE_TRUSTED_PROXIES=127.0.0.1,::1" in env


def test_nginx_site_check_catches_a_planted_fault():
    """The structural check can fail: HSTS removed, X-Forwarded-For appended, the path logged."""
    text = NGINX_SITE.read_text()
    assert site_problems(text.replace("Strict-Transport-Security", "X-Nothing"))
    assert site_problems(text.replace("X-Forwarded-For $remote_addr", "X-Forwarded-For $proxy_add_x_forwarded_for"))
    assert site_problems(text.replace("'$remote_addr [", "'$remote_addr $request_uri ["))


def staged_site(folder: Path, *, ports: tuple[int, int] | None = None, upstream: str | None = None) -> Path:
    """deploy/nginx/relance.conf in a main nginx.conf of `folder`, with a self-signed certificate and
    the log files there; ports and upstream optionally moved (a test instance)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relance.example.org")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    text = NGINX_SITE.read_text()
    text = text.replace("/etc/letsencrypt/live/relance.example.org/fullchain.pem", str(folder / "cert.pem"))
    text = text.replace("/etc/letsencrypt/live/relance.example.org/privkey.pem", str(folder / "key.pem"))
    text = text.replace("/var/log/nginx/", f"{folder}/").replace("/var/www/html", str(folder))
    if ports:  # a running instance: this machine's free ports, IPv4 only
        text = re.sub(r"\n\s*listen \[::\]:[^;]*;", "", text)
        text = text.replace("listen 80;", f"listen 127.0.0.1:{ports[0]};")
        text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{ports[1]} ssl http2;")
    if upstream:
        text = text.replace("server 127.0.0.1:8000 ", f"server {upstream} ")
    (folder / "relance.conf").write_text(text)
    temp = folder / "temp"
    temp.mkdir(exist_ok=True)
    main = folder / "nginx.conf"
    main.write_text(f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\nhttp {{\n"
                    f"  access_log off;\n  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
                    f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
                    f"  include {folder}/relance.conf;\n}}\n")
    return main


def nginx_path() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def test_nginx_accepts_the_site(tmp_path):
    """Issue 10 item 1: `nginx -t` on the site as installed (nginx of Debian 12: 1.22) when nginx is
    installed; otherwise the structural check above stands alone."""
    nginx = nginx_path()
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx): the structural check stands alone")
    main = staged_site(tmp_path)
    done = subprocess.run([nginx, "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True,  # noqa: S603
                          timeout=30)
    assert done.returncode == 0, done.stderr


# --- environment variables -------------------------------------------------------------------------
ENV_READERS = {"env_str", "env_bool", "env_int", "env_list", "env_secret"}


def env_reads(source: str) -> set[str]:
    """Names of environment variables a Python source reads: os.environ.get/[...]/getenv and the
    env_* helpers of relance/lib/env.py, each with a literal name."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            owner = ast.unparse(function.value) if isinstance(function, ast.Attribute) else ""
            if called in ENV_READERS or (called in {"get", "getenv", "pop"} and owner in {"os.environ", "os", "environ"}):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in {"os.environ", "environ"} \
                and isinstance(node.slice, ast.Constant) and isinstance(node.ctx, ast.Load):
            names.add(node.slice.value)
    return {name for name in names if isinstance(name, str)}


def product_sources() -> list[Path]:
    """relance/ without its tests and test helpers, and the gunicorn config."""
    files = [DEPLOY / "gunicorn.conf.py"]
    for path in sorted((ROOT / "relance").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if "/tests/" in relative or "/testing" in relative or relative.startswith("relance/testing"):
            continue
        files.append(path)
    return files


# Read by the product but not configuration of it.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}


def documented_variables() -> set[str]:
    """Names in the first column of the table under "## Environment variables" of docs/operations.md."""
    text = OPERATIONS.read_text()
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def test_every_variable_read_is_documented():
    """Issue 10 item 1: every environment variable with its default, in docs/operations.md and in
    deploy/relance.env.example (which lists them for /etc/relance/env)."""
    read = set()
    for path in product_sources():
        read |= env_reads(path.read_text())
    read -= NOT_SETTINGS
    assert {"RELANCE_BACKUP_DIR", "RELANCE_BACKUP_DAYS", "SECRET_KEY", "RELANCE_TRUSTED_PROXIES"} <= read  # the scan sees them
    table = documented_variables()
    assert sorted(read - table) == [], "read in relance/ but missing from the table of docs/operations.md"
    example = set(re.findall(r"^#?([A-Z][A-Z0-9_]+?)(?:_FILE)?=", ENV_EXAMPLE.read_text(), re.M))
    table_names = {re.sub(r"_FILE$", "", name) for name in table}
    assert sorted(table_names - example) == [], "in the table but not in deploy/relance.env.example"


def test_variable_scan_catches_a_planted_read():
    """The scan can fail: each way of reading a variable is seen, and an undocumented one is missing."""
    planted = ("import os\nfrom relance.lib.env import env_int\n"
               "A = os.environ.get('RELANCE_PLANTED_A')\nB = os.getenv('RELANCE_PLANTED_B', '1')\n"
               "C = os.environ['RELANCE_PLANTED_C']\nD = env_int('RELANCE_PLANTED_D', 3)\n")
    found = env_reads(planted)
    assert found == {f"RELANCE_PLANTED_{x}" for x in "ABCD"}
    assert found - documented_variables() == found


# --- the client's address behind the proxy ---------------------------------------------------------
@pytest.mark.parametrize(("remote", "forwarded", "trusted", "expected"), [
    ("203.0.113.9", "", [], "203.0.113.9"),                          # no proxy
    ("127.0.0.1", "198.51.100.7", [], "127.0.0.1"),                  # a proxy not trusted: header ignored
    ("127.0.0.1", "198.51.100.7", ["127.0.0.1", "::1"], "198.51.100.7"),  # nginx on this machine
    ("203.0.113.9", "198.51.100.7", ["127.0.0.1"], "203.0.113.9"),   # a client forging the header
    ("127.0.0.1", "10.0.0.1, 198.51.100.7", ["127.0.0.1"], "198.51.100.7"),  # the proxy's own view wins
    ("127.0.0.1", "not-an-address", ["127.0.0.1"], "127.0.0.1"),     # garbage: the peer
    ("127.0.0.1", "", ["127.0.0.1"], "127.0.0.1"),
])
def test_client_address_behind_a_trusted_proxy(settings, rf, remote, forwarded, trusted, expected):
    """R-10/R-65 evidence and audit addresses behind nginx: X-Forwarded-For from a trusted proxy only."""
    from relance.lib.net import client_ip

    settings.RELANCE_TRUSTED_PROXIES = trusted
    extra = {"REMOTE_ADDR": remote, **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})}
    assert client_ip(rf.get("/", **extra)) == expected


# --- the production-style run ----------------------------------------------------------------------
def shell_commands(markdown: str) -> list[str]:
    """Every command of the ```sh blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", markdown, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+", " ", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


ORG = "mediatheques-valmont"
# The commands of docs/operations.md this test runs, verbatim (test_the_run_follows_the_docs).
SECRETS = [
    "/srv/relance/.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > secret_key",
    "/srv/relance/.venv/bin/python -c 'from relance.lib.crypto import new_master_key_line; "
    "print(new_master_key_line())' > master.key",
    "/srv/relance/.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' > webhook_secret",
    "/srv/relance/.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' > metrics_token",
]
ENV_FILE = "install -o root -g relance -m 640 /srv/relance/deploy/relance.env.example /etc/relance/env"
SETUP = [
    "sudo -u relance relance-admin setup",
    "sudo -u relance relance-admin collectstatic --noinput",
    f'sudo -u relance env ORG_SLUG={ORG} ORG_NAME="Médiathèques de Valmont" ORG_KIND=library '
    f'ADMIN_EMAIL=admin@valmont.example.org relance-admin shell -c "$(cat /srv/relance/deploy/first_admin.py)"',
    f"sudo -u relance relance-admin consent preset --org {ORG}",
    f"sudo -u relance relance-admin providers add --org {ORG} --name smsc-a --kind smpp --credentials - "
    "--priority 10 --rate 50 --country FR --region Paris < /root/smpp.json",
    "sudo -u relance relance-admin doctor",
]
SERVICES = ["systemctl enable --now relance-web", "systemctl enable --now relance-worker@{1,2}"]


def test_the_run_follows_the_docs():
    """The production-style run below runs these commands; each is in docs/operations.md as written."""
    documented = shell_commands(OPERATIONS.read_text())
    missing = [command for command in [*SECRETS, ENV_FILE, *SETUP, *SERVICES] if command not in documented]
    assert missing == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_env_file(path: Path) -> dict[str, str]:
    """The environment file as systemd's EnvironmentFile= (and deploy/relance-admin) read it."""
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


class Production:
    """A temporary /etc/relance, /var/lib/relance and /var/backups/relance; two fresh PostgreSQL
    databases with their own roles; the commands of the docs run against them."""

    def __init__(self, folder: Path, smsc_port: int, smtp_port: int):
        from django.db import connection

        self.folder = folder
        self.etc, self.var, self.backups = folder / "etc", folder / "var", folder / "backups"
        for path in (self.etc, self.var, self.backups):
            path.mkdir(mode=0o750)
        base = connection.settings_dict
        self.pg = {key: base.get(key) or "" for key in ("HOST", "PORT", "USER", "PASSWORD")}
        stem = f"{base['NAME']}_prod"[:40]
        self.names = {"main": stem, "keys": f"{stem}_keys"}
        self.roles = {"main": f"{stem}_r", "keys": f"{stem}_keys_r"}
        self.passwords = {which: uuid.uuid4().hex for which in self.names}
        self.smsc_port, self.smtp_port = smsc_port, smtp_port
        self.children: list[tuple[str, subprocess.Popen, Path]] = []

    # PostgreSQL, as step 4 of the docs (with this run's names)
    def admin_sql(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(host=self.pg["HOST"] or "127.0.0.1", port=self.pg["PORT"] or 5432,
                             user=self.pg["USER"], password=self.pg["PASSWORD"] or None, dbname="postgres",
                             autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def create_databases(self) -> None:
        self.drop_databases()
        for which in ("main", "keys"):
            role, name = self.roles[which], self.names[which]
            self.admin_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{self.passwords[which]}'",
                           f"CREATE DATABASE {name} OWNER {role} ENCODING 'UTF8' TEMPLATE template0",
                           f"REVOKE ALL ON DATABASE {name} FROM PUBLIC")

    def drop_databases(self) -> None:
        for which in ("main", "keys"):
            self.admin_sql(f"DROP DATABASE IF EXISTS {self.names[which]} WITH (FORCE)",
                           f"DROP ROLE IF EXISTS {self.roles[which]}")

    def url(self, which: str) -> str:
        host, port = self.pg["HOST"] or "127.0.0.1", self.pg["PORT"] or 5432
        return f"postgres://{self.roles[which]}:{self.passwords[which]}@{host}:{port}/{self.names[which]}"

    # the files of steps 5 and 6
    def localise(self, command: str) -> str:
        return (command.replace(f"{INSTALL}/.venv/bin/", f"{VENV_BIN}/").replace(f"{INSTALL}/", f"{ROOT}/")
                .replace("/etc/relance/", f"{self.etc}/").replace("/var/lib/relance", str(self.var))
                .replace("/var/backups/relance", str(self.backups)).replace("sudo -u relance ", "")
                .replace("/root/smpp.json", str(self.etc / "smpp.json")))

    def write_secrets(self) -> None:
        for command in SECRETS:
            subprocess.run(f"umask 077; {self.localise(command)}", shell=True, cwd=self.etc, check=True,  # noqa: S602
                           timeout=60)

    def write_env(self, web_port: int) -> Path:
        text = self.localise(ENV_EXAMPLE.read_text())
        text = re.sub(r"^DATABASE_URL=.*$", f"DATABASE_URL={self.url('main')}", text, flags=re.M)
        text = re.sub(r"^RELANCE_KEYSTORE_URL=.*$", f"RELANCE_KEYSTORE_URL={self.url('keys')}", text, flags=re.M)
        text = re.sub(r"^EMAIL_HOST=.*$", "EMAIL_HOST=127.0.0.1", text, flags=re.M)
        # This run's ports and a light footprint: two gunicorn workers, workers polling every second.
        text += (f"EMAIL_PORT={self.smtp_port}\nRELANCE_BIND=127.0.0.1:{web_port}\nWEB_CONCURRENCY=2\n"
                 "RELANCE_WORKER_IDLE_SECONDS=1\n")
        path = self.etc / "env"
        path.write_text(text)
        path.chmod(0o640)
        (self.etc / "gunicorn.conf.py").write_text((DEPLOY / "gunicorn.conf.py").read_text())
        return path

    def environment(self) -> dict[str, str]:
        """What the units get: the environment file, nothing of this test process's settings."""
        return {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.folder),
                **read_env_file(self.etc / "env"), "PYTHONUNBUFFERED": "1"}

    def admin(self, command: str, stdin: str | None = None, **extra: str) -> subprocess.CompletedProcess:
        """A `sudo -u relance relance-admin …` line of the docs, through deploy/relance-admin."""
        bin_dir = self.folder / "bin"
        bin_dir.mkdir(exist_ok=True)
        if not (bin_dir / "relance-admin").exists():
            (bin_dir / "relance-admin").symlink_to(DEPLOY / "relance-admin")
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.folder),
               "RELANCE_ENV_FILE": str(self.etc / "env"), "RELANCE_HOME": str(ROOT), **extra}
        done = subprocess.run(self.localise(command), shell=True, env=env, capture_output=True, text=True,  # noqa: S602
                              timeout=120, cwd=self.folder, input=stdin)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        return done

    # the units of step 11, started as systemd would start them
    def start_unit(self, name: str, instance: str = "") -> subprocess.Popen:
        values = unit(name)
        command = values["ExecStart"][0].replace("%H", socket.gethostname()).replace("%i", instance)
        argv = self.localise(command).split()
        label = name.replace("@.service", f"@{instance}").replace(".service", "")
        out, err = self.folder / f"{label}.out", self.folder / f"{label}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            child = subprocess.Popen(argv, env=self.environment(), cwd=ROOT, stdout=stdout, stderr=stderr)  # noqa: S603
        self.children.append((label, child, err))
        return child

    def stop_all(self) -> dict[str, int | None]:
        """SIGTERM to each child (systemd's stop); their exit codes (None: had to be killed)."""
        codes = {}
        for _label, child, _err in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for label, child, _err in self.children:
            try:
                codes[label] = child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
                codes[label] = None
        return codes


def wait_http(client, url: str, headers: dict, seconds: float, children) -> object:
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        for label, child, err in children:
            if child.poll() is not None:
                raise AssertionError(f"{label} exited ({child.returncode}): {err.read_text()[-3000:]}")
        try:
            answer = client.get(url, headers=headers)
            if answer.status_code == 200 or time.monotonic() > deadline:
                return answer
        except httpx.TransportError:  # gunicorn not listening yet (nginx answers 502 meanwhile)
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


@pytest.mark.postgres
@pytest.mark.e2e
def test_production_style_run_from_the_docs(tmp_path, request):
    """Issue 10 "done when": docs/operations.md on PostgreSQL with two workers. RELANCE_ENV=production
    with its secrets (mode 600), `relance setup` on two fresh databases, the first organisation, an SMPP
    account on the SMSC simulator, `relance doctor` clean; gunicorn (deploy/gunicorn.conf.py) and two
    `relance worker` as the units start them; through nginx when installed (TLS, HSTS): /readyz 200, a
    message sent through the API delivered by one of the two workers (R-29 receipt), /metrics wants
    its token (R-61 logs: JSON lines); SIGTERM stops the workers and gunicorn with status 0."""
    import httpx
    from aiosmtpd.controller import Controller
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the production-style run needs PostgreSQL (two databases, several processes)")
    smsc = request.getfixturevalue("smsc")
    started = time.monotonic()

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            return "250 OK"

    smtp = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    prod = Production(tmp_path, smsc.port, smtp.port)
    prod.create_databases()
    proxy = None
    try:
        # steps 5 and 6: secrets, environment file
        prod.write_secrets()
        for name in ("secret_key", "master.key", "webhook_secret", "metrics_token"):
            assert stat.S_IMODE((prod.etc / name).stat().st_mode) == 0o600, name
        web_port = free_port()
        prod.write_env(web_port)
        # steps 7 to 9: databases, first organisation and its API key, presets, SMPP account, doctor
        prod.admin(SETUP[0])
        prod.admin(SETUP[1])
        (prod.etc / "admin_password").write_text("a-long-password-for-the-test\n")
        scopes = "organisation:read,templates:write,contacts:write,consent:write,messages:write,messages:read"
        made = prod.admin(SETUP[2], ADMIN_PASSWORD_FILE=str(prod.etc / "admin_password"), API_KEY_NAME="deploy test",
                          API_KEY_SCOPES=scopes)
        key = re.search(r"API key \(shown once\): (\S+)", made.stdout).group(1)
        prod.admin(SETUP[3])
        (prod.etc / "smpp.json").write_text(json.dumps({"host": "127.0.0.1", "port": prod.smsc_port,
                                                        "system_id": "relance", "password": "secret"}))
        prod.admin(SETUP[4], stdin=(prod.etc / "smpp.json").read_text())
        doctor = prod.admin(SETUP[5])
        assert "ERROR" not in doctor.stdout, doctor.stdout
        setup_seconds = time.monotonic() - started

        # steps 10 and 11: gunicorn and two workers, as their units start them; nginx in front if any
        print(f"setup (steps 5 to 9): {setup_seconds:.1f} s")
        prod.start_unit("relance-web.service")
        workers = [prod.start_unit("relance-worker@.service", str(n)) for n in (1, 2)]
        nginx = nginx_path()
        headers = {"Host": "relance.example.org", "X-Forwarded-Proto": "https"}
        base = f"http://127.0.0.1:{web_port}"
        if nginx:
            https_port = free_port()
            (tmp_path / "nginx").mkdir()
            main = staged_site(tmp_path / "nginx", ports=(free_port(), https_port), upstream=f"127.0.0.1:{web_port}")
            proxy = subprocess.Popen([nginx, "-c", str(main), "-p", str(main.parent), "-g", "daemon off;"],  # noqa: S603
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            base, headers = f"https://127.0.0.1:{https_port}", {"Host": "relance.example.org"}
        with httpx.Client(verify=False, timeout=10) as client:  # noqa: S501 - the test's self-signed certificate
            ready = wait_http(client, f"{base}/readyz", headers, 30, prod.children)
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "ready"
            if proxy:
                assert ready.headers["strict-transport-security"].startswith("max-age=31536000")
                assert ready.headers.get_list("strict-transport-security") == [ready.headers["strict-transport-security"]]
            login = client.get(f"{base}/app/login/", headers=headers)
            assert login.status_code == 200 and "strict-transport-security" in login.headers
            metrics_token = (prod.etc / "metrics_token").read_text().strip()
            assert client.get(f"{base}/metrics", headers=headers).status_code == 401
            scraped = client.get(f"{base}/metrics", headers={**headers, "Authorization": f"Bearer {metrics_token}"})
            assert scraped.status_code == 200 and "relance_" in scraped.text

            # step 12: one SMS through the API
            api = {**headers, "Authorization": f"Bearer {key}"}

            def call(method, path, body=None, expect=200):
                answer = client.request(method, f"{base}/api/v1{path}", headers=api, json=body)
                assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text[:500]}"
                return answer.json()

            purpose = next(p for p in call("GET", "/purposes")["items"] if p["code"] == "closure-news")
            notice = next(n for n in call("GET", f"/purposes/{purpose['id']}/notices")["items"] if n["language"] == "fr")
            template = call("POST", "/templates", {"purpose_id": purpose["id"], "code": "fermeture", "channel": "sms",
                                                   "language": "fr", "body": "La médiathèque ferme samedi."}, 201)
            contact = call("POST", "/contacts", {"first_name": "Test", "phone": "+33612345678"}, 201)
            call("POST", "/consent/events", {"contact_id": contact["id"], "purpose_id": purpose["id"], "channel": "sms",
                                             "action": "given", "expressed_by": "subject", "method": "web_form",
                                             "notice_id": notice["id"]}, 201)
            message = call("POST", "/messages", {"contact_id": contact["id"], "template_id": template["id"],
                                                 "urgent_reason": "installation check"}, 201)
            deadline = time.monotonic() + 30
            while message["status"] not in ("delivered", "failed", "suppressed", "expired") and time.monotonic() < deadline:
                time.sleep(0.3)
                message = call("GET", f"/messages/{message['id']}")
            assert message["status"] == "delivered", message
            assert list(smsc.tally()["submits"].values()) == [1], smsc.tally()  # one submit_sm, one number

        # systemd's stop: SIGTERM, the workers finish their batch, gunicorn its requests
        assert all(worker.poll() is None for worker in workers)
        if proxy:
            proxy.send_signal(signal.SIGQUIT)
            proxy.wait(timeout=10)
        codes = prod.stop_all()
        assert codes == {"relance-web": 0, "relance-worker@1": 0, "relance-worker@2": 0}, codes
        sent = {}
        for label, _child, err in prod.children:
            lines = [line for line in err.read_text().splitlines() if line.strip()]
            for line in lines:
                record = json.loads(line)  # every log line is JSON (R-61)
                assert record["level"] not in ("error", "critical"), record
                if record.get("message") == "worker stopped":
                    sent[label] = record.get("sent", 0)
        assert sorted(sent) == ["relance-worker@1", "relance-worker@2"] and sum(sent.values()) == 1, sent
        total = time.monotonic() - started
        print(f"whole run: {total:.1f} s")
        assert total < 60, f"the run took {total:.0f} s (setup {setup_seconds:.0f} s): budget 60 s"
    finally:
        if proxy is not None and proxy.poll() is None:
            proxy.kill()
            proxy.wait(timeout=10)
        prod.stop_all()
        smtp.stop()
        prod.drop_databases()
