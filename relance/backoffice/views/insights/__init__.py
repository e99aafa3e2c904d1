"""The dashboard's charts and the messages outbox with each message's timeline.

`routes` is included by relance/backoffice/urls.py; the dashboard itself is views/dashboard.py."""

from django.urls import path

from . import messages

routes: list = [
    path("messages/", messages.message_list, name="messages"),
    path("messages/<uuid:message_id>/", messages.message_detail, name="message_detail"),
]
