"""Encrypted model fields (R-60).

A model holding personal data inherits `SealedModel`: it names the data subject's key in
`data_key_id` and its crypto scope in `crypto_scope()`. Each `EncryptedTextField` stores
AES-256-GCM ciphertext bound to (table, column, row id); reading the attribute decrypts, assigning
a str encrypts on save. The database never sees the clear value.
"""

from __future__ import annotations

import contextvars

from django.db import models, router, transaction

from . import services

_CLEAR = "_sealed_clear_"
# While set, reading a sealed attribute returns the stored bytes instead of decrypting (refresh_from_db).
_raw_reads = contextvars.ContextVar("relance_sealed_raw_reads", default=False)


class SealedValueDescriptor:
    def __init__(self, field: EncryptedTextField):
        self.field = field

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        clear_attr = _CLEAR + self.field.attname
        if _raw_reads.get():
            stored = instance.__dict__.get(self.field.attname)
            return None if stored is _Pending else stored
        if clear_attr in instance.__dict__:
            return instance.__dict__[clear_attr]
        sealed = instance.__dict__.get(self.field.attname)
        if sealed is None:
            return None
        clear = services.decrypt_text(instance.data_key_id, bytes(sealed), self.field.aad_for(instance))
        instance.__dict__[clear_attr] = clear
        return clear

    def __set__(self, instance, value):
        clear_attr = _CLEAR + self.field.attname
        if isinstance(value, bytes | memoryview):  # loaded from the database: still sealed
            instance.__dict__[self.field.attname] = bytes(value)
            instance.__dict__.pop(clear_attr, None)
        elif value is None:  # nothing to seal, so no data key is needed for it
            instance.__dict__[self.field.attname] = None
            instance.__dict__[clear_attr] = None
        else:
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{self.field.name} takes text, not {type(value).__name__}")
            instance.__dict__[clear_attr] = value
            instance.__dict__[self.field.attname] = _Pending


class _Pending:
    """Marker: a clear value waits to be sealed at save time."""


class EncryptedTextField(models.BinaryField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls, name, **kwargs):
        super().contribute_to_class(cls, name, **kwargs)
        setattr(cls, self.attname, SealedValueDescriptor(self))

    def aad_for(self, instance) -> bytes:
        from relance.lib.crypto import field_aad

        return field_aad(instance._meta.db_table, self.column, instance.crypto_row_id())

    def to_python(self, value):
        # full_clean() hands us the decrypted text; BinaryField would try to base64-decode it.
        return value if isinstance(value, str) else super().to_python(value)

    def get_prep_value(self, value):
        if isinstance(value, str):
            raise TypeError(
                f"{self.name} is sealed: clear text cannot reach the database through update(), "
                "bulk_update() or a filter; assign it on the instance and call save()"
            )
        return super().get_prep_value(value)

    def pre_save(self, model_instance, add):
        stored = model_instance.__dict__.get(self.attname)
        if stored is _Pending:
            clear = model_instance.__dict__.get(_CLEAR + self.attname)
            if clear is None:
                stored = None
            elif model_instance.data_key_id is None:
                raise ValueError(f"{self.name} needs the subject's data key: save() the instance (bulk_create cannot)")
            else:
                stored = services.encrypt_text(model_instance.data_key_id, clear, self.aad_for(model_instance))
            model_instance.__dict__[self.attname] = stored
        return stored

    def value_from_object(self, obj):
        return obj.__dict__.get(self.attname)


class SealedModel(models.Model):
    """Base for models holding a data subject's personal fields."""

    data_key_id = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        # The subject's key must exist before any field is sealed (and before data_key_id is written).
        pending = self._pending_sealed_fields()
        if pending and self.data_key_id is None:
            if self.pk is None:
                return self._insert_then_seal(pending, *args, **kwargs)
            self.data_key_id = services.create_subject_key(self.crypto_scope())
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "data_key_id"}
        super().save(*args, **kwargs)

    def _pending_sealed_fields(self) -> list[str]:
        return [
            field.attname
            for field in self._meta.concrete_fields
            if isinstance(field, EncryptedTextField) and self.__dict__.get(field.attname) is _Pending
        ]

    def _insert_then_seal(self, pending: list[str], *args, **kwargs):
        """No primary key yet: the scope or the AAD may name the row (an organisation's scope is
        "org:<pk>"), so insert the row without its sealed values first, then seal them."""
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        clears = {name: self.__dict__[_CLEAR + name] for name in pending}
        with transaction.atomic(using=using):
            for name in pending:
                self.__dict__[name] = None
            super().save(*args, **kwargs)
            self.data_key_id = services.create_subject_key(self.crypto_scope())
            for name, clear in clears.items():
                setattr(self, name, clear)
            super().save(using=using, update_fields=[*pending, "data_key_id"])

    def refresh_from_db(self, *args, **kwargs):
        # Django copies each field with getattr(): keep the sealed bytes, do not decrypt (the key
        # may be destroyed) and do not mark the values as changed.
        token = _raw_reads.set(True)
        try:
            super().refresh_from_db(*args, **kwargs)
        finally:
            _raw_reads.reset(token)

    def crypto_scope(self) -> str:
        raise TypeError(f"{type(self).__name__} must define crypto_scope()")

    def crypto_row_id(self) -> str:
        if self.pk is None:
            raise ValueError("encrypted fields need a primary key chosen before saving (use a UUID)")
        return str(self.pk)

    def sealed_bytes(self, name: str) -> bytes | None:
        """The stored ciphertext of a field (for tests and dumps)."""
        value = self.__dict__.get(self._meta.get_field(name).attname)
        return None if value is _Pending else value


def seal_now(instance: SealedModel, *names: str) -> None:
    """Seal pending clear values now (before a bulk_update, which does not call pre_save)."""
    for name in names:
        field = instance._meta.get_field(name)
        field.pre_save(instance, add=False)


class stored_values:
    """Within this block, sealed attributes read as their stored bytes: bulk_update() can write them."""

    def __enter__(self):
        self._token = _raw_reads.set(True)

    def __exit__(self, *exc):
        _raw_reads.reset(self._token)
