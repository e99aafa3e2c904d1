"""Consent requests by SMS (R-13, R-28): a message asking the person to reply OUI/YES, with a link to
the full notice of the purpose.

The request carries the notice version it links to (source_id = the notice's id, in the person's
language): when the person replies OUI, inbound.py records `given` with method `sms_keyword` and
THAT notice, found again through `pending_request_for()`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent.decision import facts_for
from relance.consent.models import Notice, Purpose
from relance.consent.policy import MessageClass, MessageFacts, decide
from relance.consent.services import current_notice
from relance.contacts.models import Contact

from . import outbox
from .models import Message, Template

TEMPLATE_CODE = "consent-request"
REPLY_WINDOW = timedelta(days=30)
SENT = (Message.Status.SENT, Message.Status.DELIVERED)


def notice_link(notice: Notice) -> str:
    """The absolute address of the public notice page (/p/notices/<uid>/)."""
    base = getattr(settings, "RELANCE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
    return base + reverse("public:notice", args=[notice.uid])


def _template(purpose: Purpose, channel: str, languages: list[str]) -> Template | None:
    found = {t.language: t for t in Template.objects.for_org(purpose.organisation_id).filter(
        purpose=purpose, code=TEMPLATE_CODE, channel=channel, status=Template.Status.ACTIVE)}
    for language in languages:
        if language in found:
            return found[language]
    return next(iter(sorted(found.items())), (None, None))[1]


def _refusal(contact: Contact, purpose: Purpose, channel: str, event_ref: str, now: datetime):
    """The decision for a consent request now (R-13: never after a withdrawal or an objection)."""
    contact_f, purpose_f, consent_f = facts_for(contact, purpose, channel, now=now, event_ref=event_ref or None)
    purpose_f = replace(purpose_f, message_class=MessageClass.CONSENT_REQUEST)
    facts = MessageFacts(channel=channel, country=contact.organisation.country,
                         organisation_paused=contact.organisation.paused, event_ref=event_ref or None)
    decision = decide(contact_f, purpose_f, consent_f, facts, now)
    return None if decision.sends else decision


def _check(contact: Contact, purpose: Purpose, channel: str, errors: dict) -> None:
    if purpose.organisation_id != contact.organisation_id:
        errors["purpose"] = [_("Unknown in your organisation.")]
    elif not purpose.consent_based:
        errors["purpose"] = [_("This purpose does not rest on consent: there is nothing to ask.")]
    elif not purpose.is_active:
        errors["purpose"] = [_("This purpose is not active: activate it first.")]
    elif channel not in (purpose.channels or []):
        errors["channel"] = [_("Choose one of the purpose's channels: %s.") % ", ".join(purpose.channels or [])]


@transaction.atomic
def request_consent(contact: Contact, purpose: Purpose, *, actor: Actor, channel: str = "sms",
                    event_ref: str = "") -> Message:
    """Queue a request for the person's consent to `purpose` (R-28), in their language."""
    errors: dict = {}
    _check(contact, purpose, channel, errors)
    if errors:
        raise ValidationError(errors)
    languages = [contact.language, contact.organisation.default_language]
    template = _template(purpose, channel, languages)
    notice = current_notice(purpose, template.language) if template else None
    if template is None:
        errors["purpose"] = [_("Write a '%(code)s' template for this purpose and channel first (it needs {keyword} "
                               "and {notice_link}).") % {"code": TEMPLATE_CODE}]
    elif notice is None:
        errors["purpose"] = [_("Publish the purpose's notice in %(language)s first: the request links to it.")
                             % {"language": template.language}]
    now = timezone.now()
    refusal = None if errors else _refusal(contact, purpose, channel, event_ref, now)
    if refusal is not None:
        errors["contact"] = [_("A consent request cannot be sent to this person (%(reason)s, %(rule)s).")
                             % {"reason": refusal.reason, "rule": refusal.rule}]
    if errors:
        raise ValidationError(errors)
    message = outbox.enqueue(
        contact, purpose, channel, template=template, due_at=now, source=Message.Source.CONSENT_REQUEST,
        source_id=str(notice.pk), message_class=MessageClass.CONSENT_REQUEST, language=template.language,
        params={"notice_link": notice_link(notice)}, event_ref=event_ref or "")
    audit.record(contact.organisation, actor, "consent.requested", target=message,
                 details={"contact": str(contact.pk), "purpose": purpose.code, "channel": channel,
                          "notice": notice.pk, "notice_version": notice.version})
    return message


def pending_request_for(org, contact: Contact, now: datetime) -> Message | None:
    """The latest consent request sent to this contact by SMS in the last 30 days, if any: a reply
    OUI/YES records `given` for its purpose with the notice it carried (source_id)."""
    return (Message.objects.for_org(org)
            .filter(contact=contact, source=Message.Source.CONSENT_REQUEST, channel="sms", status__in=SENT,
                    sent_at__gt=now - REPLY_WINDOW, sent_at__lte=now)
            .select_related("purpose").order_by("-sent_at", "-created_at").first())
