"""R-63 extended (issue 9, §3.7): tenant isolation of the providers' webhooks, the outgoing webhooks
and their deliveries, every export and download, and imports.

tests/test_isolation.py proves the 404 of every object URL; this file proves what a 404 cannot: a
webhook authenticated for organisation A's provider account cannot reach B's messages or contacts
even when it names them, an event of A is never queued for B's endpoints, and a file downloaded by A
(access export, register, processor record, compliance report) never holds B's rows. The routes are
enumerated from the URL configuration, so a new webhook or download URL fails here until it is
classified and checked.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.utils import timezone

from relance.accounts.models import Role
from relance.audit.models import AuditEvent
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.messaging import outbox
from relance.messaging.models import InboundMessage, Message, SendingSettings
from relance.messaging.sending import settings_for
from relance.messaging.tests.helpers import informed_contact, service_purpose
from relance.privacy import exports
from relance.providers.ovh.tests.test_webhooks import CREDENTIALS
from relance.providers.services import create_account
from relance.testing import SYSTEM, make_contact
from relance.webhooks import services as webhooks
from relance.webhooks.models import WebhookDelivery
from relance.webhooks.tests.builders import make_endpoint
from tests.test_isolation import all_routes

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

NUMBER = "+33612345678"  # a person who is a contact of both organisations
SENDER_A, SENDER_B = "36111", "36222"
HOOK_ROUTES = {  # every webhook route of the project, and where its isolation is proved
    "^hooks/(?P<kind>[a-z]+)/(?P<token>[A-Za-z0-9_-]{8,64})/(?P<which>receipts|inbound)$": "this file (vendor accounts)",
    "api/v1/webhooks/<provider>/inbound": "platform secret, no tenant (R-66: relance/api/tests/test_webhooks.py)",
    "api/v1/webhooks/<provider>/receipts": "platform secret, no tenant (R-66: relance/api/tests/test_webhooks.py)",
    "app/webhooks/": "list page: tests/test_isolation.py",
    "app/webhooks/new/": "creates in the session's organisation",
    "app/webhooks/<uuid:webhookendpoint_id>/": "object: tests/test_isolation.py",
    "app/webhooks/<uuid:webhookendpoint_id>/rotate/": "object: tests/test_isolation.py",
    "app/webhooks/<uuid:webhookendpoint_id>/disable/": "object: tests/test_isolation.py",
    "api/v1/webhook-endpoints": "this file (deliveries) and tests/test_isolation.py",
    "api/v1/webhook-endpoints/<uuid:webhookendpoint_id>": "object: tests/test_isolation.py",
    "api/v1/webhook-endpoints/<uuid:webhookendpoint_id>/rotate-secret": "object: tests/test_isolation.py",
    "api/v1/webhook-endpoints/<uuid:webhookendpoint_id>/deliveries": "this file",
    "api/v1/webhook-deliveries/<uuid:webhookdelivery_id>/redeliver": "object: tests/test_isolation.py",
}
DOWNLOAD = re.compile(r"download|export|register|processor|compliance")


class Stage:
    """A and B each with an OVHcloud account, a dedicated short number, and one SMS sent to the same
    person (OVHcloud ids 1001 for A, 2002 for B)."""

    def __init__(self, world):
        self.a, self.b = world.a, world.b
        self.accounts, self.messages, self.people = {}, {}, {}
        for org, sender, ref in ((self.a, SENDER_A, "1001"), (self.b, SENDER_B, "2002")):
            purpose = service_purpose(org)
            person = informed_contact(org, purpose, phone=NUMBER)
            account = create_account(org, name="OVHcloud", kind="ovh", credentials=CREDENTIALS, actor=SYSTEM)
            settings_for(org)
            SendingSettings.objects.for_org(org).update(sms_sender=sender)
            with transaction.atomic():
                message = outbox.enqueue(person, purpose, "sms", due_at=timezone.now(), source="api")
            Message.objects.for_org(org).filter(pk=message.pk).update(
                status=Message.Status.SENT, provider=account.label, provider_ref=ref, sender=sender,
                sent_at=timezone.now())
            self.accounts[org.pk], self.messages[org.pk], self.people[org.pk] = account, message, person

    def hook(self, org, which, **query):
        token = self.accounts[org.pk].webhook_token
        return f"/hooks/ovh/{token}/{which}?{urlencode({'secret': CREDENTIALS['callback_secret'], **query})}"

    def status(self, org):
        return Message.unscoped.get(pk=self.messages[org.pk].pk).status

    def stop(self, client, through, sender):
        form = {"shortcode": sender, "senderid": "0033612345678", "message": "STOP", "id": "77"}
        return client.post(self.hook(through, "inbound"), data=urlencode(form),
                           content_type="application/x-www-form-urlencoded")


@pytest.fixture
def api():
    from relance.api.tests.conftest import ApiClient

    return ApiClient


@pytest.fixture
def stage(world, settings):
    settings.RELANCE_PUBLIC_URL = "https://relance.example"
    return Stage(world)


def test_it_classifies_every_webhook_route():
    """R-63, R-66: a new webhook URL (vendor or outgoing) fails here until its isolation is proved."""
    routes = {_plain(route) for route in all_routes() if "hook" in route}
    known = {_plain(route) for route in HOOK_ROUTES}
    assert routes == known, sorted(routes ^ known)


def _plain(route: str) -> str:
    """A route without its converters (ninja names a uuid `uuidstr`, Django `uuid`)."""
    return re.sub(r"<\w+:(\w+)>", r"<\1>", route)


def test_a_receipt_through_as_account_cannot_finish_bs_message(client, stage):
    """R-63, R-29: A's account (whose secret A's admin knows) reports B's provider reference as
    delivered and failed: B's message stays sent; through B's own account the same report works."""
    for description in ("1", "2"):
        answer = client.get(stage.hook(stage.a, "receipts", id="2002", ptt="23", description=description,
                                       date="2026-01-01 10:00:00"))
        assert answer.status_code == 200  # unknown to A: 2xx so that the vendor stops retrying
    assert stage.status(stage.b) == Message.Status.SENT
    assert Contact.objects.for_org(stage.b).get(pk=stage.people[stage.b.pk].pk).status == Contact.Status.ACTIVE
    # the detector can fail: B's own account does finish B's message
    assert client.get(stage.hook(stage.b, "receipts", id="2002", ptt="4", description="1")).status_code == 200
    assert stage.status(stage.b) == Message.Status.DELIVERED
    assert stage.status(stage.a) == Message.Status.SENT


def test_a_stop_through_as_account_cannot_suppress_bs_contacts(client, stage):
    """R-63, R-31: a STOP forged on A's account naming B's short number and B's contact's number
    changes nothing in B (no suppression, no reply recorded, no audit event); found and fixed in
    issue 9: the reply's scope now stops at the account's organisation."""
    audit_b = AuditEvent.objects.filter(organisation=stage.b).count()
    assert stage.stop(client, stage.a, SENDER_B).status_code == 200
    assert not contacts.is_suppressed(stage.b, NUMBER)
    assert not InboundMessage.objects.for_org(stage.b).exists()
    assert AuditEvent.objects.filter(organisation=stage.b).count() == audit_b
    assert not contacts.is_suppressed(stage.a, NUMBER)  # A's sender was not named either
    # the detector can fail: the same STOP through B's own account does suppress the number in B
    assert stage.stop(client, stage.b, SENDER_B).status_code == 200
    assert contacts.is_suppressed(stage.b, NUMBER)
    assert not contacts.is_suppressed(stage.a, NUMBER)


def test_a_platform_account_still_serves_every_organisation(client, stage, world):
    """R-31: a platform-wide account (no organisation) carries replies for the sender's organisations."""
    platform = create_account(None, name="Platform OVH", kind="ovh", credentials=CREDENTIALS, actor=SYSTEM)
    stage.accounts["platform"] = platform
    form = {"shortcode": SENDER_B, "senderid": "0033612345678", "message": "STOP", "id": "78"}
    url = f"/hooks/ovh/{platform.webhook_token}/inbound?secret={CREDENTIALS['callback_secret']}"
    assert client.post(url, data=urlencode(form), content_type="application/x-www-form-urlencoded").status_code == 200
    assert contacts.is_suppressed(stage.b, NUMBER) and not contacts.is_suppressed(stage.a, NUMBER)


