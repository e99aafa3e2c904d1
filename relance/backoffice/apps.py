from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "relance.backoffice"
    label = "backoffice"
    default_auto_field = "django.db.models.BigAutoField"
