"""R-40/R-41: a rights request from the public page with a one-time code; its reference and due
date; the per-number and per-IP limits on code sending."""

import pytest

from relance.privacy import intake
from relance.privacy.models import RightsRequest

from .helpers import last_code, person, public_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
NUMBER = "+33612340001"


@pytest.fixture
def setup(db):
    org, service, news = public_org()
    return org, f"/p/{org.slug}/rights/"


def ask(client, url, phone=NUMBER, ip="203.0.113.5"):
    return client.post(url, {"step": "send_code", "kind": "access", "phone": phone, "details": ""},
                       HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR=ip)


def test_it_opens_a_request_and_shows_its_reference_and_due_date(client, setup):
    org, url = setup
    contact = person(org, phone=NUMBER)
    assert ask(client, url).status_code == 200
    done = client.post(url, {"step": "confirm", "kind": "access", "phone": NUMBER, "details": "", "code": last_code(org)},
                       HTTP_ACCEPT_LANGUAGE="en")
    (req,) = RightsRequest.objects.for_org(org).all()
    body = done.content.decode()
    assert (req.contact_id, req.kind, req.channel) == (contact.pk, "access", "public")
    assert req.reference in body and "Answer due by" in body and req.due_at.date().isoformat() in body


def test_it_answers_the_same_for_an_unknown_number_and_opens_nothing(client, setup):
    org, url = setup
    response = ask(client, url, phone="+33698760002")
    assert response.status_code == 200 and "If this number is known" in response.content.decode()
    wrong = client.post(url, {"step": "confirm", "kind": "access", "phone": "+33698760002", "code": "123456"},
                        HTTP_ACCEPT_LANGUAGE="en")
    assert wrong.status_code == 400 and not RightsRequest.objects.for_org(org).exists()


def test_it_limits_codes_per_number(client, setup):
    org, url = setup
    person(org, phone=NUMBER)
    for _n in range(intake.MAX_CODES_PER_HOUR):
        assert ask(client, url).status_code == 200
    refused = ask(client, url)
    assert refused.status_code == 400 and "Too many codes were asked for this number" in refused.content.decode()


def test_it_limits_codes_per_connection_to_ten_an_hour(client, setup):
    org, url = setup
    numbers = [f"+336123400{n:02d}" for n in range(intake.MAX_CODES_PER_IP_HOUR + 1)]
    for number in numbers[:-1]:
        assert ask(client, url, phone=number, ip="203.0.113.5").status_code == 200
    refused = ask(client, url, phone=numbers[-1], ip="203.0.113.77")  # same /24: same connection
    assert refused.status_code == 400 and "from this connection" in refused.content.decode()
    assert ask(client, url, phone=numbers[-1], ip="198.51.100.1").status_code == 200
