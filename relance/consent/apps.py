from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "relance.consent"
    label = "consent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from relance.audit.services import register_ledger

        from .ledger import LEDGER_PREFIX
        from .services import verify_ledger

        register_ledger(LEDGER_PREFIX, verify_ledger)
