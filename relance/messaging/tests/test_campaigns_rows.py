"""Campaigns at scale (SPEC §7: a million contacts enqueued in ≤ 60 s) read the audience as rows and,
on PostgreSQL, write the messages in one statement per batch. These tests check that nothing changes
for the person: each contact is judged exactly as `decide()` on `facts.load_facts()` judges them
(R-20, R-21), and each message row is the one `outbox.build()` + `enqueue_many()` would write."""

from datetime import timedelta

import pytest
from django.utils import timezone

from relance.consent import services as consent
from relance.consent.policy import MessageFacts, decide
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.messaging import campaigns, outbox
from relance.messaging.campaigns import create_campaign, enqueue_next_batch, start_campaign
from relance.messaging.facts import load_facts
from relance.messaging.models import Campaign, Message, MessageEvent
from relance.testing import SYSTEM, make_contact

from .campaign_helpers import give, informed_contact, make_consent_purpose, make_purpose, make_template

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

SKIPPED = {"id", "created_at"}


def _varied_people(org, purpose):
    """Contacts of every kind the row reader must judge like load_facts(): plain ones, a birth date
    or a minor flag to open, a guardian to write to, restricted, deceased, invalid, on the list."""
    people = [informed_contact(org, purpose), informed_contact(org, purpose, language="en"), make_contact(org),
              informed_contact(org, purpose, phone=None),
              informed_contact(org, purpose, birth_date="2015-05-01"),
              informed_contact(org, purpose, birth_date="1970-05-01"), informed_contact(org, purpose, minor=True)]
    parent = informed_contact(org, purpose, birth_date="1980-01-01")
    people += [parent, informed_contact(org, purpose, minor=True, guardian=parent, guardian_relation="parent")]
    people.append(contacts.restrict_contact(informed_contact(org, purpose), actor=SYSTEM))
    people.append(contacts.mark_deceased(informed_contact(org, purpose), actor=SYSTEM))
    invalid = informed_contact(org, purpose)
    for _ in range(3):
        contacts.record_delivery_failure(invalid, permanent=True)
    stopped = informed_contact(org, purpose, phone="+33612348002")
    contacts.suppress_number(org, "+33612348002", actor=SYSTEM, reason="stop")
    objected = informed_contact(org, purpose)
    consent.record_consent(objected, purpose, "sms", "objected", actor=SYSTEM, expressed_by="subject",
                           method="paper_form")
    return [*people, invalid, stopped, objected]


@pytest.mark.parametrize("basis", ["public_task", "consent"])
def test_each_contact_is_judged_as_load_facts_and_decide_judge_them(world, basis):
    """R-20, R-21: the rows' verdicts (receives, or the reason it does not) are decide()'s on
    load_facts() for every contact, whether read from its row or loaded as a contact."""
    org = world.a
    purpose = make_consent_purpose(org) if basis == "consent" else make_purpose(org)
    people = _varied_people(org, purpose)
    if basis == "consent":
        for person in people[:6]:
            give(person, purpose)
    template = make_template(purpose)
    campaign = create_campaign(org, actor=SYSTEM, name="Saison", purpose=purpose, template=template)
    campaign = campaigns._loaded(campaign)
    now = timezone.now()
    rows = next(campaigns._chunks(campaign))
    receiving, excluded, recipients = campaigns.judge(campaign, rows, now)

    everyone = list(Contact.objects.for_org(org).order_by("pk"))
    facts = load_facts(org, everyone, purpose, "sms", now)
    message = MessageFacts(channel="sms", country=org.country, organisation_paused=org.paused)
    expected_receiving, expected_excluded = [], {}
    for contact in everyone:
        decision = decide(*facts[contact.pk], message, now)
        recipient = campaigns.recipient_for(contact, purpose)
        if decision.action == "suppress":
            expected_excluded[str(decision.reason)] = expected_excluded.get(str(decision.reason), 0) + 1
        elif not recipient.phone_index:
            expected_excluded[campaigns.NO_ADDRESS] = expected_excluded.get(campaigns.NO_ADDRESS, 0) + 1
        else:
            expected_receiving.append((contact.pk, recipient.pk))
    assert [(row.id, recipients[row.id]) for row in receiving] == expected_receiving
    assert dict(excluded) == expected_excluded
    assert len(expected_receiving) >= 2 and len(expected_excluded) >= 4  # the cases are varied indeed


def test_each_message_row_is_the_one_the_outbox_builds(world):
    """The batch's rows (one INSERT on PostgreSQL) equal outbox.build()'s for the same contact, template
    and due time, field by field, guardian (R-14) and template language included, each with its
    `scheduled` line (R-20: nothing written that the outbox would not write)."""
    org = world.a
    purpose = make_purpose(org)
    french, english = make_template(purpose), make_template(purpose, language="en", body="Hello {first_name}.")
    parent = informed_contact(org, purpose)
    people = [informed_contact(org, purpose), informed_contact(org, purpose, language="en"),
              informed_contact(org, purpose, minor=True, guardian=parent, guardian_relation="parent")]
    campaign = start_campaign(create_campaign(org, actor=SYSTEM, name="Fermeture", purpose=purpose, template=french,
                                              rate_per_minute=120), actor=SYSTEM)
    assert enqueue_next_batch(campaign) == 4
    written = {m.contact_id: m for m in Message.objects.for_org(org).filter(campaign=campaign)}
    assert set(written) == {parent.pk, *(p.pk for p in people)}
    fields = [f.attname for f in Message._meta.concrete_fields if f.attname not in SKIPPED]
    for contact in [parent, *people]:
        contact = Contact.objects.for_org(org).get(pk=contact.pk)
        row = written[contact.pk]
        template = english if contact.language == "en" else french
        expected = outbox.build(contact, purpose, "sms", template=template, due_at=row.due_at,
                                source=Message.Source.CAMPAIGN, source_id=str(campaign.pk), campaign=campaign)
        assert {f: getattr(row, f) for f in fields} == {f: getattr(expected, f) for f in fields}
        line = MessageEvent.objects.for_org(org).get(message=row)
        assert (line.kind, line.reason, line.rule, line.detail) == ("scheduled", "", "", {})
    assert written[people[2].pk].recipient_id == parent.pk
    due = sorted(m.due_at for m in written.values())
    assert [b - a for a, b in zip(due, due[1:], strict=False)] == [timedelta(seconds=0.5)] * 3
    assert Campaign.objects.for_org(org).get(pk=campaign.pk).status == Campaign.Status.COMPLETED
