"""SQL and template injection in every text field that reaches a query or a template (R-63, R-60,
R-24), issue 9 §4.

The fields are found, not listed: the API's fields are every string property of every request body
and every string query parameter of the OpenAPI document (relance/api/main.py), and the back-office's
and public pages' fields are every text input and textarea of every form a crawl of the pages meets
(as an administrator of A, and as a visitor of A's public pages). A new field is tried the day it
appears. Each gets the hostile payloads below; then:
- never a 5xx;
- no table lost, and nothing of organisation B changed (every tenant table's rows of B counted before
  and after) nor shown to A (B's markers never in an answer to A);
- a page never carries a payload unescaped (`<script>alert(1)</script>` only as `&lt;script&gt;…`),
  never the value of an evaluated expression (`zq49zq` for `zq{{7*7}}zq`), never the secret key,
  never Django's debug output;
- the values that were accepted are stored verbatim (the API reads back what it was given; the
  SMS/e-mail rendering puts a contact's name in as written, never interpreted: placeholders are
  substituted by a regular expression, not str.format, so `{first_name.__class__}` is text);
- the template linter refuses unknown placeholders with a message that names them and lists the
  known ones.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test import Client

from relance.accounts.models import Role
from relance.accounts.tenancy import TenantModel
from relance.backoffice.tests.helpers import sign_in
from relance.messaging import render
from relance.messaging.lint import errors_of, lint
from relance.testing import make_contact, make_site
from tests.reliability.scale import record, scale

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

PAYLOADS = {
    "sql": "zq'; DROP TABLE contacts_contact;-- ' OR '1'='1 %' OR 1=1 --",
    "template": "zq{{7*7}}zq ${7*7} {% debug %} {{ settings.SECRET_KEY }} {first_name.__class__} {0.__init__.__globals__}",
    "html": "zq<script>alert(1)</script>\"><img src=x onerror=alert(1)>",
    "nul": "zq\x00zq",
    "long": "zq" + "A" * 5000,
}
# `make test` sends the forms the payloads that must be escaped when shown (HTML) or that PostgreSQL
# refuses (NUL); `make chaos` sends all of them (the API walk always does). HTML last: it stays stored.
FORM_PAYLOADS = scale(("nul", "html"), ("sql", "template", "nul", "long", "html"))
UNESCAPED = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "zq49zq", "{% debug %}zq")
DEBUG_OUTPUT = ("sql_queries", "'csrf_token':", "<django.")


def leaks(body: str, markers_b: list[str], *, html: bool = True) -> list[str]:
    """What a page must never carry: an unescaped payload (in HTML: JSON carries strings as they are,
    served as application/json with nosniff), an evaluated expression, the secret key, Django's debug
    output, or anything of organisation B."""
    found = [marker for marker in UNESCAPED if marker in body and (html or "<" not in marker)]
    found += [marker for marker in DEBUG_OUTPUT if marker in body]
    if settings.SECRET_KEY in body:
        found.append("SECRET_KEY")
    found += [marker for marker in markers_b if marker in body]
    return found


# --- what must not move: the tables, and organisation B's rows ----------------------------------------
def tenant_models():
    return [model for model in apps.get_models() if issubclass(model, TenantModel)]


def state_of(org) -> dict:
    """Every table's existence, and the rows of `org` in every tenant table."""
    return {"tables": sorted(connection.introspection.table_names()),
            **{model._meta.label: model.unscoped.filter(organisation=org).count() for model in tenant_models()}}


@pytest.fixture
def stage(world):
    """A and B, each with a site, a contact and B's recognisable names."""
    make_site(world.a, name="Site of A")
    make_contact(world.a, first_name="Alice", last_name="Ofa")
    markers_b = [make_site(world.b, name="Zzzsiteofb").name,
                 make_contact(world.b, first_name="Zzzbfirst", last_name="Zzzblast").pk.hex]
    markers_b.append(world.b.name)
    return world, markers_b


# --- the API: every string field of every operation ----------------------------------------------------
def _resolve(schema: dict, document: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def filled(schema: dict, document: dict, payload: str, depth: int = 0):
    """A value of this schema with `payload` in every free-text string (enums and formats kept valid,
    so that the payload reaches as far as it can)."""
    schema = _resolve(schema, document)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, document).get("type") != "null"]
            return filled(options[0], document, payload, depth) if options else None
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "string":
        return {"date-time": "2030-01-01T10:00:00+01:00", "date": "2030-01-01", "email": "zq@example.org",
                "uuid": "00000000-0000-0000-0000-000000000000"}.get(schema.get("format", ""), payload)
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return False
    if kind == "array":
        return [filled(schema.get("items", {}), document, payload, depth + 1)] if depth < 3 else []
    if kind == "object" or "properties" in schema:
        return {name: filled(sub, document, payload, depth + 1)
                for name, sub in schema.get("properties", {}).items()} if depth < 4 else {}
    return payload


