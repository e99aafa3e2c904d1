"""After `make run`, a newcomer finds in the demo an event with reminders still planned and a draft
campaign ready to launch whose audience said yes, with someone left out and why (issue 7)."""

import pytest

from relance.accounts.models import Organisation
from relance.messaging import campaigns
from relance.messaging.models import Campaign, Message
from relance.ops.demo import load_demo
from relance.ops.demo_messaging import load_messaging_demo

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture
def demo(db_both, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    load_demo()
    load_messaging_demo()
    load_messaging_demo()  # idempotent: a second start creates no second campaign
    return {org.slug: org for org in Organisation.objects.all()}


def test_it_has_a_draft_campaign_with_a_consented_audience(demo):
    """R-10, R-20: two readers said yes on paper; the others (the third reader, and the person of the
    privacy demo's access request) are left out for no consent."""
    library = demo["mediatheques-valmont"]
    campaign = Campaign.objects.for_org(library).get()
    assert campaign.status == "draft"
    audience = campaigns.audience(campaign)
    assert audience.recipients == 2 and set(audience.excluded) == {"no_consent"}
    assert audience.total == 2 + audience.excluded["no_consent"]


def test_it_has_events_with_reminders_still_planned(demo):
    """R-27: the practice's appointment in two days keeps its reminder planned after the first sends."""
    for slug in ("mediatheques-valmont", "cabinet-tilleuls"):
        pending = Message.objects.for_org(demo[slug]).filter(source="event", status__in=Message.PENDING)
        assert pending.count() >= 2, slug
