"""The NinjaAPI behind /api/v1/: routers, JSON errors, idempotency, and the OpenAPI document."""

from __future__ import annotations

from ninja import NinjaAPI, Swagger

from . import errors
from .endpoints import (
    audit,
    breaches,
    campaigns,
    consent,
    contacts,
    erasure,
    events,
    exports,
    imports,
    keys,
    messages,
    organisation,
    outgoing_webhooks,
    purposes,
    register,
    retention,
    rights,
    sites,
    templates,
    webhooks,
)
from .idempotency import HEADER, MAX_LENGTH, idempotent
from .schemas import ErrorOut

DESCRIPTION = """\
The Relance REST API. Authenticate with `Authorization: Bearer rlk_...` (an API key of your
organisation); every object you can reach belongs to that organisation, and anything else answers
404.

**Errors** are always JSON: `{"code": "...", "message": "...", "fields": {"field.path": ["..."]}}`.
`code` is stable; `message` follows `Accept-Language` (`en` by default, or `fr`); a 422 lists
every invalid field at once.

**Retries**: send `Idempotency-Key` on a POST (1–255 characters, e.g. a UUID). Within 24 hours the
same key and the same request return the first response again with `Idempotent-Replayed: true`;
the same key with a different request answers 409 `idempotency_key_reused`.
"""

# Swagger UI from ninja's own static files (no CDN); no online validator badge (an external call).
DOCS = Swagger(settings={"validatorUrl": None, "tryItOutEnabled": False, "displayRequestDuration": True})

ERROR_REF = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
STANDARD_ERRORS = {
    "401": "Missing, malformed, unknown or revoked API key.",
    "403": "The key lacks the scope this operation needs.",
    "422": "Invalid input: `fields` lists every invalid field.",
}


class RelanceAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation) -> str:
        return operation.view_func.__name__  # unique across the API (a test checks)

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        schema["components"].setdefault("schemas", {})["ErrorOut"] = errors_schema()
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                _document_errors(path, method, operation)
        return schema


def errors_schema() -> dict:
    return ErrorOut.model_json_schema()


def _document_errors(path: str, method: str, operation: dict) -> None:
    responses = operation.setdefault("responses", {})
    # ninja keys responses by int, `openapi_extra` by str: both would be written as "200", a
    # duplicate key that Swagger UI's parser rejects. The explicit (str) description wins.
    for status in [key for key in responses if not isinstance(key, str)]:
        value = responses.pop(status)
        responses.setdefault(str(status), value)
    for status, text in STANDARD_ERRORS.items():
        responses.setdefault(status, {"description": text, **ERROR_REF})
    if "{" in path:
        responses.setdefault("404", {"description": "No such object in your organisation.", **ERROR_REF})
    if "requestBody" in operation:
        responses.setdefault("400", {"description": "The body is not valid JSON (`malformed_body`).", **ERROR_REF})
        responses.setdefault("413", {"description": "The body is too large (`payload_too_large`).", **ERROR_REF})
    if method == "post":
        responses.setdefault("409", {"description": "Idempotency-Key reused for a different request.", **ERROR_REF})
        operation.setdefault("parameters", []).append({
            "in": "header", "name": HEADER, "required": False,
            "description": "Makes a retry safe: the same key and request within 24 h replay the first response.",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH},
        })


api = RelanceAPI(
    title="Relance API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    docs=DOCS,
    docs_url="/docs",
    openapi_url="/openapi.json",
)
for exc_class, handler in errors.HANDLERS:
    api.add_exception_handler(exc_class, handler)
api.add_decorator(idempotent, mode="view")

for module in (organisation, sites, audit, keys):
    api.add_router("", module.router)
api.add_router("", contacts.router)
for module in (purposes, consent):
    api.add_router("", module.router)
api.add_router("", imports.router)
api.add_router("", webhooks.router)
api.add_router("", templates.router)
for module in (messages, campaigns):
    api.add_router("", module.router)
api.add_router("", events.router)
for module in (rights, exports, retention, register, breaches, outgoing_webhooks):
    api.add_router("", module.router)
api.add_router("", erasure.router)
