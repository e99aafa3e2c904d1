"""E-mail through Django's SMTP backend to a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller

from relance.messaging.models import Message
from relance.messaging.tests.helpers import enqueue, informed_contact, make_template, service_purpose
from relance.messaging.worker import Worker

pytestmark = [pytest.mark.django_db(databases=["default", "keys"]), pytest.mark.usefixtures("daytime")]


class Mailbox:
    """Accepts mail, except for addresses it is told to refuse (550) or defer (451)."""

    def __init__(self):
        self.messages: list[email.message.Message] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp(settings):
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.RELANCE_EMAIL_PROVIDER = "django"
    yield mailbox
    controller.stop()


@pytest.fixture
def email_setup(world):
    purpose = service_purpose(world.a)
    return purpose, make_template(purpose, channel="email", subject="Rappel de {org}")


def test_it_delivers_an_email_to_a_real_smtp_server(smtp, email_setup, world):
    purpose, template = email_setup
    contact = informed_contact(world.a, purpose, first_name="Élise", email="elise@example.org")
    message = enqueue(contact, purpose, template, channel="email")
    Worker().run_once()
    [received] = smtp.messages
    assert received["To"] == "elise@example.org" and received["Subject"] == f"Rappel de {world.a.name}"
    assert "Bonjour Élise" in received.get_content()
    assert received["X-Relance-Ref"] == str(message.pk)
    sent = Message.objects.for_org(world.a).get(pk=message.pk)
    assert sent.status == "sent" and sent.provider == "django" and sent.provider_ref


def test_a_refused_recipient_fails_and_a_deferred_one_is_retried(smtp, email_setup, world):
    purpose, template = email_setup
    smtp.refuse = {"gone@example.org": "550 No such user", "busy@example.org": "451 Try again later"}
    gone = enqueue(informed_contact(world.a, purpose, email="gone@example.org"), purpose, template, channel="email")
    busy = enqueue(informed_contact(world.a, purpose, email="busy@example.org"), purpose, template, channel="email")
    ok = enqueue(informed_contact(world.a, purpose, email="ok@example.org"), purpose, template, channel="email")
    Worker().run_once()
    by_id = {m.pk: m for m in Message.objects.for_org(world.a)}
    assert (by_id[gone.pk].status, by_id[gone.pk].reason) == ("failed", "smtp_550")
    assert (by_id[busy.pk].status, by_id[busy.pk].reason) == ("scheduled", "smtp_451")
    assert by_id[ok.pk].status == "sent" and len(smtp.messages) == 1


def test_an_unreachable_smtp_server_defers_the_batch_without_spending_an_attempt(settings, email_setup, world):
    """docs/delivery.md: nothing left, so no attempt is spent; an SMTP outage of any length costs no
    e-mail (tests/reliability/test_outage_smtp.py found the attempts running out after ~8 minutes)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.RELANCE_EMAIL_PROVIDER = "django"
    purpose, template = email_setup
    message = enqueue(informed_contact(world.a, purpose), purpose, template, channel="email")
    Worker().run_once()
    message = Message.objects.for_org(world.a).get(pk=message.pk)
    assert message.status == "scheduled" and message.reason == "smtp_unreachable" and message.attempts == 0
