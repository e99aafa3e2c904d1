"""Small writes of the back office that relance.accounts.services does not cover (yet).

Each one runs in one transaction and records its audit event, like the domain services.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from relance.accounts.middleware import SESSION_ORG
from relance.accounts.models import Membership
from relance.audit import services as audit
from relance.audit.services import Actor
from relance.lib.net import client_ip


def actor(request) -> Actor:
    return Actor.user(request.user, client_ip(request))


def record_auth_event(request, action: str, *, user=None, details: dict | None = None) -> None:
    """Sign-in events go to the platform chain: they concern the person, not one organisation."""
    user = user or request.user
    with transaction.atomic():
        audit.record(None, Actor.user(user, client_ip(request)), action, target=user, details=details or {})


def switch_organisation(request, organisation_id: int) -> Membership | None:
    """Make one of the user's own organisations the active one; None if they are not a member."""
    membership = (
        Membership.objects.filter(user=request.user, organisation_id=organisation_id).select_related("organisation").first()
    )
    if membership is None:
        return None
    with transaction.atomic():
        audit.record(membership.organisation, actor(request), "auth.organisation_switched", target=membership)
    request.session[SESSION_ORG] = membership.organisation_id
    return membership


def set_user_language(request, language: str) -> bool:
    if language not in dict(settings.LANGUAGES) or language == request.user.language:
        return False
    user = request.user
    with transaction.atomic():
        user.language = language
        user.save(update_fields=["language"])
        audit.record(None, actor(request), "user.language_changed", target=user, details={"language": language})
    return True
