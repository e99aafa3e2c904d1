"""Providers, outgoing webhooks and the organisation's sending settings (windows, keywords, presets).

`routes` is included by relance/backoffice/urls.py."""

routes: list = []
