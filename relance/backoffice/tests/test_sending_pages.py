"""Back-office pages of the sending area: events and their reminders (R-20..R-23, R-27), reminder
rules, campaigns with the audience before launch (R-03, R-20, R-25). Through the real services:
audit events, roles, tenant isolation of the lists (R-63, R-65)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from relance.accounts.models import Role
from relance.audit.models import AuditEvent
from relance.consent import services as consent
from relance.consent.tests.helpers import give, notice_of
from relance.messaging import templates as templating
from relance.messaging.campaigns import run_campaigns
from relance.messaging.models import Campaign, Message
from relance.messaging.tests.campaign_helpers import informed_contact, make_campaign, make_consent_purpose, make_template
from relance.reminders.models import Event
from relance.reminders.tests.helpers import messages_of, reminder_setup, upsert
from relance.testing import SYSTEM, make_contact

from .helpers import sign_in, text

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture(autouse=True)
def french():
    with translation.override("fr"):
        yield


def as_(client, world, role, org=None):
    sign_in(client, (world.users_b if org is world.b else world.users_a)[role], org or world.a)
    return client


def local(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


# --- events --------------------------------------------------------------------------------
def open_all_day(org):
    templating.update_sending_settings(org, actor=SYSTEM, windows={"service": {"start": "00:00", "end": "23:59"}})


def test_it_creates_an_event_found_by_phone_and_shows_its_reminders(client, world):
    """R-27: an event for a contact found by phone gets the rule's steps; R-65: the lookup is audited."""
    purpose, _rule, contact = reminder_setup(world.a)
    open_all_day(world.a)
    as_(client, world, Role.OPERATOR)
    starts = timezone.now() + timedelta(days=4)
    answer = client.post(reverse("backoffice:event_create"), {
        "find_by": "phone", "find_value": "06 12 34 " + contact.phone[-4:-2] + " " + contact.phone[-2:],
        "kind": "appointment", "purpose": purpose.pk, "starts_at": local(starts)})
    event = Event.objects.for_org(world.a).get()
    assert answer.status_code == 302 and answer["Location"] == reverse("backoffice:event_detail",
                                                                        kwargs={"event_id": event.pk})
    assert len(messages_of(event)) == 3
    assert AuditEvent.objects.filter(organisation=world.a, action="contact.lookup").exists()
    assert AuditEvent.objects.filter(organisation=world.a, action="event.created", target_id=str(event.pk)).exists()
    page = text(client.get(answer["Location"]))
    assert "−48 h" in page and "−24 h" in page and "−2 h" in page
    assert "2 jours avant" in page and "2 heures avant" in page
    assert "rappel-h2" in page and "Sera envoyé" in page
    assert contact.first_name in page  # an operator sees the name, read through the audited door
    assert AuditEvent.objects.filter(organisation=world.a, action="contact.read", target_id=str(contact.pk)).exists()


def test_it_says_when_the_sending_window_defers_a_reminder_or_makes_it_too_late(client, world):
    """R-22, R-23: steps at 21:00 and 23:00 with a window of 08:00-09:00 wait for the next morning;
    the one whose next morning comes after the event starts will not go."""
    purpose, _rule, contact = reminder_setup(world.a)
    templating.update_sending_settings(world.a, actor=SYSTEM, windows={"service": {"start": "08:00", "end": "09:00"}})
    with timezone.override(world.a.time_zone):
        day = timezone.localtime() + timedelta(days=4)
        starts = day.replace(hour=23, minute=0, second=0, microsecond=0)
    event, _ = upsert(world.a, contact, purpose, starts_at=starts)
    page = text(as_(client, world, Role.OPERATOR).get(reverse("backoffice:event_detail",
                                                              kwargs={"event_id": event.pk})))
    assert page.count("il attendra jusqu’au") == 2 and ", 08:00" in page
    assert "il ne sera pas envoyé" in page and "R-22, R-23" in page


