"""Builders for the breach register tests (and the isolation tests' `breach_id`)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from relance.privacy import breaches
from relance.testing import SYSTEM


def make_breach(org, **overrides):
    values = {"title": "Lost laptop", "nature": "A laptop holding an export of contacts was stolen.",
              "kinds": ["confidentiality"], "aware_at": timezone.now() - timedelta(hours=1),
              "data_categories": ["identity", "contact"]}
    values.update(overrides)
    return breaches.record_breach(org, actor=SYSTEM, **values)


def breach_purpose(org, **overrides):
    """An active purpose of class breach_notice with an SMS template in French and English."""
    from relance.messaging.tests.helpers import make_template, service_purpose

    purpose = service_purpose(org, message_class="breach_notice", **overrides)
    fr = make_template(purpose, code="incident", body="{org} : un incident a pu exposer vos coordonnées. "
                                                      "Informations : 01 23 45 67 89.")
    make_template(purpose, code="incident", language="en", body="{org}: an incident may have exposed your "
                                                                 "contact details. Information: 01 23 45 67 89.")
    return purpose, fr
