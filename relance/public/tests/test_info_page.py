"""R-30 INFO and R-42's information duties on the public INFO page; the language switch of every
public page keeps the page (WCAG: lang attribute, links with hreflang)."""

import pytest

from relance.privacy.controller import set_controller_profile
from relance.testing import SYSTEM

from .helpers import public_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_names_the_controller_the_dpo_the_purposes_and_the_cnil(client, db):
    org, service, news = public_org()
    set_controller_profile(org, actor=SYSTEM, legal_name="Communauté de communes du Val", address="1 place de la Mairie")
    body = client.get(f"/p/{org.slug}/info/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Communauté de communes du Val" in body and "1 place de la Mairie" in body
    assert org.dpo_email in body and "Overdue reminders" in body and "News" in body
    assert "4 months after the return of the item" in body
    assert 'href="https://www.cnil.fr/plaintes"' in body and f"/p/{org.slug}/rights/" in body


def test_it_switches_language_on_the_same_page_and_remembers_it(client, db):
    org, service, news = public_org()
    url = f"/p/{org.slug}/info/"
    french = client.get(url).content.decode()
    assert '<html lang="fr">' in french and "Qui envoie ces messages" in french
    assert f'href="{url}?lang=en" lang="en" hreflang="en"' in french
    english = client.get(url + "?lang=en")
    assert '<html lang="en">' in english.content.decode() and "Who sends these messages" in english.content.decode()
    assert client.cookies["django_language"].value == "en"
    assert '<html lang="en">' in client.get(f"/p/{org.slug}/rights/").content.decode()


def test_it_answers_404_for_an_unknown_organisation(client, db):
    assert client.get("/p/nobody-here/info/").status_code == 404
    assert client.get("/p/nobody-here/rights/").status_code == 404
