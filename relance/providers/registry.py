"""The provider of the settings: who sends for an organisation that has no provider account of its
own and none of the platform (providers/routing.py asks for it then). `RELANCE_SMS_PROVIDER`: console,
locmem, null, or `accounts` (production: accounts only; a message with none fails with
`no_provider_account`); `RELANCE_EMAIL_PROVIDER`: django (Django's configured e-mail backend),
console, locmem, null, accounts.
"""

from __future__ import annotations

from django.conf import settings

from .base import Outgoing, Provider, ProviderError, Result
from .console import ConsoleProvider
from .locmem import LocmemProvider
from .null import NullProvider


def _email_provider() -> Provider:
    from .email import DjangoEmailProvider

    return DjangoEmailProvider()


class AccountsOnly(Provider):
    """No account for this organisation and channel: say so on every message, retry later (an
    administrator may add one), and fail for good after the usual attempts."""

    name = "accounts"

    def send(self, batch: list[Outgoing]) -> list[Result]:
        raise ProviderError("no provider account for this organisation and channel", code="no_provider_account")


FACTORIES = {
    "sms": {"console": lambda: ConsoleProvider("sms"), "locmem": lambda: LocmemProvider("sms"),
            "null": NullProvider, "accounts": AccountsOnly},
    "email": {"django": _email_provider, "console": lambda: ConsoleProvider("email"),
              "locmem": lambda: LocmemProvider("email"), "null": NullProvider, "accounts": AccountsOnly},
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
