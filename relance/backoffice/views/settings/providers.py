"""Provider accounts (SPEC §5): list, create, edit, and a test message. Credentials are write-only:
the forms never render them back, an empty field keeps the stored value."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from relance.audit import services as audit
from relance.lib.phone import PhoneError, to_e164
from relance.messaging.sending import settings_for, sms_sender
from relance.providers import services
from relance.providers.base import Outgoing, ProviderError, Result
from relance.providers.kinds import VENDOR_KINDS, adapter
from relance.providers.models import ProviderAccount
from relance.providers.routing import account_config

from ...access import requires
from ...forms import show_service_errors
from ...services import actor
from .forms import KIND_HELP, ProviderForm, ProviderTestForm, creatable_kinds, kind_label

log = logging.getLogger("relance.backoffice")


def _account(request, provideraccount_id: int) -> ProviderAccount:
    return get_object_or_404(ProviderAccount.objects.for_org(request.organisation), pk=provideraccount_id)


def _webhook_urls(account: ProviderAccount) -> list[str]:
    if account.kind not in VENDOR_KINDS or not adapter(account.kind).webhooks:
        return []
    base = f"{settings.RELANCE_PUBLIC_URL.rstrip('/')}/hooks/{account.kind}/{account.webhook_token}/"
    return [f"{base}receipts", f"{base}inbound"]


@requires("provider.manage")
def provider_list(request):
    accounts = ProviderAccount.objects.for_org(request.organisation).order_by("channel", "priority", "pk")
    platform = ProviderAccount.unscoped.filter(organisation__isnull=True, enabled=True).order_by("channel", "priority")
    rows = [{"account": account, "kind": kind_label(account.kind)} for account in accounts]
    return render(request, "backoffice/settings/providers.html",
                  {"rows": rows, "platform": [{"account": a, "kind": kind_label(a.kind)} for a in platform]})


@requires("provider.manage")
@never_cache
def provider_create(request):
    kind = request.GET.get("kind") or request.POST.get("kind")
    if kind not in creatable_kinds():
        choices = [(k, kind_label(k), KIND_HELP.get(k, "")) for k in creatable_kinds()]
        return render(request, "backoffice/settings/provider_kind.html", {"choices": choices})
    form = ProviderForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.create_account(request.organisation, kind=kind, channel=adapter(kind).channel,
                                              credentials=form.credentials(), actor=actor(request),
                                              **form.fields_for_service())
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The provider account is saved."))
            return redirect("backoffice:provider_detail", provideraccount_id=account.pk)
    return render(request, "backoffice/settings/provider_form.html",
                  {"form": form, "kind": kind, "kind_label": kind_label(kind), "kind_help": KIND_HELP.get(kind, "")})


@requires("provider.manage")
def provider_detail(request, provideraccount_id: int):
    account = _account(request, provideraccount_id)
    vendor = adapter(account.kind)
    stored = account.secrets()
    credentials = [(name, name in stored) for name in vendor.credential_fields + vendor.optional_credentials]
    return render(request, "backoffice/settings/provider_detail.html", {
        "account": account, "kind": kind_label(account.kind), "credentials": credentials,
        "webhook_urls": _webhook_urls(account), "test_form": ProviderTestForm()})


@requires("provider.manage")
@never_cache
def provider_edit(request, provideraccount_id: int):
    account = _account(request, provideraccount_id)
    initial = {name: getattr(account, name) for name in
               ("name", "priority", "rate_per_second", "country", "hosting_region", "enabled")}
    form = ProviderForm(request.POST or None, kind=account.kind, account=account, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_account(account, credentials=form.credentials(), actor=actor(request),
                                    **form.fields_for_service())
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The provider account is saved."))
            return redirect("backoffice:provider_detail", provideraccount_id=account.pk)
    return render(request, "backoffice/settings/provider_form.html", {
        "form": form, "kind": account.kind, "kind_label": kind_label(account.kind), "account": account,
        "kind_help": KIND_HELP.get(account.kind, "")})


def _address(account: ProviderAccount, raw: str, country: str) -> str:
    if account.channel == ProviderAccount.Channel.EMAIL:
        validate_email(raw.strip())
        return raw.strip()
    try:
        return to_e164(raw, country, sms=True)
    except PhoneError as exc:
        raise ValidationError(str(exc)) from None


def send_test(request, account: ProviderAccount, to: str) -> Result:
    """One test message through this account only, outside the outbox (nothing about it is kept but
    the audit event, which has the outcome and never the address)."""
    org = request.organisation
    body = _("Test message from Relance for %(org)s: the provider account \"%(name)s\" works.") % {
        "org": org.name, "name": account.name}
    outgoing = Outgoing(ref=f"test-{uuid.uuid4()}", channel=account.channel, to=to, body=body,
                        sender=sms_sender(org, settings_for(org)) if account.channel == "sms" else "",
                        subject=_("Relance test message"))
    try:
        provider = adapter(account.kind).build(account_config(account))
        with provider:
            result = provider.send([outgoing])[0]
    except ProviderError as exc:
        result = Result.failed(outgoing.ref, exc.code or str(exc)[:64])
    except Exception as exc:  # a misconfigured account: say so rather than answer 500
        log.warning("provider.test_failed", extra={"account": account.pk, "error": type(exc).__name__})
        result = Result.failed(outgoing.ref, type(exc).__name__)
    with transaction.atomic():
        audit.record(org, actor(request), "provider.tested", target=account,
                     details={"kind": account.kind, "status": result.status, "error": result.error[:64]})
    return result


@requires("provider.manage")
def provider_test(request, provideraccount_id: int):
    account = _account(request, provideraccount_id)
    if request.method != "POST":
        return redirect("backoffice:provider_detail", provideraccount_id=account.pk)
    form = ProviderTestForm(request.POST)
    result = None
    if form.is_valid():
        try:
            to = _address(account, form.cleaned_data["to"], request.organisation.country)
        except ValidationError as error:
            form.add_error("to", error)
        else:
            result = send_test(request, account, to)
    vendor = adapter(account.kind)
    stored = account.secrets()
    credentials = [(name, name in stored) for name in vendor.credential_fields + vendor.optional_credentials]
    return render(request, "backoffice/settings/provider_detail.html", {
        "account": account, "kind": kind_label(account.kind), "credentials": credentials,
        "webhook_urls": _webhook_urls(account), "test_form": form, "result": result})
