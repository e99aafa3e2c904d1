"""Operations endpoints: liveness, readiness and Prometheus metrics (issue 10; docs/monitoring.md)."""

from django.urls import path

from . import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
]