def test_it_explains_in_plain_words_why_a_reminder_would_not_go(client, world):
    """R-21, R-04: a contact never informed: the reminder is planned, marked as not sendable now."""
    purpose, _rule, _informed = reminder_setup(world.a)
    stranger = make_contact(world.a)
    event, _ = upsert(world.a, stranger, purpose)
    page = text(as_(client, world, Role.OPERATOR).get(reverse("backoffice:event_detail",
                                                              kwargs={"event_id": event.pk})))
    assert "Ne serait pas envoyé" in page and "jamais été informée" in page and "R-04" in page


def test_it_refuses_an_unknown_phone_and_a_past_date_in_plain_words(client, world):
    purpose, _rule, _contact = reminder_setup(world.a)
    as_(client, world, Role.OPERATOR)
    answer = client.post(reverse("backoffice:event_create"), {
        "find_by": "phone", "find_value": "+33698765432", "kind": "appointment", "purpose": purpose.pk,
        "starts_at": local(timezone.now() + timedelta(days=2))})
    assert answer.status_code == 200 and "Personne dans votre organisation" in text(answer)
    assert not Event.objects.for_org(world.a).exists()


def test_it_starts_from_the_contact_page_and_shows_service_errors(client, world):
    """?contact=<id> fixes the person; the service's errors (R-23) come back on the fields."""
    purpose, _rule, contact = reminder_setup(world.a)
    as_(client, world, Role.OPERATOR)
    url = reverse("backoffice:event_create") + f"?contact={contact.pk}"
    assert contact.first_name in text(client.get(url))
    answer = client.post(url, {"contact": contact.pk, "kind": "reserved_item", "purpose": purpose.pk,
                               "starts_at": local(timezone.now() + timedelta(days=1))})
    assert answer.status_code == 200 and "(R-23)" in text(answer)
    stranger = make_contact(world.b)
    assert client.get(reverse("backoffice:event_create") + f"?contact={stranger.pk}").status_code == 404


def test_it_moves_and_cancels_an_event_and_its_pending_reminders_follow(client, world):
    """R-27: reschedule cancels the pending steps and plans new ones; cancel cancels them at once."""
    purpose, _rule, contact = reminder_setup(world.a)
    event, _ = upsert(world.a, contact, purpose)
    as_(client, world, Role.OPERATOR)
    new_time = event.starts_at + timedelta(days=2)
    answer = client.post(reverse("backoffice:event_edit", kwargs={"event_id": event.pk}),
                         {"starts_at": local(new_time)})
    assert answer.status_code == 302
    assert len(messages_of(event, "cancelled")) == 3 and len(messages_of(event, "scheduled")) == 3
    assert AuditEvent.objects.filter(action="event.rescheduled", target_id=str(event.pk)).exists()
    page = text(client.get(answer["Location"]))
    assert "déplacé" in page  # why the old steps will not go
    confirm = client.get(reverse("backoffice:event_cancel", kwargs={"event_id": event.pk}))
    assert "3 rappels" in text(confirm)
    client.post(reverse("backoffice:event_cancel", kwargs={"event_id": event.pk}))
    assert Event.objects.for_org(world.a).get(pk=event.pk).status == "cancelled"
    assert not messages_of(event, *Message.PENDING)
    for method in ("get", "post"):  # a cancelled event cannot be moved: back to its page, saying why
        refused = getattr(client, method)(reverse("backoffice:event_edit", kwargs={"event_id": event.pk}),
                                          follow=True)
        assert "ne peut plus être déplacé" in text(refused)
    assert not messages_of(event, *Message.PENDING)


def test_it_masks_people_for_auditors_and_refuses_them_changes(client, world):
    """R-65: an auditor sees no name (nothing read); planning needs contact.edit."""
    purpose, _rule, contact = reminder_setup(world.a)
    event, _ = upsert(world.a, contact, purpose)
    as_(client, world, Role.AUDITOR)
    listing = text(client.get(reverse("backoffice:events")))
    assert contact.first_name not in listing and 'class="masked"' in listing
    assert not AuditEvent.objects.filter(action="contact.read").exists()
    assert client.get(reverse("backoffice:event_create")).status_code == 403
    assert client.post(reverse("backoffice:event_cancel", kwargs={"event_id": event.pk})).status_code == 403


