"""Purposes and notices (activation checks explained) and message templates with the live SMS preview.

`routes` is included by relance/backoffice/urls.py."""

routes: list = []
