"""Outgoing webhooks (SPEC §4, Art. 19): endpoints, their deliveries, the signing secret shown once
(at creation and rotation, like API keys: rendered, never redirected or stored in the session)."""

from __future__ import annotations

from collections import Counter

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from relance.webhooks import services as webhooks
from relance.webhooks.models import WebhookDelivery, WebhookEndpoint

from ...access import requires
from ...forms import show_service_errors
from ...lists import paginate
from ...services import actor
from .forms import EVENT_LABELS, WebhookForm


def _endpoint(request, webhookendpoint_id) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint.objects.for_org(request.organisation), pk=webhookendpoint_id)


def _events(endpoint: WebhookEndpoint) -> list[tuple[str, str]]:
    if "*" in endpoint.events:
        return [("*", _("Every event"))]
    return [(event, str(EVENT_LABELS.get(event, ""))) for event in endpoint.events]


@requires("webhook.manage")
def webhook_list(request):
    endpoints = WebhookEndpoint.objects.for_org(request.organisation).order_by("created_at")
    counts = Counter(WebhookDelivery.objects.for_org(request.organisation).exclude(
        status=WebhookDelivery.Status.DELIVERED).values_list("endpoint_id", "status"))
    rows = [{"endpoint": e, "events": _events(e), "failed": counts[(e.pk, WebhookDelivery.Status.FAILED)],
             "pending": counts[(e.pk, WebhookDelivery.Status.PENDING)]} for e in endpoints]
    return render(request, "backoffice/settings/webhooks.html", {"rows": rows})


@requires("webhook.manage")
@never_cache
def webhook_create(request):
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = webhooks.create_endpoint(request.organisation, actor=actor(request), **form.cleaned_data)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            return render(request, "backoffice/settings/webhook_secret.html",
                          {"endpoint": endpoint, "secret": secret, "created": True})
    return render(request, "backoffice/settings/webhook_form.html", {"form": form})


@requires("webhook.manage")
def webhook_detail(request, webhookendpoint_id):
    endpoint = _endpoint(request, webhookendpoint_id)
    deliveries = WebhookDelivery.objects.for_org(request.organisation).filter(endpoint=endpoint)
    status = request.GET.get("status")
    if status in WebhookDelivery.Status.values:
        deliveries = deliveries.filter(status=status)
    page = paginate(request, deliveries.order_by("-created_at", "pk"))
    return render(request, "backoffice/settings/webhook_detail.html", {
        "endpoint": endpoint, "events": _events(endpoint), "page": page, "status": status,
        "statuses": WebhookDelivery.Status.choices})


@requires("webhook.manage")
@never_cache
def webhook_rotate(request, webhookendpoint_id):
    endpoint = _endpoint(request, webhookendpoint_id)
    if request.method == "POST":
        endpoint, secret = webhooks.rotate_secret(endpoint, actor=actor(request))
        return render(request, "backoffice/settings/webhook_secret.html",
                      {"endpoint": endpoint, "secret": secret, "created": False})
    return render(request, "backoffice/settings/webhook_confirm.html", {"endpoint": endpoint, "action": "rotate"})


@requires("webhook.manage")
def webhook_disable(request, webhookendpoint_id):
    """Disable (or enable again, with enable=1): queued deliveries wait while it is disabled."""
    endpoint = _endpoint(request, webhookendpoint_id)
    enable = request.POST.get("enable") == "1" if request.method == "POST" else not endpoint.enabled
    if request.method == "POST":
        webhooks.set_enabled(endpoint, enable, actor=actor(request))
        messages.success(request, _("The endpoint is enabled again.") if enable else
                         _("The endpoint is disabled: nothing is sent to it until you enable it again."))
        return redirect("backoffice:webhook_detail", webhookendpoint_id=endpoint.pk)
    return render(request, "backoffice/settings/webhook_confirm.html",
                  {"endpoint": endpoint, "action": "enable" if enable else "disable"})
