"""Idempotency keys on every POST (SPEC §4): a retried request never acts twice.

A POST may carry `Idempotency-Key: <1–255 printable characters>`. Within 24 hours, for the same
organisation:
- same key, same method, path and body → the stored response again, with `Idempotent-Replayed: true`;
- same key, anything different → 409 `idempotency_key_reused`;
- only successful (2xx) responses are kept: after an error the client may fix the request and
  retry with the same key.

The record is written in the same transaction as the handler's own writes, so either both exist or
neither does. Two concurrent requests with one key: the second waits on the unique index until the
first commits, then replays it. Personal data: see the docstring of `relance.api.models`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.keystore import services as keys

from .errors import CONTENT_TYPE, error_response
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
LIFETIME = timedelta(hours=24)
MAX_LENGTH = 255
PENDING = 0


def replay_by_id(rerender):
    """Mark a POST handler whose response holds personal data.

    `rerender(request, resource_id) -> HttpResponse` rebuilds the response from live data; only
    the `id` of the created resource (taken from the JSON response) is stored.
    """

    def mark(view_func):
        view_func.idempotent_rerender = rerender
        return view_func

    return mark


def idempotent(run):
    """`NinjaAPI.add_decorator(idempotent, mode="view")`: wraps each operation's `run`."""
    operation = getattr(run, "__self__", None)

    @functools.wraps(run)
    def wrapped(request, *args, **kwargs):
        raw_key = request.headers.get(HEADER)
        if request.method != "POST" or raw_key is None or operation is None:
            return run(request, *args, **kwargs)
        if not _authorised(operation, request):
            return run(request, *args, **kwargs)  # answers 401 or 403 itself
        problem = _key_problem(raw_key)
        if problem:
            return error_response(422, "validation_error", problem, {HEADER: [problem]})
        try:
            body = request.body
        except Exception:  # too large: let the operation answer with its own error
            return run(request, *args, **kwargs)
        return _run_once(operation, run, request, raw_key, body, args, kwargs)

    return wrapped


def _key_problem(raw_key: str) -> str:
    if not raw_key or len(raw_key) > MAX_LENGTH or not raw_key.isprintable() or not raw_key.isascii():
        return _("Give an Idempotency-Key of 1 to %(max)d printable ASCII characters, e.g. a UUID.") % {
            "max": MAX_LENGTH}
    return ""


def _authorised(operation, request) -> bool:
    """Run the operation's own auth (key and scope) first: a replay is a read of the response."""
    for callback in operation.auth_callbacks:
        try:
            if callback(request):
                return True
        except Exception:
            return False
    return False


def _fingerprints(organisation, method: str, path: str, raw_key: str, body: bytes) -> tuple[str, str]:
    # Keyed hashes: neither the key nor the body can be recovered from the table.
    scope = organisation.crypto_scope()
    key_hash = keys.blind_index(scope, "api.idempotency_key", raw_key)
    request_hash = keys.blind_index(scope, "api.idempotency_request",
                                    f"{method} {path}\n{hashlib.sha256(body).hexdigest()}")
    return key_hash, request_hash


def _run_once(operation, run, request, raw_key, body, args, kwargs):
    organisation, path = request.organisation, request.path[:255]
    key_hash, request_hash = _fingerprints(organisation, request.method, path, raw_key, body)
    with transaction.atomic():
        previous = _claim(organisation, key_hash, request.method, path, request_hash)
        if previous is not None:
            return _answer_from(previous, request, request_hash, operation)
        response = run(request, *args, **kwargs)
        if 200 <= response.status_code < 300:
            _store(organisation, key_hash, response, operation)
        else:
            transaction.set_rollback(True)  # nothing of a failed attempt is kept
        return response


def _claim(organisation, key_hash, method, path, request_hash) -> IdempotencyRecord | None:
    """Insert a pending record; or return the live record that already holds this key."""
    records = IdempotencyRecord.objects.for_org(organisation).filter(key_hash=key_hash)
    records.filter(created_at__lt=timezone.now() - LIFETIME).delete()
    previous = records.first()
    if previous is not None:
        return previous
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(organisation=organisation, key_hash=key_hash, method=method,
                                             path=path, request_hash=request_hash, status=PENDING)
    except IntegrityError:
        return records.first()  # a concurrent request with this key committed first
    return None


def _store(organisation, key_hash, response, operation) -> None:
    body = json.loads(response.content or b"null")
    rerender = getattr(operation.view_func, "idempotent_rerender", None)
    changes = {"status": response.status_code, "response_body": body, "resource_id": ""}
    if rerender is not None:
        changes["response_body"], changes["resource_id"] = None, str((body or {}).get("id", ""))
    IdempotencyRecord.objects.for_org(organisation).filter(key_hash=key_hash).update(**changes)


def _answer_from(record: IdempotencyRecord, request, request_hash: str, operation):
    if record.request_hash != request_hash:
        return error_response(409, "idempotency_key_reused", _(
            "This Idempotency-Key was already used with a different request in the last 24 hours. "
            "Use a new key for a new request."))
    if record.status == PENDING:
        return error_response(409, "idempotency_key_in_use", _(
            "A request with this Idempotency-Key is still being processed. Retry in a moment."))
    rerender = getattr(operation.view_func, "idempotent_rerender", None)
    if rerender is not None and record.response_body is None:
        response = rerender(request, record.resource_id)
    else:
        response = HttpResponse(json.dumps(record.response_body), status=record.status, content_type=CONTENT_TYPE)
    response[REPLAYED] = "true"
    return response


def purge_expired(now=None) -> int:
    """Delete records older than 24 hours, every organisation (for the retention job)."""
    cutoff = (now or timezone.now()) - LIFETIME
    deleted, _counts = IdempotencyRecord.unscoped.filter(created_at__lt=cutoff).delete()
    return deleted
