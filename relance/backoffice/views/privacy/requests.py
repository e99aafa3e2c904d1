"""Rights requests (R-40, R-41): the queue with the time left, staff intake, a request's page with its
history and the person, and one form per move the service offers (start, extend, complete, refuse,
link a contact). Every write goes through relance.privacy.rights, which audits it."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from relance.accounts.permissions import allowed
from relance.backoffice.links import page_url
from relance.contacts import services as contacts
from relance.privacy import deadlines, rights
from relance.privacy.models import AccessExport, RightsRequest

from ...access import forbidden, requires
from ...forms import show_service_errors
from ...lists import paginate
from ...services import actor
from .common import done, history
from .forms import (
    COMPLETE_FORMS,
    STATUS_LABELS,
    CompleteForm,
    ExtendForm,
    LinkContactForm,
    RefuseForm,
    RequestCreateForm,
    RequestFilterForm,
)

Kind, Status = RightsRequest.Kind, RightsRequest.Status
SOON_DAYS = 7
# What completing does, per kind, said before the button.
COMPLETES = {
    Kind.ACCESS: gettext_lazy("Completing builds the access export (all the person's data, readable and as JSON) to hand over."),
    Kind.PORTABILITY: gettext_lazy("Completing builds the export of the person's data as JSON (and a readable copy)."),
    Kind.ERASURE: gettext_lazy("Completing erases the person for good: the data key is destroyed and the rows deleted. Only a "
                    "keyed hash of the number stays, so that the person is never messaged again. This cannot be undone."),
    Kind.RESTRICTION: gettext_lazy("Completing restricts the contact: nothing is sent to the person any more."),
    Kind.OBJECTION: gettext_lazy("Completing records the objection (or the withdrawal of consent) for every purpose."),
    Kind.RECTIFICATION: gettext_lazy("Completing saves the corrected values below."),
}


def _requests(org):
    return RightsRequest.objects.for_org(org).select_related("organisation")


def _owned(request, rightsrequest_id) -> RightsRequest:
    return get_object_or_404(_requests(request.organisation), pk=rightsrequest_id)


# --- the queue -------------------------------------------------------------------------------------
def _filtered(org, form: RequestFilterForm, now):
    rows = _requests(org).order_by("due_at", "reference")
    data = form.cleaned_data if form.is_valid() else {}
    status = data.get("status") or ""
    if status == "":
        rows = rows.filter(status__in=RightsRequest.OPEN)
    elif status != "all":
        rows = rows.filter(status=status)
    if data.get("kind"):
        rows = rows.filter(kind=data["kind"])
    if data.get("late"):
        rows = rows.filter(status__in=RightsRequest.OPEN, due_at__lt=now)
    return rows


@requires("rights.manage")
def request_list(request):
    org, now = request.organisation, timezone.now()
    form = RequestFilterForm(request.GET or None)
    page = paginate(request, _filtered(org, form, now))
    for req in page:
        req.late = req.is_open and deadlines.is_late(req.due_at, now)
        req.status_label = STATUS_LABELS[req.status]
    counts = {"open": rights.open_requests(org).count(), "late": rights.overdue(org, now).count(),
              "soon": rights.due_within(org, SOON_DAYS, now).count()}
    return render(request, "backoffice/privacy/requests.html", {"form": form, "page": page, "counts": counts,
                                                                "soon_days": SOON_DAYS})


# --- intake ----------------------------------------------------------------------------------------
def _find_contact(request, form):
    """The contact the form names (by id or by one lookup value), None when none is given."""
    org, who = request.organisation, actor(request)
    if form.cleaned_data.get("contact"):
        contact = contacts.get_contact(org, form.cleaned_data["contact"], actor=who)
        if contact is None:
            raise ValidationError({"phone": [_("This contact is unknown in your organisation.")]})
        return contact
    lookup = form.lookup()
    if not lookup:
        return None
    if len(lookup) > 1:
        raise ValidationError({name: [_("Give only one of the phone number, the e-mail address or your reference.")]
                               for name in lookup})
    found = contacts.lookup(org, actor=who, **lookup)
    field = next(iter(lookup))
    if not found:
        raise ValidationError({field: [_("No contact has this value. Check it, or leave it empty and link the "
                                         "person later.")]})
    if len(found) > 1:
        raise ValidationError({field: [_("Several contacts share this value (a family phone?). Use the e-mail "
                                         "address or your reference for the person instead.")]})
    return found[0]


@requires("rights.manage")
def request_create(request):
    initial = {"contact": request.GET.get("contact") or None, "requested_by": RightsRequest.RequestedBy.SUBJECT}
    form = RequestCreateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contact = _find_contact(request, form)
            req = rights.open_request(
                request.organisation, actor=actor(request), kind=data["kind"], contact=contact,
                channel=RightsRequest.Channel.STAFF, requested_by=data["requested_by"],
                language=data["language"] or None, details=data["details"], received_at=data["received_at"])
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            return done(request, _("Request %(ref)s recorded: due on %(due)s.") % {
                "ref": req.reference, "due": timezone.localtime(req.due_at).strftime("%d/%m/%Y")},
                "backoffice:request_detail", rightsrequest_id=req.pk)
    return render(request, "backoffice/privacy/request_form.html", {"form": form})


# --- one request -----------------------------------------------------------------------------------
def _person(request, req: RightsRequest) -> dict | None:
    """Whom it is about: in clear (an audited read, R-65) for roles that may see it, masked otherwise."""
    if req.contact_id is None:
        return None
    contact = req.contact
    person = {"id": contact.pk, "status": contact.status, "status_label": contact.get_status_display(),
              "url": page_url("backoffice:contact_detail", contact_id=contact.pk)}
    if contact.status == contact.Status.ERASED:
        return {**person, "erased": True}
    if not allowed(request.membership.role, "contact.view_personal"):
        return {**person, "masked": True}
    data = contacts.read_personal_data(contact, actor=actor(request), purpose="rights_request")
    name = " ".join(filter(None, [data.get("first_name"), data.get("last_name")]))
    return {**person, "name": name, "phone": data.get("phone"), "email": data.get("email"),
            "external_ref": data.get("external_ref")}


def _forms(req: RightsRequest, now) -> dict:
    """The moves open to this request, each as an unbound form (None when not possible now)."""
    if not req.is_open:
        return {}
    tz = req.organisation.time_zone or "Europe/Paris"
    complete_form = COMPLETE_FORMS.get(req.kind, CompleteForm)
    return {
        "start": req.status == Status.RECEIVED,
        "extend": ExtendForm() if req.status != Status.EXTENDED and deadlines.can_extend(req.received_at, now, tz=tz)
        else None,
        "complete": complete_form() if req.contact_id else None,
        "refuse": RefuseForm(),
        "link": LinkContactForm() if req.contact_id is None else None,
    }


def _detail(request, req: RightsRequest, bound: dict | None = None, status: int = 200):
    now = timezone.now()
    req = _requests(request.organisation).select_related("contact").get(pk=req.pk)
    tz = req.organisation.time_zone or "Europe/Paris"
    forms = {**_forms(req, now), **(bound or {})}
    req.status_label = STATUS_LABELS[req.status]
    words = rights.read_details(req, actor=actor(request)) if request.GET.get("show") == "details" else None
    context = {
        "req": req, "now": now, "forms": forms, "person": _person(request, req), "words": words,
        "late": req.is_open and deadlines.is_late(req.due_at, now),
        "first_month_ends": deadlines.due_date(req.received_at, tz=tz),
        "exports": AccessExport.objects.for_org(request.organisation).filter(request=req).order_by("-created_at"),
        "history": history(request.organisation, "privacy.rightsrequest", req.pk),
        "complete_says": COMPLETES[req.kind], "can_download": allowed(request.membership.role, "export.download"),
    }
    return render(request, "backoffice/privacy/request_detail.html", context, status=status)


@requires("rights.manage")
def request_detail(request, rightsrequest_id):
    return _detail(request, _owned(request, rightsrequest_id))


def _move(request, req, form_name: str, form, call, success: str):
    """Validate the form, call the service; on a refusal show the page again with the errors in place."""
    if form is not None and not form.is_valid():
        return _detail(request, req, {form_name: form}, status=400)
    try:
        call()
    except ValidationError as error:
        if form is None:
            messages.error(request, " ".join(error.messages))
            return redirect("backoffice:request_detail", rightsrequest_id=req.pk)
        show_service_errors(form, error)
        return _detail(request, req, {form_name: form}, status=400)
    return done(request, success, "backoffice:request_detail", rightsrequest_id=req.pk)


@requires("rights.manage")
@require_POST
def request_start(request, rightsrequest_id):
    req = _owned(request, rightsrequest_id)
    return _move(request, req, "start_error", None, lambda: rights.start_request(req, actor=actor(request)),
                 _("The request is in progress."))


@requires("rights.manage")
@require_POST
def request_extend(request, rightsrequest_id):
    req = _owned(request, rightsrequest_id)
    form = ExtendForm(request.POST)

    def call():
        data = form.cleaned_data
        rights.extend_request(req, actor=actor(request), reason=data["reason"], told_via=data["told_via"],
                              told_at=data["told_at"])

    return _move(request, req, "extend", form, call, _("Deadline extended by two months."))


@requires("rights.manage")
@require_POST
def request_complete(request, rightsrequest_id):
    req = _owned(request, rightsrequest_id)
    if req.kind == Kind.ERASURE and not allowed(request.membership.role, "contact.erase"):
        return forbidden(request)
    form = COMPLETE_FORMS.get(req.kind, CompleteForm)(request.POST)

    def call():
        extra = {}
        if req.kind == Kind.RECTIFICATION:
            extra["changes"] = form.changes()
        elif req.kind == Kind.OBJECTION and form.cleaned_data.get("channels"):
            extra["channels"] = form.cleaned_data["channels"]
        rights.complete_request(req, actor=actor(request), **extra)

    return _move(request, req, "complete", form, call, _("Request completed."))


@requires("rights.manage")
@require_POST
def request_refuse(request, rightsrequest_id):
    req = _owned(request, rightsrequest_id)
    form = RefuseForm(request.POST)

    def call():
        rights.refuse_request(req, actor=actor(request), code=form.cleaned_data["code"],
                              reason=form.cleaned_data["reason"])

    return _move(request, req, "refuse", form, call, _("Request refused; the reason is kept."))


@requires("rights.manage")
@require_POST
def request_link(request, rightsrequest_id):
    req = _owned(request, rightsrequest_id)
    form = LinkContactForm(request.POST)

    def call():
        lookup = form.lookup()
        if len(lookup) != 1:
            raise ValidationError(_("Give one of the phone number, the e-mail address or your reference."))
        found = contacts.lookup(request.organisation, actor=actor(request), **lookup)
        if len(found) != 1:
            raise ValidationError(_("No contact, or several, have this value: try another one."))
        rights.link_contact(req, found[0], actor=actor(request))

    return _move(request, req, "link", form, call, _("The request is linked to the contact."))
