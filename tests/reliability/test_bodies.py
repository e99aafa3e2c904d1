"""Issue 9, hostile input: oversized and malformed bodies, and CSV bombs.

Every surface that reads a body (the API, the generic provider webhooks of /api/v1/webhooks/, the
vendor webhooks of /hooks/<kind>/<token>/, the import by the API and by the back-office upload) is
sent a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a 10,000-level nested JSON, invalid UTF-8, truncated
JSON, the wrong content type and NUL bytes in fields: each answers a clear 4xx (JSON {code, message}
on the API, in the caller's language), never a 500, and writes nothing. CSV bombs (a million columns
on one line, a 50 MB line, a million empty lines, a quote that never closes, many BOMs) are refused
or read in bounded memory and time (tracemalloc's peak, the clock), with a per-line report and none
of the good lines lost.

Found and fixed: a 10,000-level nested JSON was a 500 on /api/v1/webhooks/<provider>/ and on the
Brevo and Vonage hooks (RecursionError escaped json.loads); a vendor hook's body over
DATA_UPLOAD_MAX_MEMORY_SIZE answered Django's HTML 400 page instead of the hooks' JSON (now 413).
"""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from relance.audit.services import Actor
from relance.imports import services as imports
from relance.imports.csv_import import MAX_BYTES, FileRefused
from relance.providers.services import create_account
from relance.testing import SYSTEM
from tests.reliability.scale import record, scale

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

SECRET = "s3cret-shared"
DEEP_ARRAY = ("[" * 10_000 + "]" * 10_000).encode()
DEEP_OBJECT = ('{"a":' * 10_000 + "1" + "}" * 10_000).encode()
DEEP_NUL = ("[" * 10_000 + '"\\u0000"' + "]" * 10_000).encode()  # any NUL filter must survive the nesting
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def counts() -> dict[str, int]:
    """Rows of every model of both databases: a refused request writes nothing anywhere."""
    found = {}
    for model in apps.get_models():
        if model._meta.app_label in {"sessions", "axes"} or not model._meta.managed:
            continue
        alias = "keys" if model._meta.app_label == "keystore" else "default"
        found[model._meta.label] = model._base_manager.using(alias).count()
    return found


def oversized(limit_bytes: int) -> bytes:
    return json.dumps({"name": "x" * (limit_bytes + 1024)}).encode()


def api_cases(settings) -> list[tuple[str, bytes, str, set[int]]]:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return [
        ("oversized", oversized(limit), JSON, {413}),
        ("nested 10,000 arrays", DEEP_ARRAY, JSON, {400}),
        ("nested 10,000 objects", DEEP_OBJECT, JSON, {400}),
        ("nested 10,000 with a NUL", DEEP_NUL, JSON, {400, 422}),
        ("invalid UTF-8", b'{"name": "\xff\xfe\xc3"}', JSON, {400}),
        ("truncated", b'{"name": "Accueil", "code": "acc', JSON, {400}),
        ("wrong content type", b"name=Accueil&code=acc", FORM, {400}),
        ("text/plain garbage", b"\x00\x01 not json", "text/plain", {400}),
        ("empty", b"", JSON, {400, 422}),
        ("NUL bytes in fields", b'{"name": "Acc\\u0000ueil", "code": "a\\u0000b", "address": "\\u0000"}', JSON, {422}),
    ]


@pytest.fixture
def hooks_ready(settings, world):
    settings.RELANCE_WEBHOOK_SECRET = SECRET
    settings.RELANCE_PUBLIC_URL = "https://relance.example"
    brevo = create_account(world.a, name="Brevo", kind="brevo", actor=Actor.system("test"),
                           credentials={"api_key": "xkeysib-0123456789abcdef", "webhook_token": "brevo-token"})
    vonage = create_account(world.a, name="Vonage", kind="vonage", actor=Actor.system("test"),
                            credentials={"api_key": "k", "api_secret": "s", "signature_secret": "sig"})
    twilio = create_account(world.a, name="Twilio", kind="twilio", actor=Actor.system("test"),
                            credentials={"account_sid": "AC" + "0" * 32, "auth_token": "t" * 32})
    ovh = create_account(world.a, name="OVH", kind="ovh", actor=Actor.system("test"),
                         credentials={"application_key": "a", "application_secret": "b", "consumer_key": "c",
                                      "service_name": "sms-xx-1", "callback_secret": "cb"})
    return {"brevo": brevo, "vonage": vonage, "twilio": twilio, "ovh": ovh}


def assert_api_error(response, statuses: set[int]) -> dict:
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["code"] and body["message"] and isinstance(body.get("fields", {}), dict)
    return body


