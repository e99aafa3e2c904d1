"""The browser of the journey tests: Debian's chromium driven by Playwright (issue 7).

A pytest plugin (registered in the root conftest). A test asks for the `ui` fixture and carries
`BROWSER_MARKS` (a live server needs real commits: transaction=True on both databases):

    pytestmark = BROWSER_MARKS

    def test_journey(ui):
        page = ui.page()                      # French desktop; ui.page(locale="en-GB", phone=True)
        ui.sign_in(page, user)                # the real login form and the real second factor
        page.goto(ui.url("/app/contacts/"))
        ui.shot(page, "contacts")             # saved under $RELANCE_ARTIFACTS/screenshots/
        assert ui.axe(page) == []             # serious or critical accessibility violations

At the end of each test the fixture fails it if a page logged a JavaScript error, answered 5xx,
or broke the Content-Security-Policy. Without chromium the test skips outside CI and fails in CI.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
WATCH = """
window.__relance_csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__relance_csp.push(e.violatedDirective + " " + e.blockedURI));
"""
SERIOUS = ("serious", "critical")

BROWSER_MARKS = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, databases=["default", "keys"])]


def artefacts_dir() -> Path:
    """Where screenshots go: $RELANCE_ARTIFACTS, else var/test/artifacts (kept by CI as build artefacts)."""
    base = os.environ.get("RELANCE_ARTIFACTS") or os.path.join(os.environ.get("RELANCE_VAR_DIR", ROOT / "var" / "test"),
                                                              "artifacts")
    path = Path(base) / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


class UI:
    def __init__(self, browser, base_url: str, database: str):
        self.browser = browser
        self.base_url = base_url
        self.database = database
        self.problems: list[str] = []
        self.allowed: list[re.Pattern] = []
        self._codes_used: dict[int, int] = {}

    def url(self, path: str) -> str:
        return self.base_url + path

    def allow(self, pattern: str) -> None:
        """Accept console errors or responses matching `pattern` (a test that expects a 403 page)."""
        self.allowed.append(re.compile(pattern))

    def _problem(self, text: str) -> None:
        if not any(p.search(text) for p in self.allowed):
            self.problems.append(text)

    def page(self, locale: str = "fr-FR", phone: bool = False):
        options = dict(PHONE) if phone else {"viewport": {"width": 1280, "height": 900}}
        context = self.browser.new_context(locale=locale, **options)
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.add_init_script(WATCH)
        page.on("console", lambda m: self._problem(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self._problem(f"page error: {e}"))
        page.on("response", lambda r: self._problem(f"{r.status} {r.url}") if r.status >= 500 else None)
        page.on("load", lambda p: self._collect_csp(p))
        return page

    def _collect_csp(self, page) -> None:
        from playwright.sync_api import Error

        with contextlib.suppress(Error):  # the page navigated away meanwhile: its load event collects again
            for violation in page.evaluate("window.__relance_csp || []"):
                self._problem(f"CSP: {violation}")

    def sign_in(self, page, user, *, organisation=None) -> None:
        """Through the login form and the second factor (a confirmed TOTP device is created if the
        user has none); ends on the back-office with `organisation` active when given."""
        from django_otp.oath import TOTP
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        device = device or TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
        page.goto(self.url("/app/login/"))
        page.locator("input[name=email]").fill(user.test_email if hasattr(user, "test_email") else user.email)
        page.locator("input[name=password]").fill(os.environ.get("RELANCE_TEST_PASSWORD") or _password())
        page.locator("main button[type=submit]").click()
        page.wait_for_url("**/app/2fa/**")
        step = self._codes_used.get(user.pk, 0)  # a code is accepted once: a second sign-in uses the next one
        self._codes_used[user.pk] = step + 1
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        import time

        totp.time = time.time() + step * device.step
        page.locator("input[name=code]").fill(f"{totp.token():0{device.digits}d}")
        page.locator("main button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/app/(?!login|2fa).*"))
        if organisation is not None and page.locator("#org-switch").count():
            page.locator("#org-switch").select_option(str(organisation.pk))
            page.locator(".org-switch button").click()
            page.wait_for_load_state()

    def shot(self, page, name: str) -> Path:
        """A full-page screenshot named `<name>.png` (one per database pass, so both are kept)."""
        self._collect_csp(page)
        path = artefacts_dir() / f"{name}-{self.database}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def axe(self, page, impacts=SERIOUS) -> list[dict]:
        """axe-core's violations of the given impacts on the current page (WCAG 2.1 A and AA rules)."""
        from conftest import needs

        needs("axe-core", AXE.exists(), f"{AXE} missing (make a11y)")
        # page.evaluate runs through the DevTools protocol: the page's CSP does not apply to it.
        page.evaluate(AXE.read_text())
        result = page.evaluate(
            "async () => (await axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))")
        return [v for v in result if v["impact"] in impacts]

    def untranslated(self, page, language: str) -> list[str]:
        """Catalogue strings shown in the wrong language: on a French page, English source texts that
        have a different French translation; on an English page, those French translations."""
        text = " ".join(page.locator("body").inner_text().split())
        found = []
        for msgid, msgstr in catalogue().items():
            wrong, right = (msgid, msgstr) if language == "fr" else (msgstr, msgid)
            if len(wrong) >= 12 and " " in wrong and wrong != right and wrong in text and right not in text:
                found.append(wrong)
        return found


def _password() -> str:
    from relance.testing import PASSWORD

    return PASSWORD


_CATALOGUE: dict[str, str] = {}


def catalogue() -> dict[str, str]:
    """msgid → French msgstr over every catalogue of the project (plain entries, not fuzzy, no placeholders)."""
    if not _CATALOGUE:
        for path in sorted((ROOT / "relance").glob("**/locale/fr/LC_MESSAGES/django.po")):
            for block in path.read_text().split("\n\n"):
                if "#, fuzzy" in block:
                    continue
                match = re.search(r'^msgid ((?:".*"\n?)+)msgstr ((?:".*"\n?)+)', block, flags=re.M)
                if not match:
                    continue
                msgid = "".join(ast.literal_eval(part) for part in match.group(1).split("\n") if part)
                msgstr = "".join(ast.literal_eval(part) for part in match.group(2).split("\n") if part)
                if msgid and msgstr and "%" not in msgid and "{" not in msgid:
                    _CATALOGUE[" ".join(msgid.split())] = " ".join(msgstr.split())
    return _CATALOGUE


@pytest.fixture
def ui(live_server, monkeypatch):
    from django.conf import settings

    from conftest import needs

    needs("browser", os.path.exists(CHROMIUM), f"{CHROMIUM} not found (apt install chromium)")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        driver = UI(browser, live_server.url, "pg" if "postgres" in database else "sqlite")
        try:
            yield driver
            for context in browser.contexts:
                for page in context.pages:
                    driver._collect_csp(page)
        finally:
            browser.close()
    assert driver.problems == [], "the browser saw problems:\n" + "\n".join(driver.problems)
