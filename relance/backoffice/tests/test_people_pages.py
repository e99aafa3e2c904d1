"""The contacts area of the back-office (/app/contacts/): list and search, the contact page, its
actions through the services, audit events, refusals by role and masking for the auditor."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from relance.audit.models import AuditEvent
from relance.consent.models import ConsentEvent, ConsentState
from relance.consent.tests.helpers import give, make_consent_purpose, notice_of
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.privacy.models import RightsRequest
from relance.testing import SYSTEM, make_contact

from .helpers import sign_in, text

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
LIST = reverse("backoffice:contacts")
CREATE = reverse("backoffice:contact_create")


def url(name, contact, **kwargs):
    return reverse(f"backoffice:{name}", kwargs={"contact_id": contact.pk, **kwargs})


@pytest.fixture
def person(world):
    return make_contact(world.a, first_name="Élodie", last_name="Le Bihan-Éon", phone="06 12 34 56 78",
                        email="elodie.lebihan@example.org", external_ref="LECT-4471")


def signed(client, world, role):
    return sign_in(client, world.users_a[role], world.a)


def audits(world, action):
    return AuditEvent.objects.filter(organisation=world.a, action=action)


# --- list, search, masking --------------------------------------------------------------------
def test_it_lists_contacts_newest_first_in_clear_for_an_operator(world, person, client):
    """R-65: the page is one audited read naming every contact shown."""
    older = Contact.objects.for_org(world.a).get(pk=person.pk)
    newer = make_contact(world.a, first_name="Zoé", last_name="Martin")
    page = text(signed(client, world, "operator").get(LIST))
    assert page.index("Zoé Martin") < page.index("Élodie Le Bihan-Éon")
    assert "+33612345678" in page
    read = audits(world, "contact.read").latest("seq")
    assert {str(older.pk), str(newer.pk)} <= set(read.details["contacts"])


def test_an_auditor_sees_masked_values_only(world, person, client):
    """R-61, R-65: no clear phone, e-mail or name in the auditor's HTML, on the list and the contact page."""
    signed(client, world, "auditor")
    for page in (text(client.get(LIST)), text(client.get(url("contact_detail", person)))):
        for clear in ("+33612345678", "06 12 34 56 78", "elodie.lebihan", "Élodie", "Bihan", "LECT-4471"):
            assert clear not in page
        assert "+33 6•••••• 78" in page
    assert audits(world, "contact.read").filter(details__purpose="backoffice.view_masked").exists()


@pytest.mark.parametrize("query,by", [("le bihan eon", "auto"), ("LE BIHAN-ÉON", "last_name"),
                                      ("0612345678", "auto"), ("ELODIE.LEBIHAN@example.org", "auto"),
                                      ("LECT-4471", "auto"), ("LECT-4471", "external_ref")])
def test_it_finds_a_contact_by_name_phone_email_or_reference(world, person, client, query, by):
    """R-61: keyed-hash lookups only; each search is an audited lookup; the value is POSTed, not in the URL."""
    make_contact(world.b, last_name="Le Bihan-Éon", phone="06 12 34 56 78")  # never found from A
    page = text(signed(client, world, "operator").post(LIST, {"q": query, "by": by}))
    assert "Élodie Le Bihan-Éon" in page and page.count(url("contact_detail", person)) == 1
    assert audits(world, "contact.lookup").exists()


def test_a_search_that_matches_nobody_says_so(world, person, client):
    with translation.override("en"):
        page = text(signed(client, world, "operator").post(LIST, {"q": "Durand", "by": "auto"}))
    assert "No contact." in page or "Aucun contact." in page


def test_existing_contacts_get_their_last_name_index_from_the_backfill(world, person):
    Contact.objects.for_org(world.a).filter(pk=person.pk).update(last_name_index=None)
    assert contacts.find_by_last_name(world.a, "Le Bihan-Éon", actor=SYSTEM) == []
    assert contacts.index_last_names() >= 1
    assert [c.pk for c in contacts.find_by_last_name(world.a, "le bihan eon", actor=SYSTEM)] == [person.pk]


