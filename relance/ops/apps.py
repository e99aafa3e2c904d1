from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "relance.ops"
    label = "ops"
    default_auto_field = "django.db.models.BigAutoField"
