from relance.providers.testing.jasmin import jasmin  # noqa: F401
from relance.providers.testing.smsc import smsc, smsc_process  # noqa: F401
