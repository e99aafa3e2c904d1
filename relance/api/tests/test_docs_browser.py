"""The interactive docs really work in a browser under our CSP, with no outside request (SPEC §4, R-64)."""

import os
from urllib.parse import urlsplit

import pytest

from conftest import needs

CHROMIUM = "/usr/bin/chromium"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, databases=["default", "keys"])]

WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


def test_it_renders_the_docs_under_the_csp_without_outside_requests(live_server):
    """SPEC §4: Swagger UI from our static files renders every operation; no CSP violation, no CDN."""
    needs("chromium", os.path.exists(CHROMIUM), f"{CHROMIUM} not found")
    from playwright.sync_api import sync_playwright

    origin = urlsplit(live_server.url).netloc
    requests, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.add_init_script(WATCH_CSP)
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{live_server.url}/api/v1/docs")
            page.wait_for_selector(".opblock", timeout=15000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            violations = page.evaluate("window.__csp")
        finally:
            browser.close()
    assert any("/api/v1/sites" in p for p in paths), paths
    assert violations == [], violations
    assert errors == [], errors
    outside = [url for url in requests if urlsplit(url).netloc not in {origin, ""} and not url.startswith("data:")]
    assert outside == [], outside
