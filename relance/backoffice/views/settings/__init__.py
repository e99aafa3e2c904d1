"""Providers, outgoing webhooks, the organisation's sending settings (windows, keywords, thresholds)
and contacts imports with their dry-run report.

`routes` is included by relance/backoffice/urls.py."""

from django.urls import path

from . import imports, providers, sending, webhooks

routes: list = [
    path("providers/", providers.provider_list, name="providers"),
    path("providers/new/", providers.provider_create, name="provider_create"),
    path("providers/<int:provideraccount_id>/", providers.provider_detail, name="provider_detail"),
    path("providers/<int:provideraccount_id>/edit/", providers.provider_edit, name="provider_edit"),
    path("providers/<int:provideraccount_id>/test/", providers.provider_test, name="provider_test"),
    path("webhooks/", webhooks.webhook_list, name="webhooks"),
    path("webhooks/new/", webhooks.webhook_create, name="webhook_create"),
    path("webhooks/<uuid:webhookendpoint_id>/", webhooks.webhook_detail, name="webhook_detail"),
    path("webhooks/<uuid:webhookendpoint_id>/rotate/", webhooks.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<uuid:webhookendpoint_id>/disable/", webhooks.webhook_disable, name="webhook_disable"),
    path("sending-settings/", sending.sending_settings, name="sending_settings"),
    path("sending-settings/edit/", sending.sending_settings_edit, name="sending_settings_edit"),
    path("imports/", imports.import_list, name="imports"),
    path("imports/new/", imports.import_create, name="import_create"),
    path("imports/<uuid:import_id>/", imports.import_detail, name="import_detail"),
    path("imports/<uuid:import_id>/run/", imports.import_run, name="import_run"),
]
