"""R-61: request paths fit for a log (relance/lib/logs.safe_path): no query string, no unknown path
typed by someone, and no credential carried in the path (a webhook's secret token, a signed link)."""

import logging

from relance.lib.logs import RedactPersonalData, safe_path

TOKEN = "Zk3uJ9q2Xw8vT1aB"


def test_it_keeps_a_served_path_and_drops_the_query_string():
    assert safe_path("/app/contacts/?q=Dupont") == "/app/contacts/"


def test_it_cuts_an_unknown_path_after_its_served_prefix():
    assert safe_path("/app/contacts/jeanne.dupont@example.org/nothing/") == "/app/contacts/…"


def test_it_masks_a_webhook_secret_token_and_a_signed_link():
    assert safe_path(f"/hooks/twilio/{TOKEN}/receipts") == "/hooks/twilio/…/receipts"
    assert safe_path(f"/p/s/{TOKEN}/stop/") == "/p/s/…/stop/"


def test_the_filter_rewrites_django_request_log_lines(rf):
    request = rf.post(f"/hooks/twilio/{TOKEN}/receipts")
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Forbidden: %s",
                               (request.path,), None)
    record.request = request
    assert RedactPersonalData().filter(record)
    assert TOKEN not in record.getMessage() and TOKEN not in str(record.request)
    assert record.getMessage() == "Forbidden: /hooks/twilio/…/receipts"


def test_the_apis_catch_all_serves_nothing():
    """The API answers any unknown address with its JSON 404 (a catch-all route): a name typed there is
    cut like anywhere else (the catch-all's pattern changed once and the long leak scan caught it)."""
    assert safe_path("/api/v1/contacts/0612345678/jeanne@example.org/Jeanne Dupont") == "/api/v1/…"
