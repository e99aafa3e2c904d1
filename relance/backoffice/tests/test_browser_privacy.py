"""Journey in a real browser, in French: a DPO handles a rights request to completion (R-40, R-41, R-42),
then looks at the register, retention and breaches pages. Screenshots privacy-*; axe on each page."""

from datetime import timedelta

from django.utils import timezone

from relance.accounts.models import Role
from relance.privacy import rights
from relance.privacy.models import RightsRequest
from relance.privacy.tests.breach_helpers import make_breach
from relance.testing import SYSTEM, make_contact, make_org, make_user
from relance.testing_browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS


def test_the_dpo_handles_an_access_request_to_completion(ui):
    org = make_org("library", name="Médiathèques du Val")
    dpo = make_user(org, Role.DPO)
    camille = make_contact(org, first_name="Camille", last_name="Durand")
    req = rights.open_request(org, actor=SYSTEM, kind="access", contact=camille, channel="staff",
                              received_at=timezone.now() - timedelta(days=10), details="Je veux voir mes données.")
    late = rights.open_request(org, actor=SYSTEM, kind="erasure", contact=make_contact(org), channel="staff",
                               received_at=timezone.now() - timedelta(days=40))
    make_breach(org, title="Ordinateur portable volé", aware_at=timezone.now() - timedelta(hours=30))

    page = ui.page()
    ui.sign_in(page, dpo)
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Demandes de droits").click()
    page.get_by_role("heading", level=1, name="Demandes de droits").wait_for()
    late_row = page.get_by_role("row").filter(has_text=late.reference)
    assert "en retard de" in late_row.inner_text()
    assert "jours restants" in page.get_by_role("row").filter(has_text=req.reference).inner_text()
    ui.shot(page, "privacy-requests")
    assert ui.axe(page) == []

    page.get_by_role("link", name=req.reference).click()
    page.get_by_role("heading", level=1).filter(has_text=req.reference).wait_for()
    assert page.get_by_text("Camille Durand").is_visible()
    ui.shot(page, "privacy-request-detail")
    assert ui.axe(page) == []

    page.get_by_label("Motifs donnés à la personne").fill("Nous rassemblons les historiques de plusieurs sites.")
    page.get_by_label("Comment la personne a été informée").fill("courrier")
    page.get_by_role("button", name="Prolonger le délai").click()
    page.get_by_text("Délai prolongé de deux mois.").wait_for()

    page.get_by_label("J'ai vérifié l'identité de la personne").check()
    page.get_by_role("button", name="Donner suite à la demande").click()
    page.get_by_text("Demande traitée.").wait_for()
    req.refresh_from_db()
    assert req.status == RightsRequest.Status.COMPLETED and req.outcome["action"] == "exported"

    page.get_by_role("link", name="Export du").click()
    page.get_by_role("heading", level=1, name="Export des données").wait_for()
    assert page.get_by_role("cell", name="Camille").first.is_visible()
    assert page.get_by_role("link", name="Télécharger le PDF").is_visible()
    ui.shot(page, "privacy-export")
    assert ui.axe(page) == []

    for path, name in (("/app/register/", "privacy-register"), ("/app/retention/", "privacy-retention"),
                       ("/app/breaches/", "privacy-breaches")):
        page.goto(ui.url(path))
        ui.shot(page, name)
        assert ui.axe(page) == [], path
    assert "h restantes" in page.get_by_role("table").inner_text()
