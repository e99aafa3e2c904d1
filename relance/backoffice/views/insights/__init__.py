"""The dashboard's charts and the messages outbox with each message's timeline.

`routes` is included by relance/backoffice/urls.py."""

routes: list = []
