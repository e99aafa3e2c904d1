"""Journeys of the sending area in a real browser, in French (issue 7): schedule an event and see its
reminders with their times and why (R-20..R-23, R-27); launch a campaign after seeing who it reaches
and who not, by reason (R-03, R-20), and see its messages queued."""

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from relance.accounts.models import Role
from relance.consent import services as consent
from relance.consent.tests.helpers import give, make_consent_purpose, notice_of
from relance.messaging import templates as templating
from relance.messaging.models import Campaign, Message
from relance.messaging.tests.campaign_helpers import make_template
from relance.reminders.models import Event
from relance.reminders.tests.helpers import reminder_setup
from relance.testing import SYSTEM, make_contact, make_org, make_user
from relance.testing_browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS


def test_schedule_an_event_and_see_its_reminders(ui):
    """R-27: the secretary plans an appointment for a person found by phone; the page lists the three
    steps (−48 h, −24 h, −2 h) with their times, channel, template and the decision (R-20, R-22)."""
    org = make_org("library", name="Médiathèques du Val")
    templating.update_sending_settings(org, actor=SYSTEM, windows={"service": {"start": "00:00", "end": "23:59"}})
    purpose, _rule, contact = reminder_setup(org)
    operator = make_user(org, Role.OPERATOR)
    page = ui.page()
    ui.sign_in(page, operator)
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Échéances et rappels").click()
    page.get_by_role("link", name="Planifier un événement").click()
    page.get_by_label("Trouver la personne par").select_option("phone")
    page.get_by_label("Numéro de téléphone, adresse e-mail ou référence").fill(contact.phone)
    page.get_by_label("Type d’événement").select_option("appointment")
    page.get_by_label("Finalité").select_option(str(purpose.pk))
    with timezone.override(org.time_zone):
        starts = (timezone.localtime() + timedelta(days=3)).replace(hour=10, minute=30)
    page.get_by_label("Date et heure").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Enregistrer l’événement").click()

    page.get_by_text("Événement enregistré : 3 rappels prévus.").wait_for()
    steps = page.locator("ol.plan > li")
    assert steps.count() == 3
    assert "−48 h" in steps.nth(0).inner_text() and "2 jours avant" in steps.nth(0).inner_text()
    assert "−2 h" in steps.nth(2).inner_text() and "rappel-h2" in steps.nth(2).inner_text()
    assert "08:30" in steps.nth(2).inner_text()  # 10:30 − 2 h, in the organisation's time zone
    assert "Sera envoyé" in steps.nth(2).inner_text()
    assert contact.first_name in page.locator("dl.facts").inner_text()
    ui.shot(page, "sending-event-detail")
    assert ui.axe(page) == []
    assert ui.untranslated(page, "fr") == []

    page.get_by_role("link", name="Tous les événements").click()
    assert page.get_by_role("cell", name=contact.first_name, exact=False).count() == 1
    ui.shot(page, "sending-events")
    assert ui.axe(page) == []
    assert ui.untranslated(page, "fr") == []

    page.get_by_role("link", name="Règles de rappel").first.click()
    page.get_by_role("heading", level=1, name="Règles de rappel").wait_for()
    ui.shot(page, "sending-rules")
    assert ui.axe(page) == []
    event = Event.objects.for_org(org).get()
    assert Message.objects.for_org(org).filter(source="event", source_id=str(event.pk)).count() == 3


def test_launch_a_campaign(ui):
    """R-03, R-20: a library announces its concerts (consent purpose): two people said yes, one never
    answered, one withdrew; the page shows 2 receiving and the excluded by reason before launch, the
    live count follows the language filter, the launch states count and cost, then messages queue."""
    org = make_org("library", name="Médiathèques du Val")
    purpose = make_consent_purpose(org, label_fr="Concerts et animations")
    make_template(purpose)
    for _ in range(2):
        give(make_contact(org), purpose)
    make_contact(org)
    gone = make_contact(org)
    give(gone, purpose)
    consent.record_consent(gone, purpose, "sms", "withdrawn", actor=SYSTEM, expressed_by="subject",
                           method="web_form", notice=notice_of(purpose))
    make_contact(org, language="en")
    operator = make_user(org, Role.OPERATOR)
    page = ui.page()
    ui.sign_in(page, operator)
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Campagnes").click()
    page.get_by_role("link", name="Nouvelle campagne").click()
    page.get_by_label("Nom").fill("Concerts d'été")
    page.get_by_label("Finalité").select_option(str(purpose.pk))
    page.get_by_label("Modèle de message").select_option(index=1)
    live = page.locator("#audience-live")
    expect(live.locator("[data-recipients]")).to_have_text("2")
    page.get_by_label("Seulement les contacts qui parlent").select_option("en")
    expect(live.locator("[data-recipients]")).to_have_text("0")
    page.get_by_label("Seulement les contacts qui parlent").select_option("")
    expect(live.locator("[data-recipients]")).to_have_text("2")
    page.get_by_role("button", name="Enregistrer en brouillon").click()

    page.get_by_role("heading", name="Avant l’envoi : qui elle atteint").wait_for()
    excluded = page.locator("table.excluded")
    assert excluded.locator("[data-reason=no_consent] td").nth(1).inner_text() == "2"
    assert excluded.locator("[data-reason=withdrawn] td").nth(1).inner_text() == "1"
    assert "n’a pas dit oui" in excluded.inner_text()
    ui.shot(page, "sending-campaign-detail")
    assert ui.axe(page) == []
    assert ui.untranslated(page, "fr") == []

    page.get_by_role("link", name="Lancer…").click()
    assert "2 personnes" in page.locator(".confirm").inner_text()
    assert "parties de SMS" in page.locator(".confirm").inner_text()
    page.get_by_role("button", name="Envoyer à 2 personnes").click()
    page.get_by_text("Campagne lancée : 2 messages mis en file pour l’instant.").wait_for()
    assert page.locator("[data-count=queued]").inner_text() == "2"
    ui.shot(page, "sending-campaign-launched")
    assert ui.axe(page) == []
    campaign = Campaign.objects.for_org(org).get()
    assert campaign.status in ("running", "completed") and campaign.enqueued == 2
