"""The back office in French (default) and English."""

import pytest
from django.conf import settings
from django.urls import reverse

from relance.accounts.models import Role
from relance.audit.models import AuditEvent

from .helpers import HOME, LOGIN, post_login, sign_in, text

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_speaks_french_by_default(client):
    page = text(client.get(LOGIN))
    assert '<html lang="fr">' in page and "<h1>Connexion</h1>" in page and "Mot de passe" in page


def test_it_speaks_english_to_an_english_browser(client):
    page = text(client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9"))
    assert '<html lang="en">' in page and "<h1>Sign in</h1>" in page and "Password" in page


def test_it_follows_the_language_cookie(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "<h1>Sign in</h1>" in text(client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="fr"))


def test_it_remembers_the_language_chosen_by_a_signed_in_user(client, world):
    user = world.users_a[Role.OPERATOR]
    sign_in(client, user)
    response = client.post(reverse("backoffice:language"), {"language": "en", "next": reverse("backoffice:sites")})
    assert response.status_code == 302 and response.url == reverse("backoffice:sites")
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    user.refresh_from_db()
    assert user.language == "en"
    assert "<h1>Sites</h1>" in text(client.get(reverse("backoffice:sites")))
    assert "Dashboard" in text(client.get(HOME))
    assert AuditEvent.objects.filter(action="user.language_changed", target_id=str(user.pk)).exists()


def test_it_switches_to_the_users_language_at_login(client, world):
    user = world.users_a[Role.AUDITOR]
    user.language = "en"
    user.save()
    response = post_login(client, user)
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    page = text(client.get(HOME))
    assert "Dashboard" in page and "Library network" in page and "Auditor" in page


def test_it_translates_service_errors(client, world):
    admin = world.users_a[Role.ADMIN]
    sign_in(client, admin)
    from relance.accounts.models import Membership

    me = Membership.objects.for_org(world.a).get(user=admin)
    url = reverse("backoffice:member_role", kwargs={"membership_id": me.pk})
    assert "Une organisation garde au moins un administrateur." in text(client.post(url, {"role": "operator"}))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "An organisation keeps at least one administrator." in text(client.post(url, {"role": "operator"}))


def test_it_translates_every_message_into_french():
    """Every msgid of the catalogue has a French translation (none empty, none fuzzy)."""
    import re

    po = (settings.LOCALE_PATHS[0] / "fr" / "LC_MESSAGES" / "django.po").read_text()
    assert "#, fuzzy" not in po
    untranslated = []
    for entry in po.split("\n\n")[1:]:
        for translation in re.findall(r'^msgstr(?:\[\d\])? ((?:".*"\n?)+)', entry + "\n", flags=re.M):
            if not "".join(re.findall(r'"(.*)"', translation)):
                untranslated.append(entry)
    assert not untranslated, untranslated[:3]
