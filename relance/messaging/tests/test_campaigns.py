"""Campaigns (issue 4 item 6): the audience resolved against consent with the excluded counted by
reason (R-20), batches in contact order through the outbox, throttling, pause and resume, cancel,
the start checks (R-01, R-25), the organisation's pause (R-34), isolation (R-63)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.audit.models import AuditEvent
from relance.consent import services as consent
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.messaging import campaigns
from relance.messaging.campaigns import (
    audience,
    cancel_campaign,
    create_campaign,
    enqueue_next_batch,
    pause_campaign,
    paused_campaign_ids,
    resume_campaign,
    run_campaigns,
    start_campaign,
)
from relance.messaging.models import Campaign, Message, MessageEvent
from relance.testing import SYSTEM, make_contact, make_site

from .campaign_helpers import give, informed_contact, make_consent_purpose, make_purpose, make_template

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _campaign(org, purpose=None, *, start=True, **fields):
    purpose = purpose or make_purpose(org)
    template = fields.pop("template", None) or make_template(purpose)
    campaign = create_campaign(org, actor=SYSTEM, name=fields.pop("name", "Fermeture lundi"), purpose=purpose,
                               template=template, **fields)
    return start_campaign(campaign, actor=SYSTEM) if start else campaign


def _service_people(org, purpose):
    """One contact per reason a public-task message can be left out, and two who receive it."""
    people = {"receives": informed_contact(org, purpose), "receives_too": informed_contact(org, purpose),
              "not_informed": make_contact(org), "no_phone": informed_contact(org, purpose, phone=None)}
    people["objected"] = informed_contact(org, purpose)
    consent.record_consent(people["objected"], purpose, "sms", "objected", actor=SYSTEM, expressed_by="subject",
                           method="paper_form")
    people["restricted"] = contacts.restrict_contact(informed_contact(org, purpose), actor=SYSTEM)
    people["deceased"] = contacts.mark_deceased(informed_contact(org, purpose), actor=SYSTEM)
    people["invalid"] = informed_contact(org, purpose)
    for _ in range(3):
        contacts.record_delivery_failure(people["invalid"], permanent=True)
    people["stopped"] = informed_contact(org, purpose, phone="+33612348001")
    contacts.suppress_number(org, "+33612348001", actor=SYSTEM, reason="stop")
    return people


def test_it_counts_who_would_receive_and_who_is_excluded_by_reason(world):
    """R-20, R-04, R-29, R-31, R-44, R-45: the preview counts every contact once, by reason."""
    purpose = make_purpose(world.a)
    _service_people(world.a, purpose)
    make_contact(world.b)  # another organisation's contact is not in the audience
    result = audience(_campaign(world.a, purpose, start=False))
    assert (result.total, result.recipients) == (9, 2)
    assert result.excluded == {"deceased": 1, "invalid_number": 1, "no_address": 1, "not_informed": 1,
                               "objected": 2, "restricted": 1}


def test_it_counts_consent_reasons_for_a_promotional_campaign(world):
    """R-10, R-12, R-14: no consent, withdrawn, a minor without the guardian's consent."""
    purpose = make_consent_purpose(world.a)
    given, withdrawn = make_contact(world.a), make_contact(world.a)
    make_contact(world.a)  # never asked: no_consent
    give(given, purpose)
    give(withdrawn, purpose)
    consent.record_consent(withdrawn, purpose, "sms", "withdrawn", actor=SYSTEM, expressed_by="subject",
                           method="sms_keyword")
    parent = make_contact(world.a, birth_date="1980-01-01")
    child = make_contact(world.a, minor=True, guardian=parent, guardian_relation="parent")
    give(child, purpose)
    give(parent, purpose)
    result = audience(_campaign(world.a, purpose, start=False))
    assert (result.total, result.recipients) == (5, 2)
    assert result.excluded == {"minor_without_guardian_consent": 1, "no_consent": 1, "withdrawn": 1}


