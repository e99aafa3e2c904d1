"""The CNIL draft (R-71, Art. 33(3)) in French and English, HTML and PDF, and the Art. 34 notice to
the people concerned through the normal pipeline (class breach_notice)."""

import io
from datetime import timedelta

import pypdf
import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.contacts import services as contacts
from relance.messaging.models import Message
from relance.messaging.tests.helpers import TUESDAY_MORNING
from relance.messaging.worker import Worker
from relance.privacy import breach_notice, breaches
from relance.privacy.documents import to_html, to_pdf
from relance.privacy.models import BreachSubject
from relance.privacy.tests.breach_helpers import breach_purpose, make_breach
from relance.providers.locmem import LocmemProvider
from relance.testing import SYSTEM, make_contact

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture
def daytime():
    """Inside every default sending window (R-22), so the notices leave on the first worker round."""
    with time_machine.travel(TUESDAY_MORNING, tick=True) as traveller:
        yield traveller


def complete(org, **overrides):
    values = {"approx_subjects": 120, "approx_records": 240, "consequences": "Unwanted calls, phishing.",
              "measures_taken": "Passwords reset.", "subject_categories": ["patrons"]}
    values.update(overrides)
    return make_breach(org, **values)


# --- the draft -------------------------------------------------------------------------------
def test_the_draft_holds_every_art_33_3_item_R71(world):
    draft = breach_notice.draft_cnil_notification(complete(world.a), language="en")
    assert draft["a_nature"]["description"].startswith("A laptop")
    assert [c["code"] for c in draft["a_nature"]["data_categories"]] == ["identity", "contact"]
    assert (draft["a_nature"]["approx_subjects"], draft["a_nature"]["approx_records"]) == (120, 240)
    assert draft["b_dpo"]["name"] == world.a.dpo_name and draft["b_dpo"]["email"] == world.a.dpo_email
    assert draft["c_consequences"] and draft["d_measures"]["taken"] == "Passwords reset."
    assert draft["controller"]["name"] == world.a.name
    assert draft["timeline"]["deadline"] and draft["timeline"]["late"] is False
    assert draft["missing"] == []


def test_it_lists_the_art_33_3_items_still_empty_R71(world):
    breach = make_breach(world.a, data_categories=[])
    assert breach_notice.missing_for_notification(breach) == [
        "data_categories", "approx_subjects", "approx_records", "consequences", "measures"]


def test_the_draft_reads_in_french_and_english_in_html_and_pdf_R71(world):
    breach = complete(world.a)
    french = to_html(breach_notice.draft_document(breach, language="fr"))
    # Relance's own labels are French once the lead merges locale/fr/parts/breaches.po; the data
    # categories' labels already are.
    assert 'lang="fr"' in french and "Numéro de téléphone et adresse e-mail" in french
    english = to_pdf(breach_notice.draft_document(breach, language="en"))
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(english)).pages)
    assert "Personal data breach" in text and breach.reference in text and "Passwords reset." in text


# --- Art. 34 ---------------------------------------------------------------------------------
@pytest.fixture
def told(world, daytime):
    """A high-risk incident with two reachable contacts, one without a number, one erased."""
    purpose, template = breach_purpose(world.a)
    people = {"fr": make_contact(world.a), "en": make_contact(world.a, language="en"),
              "no_number": make_contact(world.a, phone=None), "erased": make_contact(world.a)}
    make_contact(world.b)
    breach = complete(world.a, aware_at=timezone.now())
    breaches.compute_affected(breach, actor=SYSTEM)
    contacts_erased = type(people["erased"]).objects.for_org(world.a).filter(pk=people["erased"].pk)
    contacts_erased.update(status="erased")
    breach = breaches.assess_risk(breach, actor=SYSTEM, risk="high", reason="Numbers and names of patrons.")
    return breach, purpose, template, people