@pytest.mark.parametrize("path", ["/api/v1/sites", "/api/v1/contacts", "/api/v1/purposes"])
def test_the_api_answers_every_hostile_body_with_a_json_4xx_in_the_callers_language(world, settings, path):
    """SPEC §4, R-64: oversized (413), nested, invalid UTF-8, truncated, wrong type (400), NUL bytes
    (422, every field listed): JSON {code, message} in English and in French, nothing written."""
    before = counts()
    for label, body, content_type, statuses in api_cases(settings):
        messages = {}
        for language in ("en", "fr"):
            response = Client().post(path, data=body, content_type=content_type, HTTP_ACCEPT_LANGUAGE=language,
                                     HTTP_AUTHORIZATION=f"Bearer {world.key_a}")
            messages[language] = assert_api_error(response, statuses)["message"]
            assert response["Content-Language"] == language, label
        assert messages["en"] != messages["fr"], (label, messages)
    assert counts() == before


def test_nul_bytes_are_refused_field_by_field(world):
    """SPEC §4: NUL bytes (which PostgreSQL cannot store in text) are a 422 naming each field."""
    from relance.api.tests.conftest import ApiClient

    response = ApiClient(world.key_a).post("/contacts", {"first_name": "Je\x00anne", "last_name": "\x00",
                                                   "phone": "+3361234\x005678", "external_ref": "r\x00"})
    body = assert_api_error(response, {422})
    assert {"first_name", "last_name", "external_ref"} <= set(body["fields"]), body
    assert not apps.get_model("contacts", "Contact")._base_manager.exists()


@pytest.mark.parametrize("which", ["receipts", "inbound"])
def test_the_generic_provider_webhooks_refuse_hostile_bodies(hooks_ready, settings, which):
    """R-66, SPEC §4: /api/v1/webhooks/<provider>/: a 5 MB body (413), nested, invalid UTF-8,
    truncated, NUL bytes: JSON 4xx, never a 500, nothing written."""
    before = counts()
    cases = [(b"[" + b" " * (5 * 1024 * 1024) + b"]", JSON, {413}), (DEEP_ARRAY, JSON, {400}),
             (DEEP_OBJECT, JSON, {400}), (b"\xff\xfe{", JSON, {400}), (b'{"provider_ref": "x', JSON, {400}),
             (b"a=b", FORM, {400}),
             (b'{"provider_ref": "\\u0000", "status": "\\u0000", "sender": "\\u0000", "to": "\\u0000", "text": "\\u0000"}',
              JSON, {422})]
    for body, content_type, statuses in cases:
        response = Client().post(f"/api/v1/webhooks/locmem/{which}", data=body, content_type=content_type,
                                 HTTP_X_RELANCE_WEBHOOK_SECRET=SECRET)
        assert_api_error(response, statuses)
    assert counts() == before


def test_the_vendor_webhooks_refuse_hostile_bodies(hooks_ready):
    """R-66: /hooks/<kind>/<token>/: a 5 MB body is 413, a nested or broken body 400 or 403 (its
    signature cannot hold), in the hooks' JSON; never a 500; nothing written."""
    before = counts()
    big = b"[" + b" " * (5 * 1024 * 1024) + b"]"
    statuses = {}
    for kind, account in hooks_ready.items():
        headers = {"HTTP_AUTHORIZATION": "Bearer brevo-token"} if kind == "brevo" else {}
        query = "?secret=cb" if kind == "ovh" else ""
        for which in ("receipts", "inbound"):
            url = f"/hooks/{kind}/{account.webhook_token}/{which}{query}"
            for label, body, content_type in (("5 MB", big, JSON), ("5 MB form", b"a=" + b"x" * (5 * 1024 * 1024), FORM),
                                              ("nested", DEEP_ARRAY, JSON), ("nested object", DEEP_OBJECT, JSON),
                                              ("invalid UTF-8", b"\xff\xfe[", JSON), ("truncated", b'[{"a": ', JSON),
                                              ("form with NUL", b"MessageSid=\x00&MessageStatus=%00&text=%00", FORM)):
                response = Client().post(url, data=body, content_type=content_type, **headers)
                assert 400 <= response.status_code < 500, (kind, which, label, response.status_code, response.content[:200])
                assert response["Content-Type"].startswith(JSON), (kind, label, response["Content-Type"])
                if label.startswith("5 MB"):
                    assert response.json()["code"] == "payload_too_large"
                statuses[f"{kind} {which} {label}"] = response.status_code
    assert counts() == before
    assert statuses["brevo receipts nested"] == 400  # Brevo's JSON is read: nested is malformed, not a 500


# --- the import: API and back-office upload --------------------------------------------------------
def upload(key, data: bytes, language: str = "fr", **fields):
    form = {"file": SimpleUploadedFile("contacts.csv", data, content_type="text/csv"), **fields}
    return Client().post("/api/v1/imports", data=form, HTTP_AUTHORIZATION=f"Bearer {key}",
                         HTTP_ACCEPT_LANGUAGE=language)


