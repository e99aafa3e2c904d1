import uuid

from django.db import models


class ScopeKey(models.Model):
    """A key of one scope ("org:<id>" or "platform"), wrapped by a master key.

    `wrap` keys wrap the scope's subject keys and get new versions on rotation; the `index` key
    feeds the blind indexes and is kept (changing it would mean recomputing every index).
    """

    WRAP = "wrap"
    INDEX = "index"
    PURPOSES = [(WRAP, "wraps subject keys"), (INDEX, "keyed hashes for lookups")]

    scope = models.CharField(max_length=64)
    purpose = models.CharField(max_length=8, choices=PURPOSES)
    version = models.PositiveIntegerField()
    wrapped = models.BinaryField()
    master_key_id = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "purpose", "version"], name="scopekey_unique_version"),
        ]
        indexes = [models.Index(fields=["master_key_id"], name="scopekey_master_idx")]


class SubjectKey(models.Model):
    """One data subject's data key, wrapped by its scope's wrap key. Deleting it shreds the data."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scope = models.CharField(max_length=64)
    wrap_version = models.PositiveIntegerField()
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["scope", "wrap_version"], name="subjectkey_scope_idx")]
