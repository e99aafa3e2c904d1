"""The dashboard, the outbox and a message's page in a real browser (issue 7): charts with their
numbers, filters without JavaScript, masking for an auditor (R-65), no accessibility violation."""

from django.utils import timezone

from relance.accounts.models import Role
from relance.messaging.models import Message, MessageEvent
from relance.messaging.tests.campaign_helpers import make_message, make_purpose, make_template
from relance.testing import make_contact, make_org, make_user
from relance.testing_browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS


def fill_outbox(org):
    purpose = make_purpose(org, code="rappel-rdv", label_fr="Rappel de rendez-vous")
    template = make_template(purpose)
    messages = []
    for n, (status, reason) in enumerate([("delivered", ""), ("delivered", ""), ("failed", "unknown_subscriber"),
                                          ("suppressed", "withdrawn"), ("sent", ""), ("scheduled", "")]):
        contact = make_contact(org, phone=f"+3361111{n:04d}")
        message = make_message(org, purpose=purpose, template=template, contact=contact)
        Message.objects.for_org(org).filter(pk=message.pk).update(
            status=status, reason=reason, segments=1, provider="console", provider_ref=f"REF-{n}",
            created_at=timezone.now() - timezone.timedelta(days=n * 2))
        if status == "delivered":
            MessageEvent.objects.create(organisation=org, message=message, at=timezone.now(), kind="sent",
                                        detail={"provider": "console"})
            MessageEvent.objects.create(organisation=org, message=message, at=timezone.now(), kind="delivered")
        messages.append(message)
    return messages


def test_the_dashboard_and_the_outbox_show_the_data(ui):
    org = make_org("health", name="Cabinet des Lilas")
    messages = fill_outbox(org)
    admin = make_user(org, Role.ADMIN)
    page = ui.page()
    ui.sign_in(page, admin)
    page.get_by_role("heading", level=2, name="Messages des 14 derniers jours").wait_for()
    assert page.locator("svg.chart").count() == 5
    page.locator("#chart-sent-caption ~ details summary").click()
    assert page.locator("#chart-sent-caption ~ details table").is_visible()
    ui.shot(page, "insights-dashboard")
    assert ui.axe(page) == []

    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Messages").click()
    page.get_by_role("heading", level=1, name="Messages").wait_for()
    assert "+33611110000" in page.content()  # an administrator sees the number (an audited read)
    page.locator("#id_status").select_option("failed")
    page.get_by_role("button", name="Filtrer").click()
    page.get_by_text("Le numéro n'existe pas").wait_for()
    assert page.locator("table.outbox tbody tr").count() == 1
    page.get_by_role("link", name="Effacer les filtres").click()
    assert page.locator("table.outbox tbody tr").count() == 6
    ui.shot(page, "insights-messages")
    assert ui.axe(page) == []

    page.goto(ui.url(f"/app/messages/{messages[0].pk}/"))
    page.get_by_role("heading", name="Chronologie").wait_for()
    assert page.get_by_text("Remis au téléphone").first.is_visible()
    page.get_by_role("button", name="Afficher le texte envoyé").click()
    page.get_by_text("Cette lecture a été enregistrée").wait_for()
    ui.shot(page, "insights-message-detail")
    assert ui.axe(page) == []
    assert ui.untranslated(page, "fr") == []


def test_an_auditor_sees_the_outbox_masked(ui):
    org = make_org("health", name="Cabinet des Lilas")
    fill_outbox(org)
    auditor = make_user(org, Role.AUDITOR)
    page = ui.page(locale="en-GB")
    ui.sign_in(page, auditor)
    page.goto(ui.url("/app/messages/"))
    page.get_by_role("heading", level=1).wait_for()
    html = page.content()
    assert "+3361111" not in html and "1111" not in html
    assert page.locator("table.outbox tbody tr").count() == 6
    assert ui.axe(page) == []
