"""Rights requests, access exports, retention and purge reports, the Art. 30 register, breaches.

`routes` is included by relance/backoffice/urls.py."""

routes: list = []
