"""The frame of every back-office page in a real browser: the grouped menu by role, folded on a phone,
the language switch, no JavaScript error, no CSP violation, no serious accessibility violation."""

from relance.accounts.models import Role
from relance.testing import make_org, make_user
from relance.testing_browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS


def test_the_menu_follows_the_role_and_folds_on_a_phone(ui):
    org = make_org("library", name="Médiathèques du Val")
    auditor = make_user(org, Role.AUDITOR)
    page = ui.page()
    ui.sign_in(page, auditor)
    menu = page.get_by_role("navigation", name="Menu principal")
    assert menu.get_by_role("link", name="Journal d'audit").is_visible()
    assert menu.get_by_role("link", name="Clés d'API").count() == 0  # apikey.manage: admins only
    ui.shot(page, "backoffice-dashboard-auditor")
    assert ui.axe(page) == []

    phone = ui.page(phone=True)
    ui.sign_in(phone, auditor)
    assert not phone.get_by_role("link", name="Journal d'audit").is_visible()  # folded under "Menu"
    phone.get_by_text("Menu", exact=True).click()
    assert phone.get_by_role("link", name="Journal d'audit").is_visible()
    ui.shot(phone, "backoffice-menu-phone")


def test_the_language_switch_turns_the_page_into_english(ui):
    org = make_org("health")
    admin = make_user(org, Role.ADMIN)
    page = ui.page()
    ui.sign_in(page, admin)
    page.locator("#language-select").select_option("en")
    page.get_by_role("button", name="Changer de langue").click()
    page.get_by_role("heading", level=1, name="Dashboard").wait_for()
    assert page.get_by_role("link", name="API keys").is_visible()
    assert ui.untranslated(page, "en") == []
