"""URLs of /api/v1/: ninja's own, each wrapped so that every answer, even a 405 or an unknown
address, is JSON in the request's language."""

from __future__ import annotations

import functools

from django.http import JsonResponse
from django.urls import URLPattern, re_path, reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from . import errors
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


def json_everywhere(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        language = api_language(request)
        with translation.override(language):
            try:
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
    re_path(r"^(?P<rest>.*)$", json_everywhere(unknown_address), name="unknown"),
]
