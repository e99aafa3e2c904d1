"""Back-office content area: purposes with their activation checks explained, notices, templates with
the SMS preview, the DPO's override (R-01, R-11, R-24, R-25, R-26, R-65, R-72).

The users of these tests speak French (the default language of a user): pages are asserted in French."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from relance.accounts.models import Role
from relance.audit.models import AuditEvent
from relance.consent.models import Notice, Purpose
from relance.consent.tests.helpers import NOTICE_EN, NOTICE_FR, make_purpose, purpose_values
from relance.messaging.models import Template
from relance.messaging.tests.test_templates import build_template
from relance.testing import make_org, make_user

from .helpers import sign_in
from .helpers import text as raw_text

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def text(response) -> str:
    return html.unescape(raw_text(response))


def signed_in(client, org, role):
    user = make_user(org, role)
    sign_in(client, user, org)
    return user


def actions(org, action):
    return list(AuditEvent.objects.filter(organisation=org, action=action).order_by("seq"))


def segments(html: str) -> int:
    return int(re.search(r'id="sms-segments">(\d+) SMS<', html).group(1))


def encoding(html: str) -> str:
    block = re.search(r'id="sms-encoding">(.*?)</dd>', html, flags=re.S).group(1)
    return "UCS-2" if "UCS-2" in block else "GSM" if "GSM 03.38" in block else block


# --- purposes ------------------------------------------------------------------------------
def test_it_explains_what_blocks_activation_and_refuses_it(client):
    """R-01, R-72: a draft purpose of a health practice lists each blocking check in plain words with
    what to do; no activate button; a forced POST is refused by the service and nothing changes."""
    org = make_org("health")
    signed_in(client, org, Role.DPO)
    response = client.post(reverse("backoffice:purpose_create"), {
        "code": "rappels-rdv", "label_fr": "Rappels de rendez-vous", "message_class": "service",
        "legal_basis": "public_task", "channels": ["sms"], "art9_condition": "h"})
    purpose = Purpose.objects.for_org(org).get(code="rappels-rdv")
    assert response.url == reverse("backoffice:purpose_detail", kwargs={"purpose_id": purpose.pk})
    assert purpose.status == "draft" and purpose.channels == ["sms"] and actions(org, "purpose.created")

    page = text(client.get(response.url))
    assert "Avant l'activation" in page
    assert "référence de l'analyse d'impact" in page.lower()  # R-72, in words, with what to do
    assert "Publiez la mention d'information en : fr" in page  # the service's own message
    assert reverse("backoffice:notice_publish", kwargs={"purpose_id": purpose.pk}) in page
    assert reverse("backoffice:purpose_activate", kwargs={"purpose_id": purpose.pk}) not in page
    assert "Canaux" in page  # a check already fine is listed too

    refused = client.post(reverse("backoffice:purpose_activate", kwargs={"purpose_id": purpose.pk}), follow=True)
    assert "ne peut pas encore être activée" in text(refused)
    purpose.refresh_from_db()
    assert purpose.status == "draft" and not actions(org, "purpose.activated")


def test_it_activates_once_nothing_blocks(client):
    """R-01: complete the purpose through the edit form, publish the notices, then the button appears
    and the service activates it, with its audit event."""
    org = make_org("library")
    signed_in(client, org, Role.ADMIN)
    purpose = make_purpose(org, code="retards", activate=False, notices=False, retention_days=None)
    edit = reverse("backoffice:purpose_edit", kwargs={"purpose_id": purpose.pk})
    form = text(client.get(edit))
    assert 'name="retention_days"' in form and 'name="code"' not in form  # the code cannot change
    values = {**purpose_values(org), "retention_days": "120"}
    values["recipients"] = "\n".join(values["recipients"])
    assert client.post(edit, values).status_code == 302
    purpose.refresh_from_db()
    assert purpose.retention_days == 120
    assert actions(org, "purpose.updated")[0].details == {"fields": ["retention_days"]}

    publish = reverse("backoffice:notice_publish", kwargs={"purpose_id": purpose.pk})
    detail = reverse("backoffice:purpose_detail", kwargs={"purpose_id": purpose.pk})
    client.post(publish, {"language": "fr", "text": NOTICE_FR})
    assert reverse("backoffice:purpose_activate", kwargs={"purpose_id": purpose.pk}) not in text(client.get(detail))
    client.post(publish, {"language": "en", "text": NOTICE_EN})
    page = text(client.get(detail))
    assert "la finalité peut être activée" in page
    assert client.post(reverse("backoffice:purpose_activate", kwargs={"purpose_id": purpose.pk})).status_code == 302
    purpose.refresh_from_db()
    assert purpose.status == "active" and len(actions(org, "purpose.activated")) == 1


def test_it_publishes_a_notice_whose_text_never_changes(client):
    """R-11: the notice gets version 1 then 2, with the SHA-256 of its exact text, a public link, and
    the page says the text is immutable once published."""
    org = make_org("library")
    signed_in(client, org, Role.DPO)
    purpose = make_purpose(org, activate=False, notices=False)
    publish = reverse("backoffice:notice_publish", kwargs={"purpose_id": purpose.pk})
    assert "ne pourra plus jamais être modifié" in text(client.get(publish))
    client.post(publish, {"language": "fr", "text": "Première version."})
    assert "Première version." in text(client.get(publish + "?language=fr"))  # starts from the version in force
    client.post(publish, {"language": "fr", "text": "Deuxième version."})
    first, second = Notice.objects.for_org(org).filter(purpose=purpose).order_by("version")
    assert (first.version, second.version) == (1, 2)
    assert [e.details["version"] for e in actions(org, "notice.published")] == [1, 2]
    page = text(client.get(reverse("backoffice:notice_detail", kwargs={"notice_id": first.pk})))
    assert first.sha256 in page and "Première version." in page
    assert reverse("public:notice", kwargs={"notice_uid": first.uid}) in page
    assert "Une version plus récente" in page


def test_it_lets_every_role_read_purposes_but_only_admins_and_dpos_change_them(client):
    org = make_org("library")
    purpose = make_purpose(org, code="retards")
    signed_in(client, org, Role.OPERATOR)
    assert "retards" in text(client.get(reverse("backoffice:purposes")))
    assert client.get(reverse("backoffice:purpose_detail", kwargs={"purpose_id": purpose.pk})).status_code == 200
    assert client.get(reverse("backoffice:purpose_create")).status_code == 403
    assert client.post(reverse("backoffice:purpose_retire", kwargs={"purpose_id": purpose.pk})).status_code == 403
    signed_in(client, org, Role.ADMIN)
    client.post(reverse("backoffice:purpose_retire", kwargs={"purpose_id": purpose.pk}))
    purpose.refresh_from_db()
    assert purpose.status == "retired" and actions(org, "purpose.retired")


# --- templates -----------------------------------------------------------------------------
def test_it_creates_and_changes_a_template_through_the_services(client):
    """R-65: creation and each change go through messaging.templates with their audit events."""
    org = make_org("library")
    purpose = make_purpose(org)
    signed_in(client, org, Role.OPERATOR)
    response = client.post(reverse("backoffice:template_create"), {
        "purpose": purpose.pk, "code": "retard-j3", "channel": "sms", "language": "fr",
        "body": "Bonjour {first_name}, un document est à rendre depuis le {due_date}. {org}"})
    template = Template.objects.for_org(org).get(code="retard-j3")
    assert response.url == reverse("backoffice:template_detail", kwargs={"template_id": template.pk})
    assert actions(org, "template.created")[0].details["code"] == "retard-j3"
    client.post(response.url, {"body": "Bonjour {first_name}, merci de rendre vos documents. {org}"})
    template.refresh_from_db()
    assert template.version == 2 and "merci de rendre" in template.body
    assert actions(org, "template.updated")[0].details["fields"] == ["body"]
    client.post(reverse("backoffice:template_retire", kwargs={"template_id": template.pk}))
    template.refresh_from_db()
    assert template.status == "retired" and actions(org, "template.retired")


def test_it_shows_the_preview_without_javascript_and_saves_nothing(client):
    org = make_org("library")
    purpose = make_purpose(org)
    signed_in(client, org, Role.OPERATOR)
    page = text(client.post(reverse("backoffice:template_create"), {
        "purpose": purpose.pk, "code": "x", "channel": "sms", "language": "fr", "body": "a" * 161, "preview": "1"}))
    assert segments(page) == 2 and encoding(page) == "GSM"
    assert not Template.objects.for_org(org).exists()


@pytest.mark.parametrize(("body", "count", "coding"), [
    ("a" * 160, 1, "GSM"),
    ("a" * 161, 2, "GSM"),
    ("€" + "a" * 158, 1, "GSM"),  # an extension character counts two: 160 septets
    ("€" + "a" * 159, 2, "GSM"),
    ("é" * 160, 1, "GSM"),  # é is in the GSM alphabet
    ("ê" + "a" * 69, 1, "UCS-2"),  # ê is not: 70 per SMS
    ("ê" + "a" * 70, 2, "UCS-2"),
    ("😀" + "a" * 68, 1, "UCS-2"),  # an emoji is two UTF-16 units
    ("😀" + "a" * 69, 2, "UCS-2"),
    ("ê" + "a" * 133, 2, "UCS-2"),  # 134 = 2 × 67
    ("ê" + "a" * 134, 3, "UCS-2"),
], ids=["gsm-160", "gsm-161", "euro-160", "euro-161", "e-acute-160", "e-circumflex-70", "e-circumflex-71",
        "emoji-70", "emoji-71", "ucs2-134", "ucs2-135"])
def test_it_counts_segments_exactly_in_the_live_fragment(client, body, count, coding):
    """R-26: 160/153 GSM septets (extension characters two), 70/67 UCS-2 units."""
    org = make_org("library")
    purpose = make_purpose(org)
    signed_in(client, org, Role.OPERATOR)
    html = text(client.post(reverse("backoffice:template_preview"), {
        "purpose": purpose.pk, "channel": "sms", "language": "fr", "body": body}))
    assert (segments(html), encoding(html)) == (count, coding)
    if coding == "UCS-2":
        assert '<mark class="ucs2">' in html and "<html" not in html  # the characters marked; a fragment only


def test_it_suggests_the_transliteration_only_when_the_organisation_allows_it(client):
    """R-26: ’ « » ê → ' " " e turns the text back into GSM."""
    from relance.messaging import templates as editor
    from relance.testing import SYSTEM

    org = make_org("library")
    purpose = make_purpose(org)
    signed_in(client, org, Role.OPERATOR)
    url, body = reverse("backoffice:template_preview"), "Votre réservation « fête » est prête, l’équipe. {org}"
    data = {"purpose": purpose.pk, "channel": "sms", "language": "fr", "body": body}
    assert 'id="transliterated"' not in text(client.post(url, data))
    editor.update_sending_settings(org, actor=SYSTEM, allow_transliteration=True)
    html = text(client.post(url, data))
    suggestion = re.search(r'id="transliterated">(.*?)</pre>', html, flags=re.S).group(1)
    assert suggestion.startswith("Votre réservation \" fete \" est prete, l'équipe.")