def test_it_tells_each_person_once_through_the_worker_R71(world, told):
    breach, purpose, template, people = told
    report = breaches.notify_subjects(breach, actor=SYSTEM, purpose=purpose, template=template)
    assert report.enqueued == 2
    assert sorted(reason for _pk, reason in report.none) == ["erased", "no_number"]
    messages = Message.objects.for_org(world.a).filter(source="system", source_id=str(breach.pk))
    assert set(messages.values_list("message_class", flat=True)) == {"breach_notice"}
    Worker().run_once()
    assert len(LocmemProvider.sent_to(people["fr"].phone)) == 1
    assert "un incident" in LocmemProvider.sent_to(people["fr"].phone)[0].body
    assert "an incident" in LocmemProvider.sent_to(people["en"].phone)[0].body
    again = breaches.notify_subjects(breach, actor=SYSTEM, purpose=purpose, template=template)
    assert (again.enqueued, again.already) == (0, 2)
    Worker().run_once()
    assert len(LocmemProvider.outbox) == 2
    breach.refresh_from_db()
    assert breach.subjects_notified_at is not None
    rows = {r["contact_id"]: r for r in breaches.subjects_status(breach)}
    assert rows[people["fr"].pk]["message_status"] == "sent"
    assert rows[people["erased"].pk]["reason"] == "erased" and rows[people["no_number"].pk]["message_id"] is None
    events = AuditEvent.objects.filter(organisation=world.a, action="privacy.breach_subjects_notified")
    assert [e.details["enqueued"] for e in events.order_by("seq")] == [2, 0]


def test_a_notice_reaches_people_who_objected_or_sent_stop_R71(world, told):
    """Art. 34 notices are owed: a STOP does not silence them (policy.OBLIGATORY_CLASSES)."""
    breach, purpose, template, people = told
    contacts.suppress_number(world.a, people["fr"].phone, actor=SYSTEM, reason="stop")
    breaches.notify_subjects(breach, actor=SYSTEM, purpose=purpose, template=template)
    Worker().run_once()
    assert len(LocmemProvider.sent_to(people["fr"].phone)) == 1


def test_it_tells_people_only_for_a_high_risk_or_a_dpo_decision_R71(world, told):
    breach, purpose, template, _people = told
    breach = breaches.assess_risk(breach, actor=SYSTEM, risk="risk", reason="Numbers only.")
    with pytest.raises(ValidationError) as caught:
        breaches.notify_subjects(breach, actor=SYSTEM, purpose=purpose, template=template)
    assert "risk" in caught.value.message_dict
    report = breaches.notify_subjects(breach, actor=SYSTEM, purpose=purpose, template=template,
                                      dpo_decision="The DPO prefers to tell them.")
    assert report.enqueued == 2


def test_it_refuses_another_class_of_purpose_or_no_listed_contact_R71(world, daytime):
    from relance.messaging.tests.helpers import make_template, service_purpose

    purpose = service_purpose(world.a)
    template = make_template(purpose)
    breach = breaches.assess_risk(make_breach(world.a), actor=SYSTEM, risk="high", reason="Health data.")
    with pytest.raises(ValidationError) as caught:
        breaches.notify_subjects(breach, actor=SYSTEM, purpose=purpose, template=template)
    assert "purpose" in caught.value.message_dict
    right, template = breach_purpose(world.a)
    with pytest.raises(ValidationError) as caught:
        breaches.notify_subjects(breach, actor=SYSTEM, purpose=right, template=template)
    assert "subjects" in caught.value.message_dict
    assert not BreachSubject.objects.for_org(world.a).exists()


def test_the_clock_in_the_draft_says_late_after_the_deadline_R71(world):
    breach = complete(world.a, aware_at=timezone.now() - timedelta(hours=73))
    draft = breach_notice.draft_cnil_notification(breach, language="fr")
    assert draft["timeline"]["late"] is True and draft["timeline"]["hours_left"] < 0
