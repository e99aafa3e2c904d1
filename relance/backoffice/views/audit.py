"""The audit trail of the active organisation, and its verification (R-65)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from relance.accounts.models import Membership
from relance.audit import services as audit
from relance.audit.models import AuditEvent

from ..access import requires
from ..services import actor

PAGE_SIZE = 50


@requires("audit.view")
def audit_list(request):
    chain = audit.chain_for(request.organisation)
    events = AuditEvent.objects.filter(chain=chain).order_by("-seq")
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    names = _actor_names(request, page)
    for event in page:
        event.actor_name = names.get(event.actor_id, "")
    return render(request, "backoffice/audit.html", {"page": page})


def _actor_names(request, page) -> dict[str, str]:
    """Members' names for the user ids on this page; other actors keep their id."""
    ids = {event.actor_id for event in page if event.actor_kind == "user"}
    memberships = Membership.objects.for_org(request.organisation).filter(user_id__in=ids).select_related("user")
    return {str(m.user_id): m.user.full_name or str(m.user_id) for m in memberships}


@requires("audit.view")
@require_POST
def audit_verify(request):
    chain = audit.chain_for(request.organisation)
    broken = [found for _chain, found in audit.verify([chain]) if found is not None]
    with transaction.atomic():
        audit.record(request.organisation, actor(request), "audit.verified", details={"intact": not broken})
    if broken:
        messages.error(request, _("The audit trail is broken at event %(seq)s: %(reason)s. Tell your platform operator.")
                       % {"seq": broken[0].seq or "—", "reason": broken[0].reason})
    else:
        messages.success(request, _("The audit trail is intact: no event was changed, removed or inserted."))
    return redirect("backoffice:audit")
