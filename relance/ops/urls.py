"""Operations endpoints: liveness, readiness and Prometheus metrics (issue 10)."""

urlpatterns: list = []
