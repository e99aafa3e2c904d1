"""Leaks (issue 9 item 5; R-60, R-61, R-42, R-43): after the demo, a benchmark world sent through the
worker and a journey over HTTP, no clear personal value is where it must not be.

The PostgreSQL test loads the demo, builds a bench world (relance.bench.world: generated names and
numbers, e-mails added to some, a reminder each) and has a `relance worker` child send it; then it
drives a `relance serve` child (DEBUG=False) like a member of staff and an integrator would: sign-in
with the second factor, a contact created through the back-office form, its consent recorded, a
search by name and by number (POST), its page, a message sent through the API, a STOP through a
signed provider webhook, an access export downloaded as JSON, HTML and PDF, the contact erased. It
provokes error pages (404 with a number and an address in the URL, 400, 403, 405, 422 with personal
values in the body, 500 in-process), then scans both database dumps, the children's JSON logs, the
test process's own logs, every error body and the files under the var directory for every value
it created or loaded, in every form (tests/reliability/leakscan.py). A downloaded export of contact X
must hold X's values and no one else's. Finally it plants a clear value in a log, in the database
and in an error body, and the scan finds each one.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from django.conf import settings
from django.db import connection

from tests.reliability.leakscan import Scanner, forms_of, national_forms
from tests.reliability.scale import record, scale

PUBLIC = "https://relance.example"
TWILIO_TOKEN = "twilio-auth-token-leaks"
# The journey's person (X) and another contact of the same organisation (Y): made-up values.
X = {"first_name": "Aurélie", "last_name": "Vasseur-Kerbrat", "phone": "+33671234589",
     "email": "aurelie.vasseur@exemple-perso.fr"}
X_TYPED_PHONE = "06 71 23 45 89"
Y = {"first_name": "Gwénaëlle", "last_name": "Le Quéméner", "phone": "+33698765432",
     "email": "gwen.lequemener@exemple-perso.fr"}


def leaks_dir() -> Path:
    """var/test/leaks/<database>: the children's logs, scanned again by `make chaos`."""
    path = Path(settings.VAR_DIR) / "leaks" / connection.vendor
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*"):
        old.unlink()
    return path


# --- the scanner itself (no database: both passes) ---------------------------------------------
def test_the_scanner_finds_a_value_in_each_of_its_forms_and_never_prints_it():
    """R-61: each form a clear value can take is found; a finding's excerpt masks the value."""
    scanner = Scanner([X["last_name"], X["phone"], X["email"], "Hélène Duparc"])
    texts = {
        "clear": f"created {X['last_name']} ok",
        "lower": f"x {X['last_name'].lower()} y",
        "hex": "\\x" + X["email"].encode().hex(),
        "json": json.dumps({"name": "Hélène Duparc"}),  # ASCII-escaped: H\u00e9l\u00e8ne
        "url": "GET /app/contacts/?q=aurelie.vasseur%40exemple-perso.fr",
        "national": "rappel au 06 71 23 45 89 demain",
        "dotted": "tel 06.71.23.45.89",
        "html": "Vasseur-Kerbrat &amp; co",
    }
    for name, text in texts.items():
        found = scanner.scan_text(text, name)
        assert len(found) == 1, name
        assert "‹" in found[0].excerpt
        for form in forms_of(X["last_name"]) + forms_of(X["email"]) + [X_TYPED_PHONE]:
            assert form.lower() not in found[0].excerpt.lower(), (name, found[0].excerpt)
    assert scanner.scan_text("nothing here: +336…89, [phone], [email], 2026-11-23", "clean") == []


def test_the_scanner_finds_patterns_and_keeps_short_values_out_of_hex():
    """The standalone scan finds e-mail addresses and numbers nobody listed; a short value's hex is
    not looked for (it would show by chance in ciphertext)."""
    scanner = Scanner(["Nom1"], patterns=True)
    found = scanner.scan_text("a@b.fr\n+33612345678\n0612345678\nbytes 123456789012\nno-reply@relance.test\n"
                              + "4e6f6d31" + "\n", "f")
    assert [(f.line, f.kind) for f in found] == [(1, "email"), (2, "phone"), (3, "phone")]
    assert national_forms("+33612345678")[:2] == ["0612345678", "06 12 34 56 78"]


