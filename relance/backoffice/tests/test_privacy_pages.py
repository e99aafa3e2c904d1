"""Back-office pages of retention and purges (R-50 … R-52), the Art. 30 register and the compliance
report (R-70, R-73), and the breach register (R-71): service effects, audit events, roles."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from relance.accounts.models import Role
from relance.audit.models import AuditEvent
from relance.privacy.models import Breach, BreachSubject, PurgeReport, RetentionPolicy
from relance.privacy.tests.breach_helpers import breach_purpose, make_breach
from relance.testing import make_contact

from .helpers import sign_in, text

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _actions(org, code):
    return AuditEvent.objects.filter(organisation=org, action=code)


@pytest.fixture
def dpo(client, world):
    sign_in(client, world.users_a[Role.DPO], world.a)
    return client


# --- retention -------------------------------------------------------------------------------------
def test_it_shows_each_category_with_its_value_and_the_presets_with_their_sources(dpo, world):
    """R-50, R-52: the policy in force per category; presets cite their source."""
    with translation.override("en"):
        page = text(dpo.get(reverse("backoffice:retention"), HTTP_ACCEPT_LANGUAGE="en"))
    assert "NS-009" in page and "2021-122" in page  # the library preset and the audit preset's sources
    assert page.count(reverse("backoffice:retention_edit") + "?category=") == 8


def test_it_changes_a_retention_period_through_the_service(dpo, world):
    url = reverse("backoffice:retention_edit")
    assert dpo.post(url, {"category": "exports", "days": "0"}).status_code == 200  # refused, shown again
    response = dpo.post(url, {"category": "exports", "days": "15", "source": "Décision du bureau"})
    assert response.status_code == 302
    policy = RetentionPolicy.objects.for_org(world.a).get(category="exports")
    assert (policy.days, policy.source) == (15, "Décision du bureau")
    assert _actions(world.a, "privacy.retention_set").count() == 1


def test_it_applies_a_preset_after_showing_what_it_sets(dpo, world):
    url = reverse("backoffice:retention_preset")
    assert "NS-009" in text(dpo.get(url + "?preset=library"))
    assert dpo.post(url, {"preset": "library"}).status_code == 302
    assert RetentionPolicy.objects.for_org(world.a).get(category="inactive_contacts").days == 366
    assert _actions(world.a, "privacy.retention_preset_applied").count() == 1


def test_it_runs_a_dry_run_first_then_the_purge_and_shows_its_report(dpo, world):
    """R-50: the dry run counts and deletes nothing; the real run writes a report shown after."""
    url = reverse("backoffice:purge_run")
    dry = dpo.post(url, {"dry_run": "on"})
    assert dry.status_code == 200 and 'name="dry_run" value=""' in text(dry) or "0" in text(dry)
    report = PurgeReport.objects.for_org(world.a).get()
    assert report.dry_run and report.trigger == "staff"
    done = dpo.post(url, {"dry_run": ""})
    real = PurgeReport.objects.for_org(world.a).get(dry_run=False)
    assert done.status_code == 302 and done.url == reverse("backoffice:purge_detail",
                                                           kwargs={"purgereport_id": real.pk})
    assert dpo.get(done.url).status_code == 200
    assert _actions(world.a, "privacy.purge_run").count() == 2


def test_it_refuses_retention_to_operators_and_auditors(client, world):
    for role in (Role.OPERATOR, Role.AUDITOR):
        sign_in(client, world.users_a[role], world.a)
        assert client.get(reverse("backoffice:retention")).status_code == 403
        assert client.post(reverse("backoffice:purge_run"), {"dry_run": ""}).status_code == 403
    assert not PurgeReport.objects.for_org(world.a).exists()


# --- register and compliance -----------------------------------------------------------------------
def test_it_lists_the_register_missing_fields_in_plain_words_with_where_to_fix_them(client, world):
    """R-70: an organisation without controller details sees what is missing and where to fill it in
    (the controller details: an administrator's page; the DPO is told so)."""
    sign_in(client, world.users_a[Role.ADMIN], world.a)
    with translation.override("en"):
        page = text(client.get(reverse("backoffice:register"), HTTP_ACCEPT_LANGUAGE="en"))
    assert "postal address" in page
    assert reverse("backoffice:register_controller") in page
    sign_in(client, world.users_a[Role.DPO], world.a)
    with translation.override("en"):
        page = text(client.get(reverse("backoffice:register"), HTTP_ACCEPT_LANGUAGE="en"))
    assert reverse("backoffice:register_controller") not in page and "an administrator" in page
    assert "controller.address" not in page  # no dotted path shown to people
    assert "<style" not in page
    assert _actions(world.a, "privacy.register_generated").count() == 2


def test_it_saves_the_controller_details_for_an_admin_only(client, world):
    url = reverse("backoffice:register_controller")
    sign_in(client, world.users_a[Role.DPO], world.a)
    assert client.get(url).status_code == 403
    sign_in(client, world.users_a[Role.ADMIN], world.a)
    response = client.post(url, {"legal_name": "Commune A", "address": "1 place de la Mairie",
                                 "contact_email": "mairie@example.org"})
    assert response.status_code == 302
    assert _actions(world.a, "privacy.controller_profile_updated").count() == 1


def test_it_downloads_the_register_and_the_processor_record_for_an_auditor(client, world):
    """register.view includes auditors; each download is audited."""
    sign_in(client, world.users_a[Role.AUDITOR], world.a)
    pdf = client.get(reverse("backoffice:register_download", kwargs={"fmt": "pdf"}))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    record = client.get(reverse("backoffice:register_download", kwargs={"fmt": "json"})).json()
    assert record["record"] == "controller"
    assert client.get(reverse("backoffice:register_processor")).status_code == 200
    html = client.get(reverse("backoffice:register_processor_download", kwargs={"fmt": "html"}))
    assert b"<html" in html.content
    assert _actions(world.a, "privacy.register_generated").count() == 4


def test_it_shows_the_compliance_report_of_the_month_asked_for(dpo, world):
    """R-73: ?month=YYYY-MM; a bad month is said, the current one shown."""
    page = text(dpo.get(reverse("backoffice:compliance") + "?month=2026-01"))
    assert 'value="2026-01"' in page
    bad = text(dpo.get(reverse("backoffice:compliance") + "?month=janvier"))
    assert 'role="alert"' in bad
    pdf = dpo.get(reverse("backoffice:compliance_download", kwargs={"fmt": "pdf"}) + "?month=2026-01")
    assert pdf.content.startswith(b"%PDF")
    assert _actions(world.a, "privacy.compliance_report_generated").count() == 3


# --- breaches --------------------------------------------------------------------------------------
BREACH = {"title": "Clé USB perdue", "nature": "Une clé avec la liste des lecteurs a été perdue.",
          "kinds": ["confidentiality"], "data_categories": ["identity", "contact"]}


def test_it_records_a_breach_and_starts_the_72_hour_clock(dpo, world):
    """R-71: every incident is recorded; the clock runs 72 h from awareness."""
    aware = timezone.localtime() - timedelta(hours=2)
    response = dpo.post(reverse("backoffice:breach_create"), {**BREACH, "aware_at": aware.strftime("%Y-%m-%dT%H:%M")})
    breach = Breach.objects.for_org(world.a).get()
    assert response.status_code == 302
    assert breach.reference.startswith("INC-") and breach.kinds == ["confidentiality"]
    with translation.override("en"):
        page = text(dpo.get(reverse("backoffice:breaches"), HTTP_ACCEPT_LANGUAGE="en"))
    assert breach.reference in page and ("70 h left" in page or "69 h left" in page or "h restantes" in page)
    assert _actions(world.a, "privacy.breach_recorded").count() == 1


def test_it_marks_an_overdue_breach_and_requires_the_reasons_of_a_late_notification(dpo, world):
    """R-71, Art. 33(1): past the deadline, the notification needs its reasons."""
    breach = make_breach(world.a, aware_at=timezone.now() - timedelta(hours=80))
    assert "row-late" in text(dpo.get(reverse("backoffice:breaches")))
    url = reverse("backoffice:breach_notify", kwargs={"breach_id": breach.pk})
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    refused = dpo.post(url, {"notified_at": now, "authority_reference": "CNIL-123"})
    assert refused.status_code == 400
    assert dpo.post(url, {"notified_at": now, "authority_reference": "CNIL-123",
                          "delay_reason": "Incident découvert pendant un week-end prolongé"}).status_code == 302
    breach.refresh_from_db()
    assert breach.status == "notified" and breach.delay_reason


def test_it_assesses_lists_the_people_and_tells_them_once(dpo, world):
    """R-71, Art. 34: affected contacts counted; the notice goes through the outbox, never twice."""
    make_contact(world.a)
    make_contact(world.a)
    purpose, template = breach_purpose(world.a)
    breach = make_breach(world.a, aware_at=timezone.now())
    detail = reverse("backoffice:breach_detail", kwargs={"breach_id": breach.pk})
    assert dpo.post(reverse("backoffice:breach_assess", kwargs={"breach_id": breach.pk}),
                    {"risk": "high", "reason": "Numéros et noms exposés"}).status_code == 302
    assert dpo.post(reverse("backoffice:breach_subjects", kwargs={"breach_id": breach.pk})).status_code == 302
    count = BreachSubject.objects.for_org(world.a).filter(breach=breach).count()
    assert count >= 2
    notice = reverse("backoffice:breach_notice", kwargs={"breach_id": breach.pk})
    assert dpo.post(notice, {"template": str(template.pk)}).status_code == 302
    told = BreachSubject.objects.for_org(world.a).filter(breach=breach, notice_message_id__isnull=False).count()
    assert told == count
    dpo.post(notice, {"template": str(template.pk)})
    assert BreachSubject.objects.for_org(world.a).filter(breach=breach, notice_message_id__isnull=False).count() == told
    assert _actions(world.a, "privacy.breach_subjects_notified").count() == 2
    assert "art. 34" in text(dpo.get(detail)).lower()


def test_it_shows_the_cnil_draft_in_the_page_and_as_files(dpo, world):
    breach = make_breach(world.a)
    url = reverse("backoffice:breach_draft", kwargs={"breach_id": breach.pk})
    page = text(dpo.get(url))
    assert breach.reference in page and "<style" not in page
    assert dpo.get(url + "?download=pdf").content.startswith(b"%PDF")
    assert dpo.get(url + "?download=json").json()["reference"] == breach.reference
    assert dpo.get(url + "?download=exe").status_code == 404


def test_it_edits_then_closes_an_incident_and_keeps_it_listed(dpo, world):
    breach = make_breach(world.a)
    edit = reverse("backoffice:breach_edit", kwargs={"breach_id": breach.pk})
    values = {**BREACH, "aware_at": timezone.localtime(breach.aware_at).strftime("%Y-%m-%dT%H:%M"),
              "consequences": "Risque d'hameçonnage"}
    assert dpo.post(edit, values).status_code == 302
    assert dpo.post(reverse("backoffice:breach_assess", kwargs={"breach_id": breach.pk}),
                    {"risk": "unlikely", "reason": "Clé chiffrée"}).status_code == 302
    assert dpo.post(reverse("backoffice:breach_close", kwargs={"breach_id": breach.pk}), {}).status_code == 302
    breach.refresh_from_db()
    assert breach.status == "closed" and breach.consequences == "Risque d'hameçonnage"
    assert breach.reference in text(dpo.get(reverse("backoffice:breaches")))
    assert dpo.get(edit).status_code == 302  # closed: no more changes


def test_it_refuses_breaches_to_operators_and_auditors(client, world):
    breach = make_breach(world.a)
    for role in (Role.OPERATOR, Role.AUDITOR):
        sign_in(client, world.users_a[role], world.a)
        assert client.get(reverse("backoffice:breaches")).status_code == 403
        assert client.get(reverse("backoffice:breach_detail", kwargs={"breach_id": breach.pk})).status_code == 403
