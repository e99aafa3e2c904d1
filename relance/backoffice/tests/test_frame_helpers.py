"""The frame's helpers shared by every area: deadlines in words (R-41), status badges, purposes named in
the page's language, links only to pages that exist and that the role may open."""

from datetime import date, timedelta

import pytest
from django.utils import timezone, translation

from relance.accounts.models import Role
from relance.backoffice.links import page_url
from relance.backoffice.templatetags.backoffice import badge, label, time_left, urgency
from relance.consent.tests.helpers import make_purpose


def test_it_says_the_time_left_before_a_deadline_and_how_late():
    today = timezone.localdate()
    with translation.override("en"):
        assert time_left(today + timedelta(days=3)) == "3 days left"
        assert time_left(today + timedelta(days=1)) == "1 day left"
        assert time_left(today) == "due today"
        assert time_left(today - timedelta(days=2)) == "late by 2 days"
    with translation.override("fr"):
        assert time_left(today - timedelta(days=1)) == "en retard de 1 jour"
    assert time_left(timezone.now() + timedelta(days=10)) in {"10 days left", "10 jours restants"}
    assert (urgency(today - timedelta(days=1)), urgency(today + timedelta(days=3)), urgency(date.max)) == ("late", "soon", "")
    assert time_left(None) == "" and urgency(None) == ""


def test_it_colours_statuses():
    assert (badge("delivered"), badge("deferred"), badge("failed"), badge("whatever")) == (
        "badge-ok", "badge-warn", "badge-danger", "badge-muted")


@pytest.mark.django_db(databases=["default", "keys"])
def test_it_names_a_purpose_in_the_language_of_the_page(world):
    purpose = make_purpose(world.a, label_fr="Rappels de prêt", label_en="Loan reminders")
    with translation.override("en"):
        assert label(purpose) == "Loan reminders"
    with translation.override("fr"):
        assert label(purpose) == "Rappels de prêt"
    assert label(None) == ""


def test_it_links_only_to_pages_that_exist_and_that_the_role_may_open():
    assert page_url("backoffice:requests") == "/app/requests/"
    assert page_url("backoffice:requests", role=Role.DPO) == "/app/requests/"
    assert page_url("backoffice:requests", role=Role.AUDITOR) == ""  # rights.manage: admin and DPO only
    assert page_url("backoffice:no_such_page") == ""
    assert page_url("public:notice", role=Role.AUDITOR, notice_uid="3f9a0c1e-0000-4000-8000-000000000000").startswith("/p/")
