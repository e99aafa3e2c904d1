"""The OpenAPI document and the interactive docs, served locally (SPEC §4, R-64)."""

import json
import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_serves_a_valid_openapi_document_with_our_paths_and_security(client):
    """SPEC §4: the OpenAPI document describes every endpoint and the API-key scheme."""
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Relance API" and schema["info"]["version"] == "1"
    assert {"/api/v1/organisation", "/api/v1/sites", "/api/v1/sites/{site_id}", "/api/v1/audit/events",
            "/api/v1/keys/current"} <= set(schema["paths"])
    scheme = schema["components"]["securitySchemes"]["ApiKeyAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "ErrorOut" in schema["components"]["schemas"]
    operations = [op for ops in schema["paths"].values() for op in ops.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for op in operations:
        assert op["security"] == [{"ApiKeyAuth": []}]
        assert op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ErrorOut"
    assert schema["paths"]["/api/v1/sites"]["post"]["x-required-scope"] == "sites:write"


def test_it_resolves_every_reference_of_the_document(client):
    """SPEC §4: the document is self-contained: every $ref points to a component that exists."""
    text = client.get("/api/v1/openapi.json").content.decode()
    schemas = json.loads(text)["components"]["schemas"]
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text)):
        assert ref in schemas, ref


def test_it_serves_the_docs_page_from_local_files_only(client):
    """SPEC §4: interactive docs with no CDN; every script and stylesheet is one of our static files."""
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html) + re.findall(r'<link[^>]*\bhref="([^"]+)"', html)
    assert sources
    for url in sources:
        assert not url.startswith(("http:", "https:", "//")) and "cdn" not in url, url
        assert url.startswith("/static/")
        assert finders.find(url.removeprefix("/static/")), url
    assert "cdn" not in html.lower()


def test_it_serves_the_docs_page_under_the_strict_csp(client):
    """R-64: no inline script or style on the docs page; the CSP stays strict."""
    response = client.get("/api/v1/docs")
    csp = response["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp
    html = response.content.decode()
    for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S):
        assert "src=" in attrs or 'type="application/json"' in attrs, attrs
        if "src=" in attrs:
            assert not body.strip()
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son\w+=", html)  # no inline event handlers
    settings = json.loads(re.search(r'id="swagger-settings">(.*?)</script>', html, flags=re.S).group(1))
    assert settings["url"] == "/api/v1/openapi.json"
    assert settings["validatorUrl"] is None  # no call to validator.swagger.io


def test_it_answers_the_api_root_with_links(client):
    """SPEC §4: /api/v1/ points to the document and the docs."""
    body = client.get("/api/v1/").json()
    assert body == {"title": "Relance API", "version": "1", "openapi": "/api/v1/openapi.json",
                    "docs": "/api/v1/docs"}


def test_it_serves_a_document_without_duplicate_keys(client):
    """Swagger UI rejects a JSON object with the same key twice (int 200 from ninja beside "200"
    from a documented binary response)."""
    duplicates = []

    def pairs(items):
        keys = [key for key, _value in items]
        duplicates.extend(key for key in set(keys) if keys.count(key) > 1)
        return dict(items)

    json.loads(client.get("/api/v1/openapi.json").content, object_pairs_hook=pairs)
    assert duplicates == []
