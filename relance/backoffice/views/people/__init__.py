"""Contacts: search, the contact page (consent timeline, events, messages, requests) and its actions.

`routes` is included by relance/backoffice/urls.py."""

routes: list = []
