"""One message sent by an integrator or a member of staff, its timeline, and its content read as an
audited access to personal data (issue 4 item 7, R-20, R-21, R-65).

`send_message()` goes through the outbox like every other message: decided when scheduled and again
before sending (R-21). A message that may not go is still created and kept with its reason (R-20):
the caller learns why from its status and timeline, nothing is refused silently.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation
from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent.decision import recipient_for
from relance.consent.models import Purpose
from relance.contacts.models import Contact
from relance.keystore.services import KeyDestroyed

from . import outbox
from .models import Message, MessageEvent, Template
from .render import PLACEHOLDERS

MAX_PARAM_LENGTH = 500
MAX_URGENT_REASON = 200


def _check(org: Organisation, contact: Contact, purpose: Purpose, channel: str, template: Template) -> dict:
    errors: dict[str, list[str]] = {}
    if contact is None or contact.organisation_id != org.pk:
        errors["contact"] = [_("No such contact in your organisation.")]
    if purpose is None or purpose.organisation_id != org.pk:
        errors["purpose"] = [_("No such purpose in your organisation.")]
    elif channel not in (purpose.channels or []):
        errors["channel"] = [_("The purpose does not declare this channel: use one of %(channels)s.")
                             % {"channels": ", ".join(purpose.channels or []) or "-"}]
    if template is None or template.organisation_id != org.pk:
        errors["template"] = [_("No such template in your organisation.")]
    elif purpose is not None and template.purpose_id != purpose.pk:
        errors["template"] = [_("This template belongs to another purpose.")]
    elif template.channel != channel:
        errors["template"] = [_("This template is for the %(channel)s channel.") % {"channel": template.channel}]
    elif template.status != Template.Status.ACTIVE:
        errors["template"] = [_("This template is retired: use an active one.")]
    if not errors and contact.status == Contact.Status.ERASED:
        errors["contact"] = [_("This contact was erased: nothing can be sent to them.")]
    if not errors and not _address(recipient_for(contact, purpose), channel):
        errors["contact"] = [_("This contact has no phone number: add one before sending an SMS.") if channel == "sms"
                             else _("This contact has no e-mail address: add one before sending an e-mail.")]
    return errors


def _address(recipient: Contact, channel: str) -> bool:
    return bool(recipient.phone_index if channel == "sms" else recipient.email_index)


def _clean_params(params: dict | None) -> tuple[dict, dict[str, list[str]]]:
    """Placeholder values: known names only, short texts or numbers."""
    errors: dict[str, list[str]] = {}
    cleaned = {}
    for name, value in (params or {}).items():
        if name not in PLACEHOLDERS:
            errors[f"params.{name}"] = [_("Unknown placeholder. Use one of: %(names)s.")
                                        % {"names": ", ".join(PLACEHOLDERS)}]
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            errors[f"params.{name}"] = [_("Give a text or a number.")]
        elif len(str(value)) > MAX_PARAM_LENGTH:
            errors[f"params.{name}"] = [_("Give at most %(max)d characters.") % {"max": MAX_PARAM_LENGTH}]
        else:
            cleaned[name] = str(value)
    return cleaned, errors


@transaction.atomic
def send_message(org: Organisation, *, actor: Actor, contact: Contact, purpose: Purpose, channel: str,
                 template: Template, params: dict | None = None, due_at: datetime | None = None,
                 urgent_reason: str = "") -> Message:
    """Schedule one message (now by default). A message that may not be sent is still created,
    suppressed or scheduled with the schedule-time reason on its timeline (R-20, R-21)."""
    errors = _check(org, contact, purpose, channel, template)
    params, param_errors = _clean_params(params)
    errors.update(param_errors)
    urgent_reason = (urgent_reason or "").strip()
    if len(urgent_reason) > MAX_URGENT_REASON:
        errors["urgent_reason"] = [_("Give at most %(max)d characters.") % {"max": MAX_URGENT_REASON}]
    if errors:
        raise ValidationError(errors)
    message = outbox.enqueue(contact, purpose, channel, template=template, due_at=due_at or timezone.now(),
                             source=Message.Source.API if actor.kind == "api_key" else Message.Source.STAFF,
                             source_id=actor.id if actor.kind == "api_key" else "", params=params or None,
                             urgent_reason=urgent_reason)
    audit.record(org, actor, "message.created", target=message, details={
        "purpose": purpose.code, "channel": channel, "template": template.pk, "status": message.status,
        "reason": message.reason, "urgent": bool(urgent_reason)})
    return message


def message_timeline(message: Message) -> list[MessageEvent]:
    """The message's timeline, oldest first: codes and reasons only (R-20)."""
    return list(MessageEvent.objects.for_org(message.organisation_id).filter(message=message).order_by("at", "id"))


@transaction.atomic
def read_message_content(message: Message, *, actor: Actor) -> dict:
    """The text sent and the placeholder values, in clear: an audited read of personal data (R-65).
    Both are None before the message is sent, and for good once the contact's key is destroyed."""
    audit.record(message.organisation, actor, "message.content_read", target=message,
                 details={"contact": str(message.contact_id)})
    try:
        body, params = message.body, message.params
    except KeyDestroyed:
        return {"body": None, "params": None}
    return {"body": body, "params": json.loads(params) if params else None}