def test_another_organisations_contact_is_not_found(world, client):
    other = make_contact(world.b)
    assert signed(client, world, "admin").get(url("contact_detail", other)).status_code == 404


# --- create and edit --------------------------------------------------------------------------
def test_an_operator_creates_a_contact_through_the_service(world, client):
    response = signed(client, world, "operator").post(CREATE, {
        "first_name": "Jean", "last_name": "Dupont", "phone": "06 98 76 54 32", "email": "", "language": "fr"})
    contact = Contact.objects.for_org(world.a).get()
    assert response.url == url("contact_detail", contact)
    assert contact.phone == "+33698765432" and contact.source == "staff"
    assert audits(world, "contact.created").filter(target_id=str(contact.pk)).exists()


def test_a_duplicate_number_is_shown_before_creating(world, person, client):
    signed(client, world, "operator")
    data = {"first_name": "Paul", "last_name": "Le Bihan", "phone": "0612345678", "language": "fr"}
    page = text(client.post(CREATE, data))
    assert url("contact_detail", person) in page and 'name="confirm_new"' in page
    assert Contact.objects.for_org(world.a).count() == 1
    client.post(CREATE, {**data, "checked_duplicates": "1", "confirm_new": "on"})
    assert Contact.objects.for_org(world.a).count() == 2


def test_service_errors_are_shown_on_their_fields(world, client):
    with translation.override("en"):
        page = text(signed(client, world, "operator").post(CREATE, {"last_name": "X", "phone": "12", "language": "fr"}))
    assert 'aria-invalid="true"' in page and Contact.objects.for_org(world.a).count() == 0


def test_editing_changes_only_what_changed(world, person, client):
    signed(client, world, "operator")
    form = text(client.get(url("contact_edit", person)))
    assert 'value="Élodie"' in form
    client.post(url("contact_edit", person), {"first_name": "Élodie", "last_name": "Le Bihan", "phone": "0612345678",
                                              "email": "elodie.lebihan@example.org", "external_ref": "LECT-4471",
                                              "language": "fr"})
    assert audits(world, "contact.updated").latest("seq").details["fields"] == ["last_name"]
    assert [c.pk for c in contacts.find_by_last_name(world.a, "le bihan", actor=SYSTEM)] == [person.pk]


def test_an_auditor_cannot_create_or_edit(world, person, client):
    signed(client, world, "auditor")
    assert client.get(CREATE).status_code == 403
    assert client.post(url("contact_edit", person), {"last_name": "X", "language": "fr"}).status_code == 403


# --- consent ----------------------------------------------------------------------------------
def consent_form(purpose, **overrides):
    values = {"purpose": purpose.pk, "channel": "sms", "action": "given", "expressed_by": "staff_on_behalf",
              "method": "paper_form", "notice": notice_of(purpose).pk, "form_ref": "Formulaire 2026-118"}
    values.update(overrides)
    return values


def test_consent_is_recorded_on_the_persons_behalf_with_its_evidence(world, person, client):
    """R-10, R-11: who (the staff user), how, which notice version; the evidence sealed, read on demand."""
    purpose = make_consent_purpose(world.a)
    signed(client, world, "operator")
    response = client.post(url("contact_consent", person), consent_form(purpose))
    assert response.status_code == 302
    event = ConsentEvent.objects.for_org(world.a).get(contact=person)
    assert (event.action, event.method, event.notice_version) == ("given", "paper_form", 1)
    assert event.staff_user_id == world.users_a["operator"].pk
    assert ConsentState.objects.for_org(world.a).get(contact=person).status == "given"
    page = text(client.get(url("contact_detail", person)))
    assert reverse("public:notice", kwargs={"notice_uid": notice_of(purpose).uid}) in page
    evidence = text(client.get(reverse("backoffice:contact_evidence", kwargs={"consentevent_id": event.pk})))
    assert "Formulaire 2026-118" in evidence
    assert audits(world, "consent.evidence_read").filter(target_id=str(event.pk)).exists()


