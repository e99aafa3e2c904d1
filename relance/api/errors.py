"""Every error of the API is JSON: `{"code": "...", "message": "...", "fields": {...}}` (SPEC §4).

`code` is stable and meant for programs; `message` is for people, in the request's language;
`fields` maps a dotted field path to its messages, and lists EVERY invalid field at once.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

logger = logging.getLogger("relance.api")
CONTENT_TYPE = "application/json; charset=utf-8"


class ApiError(Exception):
    """Raise from a handler to answer with this status and code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str = "", *, code: str = "", status: int = 0, fields: dict | None = None,
                 headers: dict | None = None):
        self.message = message or self.default_message()
        self.code = code or self.code
        self.status = status or self.status
        self.fields = fields or {}
        self.headers = headers or {}
        super().__init__(self.code)

    def default_message(self) -> str:
        return _("The request could not be handled.")


class NotFound(ApiError):
    """Unknown object, or another organisation's object: always 404, never 403 (R-63)."""

    status, code = 404, "not_found"

    def default_message(self) -> str:
        return not_found_message()


class InsufficientScope(ApiError):
    status, code = 403, "insufficient_scope"


def error_response(status: int, code: str, message: str, fields: dict | None = None,
                   headers: dict | None = None) -> JsonResponse:
    response = JsonResponse({"code": code, "message": str(message), "fields": fields or {}}, status=status,
                            content_type=CONTENT_TYPE, json_dumps_params={"ensure_ascii": False})
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def not_found_message() -> str:
    return _("Nothing was found at this address. Check the identifier, and that it belongs to your organisation.")


def not_found() -> JsonResponse:
    return error_response(404, "not_found", not_found_message())


def method_not_allowed(allowed: str) -> JsonResponse:
    return error_response(405, "method_not_allowed",
                          _("This method is not allowed here. Allowed: %(allowed)s.") % {"allowed": allowed},
                          headers={"Allow": allowed})


def unauthenticated(request) -> JsonResponse:
    if request.headers.get("Authorization"):
        code, message = "invalid_api_key", _(
            "This API key is not valid: it is malformed, unknown or revoked. "
            "Send 'Authorization: Bearer rlk_...' with an active key.")
    else:
        code, message = "authentication_required", _(
            "Authenticate with an API key: send the header 'Authorization: Bearer rlk_...'.")
    return error_response(401, code, message, headers={"WWW-Authenticate": 'Bearer realm="api"'})


# --- 422: one message per invalid field, in the request's language ------------------------
# Messages for pydantic's error types; others fall back to pydantic's own (English) text.
_MESSAGES = {
    "missing": gettext_lazy("This field is required."),
    "extra_forbidden": gettext_lazy("This field is unknown or cannot be changed."),
    "string_type": gettext_lazy("Give a text value."),
    "string_too_short": gettext_lazy("Give at least %(min_length)s character(s)."),
    "string_too_long": gettext_lazy("Give at most %(max_length)s character(s)."),
    "string_pattern_mismatch": gettext_lazy("The format is not valid."),
    "int_type": gettext_lazy("Give a whole number."),
    "int_parsing": gettext_lazy("Give a whole number."),
    "bool_type": gettext_lazy("Give true or false."),
    "bool_parsing": gettext_lazy("Give true or false."),
    "list_type": gettext_lazy("Give a list."),
    "dict_type": gettext_lazy("Give a JSON object."),
    "model_attributes_type": gettext_lazy("Give a JSON object."),
    "greater_than_equal": gettext_lazy("Give a value greater than or equal to %(ge)s."),
    "less_than_equal": gettext_lazy("Give a value less than or equal to %(le)s."),
    "greater_than": gettext_lazy("Give a value greater than %(gt)s."),
    "less_than": gettext_lazy("Give a value less than %(lt)s."),
    "literal_error": gettext_lazy("Choose one of: %(expected)s."),
    "enum": gettext_lazy("Choose one of: %(expected)s."),
    "uuid_parsing": gettext_lazy("Give a valid identifier (UUID)."),
    "datetime_parsing": gettext_lazy("Give a date and time in ISO 8601 format."),
    "datetime_from_date_parsing": gettext_lazy("Give a date and time in ISO 8601 format."),
    "date_parsing": gettext_lazy("Give a date in ISO 8601 format (YYYY-MM-DD)."),
    "date_from_datetime_parsing": gettext_lazy("Give a date in ISO 8601 format (YYYY-MM-DD)."),
}
# The parameter's source and, for a body, the handler's argument name are not part of the path
# a client knows: {"name": ...} rather than {"body.payload.name": ...}.
_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}