def test_an_event_of_a_is_queued_for_as_endpoints_only(world, api):
    """R-63: outgoing webhooks: A's event reaches A's endpoints, never B's, and each organisation's
    delivery list holds its own deliveries only (API)."""
    endpoint_a, endpoint_b = make_endpoint(world.a), make_endpoint(world.b)
    with transaction.atomic():
        webhooks.emit(world.a, "contact.erased", {"contact": "zzz-marker-of-a"})
        webhooks.emit(world.b, "contact.erased", {"contact": "zzz-marker-of-b"})
    assert set(WebhookDelivery.unscoped.filter(endpoint=endpoint_b).values_list("organisation", flat=True)) == {
        world.b.pk}
    assert all(d.payload["organisation"] == str(world.b.uid)
               for d in WebhookDelivery.unscoped.filter(endpoint=endpoint_b))
    own = api(world.key_a).get(f"/webhook-endpoints/{endpoint_a.pk}/deliveries")
    assert own.status_code == 200 and len(own.json()["items"]) == 1
    assert "zzz-marker-of-b" not in own.content.decode()
    assert api(world.key_a).get(f"/webhook-endpoints/{endpoint_b.pk}/deliveries").status_code == 404


def _markers_of_b(world) -> tuple[list[str], Contact]:
    """Text only B holds: a contact of B with A's person's number, its id, B's names."""
    from relance.providers.services import create_account as account

    twin = make_contact(world.b, first_name="Zzzbertille", last_name="Zzzfromb", phone=NUMBER)
    purpose = service_purpose(world.b, label_fr="Zzz finalité de B", label_en="Zzz purpose of B")
    account(world.b, name="Zzz provider of B", kind="null", credentials={}, actor=SYSTEM)
    return ["Zzzbertille", "Zzzfromb", str(twin.pk), world.b.name, world.b.dpo_name, purpose.label_fr, purpose.label_en,
            "Zzz provider of B"], twin


