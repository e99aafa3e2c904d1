from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "relance.reminders"
    label = "reminders"
    default_auto_field = "django.db.models.BigAutoField"
