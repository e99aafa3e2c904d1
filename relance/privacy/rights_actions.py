"""What completing a rights request does, per kind (R-40, R-42 … R-44). Called by
`rights.complete_request()` inside its transaction; each returns the request's `outcome`: ids,
codes and counts only (it is shown to staff and copied into the audit event and the webhook).

Access and erasure are done by `privacy.exports` and `privacy.erasure` (imported when used, so the
requests work on their own and each module stays testable alone).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from relance.audit.services import Actor
from relance.consent.models import ConsentEvent, Purpose
from relance.consent.services import withdraw_everywhere
from relance.contacts import services as contacts
from relance.contacts.models import Contact

from .models import RightsRequest

Kind = RightsRequest.Kind
# How the person's objection reached the organisation, for the consent ledger.
LEDGER_METHOD = {
    RightsRequest.Channel.PUBLIC: ConsentEvent.Method.WEB_FORM,
    RightsRequest.Channel.API: ConsentEvent.Method.API,
    RightsRequest.Channel.STAFF: ConsentEvent.Method.PAPER_FORM,
}
ALLOWED = {Kind.RECTIFICATION: {"changes"}, Kind.OBJECTION: {"channels", "method"}}


def _check_arguments(kind: str, given: dict) -> None:
    unknown = set(given) - ALLOWED.get(kind, set())
    if unknown:
        raise ValidationError({name: [_("This field does not apply to a request of this kind.")]
                               for name in sorted(unknown)})


def _refuse_erased(contact: Contact) -> None:
    if contact.status == Contact.Status.ERASED:
        raise ValidationError({"contact": ValidationError(
            _("This contact was erased: nothing is left to give, change or erase. Refuse the request "
              "with the code no_data."), code="contact_erased")})


def perform(req: RightsRequest, contact: Contact, *, actor: Actor, **given) -> dict:
    _check_arguments(req.kind, given)
    _refuse_erased(contact)
    return HANDLERS[req.kind](req, contact, actor=actor, **given)


def _export(req: RightsRequest, contact: Contact, *, actor: Actor) -> dict:
    from relance.privacy.exports import create_export

    export = create_export(contact, actor=actor, request=req, language=req.language)
    return {"action": "exported", "export": str(export.pk)}


def _erase(req: RightsRequest, contact: Contact, *, actor: Actor) -> dict:
    from relance.privacy.erasure import erase_contact

    result = erase_contact(contact, actor=actor, request=req, reason="request")
    counts = result if isinstance(result, dict) else {}
    return {"action": "erased", "counts": {str(k): v for k, v in counts.items() if isinstance(v, int)}}


def _restrict(req: RightsRequest, contact: Contact, *, actor: Actor) -> dict:
    if contact.status == Contact.Status.DECEASED:
        raise ValidationError({"contact": ValidationError(
            _("This contact is marked deceased: nothing is sent any more. Refuse the request or complete "
              "another kind."), code="contact_deceased")})
    contacts.restrict_contact(contact, actor=actor)
    return {"action": "restricted"}


def _channels_of(org_id: int) -> list[str]:
    used = set()
    for channels in Purpose.objects.for_org(org_id).values_list("channels", flat=True):
        used.update(channels or [])
    return sorted(used)


def _object(req: RightsRequest, contact: Contact, *, actor: Actor, channels=None, method=None) -> dict:
    """An objection (or a withdrawal, where the purpose rests on consent) for every purpose and
    channel of the organisation, as STOP does for SMS (R-12, R-31); the worker decides again before
    each send (R-21), so nothing pending goes out afterwards."""
    every = _channels_of(req.organisation_id)
    channels = every if channels is None else list(channels)
    method = method or LEDGER_METHOD[req.channel]
    errors = {}
    if any(channel not in every for channel in channels):
        errors["channels"] = [_("Choose among the channels your purposes use: %(channels)s.")
                              % {"channels": ", ".join(every) or "-"}]
    if method not in ConsentEvent.Method.values or method in ("import", "system"):
        errors["method"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(LEDGER_METHOD.values())}]
    if errors:
        raise ValidationError(errors)
    events = []
    for channel in channels:
        events += withdraw_everywhere(contact, channel, actor=actor, method=method)
    return {"action": "objected", "channels": channels, "events": len(events)}


def _rectify(req: RightsRequest, contact: Contact, *, actor: Actor, changes=None) -> dict:
    if not isinstance(changes, dict) or not changes:
        raise ValidationError({"changes": [_("Give the fields to correct and their new values "
                                             "(first_name, last_name, phone, email, birth_date...).")]})
    contacts.update_contact(contact, actor=actor, **changes)
    return {"action": "rectified", "fields": sorted(changes)}


HANDLERS = {
    Kind.ACCESS: _export,
    Kind.PORTABILITY: _export,
    Kind.ERASURE: _erase,
    Kind.RESTRICTION: _restrict,
    Kind.OBJECTION: _object,
    Kind.RECTIFICATION: _rectify,
}
