"""A real browser: an administrator signs in, enrols an authenticator and reaches the dashboard (R-64)."""

import base64
import os

import pytest
from django_otp.oath import totp

from conftest import needs
from relance.accounts.models import Role
from relance.testing import PASSWORD, make_org, make_user

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, databases=["default", "keys"])]


def test_it_enrols_an_admin_in_chromium_under_the_csp(live_server, monkeypatch):
    """R-64: forced TOTP enrolment works end to end: QR code shown (data: image under the CSP), secret
    typed into an authenticator, recovery codes acknowledged, dashboard reached; no CSP violation."""
    needs("browser", os.path.exists(CHROMIUM), f"{CHROMIUM} not found (apt install chromium)")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    org = make_org("health", name="Cabinet Lumière")
    admin = make_user(org, Role.ADMIN)
    errors, violations = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(locale="fr-FR")
            page.add_init_script(WATCH_CSP)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)

            page.goto(f"{live_server.url}/app/sites/")
            page.get_by_label("Adresse e-mail").fill(admin.test_email)
            page.get_by_label("Mot de passe").fill(PASSWORD)
            page.get_by_role("button", name="Connexion").click()

            page.wait_for_url("**/app/2fa/setup/")
            assert page.locator("img.qr").evaluate("img => img.complete && img.naturalWidth") > 0
            violations += page.evaluate("window.__csp")
            secret = page.locator("#totp-secret").inner_text()
            code = totp(base64.b32decode(secret.replace(" ", "")))
            page.get_by_label("Code affiché par l'application").fill(f"{code:06d}")
            page.get_by_role("button", name="Confirmer").click()

            page.wait_for_url("**/app/2fa/recovery-codes/")
            assert page.locator("#recovery-codes li").count() == 10
            page.get_by_label("J'ai conservé ces codes de secours en lieu sûr.").check()
            page.get_by_role("button", name="Continuer").click()

            page.wait_for_url("**/app/sites/")  # back where the visit started
            assert page.get_by_role("heading", level=1).inner_text() == "Sites"
            page.get_by_role("link", name="Tableau de bord").click()
            page.wait_for_url(f"{live_server.url}/app/")
            assert "Cabinet Lumière" in page.locator("main").inner_text()
            assert page.locator("link[rel=stylesheet]").evaluate_all("links => links.every(l => l.sheet !== null)")
            violations += page.evaluate("window.__csp")
        finally:
            browser.close()
    assert violations == [], violations
    assert errors == [], errors
