"""Delivery of outgoing webhooks (Art. 19, SPEC §4) to a REAL local HTTP server: signed, retried with
back-off, never redirected, given up after ~24 h, payload minimised once final."""

import json
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.testing import SYSTEM, make_org
from relance.webhooks import delivery, signing
from relance.webhooks import services as webhooks
from relance.webhooks.models import WebhookDelivery

from .receiver import Receiver

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture(autouse=True)
def _local_http(settings):
    settings.RELANCE_WEBHOOKS_ALLOW_LOCAL_HTTP = True


def _emit(org, event="contact.erased", data=None):
    with transaction.atomic():
        return webhooks.emit(org, event, data or {"contact": "c-1", "external_ref": "PAT-42", "reason": "request"})


def test_it_posts_a_signed_event_that_a_real_server_verifies():
    org = make_org()
    with Receiver() as server:
        endpoint, secret = webhooks.create_endpoint(org, actor=SYSTEM, url=server.url, events=["contact.erased"])
        server.secret = secret
        [queued] = _emit(org)
        assert delivery.deliver_due() == {"delivered": 1, "retry": 0, "failed": 0}
    [got] = server.received
    assert got["verified"] is True
    assert got["headers"]["Relance-Event"] == "contact.erased"
    assert got["headers"]["Relance-Delivery"] == str(queued.pk)
    assert got["headers"]["Content-Type"] == "application/json"
    body = json.loads(got["body"])
    assert body["type"] == "contact.erased" and body["data"]["external_ref"] == "PAT-42"
    assert body["organisation"] == str(org.uid)
    row = WebhookDelivery.objects.for_org(org).get()
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    assert row.delivered_at is not None


def test_it_removes_the_external_reference_once_delivered():
    """R-43: nothing of the person stays in the delivery row once the connected system was told."""
    org = make_org()
    with Receiver() as server:
        webhooks.create_endpoint(org, actor=SYSTEM, url=server.url, events=["*"])
        _emit(org)
        delivery.deliver_due()
    row = WebhookDelivery.objects.for_org(org).get()
    assert "external_ref" not in row.payload["data"] and row.payload["data"]["contact"] == "c-1"


def test_it_sends_nothing_to_endpoints_that_do_not_subscribe_or_are_disabled():
    org = make_org()
    with Receiver() as server:
        webhooks.create_endpoint(org, actor=SYSTEM, url=server.url, events=["request.completed"])
        off, _ = webhooks.create_endpoint(org, actor=SYSTEM, url=server.url, events=["*"])
        webhooks.disable_endpoint(off, actor=SYSTEM)
        assert _emit(org) == []
        assert delivery.deliver_due() == {"delivered": 0, "retry": 0, "failed": 0}
    assert server.received == []


def test_it_retries_with_exponential_back_off_then_delivers():
    org = make_org()
    with Receiver(status=[500, 503, 200]) as server:
        webhooks.create_endpoint(org, actor=SYSTEM, url=server.url, events=["*"])
        _emit(org)
        now = timezone.now()
        assert delivery.deliver_due(now=now)["retry"] == 1
        row = WebhookDelivery.objects.for_org(org).get()
        assert row.next_attempt_at == now + timedelta(minutes=1) and row.last_status_code == 500
        assert delivery.deliver_due(now=now + timedelta(seconds=59))["retry"] == 0  # not due yet
        assert delivery.deliver_due(now=now + timedelta(minutes=1))["retry"] == 1
        row.refresh_from_db()
        assert row.next_attempt_at == now + timedelta(minutes=1) + timedelta(minutes=2)
        assert delivery.deliver_due(now=now + timedelta(minutes=3))["delivered"] == 1
    assert len(server.received) == 3


def test_it_backs_off_from_one_minute_to_six_hours_and_gives_up_after_about_a_day():
    delays = [delivery.retry_delay(n) for n in range(1, delivery.MAX_ATTEMPTS)]
    assert delays[0] == timedelta(minutes=1) and delays[1] == timedelta(minutes=2)
    assert max(delays) == timedelta(hours=6)
    assert timedelta(hours=20) <= sum(delays, timedelta()) <= timedelta(hours=30)


def test_it_gives_up_after_twelve_tries():
    org = make_org()
    with Receiver(status=502) as server:
        webhooks.create_endpoint(org, actor=SYSTEM, url=server.url, events=["*"])
        _emit(org)
        now = timezone.now()
        for _ in range(delivery.MAX_ATTEMPTS):
            now += timedelta(hours=7)
            delivery.deliver_due(now=now)
        assert delivery.deliver_due(now=now + timedelta(days=2)) == {"delivered": 0, "retry": 0, "failed": 0}
    row = WebhookDelivery.objects.for_org(org).get()
    assert (row.status, row.attempts) == ("failed", 12)
    assert "external_ref" not in row.payload["data"]
    assert len(server.received) == 12


def test_it_never_follows_a_redirect():
    org = make_org()
    with Receiver(status=302) as server, Receiver() as elsewhere:
        server.location = elsewhere.url
        webhooks.create_endpoint(org, actor=SYSTEM, url=server.url, events=["*"])
        _emit(org)
        assert delivery.deliver_due()["retry"] == 1
    assert elsewhere.received == []
    row = WebhookDelivery.objects.for_org(org).get()
    assert row.last_status_code == 302 and "redirect" in row.last_error


def test_it_retries_when_nobody_answers():
    org = make_org()
    with Receiver() as server:
        url = server.url
    webhooks.create_endpoint(org, actor=SYSTEM, url=url, events=["*"])  # the server is gone: refused
    _emit(org)
    assert delivery.deliver_due()["retry"] == 1
    row = WebhookDelivery.objects.for_org(org).get()
    assert row.last_status_code is None and row.last_error


def test_it_leases_claimed_rows_so_a_second_round_skips_them():
    org = make_org()
    with Receiver() as server:
        webhooks.create_endpoint(org, actor=SYSTEM, url=server.url, events=["*"])
        _emit(org)
        now = timezone.now()
        claimed = delivery._claim(now, 10)
        assert len(claimed) == 1
        assert delivery._claim(now, 10) == []
        assert len(delivery._claim(now + delivery.LEASE, 10)) == 1  # a crashed worker's rows come back


def test_it_signs_with_the_rotated_secret_at_once():
    org = make_org()
    with Receiver() as server:
        endpoint, old = webhooks.create_endpoint(org, actor=SYSTEM, url=server.url, events=["*"])
        endpoint, new = webhooks.rotate_secret(endpoint, actor=SYSTEM)
        assert new != old
        _emit(org)
        delivery.deliver_due()
    got = server.received[0]
    signing.verify(new, got["headers"][signing.HEADER], got["body"], now=time.time())
    with pytest.raises(signing.SignatureError):
        signing.verify(old, got["headers"][signing.HEADER], got["body"], now=time.time())
    assert AuditEvent.objects.filter(organisation=org, action="webhook.secret_rotated").count() == 1