def test_the_standalone_command_exits_1_on_a_finding(tmp_path):
    """`python -m tests.reliability.leakscan PATHS` (make chaos): exit 1 and no clear value printed."""
    (tmp_path / "clean.log").write_text('{"message": "sent", "to": "+336…89"}\n')
    clean = subprocess.run([sys.executable, "-m", "tests.reliability.leakscan", "--no-demo", str(tmp_path)],
                           capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=60)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (tmp_path / "leaky.log").write_text(f'{{"message": "sent to {X["email"]}"}}\n')
    leaky = subprocess.run([sys.executable, "-m", "tests.reliability.leakscan", "--no-demo", str(tmp_path)],
                           capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=60)
    assert leaky.returncode == 1 and "leaky.log:1: email" in leaky.stdout
    assert X["email"] not in leaky.stdout


def test_django_request_logs_carry_neither_the_query_string_nor_an_unknown_path(rf):
    """R-61: "Not Found: /path" and its request, as Django logs them, through the project's filter and
    JSON formatter: a number, an address or a name typed in the URL stays out of the line (without
    the filter, the scan finds all three: the test can fail)."""
    import io

    from django.http import HttpResponseNotFound
    from django.utils.log import log_response

    from relance.lib.logs import JsonFormatter, RedactPersonalData

    request = rf.get(f"/app/contacts/{X['phone']}/{X['last_name']}/", {"q": X["last_name"], "email": X["email"],
                                                                      "phone": X_TYPED_PHONE})
    lines = {}
    for filtered in (True, False):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        if filtered:
            handler.addFilter(RedactPersonalData())
        logger = logging.getLogger("django.request")
        logger.addHandler(handler)
        try:
            log_response("Not Found: %s", request.path, response=HttpResponseNotFound(), request=request)
        finally:
            logger.removeHandler(handler)
        lines[filtered] = stream.getvalue()
    scanner = Scanner([X["last_name"], X["phone"], X["email"]], patterns=True)
    assert scanner.scan_text(lines[True], "filtered") == [], lines[True]
    assert '"/app/contacts/…"' in lines[True] or "/app/contacts/…" in lines[True]
    assert {f.kind for f in scanner.scan_text(lines[False], "unfiltered")} == {"name", "phone", "email"}


# --- the children -----------------------------------------------------------------------------
class Child:
    """`relance serve` or `relance worker` with the test databases; stdout and stderr to files."""

    def __init__(self, name: str, args: list[str], directory: Path):
        from relance.bench.http import child_env

        env = child_env(debug=False)
        env.update({"RELANCE_SMS_PROVIDER": "locmem", "RELANCE_EMAIL_PROVIDER": "locmem", "RELANCE_LOG_LEVEL": "DEBUG",
                    "RELANCE_PUBLIC_URL": PUBLIC, "RELANCE_WORKER_IDLE_SECONDS": "1", "RELANCE_DEMO": "false"})
        self.stdout_path, self.stderr_path = directory / f"{name}.out", directory / f"{name}.log"
        self.stdout, self.stderr = self.stdout_path.open("w"), self.stderr_path.open("w")
        # Our own interpreter and command line.
        self.process = subprocess.Popen([sys.executable, "-m", "relance.cli", *args], env=env,  # noqa: S603
                                        stdout=self.stdout, stderr=self.stderr, cwd=settings.BASE_DIR)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.stdout_path.read_text())
            if match:
                return match
            assert self.process.poll() is None, self.stderr_path.read_text()[-3000:]
            time.sleep(0.1)
        raise AssertionError(f"{pattern} not seen: {self.stderr_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.stdout.close()
        self.stderr.close()


def csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


class Staff:
    """A browser-like session on the served back-office (cookies, CSRF tokens, the second factor)."""

    def __init__(self, base: str):
        self.base, self.session = base, requests.Session()

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.base + path, allow_redirects=False, timeout=30, **kw)

    def form(self, path: str, data: dict) -> requests.Response:
        token = csrf(self.get(path).text)
        return self.session.post(self.base + path, data={"csrfmiddlewaretoken": token, **data},
                                 headers={"Referer": self.base + path}, allow_redirects=False, timeout=30)

    def sign_in(self, email: str, password: str, device) -> None:
        from django_otp.oath import TOTP

        answer = self.form("/app/login/", {"email": email, "password": password})
        assert answer.status_code == 302 and "/app/2fa/" in answer.headers["Location"], answer.status_code
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        answer = self.form("/app/2fa/", {"code": f"{totp.token():0{device.digits}d}"})
        assert answer.status_code == 302 and "/app/2fa" not in answer.headers["Location"], answer.text[:500]