def test_it_narrows_the_audience_by_site_language_source_and_creation_date(world):
    """Issue 4 item 6: filters before consent."""
    purpose = make_purpose(world.a)
    north, south = make_site(world.a), make_site(world.a)
    informed_contact(world.a, purpose, site=north)
    informed_contact(world.a, purpose, site=north, language="en")
    informed_contact(world.a, purpose, site=north, source="import")
    informed_contact(world.a, purpose, site=south)
    old = informed_contact(world.a, purpose, site=north)
    Contact.objects.for_org(world.a).filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))

    def count(**filters):
        site = filters.pop("site", north)
        return audience(_campaign(world.a, purpose, start=False, site=site, filters=filters)).total

    assert count() == 4
    assert count(site=None) == 5
    assert count(language="en") == 1
    assert count(source="import") == 1
    assert count(created_after=(timezone.now() - timedelta(days=30)).isoformat()) == 3
    assert count(created_before=(timezone.now() - timedelta(days=30)).isoformat()) == 1


def test_it_refuses_bad_filters_and_a_template_of_another_purpose(world):
    """Every problem at once, each on its field."""
    purpose, other = make_purpose(world.a), make_purpose(world.a)
    with pytest.raises(ValidationError) as caught:
        create_campaign(world.a, actor=SYSTEM, name=" ", purpose=purpose, template=make_template(other),
                        filters={"language": "de", "colour": "red", "created_after": "yesterday"},
                        rate_per_minute=0)
    assert set(caught.value.message_dict) == {"name", "template", "rate_per_minute", "filters.language",
                                              "filters.colour", "filters.created_after"}
    with pytest.raises(ValidationError) as caught:
        create_campaign(world.a, actor=SYSTEM, name="x", purpose=make_purpose(world.b),
                        template=make_template(purpose), site=make_site(world.b))
    assert set(caught.value.message_dict) == {"purpose", "template", "site"}


def test_it_enqueues_in_batches_in_contact_order_and_completes(world):
    """Issue 4 item 6: batches through the outbox, counts kept, completion when the audience is exhausted."""
    purpose = make_purpose(world.a)
    people = _service_people(world.a, purpose)
    campaign = _campaign(world.a, purpose)
    first_four = sorted(people.values(), key=lambda c: c.pk)[:4]
    receiving = {people["receives"].pk, people["receives_too"].pk}
    assert enqueue_next_batch(campaign, batch=4) == len({c.pk for c in first_four} & receiving)
    campaign.refresh_from_db()
    assert (campaign.audience, campaign.status, campaign.cursor) == (4, "running", str(first_four[-1].pk))
    for _ in range(2):  # 4 + 4 + 1: the third batch is short, so the audience is exhausted
        enqueue_next_batch(campaign, batch=4)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.audience, campaign.enqueued) == ("completed", 9, 2)
    assert campaign.excluded == {"deceased": 1, "invalid_number": 1, "no_address": 1, "not_informed": 1,
                                 "objected": 2, "restricted": 1}
    messages = Message.objects.for_org(world.a).filter(campaign=campaign)
    assert {m.contact_id for m in messages} == receiving
    assert {(m.source, m.source_id, m.status, m.template_id) for m in messages} == {
        ("campaign", str(campaign.pk), "scheduled", campaign.template_id)}
    assert MessageEvent.objects.for_org(world.a).filter(message__campaign=campaign, kind="scheduled").count() == 2
    actions = list(AuditEvent.objects.filter(organisation=world.a, target_type="messaging.campaign", target_id=str(campaign.pk))
                   .values_list("action", flat=True).order_by("seq"))
    assert actions[:2] == ["campaign.created", "campaign.started"] and actions[-1] == "campaign.completed"
    assert actions.count("campaign.batch_enqueued") == 3
    assert enqueue_next_batch(campaign) == 0


def test_it_spreads_due_times_at_the_campaigns_rate(world):
    """Throttling: at 60 a minute, one message a second, continuing from one batch to the next, from
    the campaign's start time."""
    purpose = make_purpose(world.a)
    for _ in range(5):
        informed_contact(world.a, purpose)
    starts_at = timezone.now() + timedelta(hours=3)
    campaign = _campaign(world.a, purpose, rate_per_minute=60, starts_at=starts_at)
    now = timezone.now()
    enqueue_next_batch(campaign, now, batch=2)
    enqueue_next_batch(campaign, now + timedelta(seconds=1), batch=2)
    enqueue_next_batch(campaign, now + timedelta(seconds=2), batch=2)
    due = sorted(Message.objects.for_org(world.a).filter(campaign=campaign).values_list("due_at", flat=True))
    assert due == [starts_at + timedelta(seconds=i) for i in range(5)]