def test_it_blocks_a_health_word_and_lets_the_dpo_override_it(client):
    """R-24: the operator's text with a specialty is refused (create and edit); the DPO lets the word
    through with a justification, the text is saved, both recorded; an operator cannot override."""
    org = make_org("health")
    purpose = make_purpose(org)
    signed_in(client, org, Role.OPERATOR)
    body = "Bonjour {first_name}, RDV de cardiologie le {date} à {time}."
    page = text(client.post(reverse("backoffice:template_create"), {
        "purpose": purpose.pk, "code": "rdv", "channel": "sms", "language": "fr", "body": body}))
    assert "cardiologie" in page and "R-24" in page and not Template.objects.for_org(org).exists()
    template = build_template(org, purpose=purpose, code="rdv")
    detail = reverse("backoffice:template_detail", kwargs={"template_id": template.pk})
    assert "R-24" in text(client.post(detail, {"body": body}))
    override = reverse("backoffice:template_override", kwargs={"template_id": template.pk})
    assert client.post(override, {"words": "cardiologie", "reason": "Demandé par le cabinet", "body": body}
                       ).status_code == 403

    signed_in(client, org, Role.DPO)
    page = text(client.post(detail, {"body": body}))
    assert override in page and 'value="cardiologie"' in page  # the override form, with the flagged word
    response = client.post(override, {"words": "cardiologie", "reason": "Cabinet mono-spécialité, affiché en façade.",
                                      "body": body})
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.lint_override == ["cardiologie"] and template.body == body and template.version == 2
    [event] = actions(org, "template.lint_overridden")
    assert event.details["words"] == ["cardiologie"] and "Cabinet" not in str(event.details)


