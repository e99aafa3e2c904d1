from django.db import models


class AppendOnlyError(Exception):
    """Audit rows are never updated or deleted outside retention."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit events are deleted only by retention")


class ChainHead(models.Model):
    """The last link of one chain, locked while appending so links are never interleaved.

    `base_seq`/`base_hash` anchor the chain after retention removed its oldest rows.
    """

    chain = models.CharField(max_length=64, unique=True)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")
    base_seq = models.BigIntegerField(default=0)
    base_hash = models.CharField(max_length=64, default="")


class AuditEvent(models.Model):
    ACTOR_KINDS = [
        ("user", "staff user"),
        ("api_key", "API key"),
        ("system", "system"),
        ("subject", "data subject"),
        ("provider", "provider callback"),
    ]

    chain = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    organisation = models.ForeignKey(
        "accounts.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16, choices=ACTOR_KINDS)
    actor_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=48, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_unique")]
        indexes = [
            models.Index(fields=["organisation", "-created_at"], name="audit_org_time_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
        ]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are deleted only by retention")
