"""`relance providers`: an operator's tools for provider accounts (SPEC §5).

- `list [--org SLUG]`: accounts with their priority, rate, circuit state and webhook URLs.
- `add --org SLUG | --platform --name N --kind K --credentials FILE [...]`: credentials come from a
  JSON file (or `-` for standard input), never from the command line, where `ps` and shell history
  would keep them.
- `set NAME [--org SLUG] [--enable|--disable] [--priority P] [--rate R] [--credentials FILE]`.
- `rotate-webhook NAME [--org SLUG]`: a new webhook URL, the old one refused at once.

Output names accounts, kinds and states, never a credential.
"""

from __future__ import annotations

import json
import sys

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from relance.accounts.models import Organisation
from relance.audit.services import Actor
from relance.providers import services
from relance.providers.kinds import BUILT_IN_KINDS, VENDOR_KINDS
from relance.providers.models import ProviderAccount

ACTOR = Actor.system("cli")


def _options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--option takes KEY=VALUE, such as window=64; got {pair!r}")
        options[key] = int(value) if value.isdigit() else value
    return options


class Command(BaseCommand):
    help = "Provider accounts: list, add, set, rotate-webhook (credentials from a JSON file, never the command line)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="accounts, their state and webhook URLs")
        listing.add_argument("--org", metavar="SLUG", default="")
        add = sub.add_parser("add", help="a new account")
        change = sub.add_parser("set", help="change an account")
        rotate = sub.add_parser("rotate-webhook", help="give an account a new webhook URL")
        for command in (add, change, rotate):
            owner = command.add_mutually_exclusive_group(required=command is add)
            owner.add_argument("--org", metavar="SLUG", default="")
            owner.add_argument("--platform", action="store_true", help="a platform-wide account, usable by every organisation")
        add.add_argument("--name", required=True)
        add.add_argument("--kind", required=True, choices=VENDOR_KINDS + BUILT_IN_KINDS)
        add.add_argument("--channel", default="sms", choices=["sms", "email"])
        for command in (change, rotate):
            command.add_argument("name")
        for command in (add, change):
            command.add_argument("--credentials", metavar="FILE", help="JSON object of credentials ('-': standard input)")
            command.add_argument("--priority", type=int)
            command.add_argument("--rate", type=float, help="messages per second, shared by every worker (0: none)")
            command.add_argument("--country", help="the provider's country, ISO code (Art. 30 transfers)")
            command.add_argument("--region", help="where it processes the data, e.g. eu-west-3")
            command.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                                 help="a non-secret setting: base_url, window, source_ton...")
        change.add_argument("--enable", action="store_true")
        change.add_argument("--disable", action="store_true")

    def handle(self, *args, action, **options):
        try:
            getattr(self, action.replace("-", "_"))(**options)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None

    # --- helpers ---
    def _org(self, slug: str):
        if not slug:
            return None
        org = Organisation.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organisation with the short name {slug!r}.")
        return org

    def _account(self, name: str, org) -> ProviderAccount:
        account = ProviderAccount.unscoped.filter(name=name, organisation=org).first()
        if account is None:
            raise CommandError(f"No provider account named {name!r} {'for ' + org.slug if org else 'on the platform'}.")
        return account

    def _credentials(self, path: str | None) -> dict | None:
        if not path:
            return None
        try:
            text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
            value = json.loads(text)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Could not read the credentials from {path}: {exc}") from None
        if not isinstance(value, dict):
            raise CommandError("The credentials file must hold one JSON object, such as {\"host\": \"...\"}.")
        return value

    def _fields(self, options) -> dict:
        names = {"priority": "priority", "rate": "rate_per_second", "country": "country", "region": "hosting_region"}
        fields = {field: options[opt] for opt, field in names.items() if options.get(opt) is not None}
        if options.get("option"):
            fields["options"] = _options(options["option"])
        return fields

    def _webhooks(self, account: ProviderAccount) -> str:
        base = f"{settings.RELANCE_PUBLIC_URL.rstrip('/')}/hooks/{account.kind}/{account.webhook_token}/"
        return f"{base}receipts  {base}inbound"

    # --- actions ---
    def list(self, org="", **_):
        rows = ProviderAccount.unscoped.all()
        if org:
            rows = rows.filter(organisation=self._org(org))
        for account in rows.select_related("organisation"):
            owner = account.organisation.slug if account.organisation else "(platform)"
            state = "enabled" if account.enabled else "disabled"
            self.stdout.write(f"{owner:20} {account.name:20} {account.kind:8} {account.channel:5} priority {account.priority:<4} "
                              f"rate {account.rate_per_second or '-':<6} {state:8} circuit {account.circuit:9} "
                              f"{account.country}{' (outside the EEA)' if account.transfer_outside_eea else ''}")
            if account.kind in VENDOR_KINDS and account.kind != "smpp":
                self.stdout.write(f"    webhooks: {self._webhooks(account)}")

    def add(self, name, kind, channel, org="", platform=False, credentials=None, **options):
        account = services.create_account(self._org(org), name=name, kind=kind, channel=channel, actor=ACTOR,
                                          credentials=self._credentials(credentials) or {}, **self._fields(options))
        self.stdout.write(self.style.SUCCESS(f"Added {account.name} ({account.kind}), id {account.pk}."))
        if kind in VENDOR_KINDS and kind != "smpp":
            self.stdout.write(f"Give the provider these webhook URLs: {self._webhooks(account)}")

    def set(self, name, org="", platform=False, credentials=None, enable=False, disable=False, **options):
        if enable and disable:
            raise CommandError("Choose --enable or --disable, not both.")
        account = self._account(name, self._org(org))
        fields = self._fields(options)
        if enable or disable:
            fields["enabled"] = enable
        services.update_account(account, credentials=self._credentials(credentials), actor=ACTOR, **fields)
        self.stdout.write(self.style.SUCCESS(f"Updated {account.name}."))

    def rotate_webhook(self, name, org="", platform=False, **_):
        account = services.rotate_webhook_token(self._account(name, self._org(org)), actor=ACTOR)
        self.stdout.write(self.style.SUCCESS(f"New webhook URLs for {account.name}: {self._webhooks(account)}"))
