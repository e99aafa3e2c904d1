"""A small client for the API: `api(key).get("/sites")` sends the key and decodes JSON."""

from __future__ import annotations

import json

import pytest
from django.test import Client

BASE = "/api/v1"


class ApiClient:
    def __init__(self, key: str | None = None, **headers):
        self.client = Client()
        self.headers = dict(headers)
        if key is not None:
            self.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, body=None, headers=None, **params):
        url = path if path.startswith("/api/") else BASE + path
        kwargs = {"headers": {**self.headers, **(headers or {})}}
        if method in {"get", "delete"}:
            kwargs["data"] = params
        elif body is not None:
            kwargs["data"] = body if isinstance(body, str | bytes) else json.dumps(body)
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method)(url, **kwargs)

    def get(self, path, **kwargs):
        return self.call("get", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.call("post", path, body, **kwargs)

    def patch(self, path, body=None, **kwargs):
        return self.call("patch", path, body, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.call("put", path, body, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("delete", path, **kwargs)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The world has eight users: Argon2 would dominate these tests, which check no password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api():
    return ApiClient


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert body["message"]
    assert isinstance(body["fields"], dict)
    return body