class Api:
    def __init__(self, base: str, secret: str):
        self.base = base
        self.headers = {"Authorization": f"Bearer {secret}", "Accept-Language": "fr"}

    def call(self, method: str, path: str, payload=None, **kw) -> requests.Response:
        return requests.request(method, self.base + "/api/v1" + path, json=payload, headers=self.headers,
                                timeout=30, **kw)


# --- the journey --------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.chaos
@pytest.mark.django_db(transaction=True, databases=["default", "keys"])
def test_no_clear_personal_value_in_dumps_logs_error_pages_or_other_peoples_exports(tmp_path, client):
    """R-60, R-61 (dumps and logs hold no clear value), R-42 (an export holds its person's data and
    nobody else's, sealed at rest), R-43 (erasure), R-65, SPEC §3.7: no personal value in error pages."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker and the server are child processes on the test database: PostgreSQL only")
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from relance.accounts.models import Role
    from relance.audit.services import Actor
    from relance.bench import world as bench_world
    from relance.consent import services as consent_services
    from relance.contacts import services as contacts
    from relance.contacts.models import Contact, SuppressionEntry
    from relance.messaging.models import Message, Template
    from relance.ops.demo import DEMO_PERSONAL_VALUES, load_demo
    from relance.privacy.models import AccessExport
    from relance.providers.models import ProviderAccount
    from relance.providers.services import create_account
    from relance.providers.twilio.receipts import signature
    from relance.testing import PASSWORD, make_api_key, make_user
    from tests.dumps import dump_database

    started = last = time.monotonic()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:  # how long each part took (the figures show where the time goes)
        nonlocal last
        now = time.monotonic()
        phases[name], last = round(now - last, 1), now
    logs = leaks_dir()
    in_process = logs / "tests.log"
    handler = logging.FileHandler(in_process)
    from relance.lib.logs import JsonFormatter, RedactPersonalData

    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactPersonalData())
    root = logging.getLogger()
    root.addHandler(handler)
    children: list[Child] = []
    errors: dict[str, bytes] = {}
    try:
        # 1. The demo, a bench world (generated people, a reminder each) and its dispatch by a worker.
        lap("start")
        load_demo()
        people = scale(300, 2000)
        world = bench_world.build(people, lambda _line: None, tag=f"leaks{uuid.uuid4().hex[:6]}")
        actor = Actor.system("leaks-test")
        bench_values: set[str] = set()
        for n, contact in enumerate(world.people):
            if n % 5 == 0:  # a fifth of them get an e-mail address too
                contacts.update_contact(contact, actor=actor, email=f"prenom{n}.nom{n}@exemple-bench.fr")
                bench_values.add(f"prenom{n}.nom{n}@exemple-bench.fr")
            bench_values |= {contact.first_name, contact.last_name, contact.phone}
        lap("demo and bench world")
        worker = Child("worker", ["worker", "--name", "leaks"], logs)
        children.append(worker)
        deadline = time.monotonic() + scale(60, 240)
        while Message.objects.for_org(world.org).filter(status__in=["scheduled", "claimed", "sending"]).exists():
            assert time.monotonic() < deadline, "the worker did not send the bench world's reminders"
            time.sleep(0.5)
        lap("dispatch by the worker")
        bodies = [m.body for m in Message.objects.for_org(world.org) if m.body]
        assert len(bodies) == people, Message.objects.for_org(world.org).values_list("status", "reason")[:5]
        bench_values |= set(bodies)

        # 2. The journey, over HTTP against `relance serve`.
        org = world.org
        admin = make_user(org, Role.ADMIN)
        device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
        api_secret = make_api_key(org)[1]
        twilio = create_account(org, name="Twilio", kind="twilio", actor=actor,
                                credentials={"account_sid": "AC" + "0" * 32, "auth_token": TWILIO_TOKEN})
        ProviderAccount.unscoped.filter(pk=twilio.pk).update(enabled=False)  # it receives; locmem sends
        # A purpose based on consent (the bench's is a public task: no consent to record), and its template.
        by_consent = consent_services.create_purpose(
            org, actor=actor, code="leaks-consent", label_fr="Rappels (consentement)", label_en="Reminders (consent)",
            message_class="service", legal_basis="consent", data_categories=["identity", "contact"],
            recipients=["Staff"], retention="4 months", retention_days=120, channels=["sms"], consent_validity_days=365)
        for language, text in bench_world.NOTICE.items():
            consent_services.publish_notice(by_consent, actor=actor, language=language, text=text)
        by_consent = consent_services.activate_purpose(by_consent, actor=actor)
        Template.objects.create(organisation=org, purpose=by_consent, code="rappel-nominatif", channel="sms",
                                language="fr", body="Bonjour {first_name} {last_name}, {org} vous attend {date} à {time}. {stop}")
        lap("journey set-up")
        server = Child("server", ["serve", "--host", "127.0.0.1", "--port", "0", "--threads", "4"], logs)
        children.append(server)
        port = server.wait_for(r"serving on http://127.0.0.1:(\d+)/").group(1)
        base = f"http://127.0.0.1:{port}"
        staff, api = Staff(base), Api(base, api_secret)
        lap("server start")
        staff.sign_in(admin.test_email, PASSWORD, device)

        created = staff.form("/app/contacts/new/", {
            "first_name": X["first_name"], "last_name": X["last_name"], "phone": X_TYPED_PHONE, "email": X["email"],
            "language": "fr", "minor": "no"})
        assert created.status_code == 302, created.text[:2000]
        x_id = created.headers["Location"].rstrip("/").split("/")[-1]
        consent = staff.form(f"/app/contacts/{x_id}/consent/", {
            "purpose": by_consent.pk, "channel": "sms", "action": "given", "expressed_by": "subject",
            "method": "phone_call", "notice": consent_services.current_notice(by_consent, "fr").pk,
            "note": f"{X['first_name']} {X['last_name']} a appelé du {X_TYPED_PHONE}"})
        assert consent.status_code == 302, re.findall(r"errorlist[^>]*>(.*?)</ul>", consent.text, re.S)
        for query in (X["last_name"], X_TYPED_PHONE):
            found = staff.form("/app/contacts/", {"q": query, "by": "auto"})
            assert found.status_code == 200 and X["last_name"] in found.text, query
        page = staff.get(f"/app/contacts/{x_id}/")
        assert page.status_code == 200 and X["email"] in page.text
        y = api.call("POST", "/contacts", {**Y, "language": "fr"})
        assert y.status_code == 201, y.text
        sent = api.call("POST", "/messages", {"contact_id": x_id, "template_code": "rappel-nominatif", "channel": "sms",
                                              "params": {"date": "mardi 24", "time": "10 h 30"}})
        assert sent.status_code == 201, sent.text
        deadline = time.monotonic() + 60
        while Message.objects.for_org(org).filter(contact_id=x_id, status__in=["scheduled", "claimed", "sending"]) \
                .exists() and time.monotonic() < deadline:
            time.sleep(0.3)
        lap("journey to the message")
        x_bodies = [m.body for m in Message.objects.for_org(org).filter(contact_id=x_id) if m.body]
        assert x_bodies, list(Message.objects.for_org(org).filter(contact_id=x_id).values_list("status", "reason"))
        stop = {"From": X["phone"], "To": bench_world.sender_of(org), "Body": "STOP",
                "MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32}
        hook = f"/hooks/twilio/{twilio.webhook_token}/inbound"
        answer = requests.post(base + hook, data=urlencode(stop), timeout=30,
                               headers={"Content-Type": "application/x-www-form-urlencoded",
                                        "X-Twilio-Signature": signature(PUBLIC + hook, stop, TWILIO_TOKEN)})
        assert answer.status_code == 200, answer.text
        assert SuppressionEntry.objects.for_org(org).filter(phone_hash=contacts.index_for(org, "phone", X["phone"])) \
            .exists(), "the STOP did not take effect"
        export = api.call("POST", f"/contacts/{x_id}/exports", {})
        assert export.status_code == 201, export.text
        export_id = export.json()["id"]
        downloads = {}
        for suffix, name in (("", "export.json"), ("/html", "export.html"), ("/pdf", "export.pdf")):
            got = api.call("GET", f"/exports/{export_id}{suffix}")
            assert got.status_code == 200, (suffix, got.text[:300])
            downloads[name] = tmp_path / name
            downloads[name].write_bytes(got.content)

        # 3. Error pages, with personal values in the URL, the body or the headers.
        lap("STOP and export")
        errors.update(provoke_errors(base, staff, api, hook, stop, x_id))
        errors.update(provoke_500(client, admin, org, api_secret))
        lap("error pages")
        dumps_before = {"main": dump_database("default"), "keys": dump_database("keys")}
        stored = re.search(rf"COPY public\.{AccessExport._meta.db_table} .*?\n(.+?)\n\\\.", dumps_before["main"], re.S)
        assert stored and str(export_id) in stored.group(1), "the export is not in the dump: nothing proved at rest"
        lap("dumps before erasure")
        erased = staff.form(f"/app/contacts/{x_id}/erase/", {"understood": "on"})
        assert erased.status_code == 302
        assert Contact.objects.for_org(org).get(pk=x_id).status == Contact.Status.ERASED
        gone = api.call("GET", f"/exports/{export_id}")
        assert gone.status_code in (404, 410), gone.text  # deleted or unreadable once erased
        errors[f"{gone.status_code} export of an erased contact"] = gone.content
    finally:
        for child in reversed(children):
            child.stop()
        root.removeHandler(handler)
        handler.close()

    lap("erasure")
    # 4. The scan.
    dumps_after = {"main": dump_database("default"), "keys": dump_database("keys")}
    lap("dumps at the end")
    journey_values = {*X.values(), X_TYPED_PHONE, *Y.values(), *x_bodies}
    everyone = sorted(set(DEMO_PERSONAL_VALUES) | bench_values | journey_values)
    scanner = Scanner(everyone, patterns=False)
    findings = []
    for moment, dumps in (("before erasure", dumps_before),
                          ("at the end", dumps_after)):
        for name, text in dumps.items():
            findings += scanner.scan_text(text, f"{name} dump {moment}", label=f"dump:{name}")
    looking = Scanner(everyone, patterns=True)  # logs and error bodies: no address or number at all
    for path in sorted(logs.glob("*")):
        findings += looking.scan_path(path, label=f"log:{path.stem}")
    for name, body in errors.items():
        findings += looking.scan_bytes(body, f"error {name}", label="error pages")
    if (Path(settings.VAR_DIR) / "pending-imports").exists():  # sealed uploads at rest
        findings += scanner.scan_path(Path(settings.VAR_DIR) / "pending-imports", label="var files at rest")
    # The export: X's own values are in it (expected); anybody else's are not.
    others = scanner.but({*X.values(), X_TYPED_PHONE, *x_bodies})
    for name, path in downloads.items():
        findings += others.scan_path(path, label=f"export:{name}")
    for name in ("export.json", "export.html"):
        text = downloads[name].read_text()
        assert Scanner([X["last_name"]]).scan_text(text, name), f"{name} misses the person's own name"
        assert Scanner([X["email"]]).scan_text(text, name), f"{name} misses the person's own address"
    scanned = {**scanner.scanned, **looking.scanned}
    assert findings == [], "\n".join(str(f) for f in findings)

    lap("scan")

    # 5. The scan can fail: a value planted in a log, in the database and in an error body is found.
    planted = logs / "planted.log"
    planted.write_text(server.stderr_path.read_text() + json.dumps({"message": f"sent to {X['phone']}"}) + "\n")
    assert [f.kind for f in looking.scan_path(planted)] == ["phone"]
    planted.unlink()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_site SET address = %s WHERE id = (SELECT MIN(id) FROM accounts_site)",
                       [Y["last_name"]])
    assert [f.kind for f in scanner.scan_text(dump_database("default"), "planted dump")] == ["name"]
    body = json.dumps({"code": "invalid", "fields": {"email": [f"{Y['email']} is not valid"]}}).encode()
    assert [f.kind for f in looking.scan_bytes(body, "planted error")] == ["email"]

    lap("planted values")
    figures = {"phases": phases, "values": len(everyone), "bench_contacts": people, "messages_sent": len(bodies) + len(x_bodies),
               "error_pages": len(errors), "sources": len(scanned), "bytes": scanned,
               "bytes_total": sum(scanned.values()), "findings": len(findings), "planted_found": 3,
               "seconds": round(time.monotonic() - started, 1)}
    record("leaks", figures)


def provoke_errors(base: str, staff: Staff, api: Api, hook: str, stop: dict, x_id: str) -> dict[str, bytes]:
    """Error answers of the served application whose requests carry the person's values."""
    from relance.providers.twilio.receipts import signature

    bodies: dict[str, bytes] = {}
    where = f"{X['phone']}/{X['email']}/{X['last_name']}"
    query = urlencode({"q": X["last_name"], "phone": X_TYPED_PHONE, "email": X["email"]})

    def keep(name: str, answer: requests.Response, status: int) -> None:
        assert answer.status_code == status, (name, answer.status_code, answer.text[:300])
        bodies[name] = answer.content

    keep("404 back-office", staff.get(f"/app/contacts/{where}/?{query}"), 404)
    keep("404 api", api.call("GET", f"/contacts/{where}?{query}"), 404)
    keep("404 public", requests.get(f"{base}/p/{where}?{query}", timeout=30), 404)
    keep("404 root", requests.get(f"{base}/{X['email']}?{query}", timeout=30), 404)
    # 400: a host that is someone's address; a signed webhook without its "To".
    keep("400 host", requests.get(f"{base}/app/login/", headers={"Host": X["email"]}, timeout=30), 400)
    partial = {k: v for k, v in stop.items() if k != "To"} | {"Body": f"STOP {X['first_name']} {X['last_name']}"}
    keep("400 webhook", requests.post(base + hook, data=urlencode(partial), timeout=30, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature(PUBLIC + hook, partial, TWILIO_TOKEN)}), 400)
    broken_json = f'{{"last_name": "{X["last_name"]}", "phone": '.encode()
    keep("400 api json", requests.post(f"{base}/api/v1/contacts", data=broken_json, timeout=30,
                                       headers={**api.headers, "Content-Type": "application/json"}), 400)
    # 403: no CSRF token on a form carrying personal values; a webhook with a wrong signature.
    keep("403 csrf", staff.session.post(f"{base}/app/contacts/new/", data={**X, "language": "fr"},
                                        allow_redirects=False, timeout=30), 403)
    keep("403 webhook", requests.post(base + hook, data=urlencode(stop), timeout=30, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "forged"}), 403)
    # 405: the wrong method, with the values in the body.
    keep("405 api", api.call("PUT", "/contacts/lookup", {"phone": X["phone"], "email": X["email"]}), 405)
    keep("405 back-office", staff.get(f"/app/logout/?{query}"), 405)  # POST only
    keep("405 webhook", requests.delete(base + hook + f"?{query}", data=urlencode(stop), timeout=30), 405)
    # 422: invalid values; the answer may name the fields, not echo what was typed.
    keep("422 api contact", api.call("POST", "/contacts", {
        "first_name": X["first_name"], "last_name": X["last_name"], "phone": "06 71 23 45", "email":
        X["email"].replace("@", "@@"), "birth_date": X["last_name"], "language": X["first_name"]}), 422)
    keep("422 api lookup", api.call("POST", "/contacts/lookup", {"phone": X["phone"], "email": X["email"]}), 422)
    keep("422 api message", api.call("POST", "/messages", {"contact_id": x_id, "template_code": X["last_name"],
                                                          "channel": "sms", "params": {"name": X["last_name"]}}),
         422)
    keep("422 api site", api.call("POST", "/sites", {"name": X["last_name"] * 30, "code": X["email"]}), 422)
    return bodies


