"""Journeys of the contacts area in a real browser, in French: create a contact and record consent
(R-10, R-11); reply STOP from the simulated phone and see the contact's timeline change (R-30, R-31)."""

from __future__ import annotations

import re

import time_machine

from relance.accounts.models import Role
from relance.consent.tests.helpers import make_consent_purpose
from relance.contacts.models import Contact
from relance.messaging.sending import settings_for
from relance.messaging.tests.helpers import (
    TUESDAY_MORNING,
    enqueue,
    informed_contact,
    make_template,
    service_purpose,
)
from relance.messaging.worker import Worker
from relance.testing import make_org, make_user
from relance.testing_browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS


def test_an_operator_creates_a_contact_and_records_consent(ui):
    org = make_org("library", name="Médiathèques du Val")
    purpose = make_consent_purpose(org, label_fr="Lettre des animations")
    operator = make_user(org, Role.OPERATOR)
    page = ui.page()
    ui.sign_in(page, operator)
    page.goto(ui.url("/app/contacts/"))
    ui.shot(page, "people-contacts")
    assert ui.axe(page) == []

    page.get_by_role("link", name="Ajouter un contact").click()
    page.locator("input[name=first_name]").fill("Louise")
    page.locator("input[name=last_name]").fill("Ferrand")
    page.get_by_label("Numéro de portable").fill("06 11 22 33 44")
    page.get_by_role("button", name="Créer le contact").click()
    page.get_by_role("heading", level=1, name=re.compile("Louise Ferrand")).wait_for()

    page.get_by_role("link", name="Enregistrer une décision").click()
    page.locator("select[name=purpose]").select_option(str(purpose.pk))
    page.locator("input[name=channel][value=sms]").check()
    page.locator("input[name=action][value=given]").check()
    page.locator("input[name=expressed_by][value=staff_on_behalf]").check()
    page.locator("input[name=method][value=paper_form]").check()
    page.locator("select[name=notice]").select_option(label="Lettre des animations — FR, version 1")
    page.get_by_label("Référence du formulaire papier signé").fill("Classeur 2026, fiche 118")
    ui.shot(page, "people-consent-form")
    assert ui.axe(page) == []
    page.get_by_role("button", name="Enregistrer", exact=True).click()

    given = page.locator(".consent-timeline li.action-given")
    given.wait_for()
    assert "Lettre des animations" in given.inner_text() and "version 1" in given.inner_text()
    ui.shot(page, "people-contact-detail")
    assert ui.axe(page) == []
    assert ui.untranslated(page, "fr") == []


def _contact_who_received_an_sms(org):
    sending = settings_for(org)
    sending.sms_sender = "MEDIAVAL"
    sending.save()
    purpose = service_purpose(org, label_fr="Retards de prêt")
    contact = informed_contact(org, purpose, first_name="Hugo", last_name="Marchal", phone="06 55 44 33 22")
    with time_machine.travel(TUESDAY_MORNING, tick=True):  # inside the sending window
        enqueue(contact, purpose, make_template(purpose))
        Worker().run_once()
    return contact


def test_a_stop_from_the_simulated_phone_shows_on_the_contacts_timeline(ui, settings):
    settings.RELANCE_DEMO = True
    org = make_org("library", name="Médiathèques du Val")
    contact = _contact_who_received_an_sms(org)
    operator = make_user(org, Role.OPERATOR)
    page = ui.page()
    ui.sign_in(page, operator)
    page.goto(ui.url("/app/phone/"))
    phone = page.locator("section.phone").filter(has_text="Hugo Marchal")
    assert "Bonjour" in phone.locator(".sms.out").first.inner_text()
    phone.get_by_role("button", name="STOP", exact=True).click()
    phone = page.locator("section.phone").filter(has_text="Hugo Marchal")
    phone.locator(".sms.in").first.wait_for()
    ui.shot(page, "people-phone")
    assert ui.axe(page) == []

    phone.get_by_role("link", name="Hugo Marchal").click()
    objected = page.locator(".consent-timeline li.action-objected")
    objected.wait_for()
    assert "SMS" in objected.inner_text() and "Retards de prêt" in objected.inner_text()
    assert Contact.objects.for_org(org).get(pk=contact.pk).status == "active"
