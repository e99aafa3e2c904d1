"""R-10/R-16: the notice a consent receipt points to is readable at its public address, in its language."""

import uuid

import pytest

from relance.consent import services as consent
from relance.consent.models import Notice
from relance.consent.presets import apply_preset
from relance.testing import SYSTEM

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_shows_the_exact_notice_text_with_its_fingerprint(client, world):
    apply_preset(world.a, actor=SYSTEM)
    notice = Notice.objects.for_org(world.a).filter(language="en").first()
    response = client.get(f"/p/notices/{notice.uid}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert notice.sha256 in body and f'lang="{notice.language}"' in body
    assert consent.text_sha256(notice.text) == notice.sha256
    assert notice.text.splitlines()[0][:40] in body.replace("&#x27;", "'")


def test_it_answers_404_for_an_unknown_notice(client, db):
    assert client.get(f"/p/notices/{uuid.uuid4()}/").status_code == 404