def provoke_500(client, admin, org, api_secret: str) -> dict[str, bytes]:
    """A 500 while searching for the person, in-process (the product has no failing view to call over
    HTTP): the database fails under the search; neither the page nor the log may carry what was typed."""
    from django.db import OperationalError

    from relance.backoffice.tests.helpers import sign_in
    from relance.contacts import services as contacts

    def broken(*_args, **_kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    admin.refresh_from_db()  # the server re-hashed the password with its own costs at sign-in
    sign_in(client, admin, org)
    client.raise_request_exception = False
    bodies = {}
    original = contacts.find_by_last_name, contacts.find_by_phone, contacts.lookup
    contacts.find_by_last_name = contacts.find_by_phone = contacts.lookup = broken
    try:
        for query in (X["last_name"], X_TYPED_PHONE):
            answer = client.post("/app/contacts/", {"q": query, "by": "auto"})
            assert answer.status_code == 500
            bodies[f"500 search {query[:3]}"] = answer.content
        answer = client.post("/api/v1/contacts/lookup", {"phone": X["phone"], "email": None, "external_ref": None},
                             content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_secret}")
        assert answer.status_code == 500, answer.content
        bodies["500 api lookup"] = answer.content
    finally:
        contacts.find_by_last_name, contacts.find_by_phone, contacts.lookup = original
    return bodies
