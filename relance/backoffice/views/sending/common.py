"""What the pages of the sending area share: the organisation's clock, links to other areas when
they are installed, and the people's names shown according to the role (R-65)."""

from __future__ import annotations

from functools import wraps

from django.utils import timezone
from django.utils.translation import gettext as _

from relance.accounts.permissions import allowed
from relance.backoffice.links import page_url
from relance.contacts import services as contacts

from ...services import actor


def in_org_zone(view):
    """Dates are read and shown in the organisation's time zone (a practice in Guadeloupe sees its
    own hours), not the server's."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        org = getattr(request, "organisation", None)
        with timezone.override(org.time_zone if org is not None and org.time_zone else None):
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
            return response

    return wrapped



def sees_personal(request) -> bool:
    return allowed(request.membership.role, "contact.view_personal")


def masked_label(contact) -> str:
    return _("Contact %(ref)s") % {"ref": str(contact.pk)[:8]}


def contact_labels(request, people, purpose: str) -> dict:
    """{contact id: {"name", "masked", "url"}} for the people on a page. Names are read through
    contacts.read_personal_data() (one `contact.read` audit event each, R-65); roles without
    contact.view_personal (auditors) see a masked label and nothing is read."""
    reveal = sees_personal(request)
    labels = {}
    for contact in {c.pk: c for c in people}.values():
        name = ""
        if reveal and contact.status != "erased":
            data = contacts.read_personal_data(contact, actor=actor(request), purpose=purpose)
            name = " ".join(part for part in (data.get("first_name"), data.get("last_name")) if part)
        labels[contact.pk] = {"name": name or masked_label(contact), "masked": not name,
                              "url": page_url("backoffice:contact_detail", contact_id=contact.pk)}
    return labels
