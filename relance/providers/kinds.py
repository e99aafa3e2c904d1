"""The kinds of provider an account can be, and what each needs (one `Adapter` per vendor folder).

A vendor folder (`providers/twilio/`, `smpp/`…) exports `ADAPTER`: how to build its `Provider` from an
`AccountConfig` (plain values: providers never read the database), which credential fields it needs,
and the pure webhook functions: `verify` (R-66: the vendor's signature scheme), `parse_receipts`,
`parse_inbound` and `reply` (what the vendor expects as an answer).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from .base import Inbound, Provider, Receipt, WebhookReply, WebhookRequest


@dataclass(frozen=True)
class AccountConfig:
    """One account as the provider sees it."""

    id: int | None
    label: str  # "twilio:12": recorded on messages, receipts are matched on it
    kind: str
    channel: str
    credentials: dict
    options: dict = field(default_factory=dict)
    webhook_base: str = ""  # absolute URL of /hooks/<kind>/<token>/ for vendors told per message


def _never(request: WebhookRequest, credentials: dict) -> bool:
    return False


def _nothing(request: WebhookRequest) -> list:
    return []


def _empty_ok(kind: str) -> WebhookReply:
    return WebhookReply()


@dataclass(frozen=True)
class Adapter:
    kind: str
    label: str  # shown to people: "Twilio", "SMPP 3.4"
    channel: str
    build: Callable[[AccountConfig], Provider]
    credential_fields: tuple[str, ...] = ()  # required keys of the credentials JSON
    optional_credentials: tuple[str, ...] = ()
    verify: Callable[[WebhookRequest, dict], bool] = _never
    parse_receipts: Callable[[WebhookRequest], list[Receipt]] = _nothing
    parse_inbound: Callable[[WebhookRequest], list[Inbound]] = _nothing
    reply: Callable[[str], WebhookReply] = _empty_ok  # reply("receipts" | "inbound")
    webhooks: bool = True


VENDOR_KINDS = ("smpp", "twilio", "vonage", "ovh", "brevo")
BUILT_IN_KINDS = ("console", "locmem", "null", "django")
_cache: dict[str, Adapter] = {}


def _built_in(kind: str) -> Adapter:
    from .console import ConsoleProvider
    from .email import DjangoEmailProvider
    from .locmem import LocmemProvider
    from .null import NullProvider

    builders = {"console": lambda c: ConsoleProvider(c.channel), "locmem": lambda c: LocmemProvider(c.channel),
                "null": lambda c: NullProvider(), "django": lambda c: DjangoEmailProvider()}
    channel = "email" if kind == "django" else "sms"
    return Adapter(kind=kind, label=kind, channel=channel, build=builders[kind], webhooks=False)


def adapter(kind: str) -> Adapter:
    """The adapter of a kind; ValueError names the kinds there are."""
    if kind not in _cache:
        if kind in BUILT_IN_KINDS:
            _cache[kind] = _built_in(kind)
        elif kind in VENDOR_KINDS:
            _cache[kind] = importlib.import_module(f"relance.providers.{kind}").ADAPTER
        else:
            raise ValueError(f"unknown provider kind {kind!r}; choose one of: "
                             f"{', '.join(VENDOR_KINDS + BUILT_IN_KINDS)}")
    return _cache[kind]


def missing_credentials(kind: str, credentials: dict) -> list[str]:
    return [name for name in adapter(kind).credential_fields if not str(credentials.get(name) or "").strip()]
