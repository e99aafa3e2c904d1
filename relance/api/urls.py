"""URLs of /api/v1/: ninja's own, each wrapped so that every answer, even a 405 or an unknown
address, is JSON in the request's language."""

from __future__ import annotations

import functools
import json

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.urls import URLPattern, re_path, reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from . import auth, errors
from .main import api

API_DEFAULT_LANGUAGE = "en"


def api_language(request) -> str:
    """The first supported language of `Accept-Language` (cookies and the site default do not
    apply: an integrator's program did not choose them); English when none is supported."""
    ranked = []
    for position, item in enumerate(request.headers.get("Accept-Language", "").split(",")):
        code, _sep, params = item.strip().lower().partition(";")
        try:
            quality = float(params.strip().removeprefix("q=")) if params else 1.0
        except ValueError:
            quality = 0.0
        if code and code != "*" and quality > 0:
            ranked.append((-quality, position, code))
    for _quality, _position, code in sorted(ranked):
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return API_DEFAULT_LANGUAGE


def _nul_fields(value, path: str = "") -> list[str]:
    """Where a NUL character sits in a decoded JSON value (PostgreSQL text cannot hold one)."""
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in where:  # in a field's name: it would be echoed in the answer (stored by idempotency)
                found.append(where.replace("\x00", "\ufffd"))
            else:
                found += _nul_fields(item, where)
        return found
    if isinstance(value, list):
        return [f for i, item in enumerate(value) for f in _nul_fields(item, f"{path}.{i}" if path else str(i))]
    return []


def null_characters(request) -> dict[str, list[str]]:
    """The query parameters and JSON body fields holding a NUL character: refused with a 422, as
    Django's forms do, instead of reaching the database (a 500 on PostgreSQL)."""
    names = [name for name, values in request.GET.lists() if any("\x00" in v for v in values + [name])]
    try:
        body = request.body if request.content_type == "application/json" else b""
    except RequestDataTooBig:
        body = b""  # the operation answers its own 413
    if b"\\u0000" in body:
        try:
            names += _nul_fields(json.loads(body))
        except (ValueError, RecursionError):  # RecursionError: nested 10,000 deep (tests/reliability/test_bodies.py)
            pass  # not JSON: the operation answers its own 4xx
    message = translation.gettext("Null characters are not allowed.")
    return {name: [message] for name in names}


BIGINT_MAX = 2**63 - 1  # the largest id or number a database column holds


def out_of_range(request) -> dict[str, list[str]]:
    """The query parameters holding a whole number no column can hold: refused with a 422 instead of
    reaching the database (PostgreSQL's "bigint out of range" was a 500, found by the long API fuzz)."""
    message = translation.gettext("Ensure this value is less than or equal to %(limit_value)s.") % {
        "limit_value": BIGINT_MAX}
    return {name: [message] for name, values in request.GET.lists()
            if any(_huge(value) for value in values)}


def _huge(value: str) -> bool:
    digits = value.strip().removeprefix("-").removeprefix("+")
    return digits.isdigit() and digits.isascii() and len(digits) >= 19 and int(digits) > BIGINT_MAX


def may_validate(request) -> bool:
    """Whether a refused value may be answered 422 before the operation runs: only to a caller with a
    valid key (anyone else gets the operation's own 401 first, and never reaches the database), or on the
    providers' webhooks, which check their own secret before reading the body. The key is looked up once
    per request (auth.authenticated_key caches it for the operation)."""
    if request.path.startswith(reverse("api:api-root") + "webhooks/"):
        return True
    kind, _sep, token = request.headers.get("Authorization", "").partition(" ")
    return kind.lower() == "bearer" and bool(token) and auth.authenticated_key(request, token.strip()) is not None


def json_everywhere(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        language = api_language(request)
        with translation.override(language):
            try:
                if any(isinstance(value, int) and value > BIGINT_MAX for value in kwargs.values()):
                    response = errors.not_found()  # an id no row can have
                elif (refused := null_characters(request) | out_of_range(request)) and may_validate(request):
                    response = errors.invalid(refused)
                else:
                    response = view(request, *args, **kwargs)
            except Exception as exc:  # outside ninja's operations (e.g. building the document)
                response = errors.on_unexpected(request, exc)
            if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
                response = errors.method_not_allowed(response.get("Allow", ""))
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ["Accept-Language"])
        return response

    return wrapped


@csrf_exempt  # a POST to an unknown address is a JSON 404, not the back-office's HTML CSRF page
def unknown_address(request, rest=""):
    return errors.not_found()


@require_safe
def index(request):
    return JsonResponse({"title": api.title, "version": api.version,
                         "openapi": reverse("api:openapi-json"), "docs": reverse("api:openapi-view")})


def _wrap(pattern):
    if isinstance(pattern, URLPattern):
        # ninja's root view only raises Http404 (an HTML page): answer with the API's links instead.
        pattern.callback = json_everywhere(index if pattern.name == "api-root" else pattern.callback)
    return pattern


_patterns, _app, _namespace = api.urls
app_name = _namespace  # "api": ninja reverses "api:openapi-json" for the docs page
urlpatterns = [_wrap(pattern) for pattern in _patterns] + [
    # [\s\S], not `.`: an address holding a line break is unknown too (it fell to the HTML 404 page).
    re_path(r"^(?P<rest>[\s\S]*)$", json_everywhere(unknown_address), name="unknown"),
]
