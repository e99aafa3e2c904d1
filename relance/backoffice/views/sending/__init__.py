"""Events and their reminders, campaigns (audience before launch) and imports (dry-run report).

`routes` is included by relance/backoffice/urls.py."""

routes: list = []