def test_every_download_of_a_holds_none_of_bs_rows(client, world, api):
    """R-63, R-42: every download and export URL (back-office as A's DPO, API with A's key) is read
    with A's objects: 2xx and none of B's markers; with B's export, 404. The routes come from the URL
    configuration, so a new download is read here too."""
    from relance.backoffice.tests.helpers import sign_in

    markers, twin = _markers_of_b(world)
    mine = make_contact(world.a, first_name="Annabelle", phone=NUMBER)
    objects_a = {"export_id": exports.create_export(mine, actor=SYSTEM).pk, "contact_id": mine.pk}
    export_b = exports.create_export(twin, actor=SYSTEM)
    from django.test import Client

    sign_in(client, world.users_a[Role.DPO], world.a)
    admin = sign_in(Client(), world.users_a[Role.ADMIN], world.a)  # the pages the DPO may not open
    read, seen_a = [], 0
    for route in all_routes():
        if not DOWNLOAD.search(route) or not route.startswith(("app/", "api/v1/")):
            continue
        names = re.findall(r"<(?:\w+:)?(\w+)>", route)
        url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(objects_a[m.group(1)]), route)
        query = {"month": timezone.now().strftime("%Y-%m")} if "compliance" in route else {}
        if route.startswith("api/"):
            response = api(world.key_a).get(url, **query)
        else:
            response = client.get(url, query)
            if response.status_code == 403:
                response = admin.get(url, query)
        if response.status_code == 405:  # a POST (create an export): its result is read through the GETs
            continue
        assert response.status_code == 200, (url, response.status_code)
        body = response.content.decode("utf-8", "replace")
        leaked = [marker for marker in markers if marker in body]
        assert not leaked, (url, leaked)
        seen_a += "Annabelle" in body
        if "export_id" in names:
            foreign = url.replace(str(objects_a["export_id"]), str(export_b.pk))
            status = (api(world.key_a).get(foreign) if route.startswith("api/") else client.get(foreign)).status_code
            assert status == 404, foreign
        read.append(route)
    assert len(read) >= 20, read
    assert seen_a >= 4  # the exports of A do hold A's person (the detector reads real documents)


def test_an_import_of_a_never_touches_bs_contacts_or_purposes(world, api):
    """R-63: an import in A naming B's purpose is refused; a row with the number of B's contact creates
    A's own contact and leaves B's as it was."""
    twin = make_contact(world.b, first_name="Zzzbertille", phone=NUMBER)
    purpose_b = service_purpose(world.b)
    data = "prénom;téléphone\nAnnabelle;06 12 34 56 78\n".encode()
    refused = api(world.key_a).client.post("/api/v1/imports", {"file": _upload(data), "purpose_id": purpose_b.pk},
                                           headers=api(world.key_a).headers)
    assert refused.status_code == 422
    assert not Contact.objects.for_org(world.a).exists()
    done = api(world.key_a).client.post("/api/v1/imports", {"file": _upload(data)}, headers=api(world.key_a).headers)
    assert done.status_code == 201, done.content
    assert Contact.objects.for_org(world.a).get().pk != twin.pk
    assert Contact.objects.for_org(world.b).get(pk=twin.pk).first_name == "Zzzbertille"
    assert Contact.objects.for_org(world.b).count() == 1
    assert api(world.key_b).get(f"/imports/{done.json()['id']}").status_code == 404


def _upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("contacts.csv", data, content_type="text/csv")


def test_the_isolation_check_catches_a_planted_leak(world):
    """The marker scan of downloads fails on a document that holds one of B's rows."""
    markers, _twin = _markers_of_b(world)
    planted = f"<html>{world.a.name} … {markers[0]}</html>"
    assert [m for m in markers if m in planted] == ["Zzzbertille"]
