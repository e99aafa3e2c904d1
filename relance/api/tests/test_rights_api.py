"""The rights-requests API (R-40, R-41): open, list with filters and deadlines, read, audited details,
start, extend, complete, refuse; scopes, conflicts (409) and isolation between organisations (R-63)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.contacts.models import Contact
from relance.privacy import rights
from relance.privacy.models import RightsRequest
from relance.testing import SYSTEM, make_api_key, make_contact

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _open(client, **body):
    return client.post("/rights-requests", {"kind": "restriction", "details": "Ne plus m'écrire", **body})


def test_it_opens_reads_and_completes_a_request_r40(world, api):
    client, contact = api(world.key_a), make_contact(world.a)
    created = _open(client, contact_id=str(contact.pk))
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["channel"], body["status"], body["contact_id"]) == ("api", "received", str(contact.pk))
    assert body["reference"].startswith("DR-") and body["days_left"] >= 27 and body["late"] is False
    assert "details" not in body and "Ne plus" not in created.content.decode()
    url = f"/rights-requests/{body['id']}"
    assert client.get(url).json()["reference"] == body["reference"]
    assert client.get(f"{url}/details").json() == {"details": "Ne plus m'écrire"}
    assert AuditEvent.objects.filter(organisation=world.a, action="privacy.request_read").count() == 1
    assert client.post(f"{url}/start").json()["status"] == "in_progress"
    done = client.post(f"{url}/complete", {}).json()
    assert (done["status"], done["outcome"]) == ("completed", {"action": "restricted"})
    assert Contact.objects.for_org(world.a).get(pk=contact.pk).status == "restricted"
    assert_error(client.post(f"{url}/start"), 409, "request_closed")


def test_it_lists_with_filters_and_overdue_first(world, api):
    now = timezone.now()
    late = rights.open_request(world.a, actor=SYSTEM, kind="access", channel="staff",
                               received_at=now - timedelta(days=40))
    fresh = rights.open_request(world.a, actor=SYSTEM, kind="erasure", channel="staff")
    rights.open_request(world.b, actor=SYSTEM, kind="access", channel="staff", received_at=now - timedelta(days=40))
    client = api(world.key_a)
    items = client.get("/rights-requests").json()["items"]
    assert [i["id"] for i in items] == [str(late.pk), str(fresh.pk)]
    assert items[0]["late"] is True and items[0]["days_left"] < 0
    assert [i["id"] for i in client.get("/rights-requests", overdue="true").json()["items"]] == [str(late.pk)]
    assert [i["id"] for i in client.get("/rights-requests", overdue="false").json()["items"]] == [str(fresh.pk)]
    assert [i["id"] for i in client.get("/rights-requests", kind="erasure").json()["items"]] == [str(fresh.pk)]
    assert client.get("/rights-requests", status="completed").json()["count"] == 0
    assert_error(client.get("/rights-requests", status="lost"), 422, "validation_error")


def test_it_extends_and_refuses_with_clear_errors_r41(world, api):
    client = api(world.key_a)
    old = rights.open_request(world.a, actor=SYSTEM, kind="access", channel="staff",
                              received_at=timezone.now() - timedelta(days=35))
    body = assert_error(client.post(f"/rights-requests/{old.pk}/extend", {"reason": "Archives", "told_via": "letter"}),
                        409, "extension_too_late")
    assert "first month" in body["message"]
    new = _open(client).json()
    missing = assert_error(client.post(f"/rights-requests/{new['id']}/extend", {"reason": ""}), 422, "validation_error")
    assert "told_via" in missing["fields"]
    extended = client.post(f"/rights-requests/{new['id']}/extend", {"reason": "Archives", "told_via": "sms"}).json()
    assert extended["status"] == "extended" and extended["days_left"] >= 88
    assert "reason" in assert_error(client.post(f"/rights-requests/{new['id']}/refuse", {"code": "other"}),
                                    422, "validation_error")["fields"]
    refused = client.post(f"/rights-requests/{new['id']}/refuse", {"code": "no_data"}).json()
    assert (refused["status"], refused["refusal_code"]) == ("refused", "no_data")


def test_it_rectifies_through_the_api_and_links_a_contact_later(world, api):
    client, contact = api(world.key_a), make_contact(world.a, first_name="Jeane")
    req = _open(client, kind="rectification").json()
    assert_error(client.post(f"/rights-requests/{req['id']}/complete", {}), 409, "request_without_contact")
    linked = client.post(f"/rights-requests/{req['id']}/contact", {"contact_id": str(contact.pk)}).json()
    assert linked["contact_id"] == str(contact.pk)
    done = client.post(f"/rights-requests/{req['id']}/complete", {"changes": {"first_name": "Jeanne"}}).json()
    assert done["outcome"] == {"action": "rectified", "fields": ["first_name"]}
    assert Contact.objects.for_org(world.a).get(pk=contact.pk).first_name == "Jeanne"


def test_it_needs_the_scopes(world, api):
    reader = api(make_api_key(world.a, scopes=["rights:read"])[1])
    assert reader.get("/rights-requests").status_code == 200
    assert_error(_open(reader), 403, "insufficient_scope")
    writer = api(make_api_key(world.a, scopes=["rights:read", "rights:write"])[1])
    erasure = _open(writer, kind="erasure", contact_id=str(make_contact(world.a).pk)).json()
    assert_error(writer.post(f"/rights-requests/{erasure['id']}/complete", {}), 403, "insufficient_scope")
    assert RightsRequest.objects.for_org(world.a).get(pk=erasure["id"]).status == "received"


def test_it_keeps_organisations_apart_r63(world, api):
    req = rights.open_request(world.a, actor=SYSTEM, kind="access", channel="staff", details="privé")
    other = api(world.key_b)
    for method, suffix, body in (("get", "", None), ("get", "/details", None), ("post", "/start", None),
                                 ("post", "/refuse", {"code": "no_data"}), ("post", "/complete", None)):
        assert_error(other.call(method, f"/rights-requests/{req.pk}{suffix}", body), 404, "not_found")
    assert other.get("/rights-requests").json()["count"] == 0
    b_contact = make_contact(world.b)
    assert "contact_id" in assert_error(_open(api(world.key_a), contact_id=str(b_contact.pk)),
                                        422, "validation_error")["fields"]
    assert RightsRequest.objects.for_org(world.a).get(pk=req.pk).status == "received"
    assert not AuditEvent.objects.filter(organisation=world.a, action="privacy.request_read").exists()
