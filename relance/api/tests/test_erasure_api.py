"""POST /contacts/{id}/erase (R-43): scope erasure:write, 404 across organisations, 409 when erased."""

import pytest
from django.test import TestCase

from relance.contacts.models import Contact
from relance.keystore import services as keys
from relance.testing import make_api_key, make_contact

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_erases_a_contact_and_answers_the_counts(world, api):
    contact = make_contact(world.a)
    key_id = contact.data_key_id
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = api(world.key_a).post(f"/contacts/{contact.pk}/erase")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["contact"] == str(contact.pk) and body["status"] == "erased"
    assert body["counts"]["contact"] == 1 and body["counts"]["suppression"] == 1
    assert Contact.objects.for_org(world.a).get(pk=contact.pk).status == "erased"
    with pytest.raises(keys.KeyDestroyed):
        keys.subject_key(key_id)


def test_it_answers_409_when_the_contact_is_already_erased(world, api):
    contact = make_contact(world.a)
    api(world.key_a).post(f"/contacts/{contact.pk}/erase")
    body = assert_error(api(world.key_a).post(f"/contacts/{contact.pk}/erase"), 409, "already_erased")
    assert "already erased" in body["message"]


def test_it_answers_404_for_another_organisations_contact(world, api):
    """R-63: B's key cannot erase A's contact, and nothing changes."""
    contact = make_contact(world.a)
    assert_error(api(world.key_b).post(f"/contacts/{contact.pk}/erase"), 404, "not_found")
    assert Contact.objects.for_org(world.a).get(pk=contact.pk).status == "active"


def test_it_needs_the_erasure_scope(world, api):
    contact = make_contact(world.a)
    _, key = make_api_key(world.a, scopes=["contacts:write", "contacts:read"])
    assert_error(api(key).post(f"/contacts/{contact.pk}/erase"), 403, "insufficient_scope")
    assert Contact.objects.for_org(world.a).get(pk=contact.pk).status == "active"