def test_it_never_schedules_in_the_past_when_enqueuing_lags(world):
    """Throttling: a batch enqueued late starts now, still spaced at the rate."""
    purpose = make_purpose(world.a)
    for _ in range(3):
        informed_contact(world.a, purpose)
    campaign = _campaign(world.a, purpose, rate_per_minute=120)
    later = timezone.now() + timedelta(minutes=10)
    enqueue_next_batch(campaign, later)
    due = sorted(Message.objects.for_org(world.a).filter(campaign=campaign).values_list("due_at", flat=True))
    assert due == [later, later + timedelta(seconds=0.5), later + timedelta(seconds=1)]


def test_it_stops_enqueuing_while_paused_and_keeps_the_rate_on_resume(world):
    """Pause: no more batches, the campaign is in paused_campaign_ids() (the worker skips its
    messages); resume: the pending messages move forward by the pause, the earliest due now."""
    purpose = make_purpose(world.a)
    for _ in range(4):
        informed_contact(world.a, purpose)
    campaign = _campaign(world.a, purpose, rate_per_minute=60)
    start = timezone.now()
    enqueue_next_batch(campaign, start, batch=2)
    campaign = pause_campaign(campaign, actor=SYSTEM, reason="Erreur dans le texte")
    assert campaign.id in paused_campaign_ids()
    assert enqueue_next_batch(campaign, start, batch=2) == 0
    assert run_campaigns(start) == 0
    assert Campaign.objects.for_org(world.a).get(pk=campaign.pk).audience == 2
    back = start + timedelta(hours=1)
    campaign = resume_campaign(campaign, actor=SYSTEM, now=back)
    assert campaign.id not in paused_campaign_ids()
    enqueue_next_batch(campaign, back, batch=2)
    due = sorted(Message.objects.for_org(world.a).filter(campaign=campaign).values_list("due_at", flat=True))
    assert due == [back + timedelta(seconds=i) for i in range(4)]
    with pytest.raises(ValidationError):
        resume_campaign(campaign, actor=SYSTEM)


def test_it_cancels_the_pending_messages_with_their_reason(world):
    """Cancel: pending → cancelled (kept, with their reason: R-20); no more batches; final."""
    purpose = make_purpose(world.a)
    for _ in range(3):
        informed_contact(world.a, purpose)
    campaign = _campaign(world.a, purpose)
    enqueue_next_batch(campaign, batch=2)
    campaign = cancel_campaign(campaign, actor=SYSTEM)
    messages = Message.objects.for_org(world.a).filter(campaign=campaign)
    assert {(m.status, m.reason) for m in messages} == {("cancelled", "campaign_cancelled")}
    assert messages.count() == 2
    assert enqueue_next_batch(campaign) == 0
    assert campaign.finished_at is not None
    for change in (start_campaign, pause_campaign, cancel_campaign):
        with pytest.raises(ValidationError) as caught:
            change(campaign, actor=SYSTEM)
        assert set(caught.value.message_dict) == {"status"}


def test_it_starts_only_with_an_active_purpose_and_a_compliant_template(world):
    """R-01: an inactive purpose; R-25: a promotional SMS without the sender or a STOP mention."""
    draft = make_purpose(world.a, activate=False)
    with pytest.raises(ValidationError) as caught:
        _campaign(world.a, draft)
    assert set(caught.value.message_dict) == {"purpose"}
    promo = make_consent_purpose(world.a)
    bare = make_template(promo, code="bare", body="Nouvelle saison de concerts !")
    with pytest.raises(ValidationError) as caught:
        _campaign(world.a, promo, template=bare)
    assert set(caught.value.message_dict) == {"template"}
    assert any("R-25" in message for message in caught.value.message_dict["template"])
    assert _campaign(world.a, promo).status == "running"


