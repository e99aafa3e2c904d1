"""Builders for the public pages' tests: an organisation with a service purpose (public task) and a
consent purpose, both sent by SMS and e-mail, with their notices."""

from __future__ import annotations

import json

from relance.consent.tests.helpers import make_consent_purpose, make_purpose
from relance.messaging.models import Message
from relance.testing import make_contact, make_org


def public_org(**overrides):
    org = make_org("library", name="Médiathèques du Val", **overrides)
    service = make_purpose(org, code="overdue")
    news = make_consent_purpose(org, code="news")
    return org, service, news


def person(org, phone="+33612340001", **overrides):
    return make_contact(org, phone=phone, **overrides)


def last_code(org) -> str:
    """The one-time code, as sealed in the SMS the outbox holds (the person reads it on their phone)."""
    message = Message.objects.for_org(org).filter(source=Message.Source.REPLY).order_by("-created_at").first()
    return json.loads(message.params)["code"]
