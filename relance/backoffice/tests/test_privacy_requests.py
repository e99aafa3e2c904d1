"""Back-office pages of rights requests and access exports (R-40, R-41, R-42, R-65): the queue with the
time left, intake, each move through the service with its audit event, roles and masking."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation

from relance.accounts.models import Role
from relance.audit.models import AuditEvent
from relance.contacts.models import Contact
from relance.privacy import rights
from relance.privacy.models import AccessExport, RightsRequest
from relance.testing import SYSTEM, make_contact

from .helpers import sign_in, text

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _open(org, kind="access", contact=None, received_at=None, details=""):
    return rights.open_request(org, actor=SYSTEM, kind=kind, contact=contact, channel="staff",
                               received_at=received_at, details=details)


def _actions(org, code):
    return AuditEvent.objects.filter(organisation=org, action=code)


@pytest.fixture
def dpo(client, world):
    sign_in(client, world.users_a[Role.DPO], world.a)
    return client


def test_it_lists_open_requests_soonest_first_with_the_time_left_and_late_ones_standing_out(dpo, world):
    """R-41: the queue shows time left; a late request is marked (class row-late, "late by")."""
    late = _open(world.a, received_at=timezone.now() - timedelta(days=40))
    fresh = _open(world.a, kind="erasure")
    closed = _open(world.a, kind="objection")
    rights.refuse_request(closed, actor=SYSTEM, code="no_data")
    _open(world.b)
    with translation.override("en"):
        page = text(dpo.get(reverse("backoffice:requests"), HTTP_ACCEPT_LANGUAGE="en"))
    assert page.index(late.reference) < page.index(fresh.reference)
    assert closed.reference not in page
    assert "row-late" in page
    body = text(dpo.get(reverse("backoffice:requests") + "?late=on"))
    assert late.reference in body and fresh.reference not in body
    body = text(dpo.get(reverse("backoffice:requests") + "?status=all&kind=objection"))
    assert closed.reference in body and late.reference not in body


def test_it_refuses_the_queue_to_operators_and_auditors(client, world):
    """rights.manage: admins and DPOs only (accounts/permissions.py)."""
    for role in (Role.OPERATOR, Role.AUDITOR):
        sign_in(client, world.users_a[role], world.a)
        assert client.get(reverse("backoffice:requests")).status_code == 403
    sign_in(client, world.users_a[Role.ADMIN], world.a)
    assert client.get(reverse("backoffice:requests")).status_code == 200


def test_it_records_a_request_found_by_phone_number_with_its_deadline(dpo, world):
    """R-40: staff intake; the contact is found by its keyed hash; R-41: due one month later."""
    contact = make_contact(world.a, phone="+33612345678")
    response = dpo.post(reverse("backoffice:request_create"), {
        "kind": "access", "phone": "06 12 34 56 78", "requested_by": "subject", "details": "Je veux mes données",
        "received_at": "2026-01-31T10:00"})
    req = RightsRequest.objects.for_org(world.a).get()
    assert response.status_code == 302 and response.url == reverse("backoffice:request_detail",
                                                                    kwargs={"rightsrequest_id": req.pk})
    assert req.contact_id == contact.pk and req.channel == "staff"
    assert timezone.localtime(req.due_at).date().isoformat() == "2026-02-28"
    assert _actions(world.a, "privacy.request_received").count() == 1


def test_it_says_when_no_contact_matches_and_records_nothing(dpo, world):
    response = dpo.post(reverse("backoffice:request_create"), {
        "kind": "access", "phone": "+33699999999", "requested_by": "subject"})
    assert response.status_code == 200 and "errorlist" in text(response)
    assert not RightsRequest.objects.for_org(world.a).exists()


def test_it_shows_the_person_in_clear_to_the_dpo_as_an_audited_read(dpo, world):
    """R-65: reading a contact's data and the person's words is an audit event."""
    contact = make_contact(world.a, first_name="Amélie", last_name="Poulain")
    req = _open(world.a, contact=contact, details="Merci de m'envoyer tout")
    url = reverse("backoffice:request_detail", kwargs={"rightsrequest_id": req.pk})
    page = text(dpo.get(url))
    assert "Amélie Poulain" in page and "Merci de m&#x27;envoyer tout" not in page
    assert _actions(world.a, "contact.read").filter(target_id=str(contact.pk)).exists()
    assert not _actions(world.a, "privacy.request_read").exists()
    page = text(dpo.get(url + "?show=details"))
    assert "Merci de m&#x27;envoyer tout" in page
    assert _actions(world.a, "privacy.request_read").count() == 1


def test_it_starts_and_extends_a_request_inside_the_first_month(dpo, world):
    """R-41: extension by two months, with reasons and how the person was told."""
    req = _open(world.a, kind="erasure", contact=make_contact(world.a))
    assert dpo.post(reverse("backoffice:request_start", kwargs={"rightsrequest_id": req.pk})).status_code == 302
    url = reverse("backoffice:request_extend", kwargs={"rightsrequest_id": req.pk})
    missing = dpo.post(url, {"reason": "", "told_via": ""})
    assert missing.status_code == 400
    assert dpo.post(url, {"reason": "Demande complexe", "told_via": "letter"}).status_code == 302
    req.refresh_from_db()
    assert req.status == "extended" and req.extension_reason == "Demande complexe"
    assert _actions(world.a, "privacy.request_extended").count() == 1


def test_it_refuses_an_extension_after_the_first_month(dpo, world):
    req = _open(world.a, received_at=timezone.now() - timedelta(days=35))
    page = text(dpo.get(reverse("backoffice:request_detail", kwargs={"rightsrequest_id": req.pk})))
    assert reverse("backoffice:request_extend", kwargs={"rightsrequest_id": req.pk}) not in page
    response = dpo.post(reverse("backoffice:request_extend", kwargs={"rightsrequest_id": req.pk}),
                        {"reason": "Trop tard", "told_via": "sms"})
    assert response.status_code == 400
    req.refresh_from_db()
    assert req.status == "received"


def test_it_completes_an_access_request_and_links_the_export_viewer(dpo, world):
    """R-42: completing an access request builds the export; the viewer shows it inside the page."""
    contact = make_contact(world.a, first_name="Zoé", last_name="Martin")
    req = _open(world.a, contact=contact)
    url = reverse("backoffice:request_complete", kwargs={"rightsrequest_id": req.pk})
    assert dpo.post(url, {}).status_code == 400  # the identity check box
    assert dpo.post(url, {"confirm": "on"}).status_code == 302
    export = AccessExport.objects.for_org(world.a).get(request=req)
    page = text(dpo.get(reverse("backoffice:request_detail", kwargs={"rightsrequest_id": req.pk})))
    viewer = reverse("backoffice:export_detail", kwargs={"export_id": export.pk})
    assert viewer in page
    body = text(dpo.get(viewer))
    assert "Zoé" in body and "<style" not in body
    assert _actions(world.a, "privacy.export_read").count() == 1


def test_it_lets_only_the_dpo_download_an_export(client, world):
    """export.download: DPO only; each download is an audited read."""
    req = _open(world.a, contact=make_contact(world.a))
    rights.complete_request(req, actor=SYSTEM)
    export = AccessExport.objects.for_org(world.a).get()
    urls = {fmt: reverse("backoffice:export_download", kwargs={"export_id": export.pk, "fmt": fmt})
            for fmt in ("json", "html", "pdf")}
    sign_in(client, world.users_a[Role.ADMIN], world.a)
    assert client.get(urls["pdf"]).status_code == 403
    assert client.get(reverse("backoffice:export_detail", kwargs={"export_id": export.pk})).status_code == 200
    sign_in(client, world.users_a[Role.DPO], world.a)
    assert client.get(urls["pdf"]).content.startswith(b"%PDF")
    assert client.get(urls["json"]).json()["subject"]["id"] == str(export.contact_id)
    assert b"<html" in client.get(urls["html"]).content
    assert _actions(world.a, "privacy.export_read").count() == 4  # the admin's view and three downloads


def test_it_refuses_a_request_with_its_article_and_erases_on_completion(dpo, world):
    """R-43 through the page: completion of an erasure request erases the contact."""
    refused = _open(world.a, kind="access")
    url = reverse("backoffice:request_refuse", kwargs={"rightsrequest_id": refused.pk})
    assert dpo.post(url, {"code": "other", "reason": ""}).status_code == 400  # "other" needs its reason
    assert dpo.post(url, {"code": "identity_not_confirmed"}).status_code == 302
    refused.refresh_from_db()
    assert refused.status == "refused" and refused.refusal_code == "identity_not_confirmed"
    contact = make_contact(world.a)
    erasure = _open(world.a, kind="erasure", contact=contact)
    assert dpo.post(reverse("backoffice:request_complete", kwargs={"rightsrequest_id": erasure.pk}),
                    {"confirm": "on"}).status_code == 302
    assert Contact.objects.for_org(world.a).filter(pk=contact.pk, status="erased").exists() or \
        not Contact.objects.for_org(world.a).filter(pk=contact.pk).exists()


def test_it_links_a_contact_to_a_request_recorded_without_one(dpo, world):
    contact = make_contact(world.a, email="lea@example.org")
    req = _open(world.a)
    response = dpo.post(reverse("backoffice:request_link", kwargs={"rightsrequest_id": req.pk}),
                        {"email": "lea@example.org"})
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.contact_id == contact.pk


def test_it_shows_the_time_left_in_days(dpo, world):
    with time_machine.travel(timezone.now() - timedelta(days=20)):
        req = _open(world.a)
    with translation.override("en"):
        page = text(dpo.get(reverse("backoffice:request_detail", kwargs={"rightsrequest_id": req.pk}),
                            HTTP_ACCEPT_LANGUAGE="en"))
    assert "days left" in page or "jours restants" in page
