"""Which provider sends a channel: `RELANCE_SMS_PROVIDER` (console, locmem, null) and
`RELANCE_EMAIL_PROVIDER` (django: Django's configured e-mail backend, or locmem, null).

Provider accounts stored in the database (SMPP, HTTP vendors, failover) extend this in issue 5;
the worker only ever asks `provider_for(channel)`.
"""

from __future__ import annotations

from django.conf import settings

from .base import Provider
from .console import ConsoleProvider
from .locmem import LocmemProvider
from .null import NullProvider


def _email_provider() -> Provider:
    from .email import DjangoEmailProvider

    return DjangoEmailProvider()


FACTORIES = {
    "sms": {"console": lambda: ConsoleProvider("sms"), "locmem": lambda: LocmemProvider("sms"),
            "null": NullProvider},
    "email": {"django": _email_provider, "console": lambda: ConsoleProvider("email"),
              "locmem": lambda: LocmemProvider("email"), "null": NullProvider},
}


def configured_name(channel: str) -> str:
    return getattr(settings, "RELANCE_SMS_PROVIDER" if channel == "sms" else "RELANCE_EMAIL_PROVIDER")


def provider_for(channel: str) -> Provider:
    name = configured_name(channel)
    try:
        factory = FACTORIES[channel][name]
    except KeyError:
        choices = ", ".join(sorted(FACTORIES.get(channel, {})))
        raise ValueError(f"unknown {channel} provider {name!r}; choose one of: {choices}") from None
    return factory()
