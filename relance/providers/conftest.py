from relance.providers.testing.smsc import smsc, smsc_process  # noqa: F401
