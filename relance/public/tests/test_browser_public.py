"""The public pages in a real browser (issue 7): the phone journey through a signed link (R-12), and
every public page in French and in English with no serious accessibility violation (WCAG 2.1 AA
rules of axe-core) and no string left in the other language."""

from datetime import timedelta

import pytest
from django.utils import timezone

from relance.consent import services as consent
from relance.consent.models import ConsentState
from relance.consent.tests.helpers import give
from relance.contacts import links
from relance.testing_browser import BROWSER_MARKS

from .helpers import last_code, person, public_org

pytestmark = BROWSER_MARKS
NUMBER = "+33612340001"


def test_a_person_withdraws_one_purpose_on_sms_from_the_link_on_a_phone(ui):
    org, service, news = public_org()
    contact = person(org, phone=NUMBER)
    give(contact, news)
    give(contact, news, channel="email")
    page = ui.page(phone=True)
    page.goto(ui.url(f"/p/s/{links.token_for(contact)}/"))
    section = page.get_by_role("region", name="Actualités")
    assert section.get_by_text("Vous les recevez : vous avez donné votre accord.").count() == 2
    ui.shot(page, "public-preferences-phone")
    section.get_by_role("button", name="Retirer mon accord — Actualités, SMS").click()
    page.get_by_role("status").get_by_text("vous ne recevrez plus « Actualités » par SMS").wait_for()
    assert section.get_by_text("Vous ne les recevez pas : vous avez retiré votre accord.").is_visible()
    states = {s.channel: s.status for s in ConsentState.objects.for_org(org).filter(contact=contact, purpose=news)}
    assert states == {"sms": "withdrawn", "email": "given"}
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    page.get_by_role("link", name="Arrêter tous les messages").click()
    page.get_by_role("heading", name="Arrêter tous les messages ?").wait_for()
    ui.shot(page, "public-stop")


def _walk(ui, locale: str, lang: str, shots: bool):
    """Every public page once, checked as it is shown."""
    org, service, news = public_org()
    contact = person(org, phone=NUMBER)
    page = ui.page(locale=locale, phone=True)
    seen = []

    def check(name):
        seen.append(name)
        assert ui.axe(page) == [], name
        assert ui.untranslated(page, lang) == [], name
        assert page.locator("html").get_attribute("lang") == lang, name

    def visit(path, name):
        page.goto(ui.url(path))
        check(name)

    visit("/p/", "index")
    visit(f"/p/notices/{consent.current_notice(news, lang).uid}/", "notice")
    token = links.token_for(contact)
    visit(f"/p/s/{token}/", "preferences")
    ui.allow(r"status of 404")  # the "link no longer works" page answers 404, on purpose
    visit(f"/p/s/{links.token_for(contact, today=timezone.now().date() - timedelta(days=200))}/", "expired link")
    visit(f"/p/s/{token}/stop/", "stop confirmation")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    check("stopped")
    visit(f"/p/{org.slug}/info/", "info")
    if shots:
        ui.shot(page, "public-info")
    visit(f"/p/{org.slug}/consent/news/", "consent form")
    if shots:
        ui.shot(page, "public-consent-form")
    page.locator("input[name=phone]").fill("06 12 34 00 77")
    page.locator("input[name=agree]").check()
    page.locator("main form button[type=submit]").click()
    page.locator("input[name=code]").wait_for()
    check("consent code")
    page.locator("input[name=code]").fill(last_code(org))
    page.locator("main form button[type=submit]").click()
    page.locator(".done").wait_for()
    check("consent recorded")
    visit(f"/p/{org.slug}/rights/", "rights")
    if shots:
        ui.shot(page, "public-rights")
    page.locator("input[name=kind][value=access]").check()
    page.locator("input[name=phone]").fill(NUMBER)
    page.locator("main form button[type=submit]").click()
    page.locator("input[name=code]").wait_for()
    check("rights code")
    page.locator("input[name=code]").fill(last_code(org))
    page.locator("main form button[type=submit]").click()
    page.locator(".done").wait_for()
    check("rights recorded")
    return seen


@pytest.mark.parametrize(("locale", "lang"), [("fr-FR", "fr"), ("en-GB", "en")])
def test_every_public_page_is_accessible_and_fully_translated(ui, locale, lang):
    seen = _walk(ui, locale, lang, shots=lang == "fr")
    assert len(seen) == 13
