"""Keeps the key store's tables in the "keys" database and everything else out of it."""

KEYSTORE_APP = "keystore"
KEYSTORE_DB = "keys"


class KeystoreRouter:
    def db_for_read(self, model, **hints):
        return KEYSTORE_DB if model._meta.app_label == KEYSTORE_APP else "default"

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return (obj1._meta.app_label == KEYSTORE_APP) == (obj2._meta.app_label == KEYSTORE_APP)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == KEYSTORE_APP:
            return db == KEYSTORE_DB
        return db == "default"
