from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "relance.privacy"
    label = "privacy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import jobs

        jobs.register_all()
