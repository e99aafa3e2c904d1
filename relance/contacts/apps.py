from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "relance.contacts"
    label = "contacts"
    default_auto_field = "django.db.models.BigAutoField"
