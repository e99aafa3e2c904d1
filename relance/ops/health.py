"""Liveness (/healthz), readiness (/readyz) and the Prometheus endpoint (/metrics) (issue 10, item 4).

- /healthz: the process answers; no database. Always 200.
- /readyz: the main database and the key store answer and are migrated, and the master keyring loads
  and holds every master key the key store's rows were wrapped with. 200, or 503 with the list of
  what failed (check names and exception class names only: no address, no secret, no personal data).
- /metrics: relance/ops/metrics.py. Guarded by RELANCE_METRICS_TOKEN (or RELANCE_METRICS_TOKEN_FILE),
  sent as `Authorization: Bearer <token>` and compared in constant time: 401 without it or with a
  wrong one. Without a token configured: 404 in production; in the embedded mode, open to a request
  from the machine itself (127.0.0.1 or ::1, not relayed by a proxy), 404 to any other.

None of them is audited, needs a session or a login, or takes a CSRF token (GET and HEAD only).
"""

from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, HttpResponseNotFound, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from relance.lib.env import env_secret

from . import metrics as metrics_module

log = logging.getLogger("relance.ops.health")
LOOPBACK = {"127.0.0.1", "::1"}
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
DATABASES = (("database", "default"), ("keystore", "keys"))
_migrated: set[str] = set()  # aliases seen fully migrated: an upgrade restarts the process


def _ops_view(view):
    return csrf_exempt(never_cache(require_safe(view)))


@_ops_view
def healthz(request):
    return JsonResponse({"status": "ok"})


# --- readiness ------------------------------------------------------------------------------------
def _database(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _migrations(alias: str) -> None:
    if alias in _migrated:
        return
    connection = connections[alias]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise NotMigrated(f"{len(plan)} migrations to apply")
    _migrated.add(alias)


class NotMigrated(Exception):
    pass


class UnknownMasterKey(Exception):
    pass


def _master_key() -> None:
    from relance.keystore import services as keys
    from relance.keystore.models import ScopeKey

    ring = keys.master_keyring()
    used = set(ScopeKey.objects.order_by().values_list("master_key_id", flat=True).distinct())
    if used - set(ring.keys):
        raise UnknownMasterKey(f"{len(used - set(ring.keys))} master key ids of the key store are not in the keyring")


def readiness() -> dict:
    """{check: "ok" | exception class name}, in order; a check that depends on a failed one is skipped."""
    results: dict[str, str] = {}

    def run(name: str, check, *args) -> bool:
        try:
            check(*args)
        except Exception as exc:  # any failure means not ready; only its class is reported
            results[name] = type(exc).__name__
            log.warning("readiness check failed", extra={"check": name, "error": type(exc).__name__})
            return False
        results[name] = "ok"
        return True

    for name, alias in DATABASES:
        if run(name, _database, alias):
            run(f"{name}_migrations", _migrations, alias)
        else:
            results[f"{name}_migrations"] = "skipped"
    if results["keystore"] == "ok":
        run("master_key", _master_key)
    else:
        results["master_key"] = "skipped"
    return results


@_ops_view
def readyz(request):
    results = readiness()
    failed = [name for name, value in results.items() if value != "ok"]
    return JsonResponse({"status": "not ready" if failed else "ready", "checks": results, "failed": failed},
                        status=503 if failed else 200)


# --- metrics --------------------------------------------------------------------------------------
def metrics_token() -> str | None:
    """The configured token; "" when none is; None when its file cannot be read (misconfigured)."""
    try:
        return env_secret("RELANCE_METRICS_TOKEN") or ""
    except ValueError:
        log.error("RELANCE_METRICS_TOKEN_FILE cannot be read: /metrics answers 404")
        return None


def _local(request) -> bool:
    return request.META.get("REMOTE_ADDR") in LOOPBACK and not any(h in request.META for h in PROXY_HEADERS)


def _bearer(request) -> str:
    scheme, _sep, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


@_ops_view
def metrics(request):
    token = metrics_token()
    if token is None or (not token and (settings.PRODUCTION or not _local(request))):
        return HttpResponseNotFound("Not found\n", content_type="text/plain")
    if token and not hmac.compare_digest(_bearer(request).encode(), token.encode()):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="relance-metrics"'
        return response
    started = time.monotonic()
    try:
        families = metrics_module.collect()
    except DatabaseError as exc:
        log.error("metrics: the database cannot be read", extra={"error": type(exc).__name__})
        families = metrics_module.down()
    took = metrics_module.Family("relance_scrape_duration_seconds", "Time this scrape took to compute.")
    took.add(round(time.monotonic() - started, 6))
    return HttpResponse(metrics_module.render([*families, took]), content_type=metrics_module.CONTENT_TYPE)