def test_it_lists_only_the_organisations_own_events_with_filters(client, world):
    """R-63: B's events never show in A's list; the kind filter narrows it."""
    purpose, _rule, contact = reminder_setup(world.a)
    upsert(world.a, contact, purpose)
    purpose_b, _rule_b, contact_b = reminder_setup(world.b)
    upsert(world.b, contact_b, purpose_b, external_id="B-1")
    as_(client, world, Role.OPERATOR)
    listing = text(client.get(reverse("backoffice:events")))
    assert contact.first_name in listing and contact_b.first_name not in listing
    assert "Prochains rappels" in listing
    narrowed = text(client.get(reverse("backoffice:events") + "?kind=loan_due"))
    assert contact.first_name not in narrowed and "Aucun événement ne correspond" in narrowed


# --- rules ---------------------------------------------------------------------------------
def test_it_creates_and_changes_a_rule_with_steps_in_plain_words(client, world):
    """R-27: steps given as "2 days before by e-mail", errors on the row they concern."""
    purpose, rule, _contact = reminder_setup(world.a)
    as_(client, world, Role.OPERATOR)
    assert "Rappels appointment" in text(client.get(reverse("backoffice:reminder_rules")))
    answer = client.post(reverse("backoffice:reminder_rule_create"), {
        "purpose": purpose.pk, "event_kind": "convocation", "name": "Convocations",
        "step1_amount": "2", "step1_unit": "days", "step1_direction": "before", "step1_channel": "email",
        "step1_template": "rappel-j2",
        "step2_amount": "1", "step2_unit": "hours", "step2_direction": "after", "step2_channel": "sms",
        "step2_template": "rappel-h2"})
    assert answer.status_code == 200 and "R-23" in text(answer)  # a convocation has no step after it starts
    answer = client.post(reverse("backoffice:reminder_rule_edit", kwargs={"rule_id": rule.pk}), {
        "name": "Rendez-vous", "step1_amount": "3", "step1_unit": "hours", "step1_direction": "before",
        "step1_channel": "sms", "step1_template": "rappel-h2"})
    assert answer.status_code == 302
    rule.refresh_from_db()
    assert rule.steps == [{"offset_minutes": -180, "channel": "sms", "template": "rappel-h2"}]
    assert AuditEvent.objects.filter(action="reminder_rule.updated", target_id=str(rule.pk)).exists()
    client.post(reverse("backoffice:reminder_rule_deactivate", kwargs={"rule_id": rule.pk}))
    rule.refresh_from_db()
    assert not rule.active


# --- campaigns -----------------------------------------------------------------------------
def consent_campaign_world(org):
    """A promotional purpose (consent, R-03) with 2 people who said yes, 1 who did not, 1 who withdrew."""
    purpose = make_consent_purpose(org)
    template = make_template(purpose)
    yes = [make_contact(org) for _ in range(2)]
    for contact in yes:
        give(contact, purpose)
    make_contact(org)
    gone = make_contact(org)
    give(gone, purpose)
    consent.record_consent(gone, purpose, "sms", "withdrawn", actor=SYSTEM, expressed_by="subject",
                           method="web_form", notice=notice_of(purpose))
    return purpose, template


def test_it_counts_the_audience_live_with_the_excluded_by_reason(client, world):
    """R-20: the create form's live count: who receives, who not and why; nothing is written."""
    purpose, template = consent_campaign_world(world.a)
    as_(client, world, Role.OPERATOR)
    fragment = text(client.post(reverse("backoffice:campaign_audience"),
                                {"purpose": purpose.pk, "template": template.pk}))
    assert '<span class="number-big" data-recipients>2</span>' in fragment
    assert 'data-reason="no_consent"><td>La personne n’a pas dit oui' in fragment
    assert 'data-reason="withdrawn"' in fragment
    assert "sur 4 correspondant aux filtres" in fragment
    assert not Campaign.objects.for_org(world.a).exists()
    none = text(client.post(reverse("backoffice:campaign_audience"), {"language": "en", "purpose": purpose.pk,
                                                                       "template": template.pk}))
    assert '<span class="number-big" data-recipients>0</span>' in none