def api_operations(document: dict):
    """(method, path template, body schema or None, string query parameters) of every operation."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = (operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema"))
            query = [p["name"] for p in operation.get("parameters", [])
                     if p["in"] == "query" and _resolve(p.get("schema", {}), document).get("type") in ("string", None)]
            if body is not None or query:
                yield method, path, body, query


def test_no_api_field_takes_injection_anywhere(client, stage):
    """R-63: every string of every request body and query string of the API, with each payload: no
    5xx, no table lost, nothing of B changed or shown, nothing evaluated or unescaped."""
    from relance.api.main import api
    from tests.test_isolation import BUILDERS

    world, markers_b = stage
    document = api.get_openapi_schema()
    objects = {name: build(world.a) for name, build in BUILDERS.items()}
    before_b = state_of(world.b)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world.key_a}"}
    failures, calls, fields = [], 0, 0
    for method, template, body, query in api_operations(document):
        path = re.sub(r"\{(\w+)\}", lambda m: str(objects.get(m.group(1), 1)), template)
        fields += len(query) + (1 if body is not None else 0)
        for name, payload in PAYLOADS.items():
            if body is not None:
                data = filled(body, document, payload)
                response = client.generic(method.upper(), path, _json(data), content_type="application/json",
                                          **headers)
            else:
                response = client.generic(method.upper(), path + "?" + _query({q: payload for q in query}), **headers)
            calls += 1
            text = response.content.decode("utf-8", "replace")
            found = leaks(text, markers_b, html=response.get("Content-Type", "").startswith("text/html"))
            if response.status_code >= 500 or found:
                failures.append(f"{method.upper()} {template} [{name}]: {response.status_code} {found}")
    assert not failures, "\n".join(failures)
    assert state_of(world.b) == before_b
    assert calls > 100, calls
    record("security-injection-api", {"operations_fields": fields, "calls": calls, "failures": len(failures)})


def test_a_null_character_is_refused_with_a_422_naming_the_field(client, stage):
    """The fix the walk above led to: PostgreSQL text cannot hold NUL, so the API refuses it (as
    Django's forms do) in a body field or a query parameter, in the caller's language."""
    world, _markers = stage
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world.key_a}", "HTTP_ACCEPT_LANGUAGE": "fr"}
    site = make_site(world.a)
    answer = client.patch(f"/api/v1/sites/{site.pk}", _json({"name": "a\x00b"}), content_type="application/json",
                          **headers)
    assert answer.status_code == 422 and list(answer.json()["fields"]) == ["name"]
    assert answer.json()["fields"]["name"] == ["Le caractère nul n’est pas autorisé."]
    answer = client.get("/api/v1/audit/events?" + _query({"action": "x\x00"}), **headers)
    assert answer.status_code == 422 and list(answer.json()["fields"]) == ["action"]


def _json(data) -> str:
    import json

    return json.dumps(data)


def _query(values: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(values)


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_the_api_stores_and_returns_a_contact_verbatim_and_search_finds_nothing_extra(client, stage, name):
    """R-60, R-63: a contact whose names and external reference are a payload is read back exactly as
    written; the payload as a search or filter finds no one else (not B's contacts, not all of A's)."""
    world, markers_b = stage
    payload = PAYLOADS[name][:300] if name == "long" else PAYLOADS[name]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world.key_a}"}
    body = {"first_name": payload, "last_name": payload, "phone": "+33612340099", "external_ref": payload[:64]}
    created = client.post("/api/v1/contacts", _json(body), content_type="application/json", **headers)
    assert created.status_code < 500, created.content[:300]
    if created.status_code == 201:
        data = created.json()
        read = client.get(f"/api/v1/contacts/{data['id']}", **headers).json()
        assert (read["first_name"], read["last_name"], read["external_ref"]) == (payload, payload, payload[:64])
    else:  # refused by validation (the NUL byte): a 4xx that names the field
        assert created.status_code in (400, 422) and b"first_name" in created.content, created.content[:300]
    for probe in ("' OR '1'='1", "%' OR 1=1 --", "%", "*"):
        found = client.post("/api/v1/contacts/lookup", _json({"external_ref": probe}), content_type="application/json",
                            **headers)
        assert found.status_code == 200 and found.json()["items"] == [], (probe, found.content[:200])
    if created.status_code == 201:
        found = client.post("/api/v1/contacts/lookup", _json({"external_ref": payload[:64]}),
                            content_type="application/json", **headers).json()["items"]
        assert [item["id"] for item in found] == [data["id"]]


# --- SMS and e-mail rendering: values go in as text, templates are checked ------------------------
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_a_contacts_name_is_rendered_as_written_never_evaluated(name):
    """R-24: render_text substitutes `{name}` fields only, once: a value that looks like a placeholder,
    a format string or a template tag is copied as it is; nothing is evaluated."""
    payload = PAYLOADS[name]
    values = {"first_name": payload, "last_name": "{first_name}", "org": "{0.__init__.__globals__}"}
    text = render.render_text("Bonjour {first_name} {last_name} de {org}", values)
    assert text == f"Bonjour {payload} {{first_name}} de {{0.__init__.__globals__}}"
    assert "49" not in text.replace(payload, "") and "class" not in text.replace(payload, "")


@pytest.mark.parametrize("body", ["Bonjour {first_name.__class__}", "Bonjour {0.__init__.__globals__}",
                                  "Bonjour {{7*7}}", "Bonjour {{ settings.SECRET_KEY }}", "Bonjour {% debug %}",
                                  "Bonjour ${7*7}", "Bonjour {secret_key}", "Bonjour {FIRST_NAME}"])
def test_the_linter_refuses_placeholders_it_does_not_know_and_says_which(body):
    """R-24: a template body with anything but the known `{name}` placeholders is refused (or, for
    `${7*7}` and `{% debug %}`, left as text that nothing evaluates), with a clear message."""
    problems = errors_of(lint(body, "", channel="sms", message_class="service", processes_health_data=False,
                              org_kind="library", overrides=(), stop_mention="STOP au 36111", sender="MEDIATHEQUE",
                              org_name="Médiathèque", language="fr", sample={}, transliterate=False))
    rendered = render.render_text(body, {"first_name": "Alice"}) if not problems else None
    if problems:
        message = " ".join(str(p.message) for p in problems)
        assert "{first_name}" in message or "{" in message, message
        assert any(p.code in ("unknown_placeholder", "stray_brace") for p in problems)
    else:
        assert rendered == body  # kept as text, not evaluated


def test_the_renderer_refuses_an_unknown_placeholder():
    with pytest.raises(render.RenderError, match="unknown placeholder"):
        render.render_text("Bonjour {secret_key}", {})


# --- the back-office and the public pages: every form a crawl meets ------------------------------
SKIP = re.compile(r"/(logout|language|2fa)/|/organisation/switch/|/static/|download|\.(json|pdf|csv)$|[?&]format=")
TEXT_TYPES = {"text", "search", "textarea", "url", "tel", ""}


class Forms(HTMLParser):
    """The links and forms of a page: each form's action, method and fields (name, type, value)."""

    def __init__(self):
        super().__init__()
        self.links, self.forms, self._form = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = {"action": a.get("action") or "", "method": (a.get("method") or "get").lower(), "fields": []}
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea", "select") and a.get("name"):
            kind = "textarea" if tag == "textarea" else "select" if tag == "select" else (a.get("type") or "").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._form["fields"].append((a["name"], kind, a.get("value") or ""))
        elif tag == "option" and self._form is not None and self._form["fields"]:
            name, kind, value = self._form["fields"][-1]
            if kind == "select" and not value:
                self._form["fields"][-1] = (name, kind, a.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def crawl(client, starts: list[str], limit: int) -> dict[str, str]:
    """Every page reachable from `starts` (same area, GET only): url → HTML."""
    pages, queue = {}, list(starts)
    while queue and len(pages) < limit:
        url = queue.pop(0)
        if url in pages or SKIP.search(url):
            continue
        response = client.get(url)
        if response.status_code != 200 or not response.get("Content-Type", "").startswith("text/html"):
            pages[url] = ""
            continue
        pages[url] = response.content.decode()
        parser = Forms()
        parser.feed(pages[url])
        for href in parser.links:
            target = urljoin(url, href)
            parts = urlsplit(target)
            if not parts.netloc and parts.path.startswith(starts[0][:3]):
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return pages


def submit_everywhere(client, pages: dict[str, str], markers_b: list[str]) -> tuple[list[str], int, set]:
    """Every form of every page, once per payload in all its text fields; returns (failures, submissions, fields)."""
    failures, submissions, fields = [], 0, set()
    forms = {}
    for url, html in pages.items():
        parser = Forms()
        parser.feed(html)
        for form in parser.forms:
            action = urljoin(url, form["action"] or url)
            texts = [name for name, kind, _v in form["fields"] if kind in TEXT_TYPES and name != "csrfmiddlewaretoken"]
            if texts and not SKIP.search(action):
                forms.setdefault((action, form["method"], tuple(texts)), form)
    for (action, method, texts), form in forms.items():
        fields.update(f"{urlsplit(action).path}#{name}" for name in texts)
        for name in FORM_PAYLOADS:
            payload = PAYLOADS[name]
            data = {field: (payload if field in texts else value) for field, _kind, value in form["fields"]}
            response = client.post(action, data) if method == "post" else client.get(action, data)
            submissions += 1
            text = response.content.decode("utf-8", "replace")
            if response.status_code >= 500 or leaks(text, markers_b):
                failures.append(f"{method.upper()} {action} [{name}]: {response.status_code} {leaks(text, markers_b)}")
    return failures, submissions, fields


@pytest.mark.chaos
def test_no_back_office_or_public_form_takes_injection(client, stage):
    """R-63, R-64: every text field of every form of the back-office (as A's administrator) and of A's
    public pages (as a visitor), with each payload: no 5xx; then every page read again shows every
    stored payload escaped, nothing evaluated, nothing of B; B's rows and the tables are intact."""
    world, markers_b = stage
    before_b = state_of(world.b)
    sign_in(client, world.users_a[Role.ADMIN], world.a)
    pages = crawl(client, ["/app/"], limit=200)
    failures, submissions, fields = submit_everywhere(client, pages, markers_b)
    visitor = Client()
    public = crawl(visitor, [f"/p/{world.a.slug}/info/", f"/p/{world.a.slug}/rights/"], limit=20)
    more, public_submissions, public_fields = submit_everywhere(visitor, public, markers_b)
    failures += more
    assert not failures, "\n".join(failures)
    assert len(fields) >= 15, sorted(fields)
    assert public_fields, "the public rights form has text fields"
    # Read everything again: what was stored is shown escaped, never evaluated.
    sign_in(client, world.users_a[Role.ADMIN], world.a)
    again = crawl(client, ["/app/"], limit=200)
    shown = [(url, found) for url, html in again.items() if (found := leaks(html, markers_b))]
    assert not shown, shown
    stored = sum(html.count("zq&lt;script&gt;") for html in again.values())
    assert stored > 0, "no payload was stored anywhere: the forms were not reached"
    assert state_of(world.b) == before_b
    record("security-injection-forms", {"pages": len(pages) + len(public), "fields": len(fields | public_fields),
                                        "submissions": submissions + public_submissions, "failures": len(failures),
                                        "escaped_payloads_shown": stored})


def test_the_checks_catch_planted_faults():
    """The detectors can fail: an unescaped payload, an evaluated expression, the secret key, debug
    output and B's marker are each reported; the escaped payload is not."""
    assert leaks("<p>zq<script>alert(1)</script></p>", []) == ["<script>alert(1)</script>"]
    assert leaks("<p>zq49zq</p>", []) == ["zq49zq"]
    assert leaks(f"<p>{settings.SECRET_KEY}</p>", []) == ["SECRET_KEY"]
    assert leaks("{'csrf_token': 'x', 'sql_queries': []}", []) == ["sql_queries", "'csrf_token':"]
    assert leaks("<td>Zzzsiteofb</td>", ["Zzzsiteofb"]) == ["Zzzsiteofb"]
    assert leaks("<p>zq&lt;script&gt;alert(1)&lt;/script&gt; zq{{7*7}}zq</p>", ["Zzzsiteofb"]) == []
    parser = Forms()
    parser.feed('<form method="post" action="/x/"><input name="a"><textarea name="b"></textarea>'
                '<select name="c"><option value="1">1</option></select><input type="hidden" name="d" value="v"></form>')
    assert parser.forms == [{"action": "/x/", "method": "post",
                             "fields": [("a", "", ""), ("b", "textarea", ""), ("c", "select", "1"), ("d", "hidden", "v")]}]