def test_it_shows_templates_to_auditors_read_only(client):
    org = make_org("library")
    template = build_template(org, purpose=make_purpose(org), code="lecture")
    signed_in(client, org, Role.AUDITOR)
    assert "lecture" in text(client.get(reverse("backoffice:templates")))
    page = text(client.get(reverse("backoffice:template_detail", kwargs={"template_id": template.pk})))
    assert "<textarea" not in page and template.body.split(",")[0] in page
    assert client.post(reverse("backoffice:template_detail", kwargs={"template_id": template.pk}),
                       {"body": "x"}).status_code == 403
    assert client.get(reverse("backoffice:template_create")).status_code == 403


# --- isolation -----------------------------------------------------------------------------
def test_it_answers_404_for_another_organisations_purposes_notices_and_templates(client, world):
    """R-63: every route of this area with an object id, every method, as an admin of A on B's object
    (the project-wide tests/test_isolation.py does the same over every area)."""
    from tests.test_isolation import BUILDERS, METHODS, Surfaces, all_routes, fill, params

    mine = [route for route in all_routes() if route.startswith("app/") and params(route)
            and route.split("/")[1] in {"purposes", "notices", "templates"}]
    assert len(mine) == 10, mine
    surfaces = Surfaces(client, world)
    names = {name for route in mine for name in params(route)}
    foreign = {name: BUILDERS[name](world.b) for name in names}
    own = {name: BUILDERS[name](world.a) for name in names}
    for route in mine:
        answers = {method: surfaces.call(method, fill(route, foreign)).status_code for method in METHODS}
        assert set(answers.values()) == {404}, (route, answers)
        assert surfaces.call("get", fill(route, own)).status_code in {200, 302, 403}, route
