"""Purposes and the template editor in a real browser (issue 7 journey "write a template and watch
the segment count change"), in French, the users' language (R-01, R-26)."""

from playwright.sync_api import expect

from relance.accounts.models import Role
from relance.consent.tests.helpers import make_purpose
from relance.messaging.models import Template
from relance.testing import make_org, make_user
from relance.testing_browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS

OPENING = "Bonjour, votre réservation vous attend à l'accueil de la médiathèque jusqu'à samedi. "


def test_it_shows_the_purposes_and_what_blocks_activation(ui):
    org = make_org("library", name="Médiathèques du Val")
    make_purpose(org, code="retards", label_fr="Retards de prêt")
    draft = make_purpose(org, code="actualites", label_fr="Actualités", activate=False, notices=False,
                         retention_days=None)
    page = ui.page()
    ui.sign_in(page, make_user(org, Role.DPO))
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Finalités et mentions d'information").click()
    expect(page.get_by_role("link", name="Retards de prêt")).to_be_visible()
    ui.shot(page, "content-purposes")
    assert ui.axe(page) == []
    assert ui.untranslated(page, "fr") == []

    page.get_by_role("link", name="Actualités").click()
    checks = page.get_by_role("region", name="Avant l'activation")
    expect(checks).to_contain_text("Durée de conservation en jours")
    expect(checks).to_contain_text("Publiez la mention d'information en : fr")
    expect(page.get_by_role("button", name="Activer la finalité")).to_have_count(0)
    ui.shot(page, "content-purpose-detail")
    assert ui.axe(page) == []
    assert ui.untranslated(page, "fr") == []
    assert draft.pk


def test_it_counts_the_sms_while_the_text_is_typed(ui):
    """R-26: 1 SMS, then 2 past 160 characters, then UCS-2 with the character marked, without saving."""
    org = make_org("library", name="Médiathèques du Val")
    make_purpose(org, code="reservations", label_fr="Réservations disponibles")
    page = ui.page()
    ui.sign_in(page, make_user(org, Role.OPERATOR))
    page.goto(ui.url("/app/templates/"))
    page.get_by_role("link", name="Écrire un modèle").click()
    editor_url = page.url
    page.locator("#id_purpose").select_option(label="Réservations disponibles (reservations)")
    page.locator("#id_code").fill("reservation-dispo")
    body = page.locator("#id_body")
    segments, encoding = page.locator("#sms-segments"), page.locator("#sms-encoding")

    body.fill(OPENING + "Merci.")
    expect(segments).to_have_text("1 SMS")
    expect(encoding).to_contain_text("GSM 03.38")
    body.press_sequentially(" Pensez à apporter votre carte de lecteur ou une pièce d'identité. Bonne journée.", delay=5)
    expect(segments).to_have_text("2 SMS")
    body.press("End")
    body.press_sequentially(" Fête !", delay=5)
    expect(encoding).to_contain_text("UCS-2")
    expect(segments).to_have_text("3 SMS")  # 179 characters at 67 per SMS
    expect(page.locator("#ucs2-characters mark")).to_have_text(["ê"])
    expect(page.locator("#preview-text mark.ucs2")).to_have_text(["ê"])
    assert page.url == editor_url and not Template.objects.for_org(org).exists()  # nothing was submitted
    ui.shot(page, "content-template-editor")
    assert ui.axe(page) == []
    assert ui.untranslated(page, "fr") == []