def field_path(loc) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in _SOURCES:
        source = parts.pop(0)
        if source == "body":
            parts = parts[1:] or ["body"]  # drop the handler's argument name
    return ".".join(parts) or "__all__"


def pydantic_message(error: dict) -> str:
    template = _MESSAGES.get(error.get("type", ""))
    if template is None:
        return error.get("msg", "") or _("This value is not valid.")
    context = {key: value for key, value in (error.get("ctx") or {}).items()}
    try:
        return str(template) % context if "%(" in str(template) else str(template)
    except (KeyError, TypeError, ValueError):
        return error.get("msg", "")


def validation_fields(errors: list[dict]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        loc = error.get("loc") or ()
        path = field_path(loc)
        message = pydantic_message(error)
        if message not in fields.setdefault(path, []):
            fields[path].append(message)
    return fields


def invalid(fields: dict) -> JsonResponse:
    count = len(fields)
    message = ngettext("%(count)d field is not valid: see 'fields'.",
                       "%(count)d fields are not valid: see 'fields'.", count)
    return error_response(422, "validation_error", message % {"count": count}, fields)


def django_validation_fields(exc: DjangoValidationError) -> tuple[dict, list[str]]:
    """Field messages, and the messages that belong to no field."""
    if hasattr(exc, "error_dict"):
        fields = {name: [str(m) for e in errors for m in e.messages] for name, errors in exc.error_dict.items()}
        general = fields.pop("__all__", []) + fields.pop("non_field_errors", [])
        return fields, general
    return {}, [str(m) for m in exc.messages]


# --- handlers registered on the NinjaAPI ---------------------------------------------------
def on_api_error(request, exc: ApiError):
    return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)


def on_ninja_validation(request, exc: NinjaValidationError):
    return invalid(validation_fields(exc.errors))


def on_django_validation(request, exc: DjangoValidationError):
    fields, general = django_validation_fields(exc)
    if not fields:
        return error_response(422, "validation_error", " ".join(general) or _("The request is not valid."))
    response = invalid(fields)
    if general:
        response = error_response(422, "validation_error", " ".join(general), fields)
    return response


def on_http_error(request, exc: HttpError):
    if isinstance(exc, AuthenticationError):
        return unauthenticated(request)
    if exc.status_code == 400:
        return error_response(400, "malformed_body", _("The request body is not valid JSON."))
    if exc.status_code == 429:
        return error_response(429, "too_many_requests", _("Too many requests: slow down and retry later."))
    return error_response(exc.status_code, f"http_{exc.status_code}", _("The request could not be handled."))


def on_not_found(request, exc: Http404):
    return not_found()


def on_too_big(request, exc: RequestDataTooBig):
    return error_response(413, "payload_too_large",
                          _("The request body is too large. Send less data per request."))


def on_unexpected(request, exc: Exception):
    # The traceback goes to the logs (redacted, R-61); the client learns nothing about internals.
    logger.exception("api.unexpected_error", extra={"method": request.method, "view": _view_name(request)})
    return error_response(500, "server_error",
                          _("Something went wrong on our side. The error was logged; retry later."))


def _view_name(request) -> str:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match else ""


HANDLERS = [
    (ApiError, on_api_error),
    (NinjaValidationError, on_ninja_validation),
    (DjangoValidationError, on_django_validation),
    (HttpError, on_http_error),
    (Http404, on_not_found),
    (RequestDataTooBig, on_too_big),
    (Exception, on_unexpected),
]
