"""API-key authentication and scopes: THE one place where a request's key and rights are decided.

Every operation is declared with `**needs("scope")` (or `**needs()` for any valid key): its auth
callback checks the key before the body is even parsed, so a key without the scope gets 403 and
never a validation error, and the OpenAPI document says which scope each operation needs.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from relance.accounts import services as accounts
from relance.accounts.permissions import API_SCOPES
from relance.audit.services import Actor
from relance.lib.net import client_ip

from .errors import InsufficientScope

_CACHE = "_relance_api_key"
_MISSING = object()


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer rlk_<prefix>_<secret>`; sets request.auth and request.organisation."""

    openapi_bearerFormat = "rlk_<prefix>_<secret>"
    openapi_description = (
        "An API key created in the back-office (Settings → API keys). "
        "Each operation lists the scope it needs; a key without it gets 403 insufficient_scope."
    )

    def __init__(self, scope: str | None = None):
        if scope is not None and scope not in API_SCOPES:
            raise ValueError(f"unknown API scope {scope!r}: add it to accounts/permissions.py API_SCOPES")
        self.scope = scope
        super().__init__()

    def authenticate(self, request, token):
        key = authenticated_key(request, token)
        if key is not None and self.scope:
            require_scope(request, self.scope)
        return key


def authenticated_key(request, token: str):
    """The key for this request's token, looked up once per request (idempotency asks first)."""
    cached = getattr(request, _CACHE, _MISSING)
    if cached is _MISSING:
        cached = accounts.authenticate_api_key(token)
        setattr(request, _CACHE, cached)
        if cached is not None:
            # Overrides any organisation a browser session chose: the API trusts the key only.
            request.auth, request.organisation, request.membership = cached, cached.organisation, None
    return cached


def require_scope(request, scope: str) -> None:
    """403 `insufficient_scope` unless the request's key holds `scope`."""
    if scope not in API_SCOPES:
        raise ValueError(f"unknown API scope {scope!r}")
    key = getattr(request, "auth", None)
    if key is None or scope not in (key.scopes or []):
        raise InsufficientScope(_("This API key lacks the scope '%(scope)s'. Create a key that has it.")
                                % {"scope": scope})


def needs(scope: str | None = None) -> dict:
    """Keyword arguments for a route: its auth (with the scope) and the scope in the document."""
    extra = {"x-required-scope": scope} if scope else {}
    return {"auth": ApiKeyAuth(scope), "openapi_extra": extra}


def actor(request) -> Actor:
    """The audit actor of an API call: the key, and the truncated address (R-65)."""
    return Actor.api_key(request.auth, client_ip(request))
