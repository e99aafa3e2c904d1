"""Tenant-scoped managers (R-63): a query on tenant data must say whose data it reads.

`Model.objects` refuses to run a query that was not narrowed with `.for_org(org)` (or a filter on
the tenant field); `Model.unscoped` is the explicit, greppable door for platform-wide jobs
(retention, API-key lookup by prefix, the worker's claim).
"""

from __future__ import annotations

from django.db import models


class UnscopedTenantQuery(Exception):
    pass


class TenantQuerySet(models.QuerySet):
    scope_fields: tuple[str, ...] = ("organisation",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tenant_scoped = False

    def _clone(self):
        clone = super()._clone()
        clone._tenant_scoped = self._tenant_scoped
        return clone

    def for_org(self, organisation):
        clone = self.filter(organisation=organisation)
        clone._tenant_scoped = True
        return clone

    def _scoped_by(self, kwargs) -> bool:
        return any(key.split("__")[0] in self.scope_fields for key in kwargs)

    def filter(self, *args, **kwargs):
        clone = super().filter(*args, **kwargs)
        clone._tenant_scoped = self._tenant_scoped or self._scoped_by(kwargs)
        return clone

    def _require_scope(self):
        if not self._tenant_scoped:
            raise UnscopedTenantQuery(
                f"{self.model.__name__} is tenant data: narrow the query with .for_org(organisation) "
                f"or use {self.model.__name__}.unscoped deliberately"
            )

    def _fetch_all(self):
        if self._result_cache is None:
            self._require_scope()
        super()._fetch_all()

    def count(self):
        self._require_scope()
        return super().count()

    def exists(self):
        self._require_scope()
        return super().exists()

    def aggregate(self, *args, **kwargs):
        self._require_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs):
        self._require_scope()
        return super().update(**kwargs)

    def delete(self):
        self._require_scope()
        return super().delete()

    def iterator(self, chunk_size=None):
        self._require_scope()
        return super().iterator(chunk_size=chunk_size)


class UnscopedQuerySet(TenantQuerySet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tenant_scoped = True


TenantManager = models.Manager.from_queryset(TenantQuerySet)
UnscopedManager = models.Manager.from_queryset(UnscopedQuerySet)


class TenantModel(models.Model):
    """Base for every tenant-owned model: an `organisation` and the two managers."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")

    objects = TenantManager()
    unscoped = UnscopedManager()

    class Meta:
        abstract = True
        base_manager_name = "unscoped"