def test_it_pauses_when_the_organisation_is_paused(world):
    """R-34: an organisation's sending paused → its running campaigns pause, nothing is counted excluded."""
    purpose = make_purpose(world.a)
    informed_contact(world.a, purpose)
    campaign = _campaign(world.a, purpose)
    Organisation.objects.filter(pk=world.a.pk).update(paused=True)
    assert enqueue_next_batch(campaign) == 0
    campaign.refresh_from_db()
    assert (campaign.status, campaign.audience, campaign.excluded) == ("paused", 0, {})
    assert "R-34" in campaign.pause_reason


def test_it_sends_each_contact_the_template_in_their_language(world):
    """A campaign's template exists per language: each contact gets theirs, the campaign's otherwise."""
    purpose = make_purpose(world.a)
    french = make_template(purpose, language="fr")
    english = make_template(purpose, language="en", body="Hello {first_name}, the library is closed on Monday.")
    fr, en = informed_contact(world.a, purpose), informed_contact(world.a, purpose, language="en")
    campaign = _campaign(world.a, purpose, template=french)
    enqueue_next_batch(campaign)
    got = {m.contact_id: (m.template_id, m.language) for m in Message.objects.for_org(world.a).filter(campaign=campaign)}
    assert got == {fr.pk: (french.pk, "fr"), en.pk: (english.pk, "en")}


def test_it_advances_every_running_campaign_of_each_organisation_alone(world):
    """run_campaigns() (the worker's housekeeping) advances A's and B's campaigns, each to its own
    contacts only (R-63); drafts wait."""
    purpose_a, purpose_b = make_purpose(world.a), make_purpose(world.b)
    people_a = [informed_contact(world.a, purpose_a) for _ in range(3)]
    people_b = [informed_contact(world.b, purpose_b) for _ in range(2)]
    running_a, running_b = _campaign(world.a, purpose_a), _campaign(world.b, purpose_b)
    draft = _campaign(world.a, purpose_a, start=False)
    assert run_campaigns(batch=2) == 5
    assert {m.contact_id for m in Message.objects.for_org(world.a).filter(campaign=running_a)} == {
        c.pk for c in people_a}
    assert {m.contact_id for m in Message.objects.for_org(world.b).filter(campaign=running_b)} == {
        c.pk for c in people_b}
    assert not Message.objects.for_org(world.a).filter(campaign=draft).exists()
    assert Campaign.objects.for_org(world.a).get(pk=running_a.pk).status == "completed"
    assert campaigns.message_counts(running_a) == {"scheduled": 3}


def test_it_is_sent_by_the_worker_except_while_paused(world, daytime):
    """End to end: the worker (which calls run_campaigns) sends a campaign's due messages, leaves a
    paused campaign's alone — even one whose audience is all enqueued — and sends them after resume."""
    from relance.messaging.worker import Worker
    from relance.providers.locmem import LocmemProvider

    purpose = make_purpose(world.a)
    people = [informed_contact(world.a, purpose) for _ in range(3)]
    campaign = _campaign(world.a, purpose, rate_per_minute=60_000)
    run_campaigns()
    assert Campaign.objects.for_org(world.a).get(pk=campaign.pk).status == "completed"  # all enqueued, none sent
    pause_campaign(campaign, actor=SYSTEM)
    daytime.shift(timedelta(seconds=5))
    worker = Worker("test-campaigns")
    assert worker.run_once() == 0
    assert LocmemProvider.outbox == []
    resume_campaign(campaign, actor=SYSTEM)
    daytime.shift(timedelta(seconds=1))
    assert worker.run_once() == 3
    assert len(LocmemProvider.outbox) == 3
    sent = Message.objects.for_org(world.a).filter(campaign=campaign)
    assert {m.status for m in sent} == {"sent"} and {m.contact_id for m in sent} == {c.pk for c in people}
    run_campaigns()  # the worker's housekeeping: the audience is exhausted
    assert Campaign.objects.for_org(world.a).get(pk=campaign.pk).status == "completed"
    with pytest.raises(ValidationError):
        pause_campaign(campaign, actor=SYSTEM)  # nothing left to send
