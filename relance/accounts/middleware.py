"""Session idle expiry (R-64) and the active organisation of a signed-in user."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout

from .models import Membership

SESSION_ORG = "relance_org"
SESSION_SEEN = "relance_seen"


class SessionIdleTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            seen = request.session.get(SESSION_SEEN, now)
            if now - seen > settings.RELANCE_SESSION_IDLE_SECONDS:
                logout(request)
                request.session["relance_expired"] = True
            elif now - seen >= 60 or SESSION_SEEN not in request.session:
                request.session[SESSION_SEEN] = now
        return self.get_response(request)


class ActiveOrganisationMiddleware:
    """request.membership / request.organisation: the organisation the user works in now."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = request.organisation = None
        if request.user.is_authenticated:
            memberships = Membership.objects.filter(user=request.user).select_related("organisation")
            chosen = request.session.get(SESSION_ORG)
            membership = None
            if chosen is not None:
                membership = memberships.filter(organisation_id=chosen).first()
            membership = membership or memberships.order_by("organisation__name").first()
            if membership is not None:
                request.membership, request.organisation = membership, membership.organisation
        return self.get_response(request)