def test_the_api_import_refuses_a_huge_or_binary_file_with_a_json_422(world):
    """SPEC §4: a file over 20 MB, a binary file, a NUL byte: 422 `fields.file` in the caller's
    language; no batch, no contact."""
    before = counts()
    huge = b"telephone;nom\n" + b"0612345678;Nom\n" * (MAX_BYTES // 15 + 1)
    assert len(huge) > MAX_BYTES
    started = time.monotonic()
    body = assert_api_error(upload(world.key_a, huge), {422})
    assert body["code"] == "file_too_large" and body["fields"]["file"], body
    assert time.monotonic() - started < 30
    for data, code in ((b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary_file"), (b"telephone\n06\x0012\n", "binary_file")):
        en = assert_api_error(upload(world.key_a, data, "en"), {422})
        fr = assert_api_error(upload(world.key_a, data, "fr"), {422})
        assert en["code"] == fr["code"] == code and en["message"] != fr["message"] and en["fields"]["file"]
    assert counts() == before


def test_the_back_office_upload_refuses_a_bomb_with_the_form_error(client, world, settings):
    """SPEC §4: in the back-office, a refused file re-displays the form with the reason (in French,
    the organisation's language); nothing written."""
    from relance.accounts.models import Role
    from relance.backoffice.tests.helpers import sign_in

    settings.RELANCE_IMPORT_MAX_BYTES = 1024 * 1024
    sign_in(client, world.users_a[Role.ADMIN], world.a)
    before = counts()
    for data in (b"telephone;" + b";" * 100_000 + b"\n06\n", b"telephone\n" + b"0612345678\n" * 120_000,
                 b"telephone\n\x00\x00", b'telephone;nom\n"0612345678;never closed\n' + b"x\n" * 50_000):
        upload_file = SimpleUploadedFile("bomb.csv", data, content_type="text/csv")
        response = client.post(reverse("backoffice:import_create"), {"file": upload_file, "mode": "all_or_nothing",
                                                                     "purpose": ""}, HTTP_ACCEPT_LANGUAGE="fr")
        assert response.status_code == 200, response.status_code
        errors = response.context["form"].errors["file"]
        assert errors and all(error for error in errors)
    assert counts() == before


# --- CSV bombs: refused or read in bounded memory and time -----------------------------------------
def measured(call):
    """(outcome, seconds, peak MiB of Python allocations during the call)."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        outcome = call()
    except FileRefused as exc:
        outcome = exc
    finally:
        seconds = time.monotonic() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return outcome, seconds, peak / 2**20


@pytest.mark.chaos
def test_csv_bombs_are_refused_or_read_in_bounded_memory_and_time(world):
    """SPEC §4 (import), R-15: each bomb is refused with a reason or read with a per-line report, in
    bounded memory (peak under 8x the file, and under 400 MiB) and time; the good lines all count."""
    org = world.a
    empty_lines = scale(50_000, 1_000_000)
    good = ["0612345678", "0698765432", "0611223344"]
    bombs = {
        "million columns": b"telephone" + b";" * 1_000_000 + b"\n0612345678\n",
        "50 MB line": b"telephone;nom\n0612345678;" + b"x" * (50 * 1024 * 1024) + b"\n",
        "empty lines": ("telephone;nom\n" + f"{good[0]};A\n" + "\n" * empty_lines + f"{good[1]};B\nnot a phone;C\n"
                        + "\r\n" * empty_lines + f"{good[2]};D\n").encode(),
        "quote never closes": b'telephone;nom\n0612345678;"never closed\n' + b"0698765432;x\n" * 200_000,
        "many BOMs": "\ufeff".encode() * 1000 + f"téléphone;nom\n{good[0]};A\n".encode(),
        "wide quoted field": b'telephone;nom\n0612345678;"' + b"y" * 10_000_000 + b'"\n',
    }
    figures, before = {}, counts()
    for label, data in bombs.items():
        outcome, seconds, peak = measured(lambda data=data: imports.import_contacts(
            org, data, actor=SYSTEM, dry_run=True, mode="good_rows_only"))
        refused = isinstance(outcome, FileRefused)
        figures[label] = {"bytes": len(data), "seconds": round(seconds, 2), "peak_mib": round(peak, 1),
                          "outcome": outcome.code if refused else f"{outcome.valid} valid, {outcome.invalid} invalid"}
        assert peak < min(8 * len(data) / 2**20 + 16, 400), (label, figures[label])
        assert seconds < scale(30, 60), (label, figures[label])
        if refused:
            assert outcome.message, label
    assert figures["million columns"]["outcome"] == "line_too_long"
    assert figures["50 MB line"]["outcome"] == "file_too_large"
    assert figures["quote never closes"]["outcome"] == "malformed_csv"
    assert figures["wide quoted field"]["outcome"] in {"malformed_csv", "line_too_long"}
    assert figures["many BOMs"]["outcome"] == "1 valid, 0 invalid"
    # A million empty lines: every good line counted, the bad one reported on its own line number.
    batch = imports.import_contacts(org, bombs["empty lines"], actor=SYSTEM, mode="good_rows_only")
    assert (batch.created, batch.invalid) == (3, 1), batch.report
    [problem] = batch.report["problems"]
    assert problem["line"] == 3 + empty_lines + 1 and problem["field"] == "phone"
    assert counts()["contacts.Contact"] == before["contacts.Contact"] + 3
    record("csv-bomb", {"bombs": len(bombs), "empty_lines": empty_lines, **{k: v for k, v in figures.items()}})