def test_it_creates_launches_pauses_resumes_and_cancels_a_campaign(client, world):
    """The whole life through the services, each step audited; the launch states count and cost."""
    purpose, template = consent_campaign_world(world.a)
    as_(client, world, Role.OPERATOR)
    answer = client.post(reverse("backoffice:campaign_create"), {
        "name": "Concerts d'été", "purpose": purpose.pk, "template": template.pk, "rate_per_minute": "600"})
    campaign = Campaign.objects.for_org(world.a).get()
    assert answer["Location"] == reverse("backoffice:campaign_detail", kwargs={"campaign_id": campaign.pk})
    detail = text(client.get(answer["Location"]))
    assert "Avant l’envoi" in detail.replace("'", "’") and 'data-reason="no_consent"' in detail
    launch = reverse("backoffice:campaign_launch", kwargs={"campaign_id": campaign.pk})
    confirm = text(client.get(launch))
    assert "<strong>2 personnes</strong>" in confirm and "parties de SMS" in confirm
    assert client.post(launch).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status in ("running", "completed") and campaign.enqueued == 2
    running = text(client.get(reverse("backoffice:campaign_detail", kwargs={"campaign_id": campaign.pk})))
    assert 'data-count="queued">2</span>' in running
    client.post(reverse("backoffice:campaign_pause", kwargs={"campaign_id": campaign.pk}))
    assert Campaign.objects.for_org(world.a).get(pk=campaign.pk).status == "paused"
    client.post(reverse("backoffice:campaign_resume", kwargs={"campaign_id": campaign.pk}))
    client.post(reverse("backoffice:campaign_cancel", kwargs={"campaign_id": campaign.pk}))
    assert Campaign.objects.for_org(world.a).get(pk=campaign.pk).status == "cancelled"
    actions = set(AuditEvent.objects.filter(organisation=world.a, target_id=str(campaign.pk))
                  .values_list("action", flat=True))
    assert {"campaign.created", "campaign.started", "campaign.paused", "campaign.resumed",
            "campaign.cancelled"} <= actions


def test_it_lets_an_auditor_see_campaigns_but_not_launch_them(client, world):
    campaign = make_campaign(world.a, name="Fermeture lundi")
    informed_contact(world.a, campaign.purpose)
    as_(client, world, Role.AUDITOR)
    detail = text(client.get(reverse("backoffice:campaign_detail", kwargs={"campaign_id": campaign.pk})))
    assert "Fermeture lundi" in detail and reverse("backoffice:campaign_launch",
                                                   kwargs={"campaign_id": campaign.pk}) not in detail
    assert client.get(reverse("backoffice:campaign_launch", kwargs={"campaign_id": campaign.pk})).status_code == 403
    assert client.post(reverse("backoffice:campaign_launch", kwargs={"campaign_id": campaign.pk})).status_code == 403
    assert client.get(reverse("backoffice:campaign_create")).status_code == 403
    assert Campaign.objects.for_org(world.a).get(pk=campaign.pk).status == "draft"


def test_it_lists_only_the_organisations_own_campaigns(client, world):
    """R-63."""
    make_campaign(world.a, name="Campagne de A")
    make_campaign(world.b, name="Campagne de B")
    listing = text(as_(client, world, Role.OPERATOR).get(reverse("backoffice:campaigns")))
    assert "Campagne de A" in listing and "Campagne de B" not in listing


def test_it_shows_the_progress_of_a_running_campaign(client, world):
    campaign = make_campaign(world.a)
    informed_contact(world.a, campaign.purpose)
    informed_contact(world.a, campaign.purpose)
    as_(client, world, Role.ADMIN)
    client.post(reverse("backoffice:campaign_launch", kwargs={"campaign_id": campaign.pk}))
    run_campaigns()
    Message.objects.for_org(world.a).filter(campaign=campaign).update(status="delivered")
    page = text(client.get(reverse("backoffice:campaign_detail", kwargs={"campaign_id": campaign.pk})))
    assert 'data-count="delivered">2</span>' in page and "<progress" in page