def test_the_consent_form_asks_for_the_evidence_of_the_method(world, person, client):
    purpose = make_consent_purpose(world.a)
    signed(client, world, "operator")
    client.post(url("contact_consent", person), consent_form(purpose, method="phone_call", form_ref=""))
    assert not ConsentEvent.objects.for_org(world.a).exists()


def test_the_services_refusals_are_shown_in_the_consent_form(world, person, client):
    """R-11: a consent without its notice is refused by record_consent, and the form says so."""
    purpose = make_consent_purpose(world.a)
    with translation.override("en"):
        page = text(signed(client, world, "operator").post(url("contact_consent", person),
                                                           consent_form(purpose, notice="")))
    assert "R-11" in page and not ConsentEvent.objects.for_org(world.a).exists()


def test_an_auditor_may_not_record_consent_nor_read_evidence(world, person, client):
    purpose = make_consent_purpose(world.a)
    event = give(person, purpose)
    signed(client, world, "auditor")
    assert client.post(url("contact_consent", person), consent_form(purpose)).status_code == 403
    assert client.get(reverse("backoffice:contact_evidence", kwargs={"consentevent_id": event.pk})).status_code == 403


# --- status changes ----------------------------------------------------------------------------
def test_restrict_then_lift_after_a_confirmation_page(world, person, client):
    """R-44."""
    signed(client, world, "operator")
    assert client.get(url("contact_restrict", person)).status_code == 200
    assert Contact.unscoped.get(pk=person.pk).status == "active"  # the GET only asks
    client.post(url("contact_restrict", person))
    assert Contact.unscoped.get(pk=person.pk).status == "restricted"
    client.post(url("contact_restrict", person))
    assert Contact.unscoped.get(pk=person.pk).status == "active"
    assert audits(world, "contact.restricted").exists() and audits(world, "contact.restriction_lifted").exists()


def test_mark_deceased_and_erase_now_for_a_dpo(world, person, client):
    """R-45 with the person's directive: erased at once (R-43)."""
    signed(client, world, "dpo")
    client.post(url("contact_deceased", person), {"erase_now": "on"})
    assert Contact.unscoped.get(pk=person.pk).status == "erased"
    assert audits(world, "contact.deceased").exists() and audits(world, "privacy.contact_erased").exists()


def test_an_operator_marks_deceased_but_cannot_erase(world, person, client):
    signed(client, world, "operator")
    assert 'name="erase_now"' not in text(client.get(url("contact_deceased", person)))
    client.post(url("contact_deceased", person), {"erase_now": "on"})
    assert Contact.unscoped.get(pk=person.pk).status == "deceased"
    assert client.post(url("contact_erase", person), {"understood": "on"}).status_code == 403


def test_erasure_needs_the_confirmation_box(world, person, client):
    """R-43: the page says it cannot be undone; without the box ticked nothing happens."""
    signed(client, world, "admin")
    page = text(client.get(url("contact_erase", person)))
    assert "irréversible" in page or "cannot be undone" in page  # the user's language (fr)
    client.post(url("contact_erase", person), {})
    assert Contact.unscoped.get(pk=person.pk).status == "active"
    client.post(url("contact_erase", person), {"understood": "on"})
    erased = Contact.unscoped.get(pk=person.pk)
    assert erased.status == "erased" and erased.phone_index is None
    assert "Élodie" not in text(client.get(url("contact_detail", person)))


# --- rights requests ---------------------------------------------------------------------------
def test_a_dpo_starts_a_rights_request_for_the_contact(world, person, client):
    """R-40, R-41: staff intake, deadline one month after receipt."""
    signed(client, world, "dpo")
    response = client.post(url("contact_request", person), {"kind": "access", "requested_by": "subject",
                                                            "details": "Au guichet, souhaite ses données."})
    req = RightsRequest.objects.for_org(world.a).get()
    assert (req.contact_id, req.kind, req.channel) == (person.pk, "access", "staff")
    assert response.status_code == 302
    assert req.reference in text(client.get(url("contact_detail", person)))
    assert audits(world, "privacy.request_received").exists()


def test_an_operator_may_not_start_a_rights_request(world, person, client):
    signed(client, world, "operator")
    assert client.get(url("contact_request", person)).status_code == 403
