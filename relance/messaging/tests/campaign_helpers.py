"""Builders for the campaign, fact-loader and messages tests: purposes, templates, informed contacts."""

from __future__ import annotations

from relance.consent import services as consent
from relance.consent.tests.helpers import give, make_consent_purpose, make_purpose, notice_of
from relance.messaging.models import Template
from relance.testing import SYSTEM, make_contact

__all__ = ["give", "inform", "informed_contact", "make_campaign", "make_consent_purpose", "make_message",
           "make_purpose", "make_template", "PROMO_BODY", "SERVICE_BODY"]

SERVICE_BODY = "Bonjour {first_name}, la médiathèque sera fermée lundi. {org}"
PROMO_BODY = "{sender} : nouvelle saison de concerts, programme sur notre site. {stop}"


def make_template(purpose, *, channel="sms", language="fr", code="annonce", body=None, subject="Annonce"):
    """A template row (the templates' own services and linter are tested elsewhere); the existing one
    when the purpose already has this code, channel and language."""
    existing = Template.objects.for_org(purpose.organisation_id).filter(
        purpose=purpose, code=code, channel=channel, language=language).first()
    if existing is not None:
        return existing
    promotional = purpose.message_class.startswith("promotional")
    return Template.objects.create(
        organisation_id=purpose.organisation_id, purpose=purpose, code=code, channel=channel, language=language,
        body=body or (PROMO_BODY if promotional else SERVICE_BODY), subject=subject if channel == "email" else "")


def inform(contact, purpose):
    return consent.record_information(purpose, notice_of(purpose), actor=SYSTEM, method="paper_form", contact=contact)


def informed_contact(org, purpose, **overrides):
    contact = make_contact(org, **overrides)
    inform(contact, purpose)
    return contact


def make_campaign(org, **fields):
    """A draft campaign of a service purpose (the builder for campaign_id)."""
    from relance.messaging.campaigns import create_campaign

    purpose = fields.pop("purpose", None) or make_purpose(org)
    template = fields.pop("template", None) or make_template(purpose)
    return create_campaign(org, actor=SYSTEM, name=fields.pop("name", "Fermeture lundi"), purpose=purpose,
                           template=template, **fields)


def make_message(org, **fields):
    """A message sent through the API service to an informed contact (the builder for message_id)."""
    from relance.messaging.services import send_message

    purpose = fields.pop("purpose", None) or make_purpose(org)
    template = fields.pop("template", None) or make_template(purpose)
    contact = fields.pop("contact", None) or informed_contact(org, purpose)
    return send_message(org, actor=SYSTEM, contact=contact, purpose=purpose, channel=template.channel,
                        template=template, **fields)
