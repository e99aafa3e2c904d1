"""Campaigns (R-20, R-22, R-25, R-34): the list with progress, creating one with a live count of who
it reaches, the detail showing BEFORE LAUNCH who would receive and who would not, by reason, the
launch with its count and cost, and pause, resume, cancel.

Writes go through relance.messaging.campaigns; the audience is judged by the same functions the
campaign uses when it runs (audience_contacts, judge): nothing is written by a preview.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from relance.accounts.models import Site
from relance.accounts.permissions import allowed
from relance.consent.models import LANGUAGES, Purpose
from relance.contacts.models import Contact
from relance.messaging import campaigns as service
from relance.messaging import sending
from relance.messaging import templates as templating
from relance.messaging.models import Campaign, Template

from ... import lists
from ...access import requires
from ...forms import show_service_errors
from ...services import actor
from . import explain
from .common import in_org_zone
from .forms import CampaignForm

QUEUED = ("scheduled", "claimed", "sending")
NOT_SENT = ("suppressed", "expired", "cancelled")


def _campaigns(org):
    return Campaign.objects.for_org(org)


# --- the audience ------------------------------------------------------------------------------
def shown(campaign: Campaign) -> dict:
    """The message as a person would read it, with sample values, and its SMS figures (R-26)."""
    template = campaign.template
    return templating.preview(campaign.organisation, body=template.body, subject=template.subject,
                              channel=template.channel, language=template.language,
                              message_class=campaign.purpose.message_class, transliterate=template.transliterate)


def segments_of(campaign: Campaign) -> int | None:
    """SMS parts of one message with sample values; None for e-mail."""
    return shown(campaign)["segments"] if campaign.template.channel == "sms" else None


def audience_context(campaign: Campaign, result: service.Audience) -> dict:
    """The counts the pages show: who receives, who not and why, what it costs, when it goes."""
    segments = segments_of(campaign)
    org = campaign.organisation
    start = campaign.starts_at or timezone.now()
    not_before = sending.not_before(org, campaign.purpose.message_class, sending.settings_for(org), start)
    return {"audience": result, "excluded": explain.reasons(result.excluded),
            "excluded_total": sum(result.excluded.values()), "segments": segments,
            "parts": segments * result.recipients if segments else None, "window_opens": not_before,
            "promotional": campaign.purpose.message_class.startswith("promotional")}


def _unsaved(org, form: CampaignForm) -> Campaign | None:
    """A campaign built from the create form's valid fields, to preview its audience."""
    data = form.cleaned_data
    purpose = Purpose.objects.for_org(org).filter(pk=data.get("purpose") or None).first()
    template = Template.objects.for_org(org).filter(pk=data.get("template") or None).first()
    if purpose is None or template is None or template.purpose_id != purpose.pk:
        return None
    site = Site.objects.for_org(org).filter(pk=data.get("site") or None).first()
    filters, errors = service.clean_filters(form.filters())
    if errors:
        return None
    return Campaign(organisation=org, purpose=purpose, template=template, site=site, filters=filters,
                    starts_at=data.get("starts_at"))


@requires("message.view")
@in_org_zone
def campaign_audience(request):
    """The live count while the create form changes (a fragment for relance.js data-live, POSTed;
    a GET with the same fields answers too). Nothing is written."""
    org = request.organisation
    form = CampaignForm(org, request.POST if request.method == "POST" else request.GET)
    form.is_valid()  # the fields that are valid are enough for a count
    campaign = _unsaved(org, form)
    context = {"ready": campaign is not None}
    if campaign is not None:
        context.update(audience_context(campaign, service.audience(campaign)))
    return render(request, "backoffice/sending/_audience.html", context)


# --- pages -------------------------------------------------------------------------------------
def progress(campaign: Campaign) -> dict:
    counts = service.message_counts(campaign)
    queued = sum(counts.get(s, 0) for s in QUEUED)
    sent, delivered = counts.get("sent", 0), counts.get("delivered", 0)
    failed = counts.get("failed", 0)
    not_sent = sum(counts.get(s, 0) for s in NOT_SENT)
    total = sum(counts.values())
    return {"queued": queued, "sent": sent, "delivered": delivered, "failed": failed, "not_sent": not_sent,
            "total": total, "done": total - queued}


@requires("message.view")
@in_org_zone
def campaign_list(request):
    org = request.organisation
    page = lists.paginate(request, _campaigns(org).select_related("purpose", "template").order_by("-created_at"))
    rows = [{"campaign": c, "progress": progress(c)} for c in page.object_list]
    return render(request, "backoffice/sending/campaigns.html", {
        "page": page, "rows": rows, "can_launch": allowed(request.membership.role, "campaign.launch")})


@requires("campaign.launch")
@in_org_zone
def campaign_create(request):
    org = request.organisation
    form = CampaignForm(org, request.POST or None)
    context = {"form": form, "ready": False}
    if request.method == "POST" and "count" in request.POST:  # without JavaScript: count, save nothing
        form.is_valid()
        campaign = _unsaved(org, form)
        if campaign is not None:
            context.update(audience_context(campaign, service.audience(campaign)), ready=True)
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            campaign = service.create_campaign(
                org, actor=actor(request), name=data["name"],
                purpose=Purpose.objects.for_org(org).filter(pk=data["purpose"]).first(),
                template=Template.objects.for_org(org).filter(pk=data["template"]).first(),
                site=Site.objects.for_org(org).filter(pk=data["site"] or None).first(), filters=form.filters(),
                rate_per_minute=data["rate_per_minute"], starts_at=data["starts_at"])
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Campaign saved as a draft: check who it reaches, then launch it."))
            return redirect("backoffice:campaign_detail", campaign_id=campaign.pk)
    return render(request, "backoffice/sending/campaign_form.html", context)


def _owned(request, campaign_id) -> Campaign:
    return get_object_or_404(_campaigns(request.organisation).select_related("purpose", "template", "site",
                                                                              "organisation"), pk=campaign_id)


@requires("message.view")
@in_org_zone
def campaign_detail(request, campaign_id):
    campaign = _owned(request, campaign_id)
    context = {"campaign": campaign, "progress": progress(campaign),
               "can_launch": allowed(request.membership.role, "campaign.launch"),
               "purpose_label": campaign.purpose.label(request.LANGUAGE_CODE),
               "filters": _filters_text(campaign), "ran_excluded": explain.reasons(campaign.excluded),
               "preview": shown(campaign)}
    if campaign.status == Campaign.Status.DRAFT:
        context.update(audience_context(campaign, service.audience(campaign)))
    return render(request, "backoffice/sending/campaign_detail.html", context)


def _filters_text(campaign: Campaign) -> list[str]:
    filters, words = campaign.filters or {}, []
    if campaign.site_id:
        words.append(_("site: %(name)s") % {"name": campaign.site.name})
    if filters.get("language"):
        words.append(_("language: %(name)s") % {"name": dict(LANGUAGES).get(filters["language"], "")})
    if filters.get("source"):
        words.append(_("added: %(how)s") % {"how": str(dict(Contact.Source.choices).get(filters["source"], "")).lower()})
    if filters.get("created_after"):
        words.append(_("added on or after %(day)s") % {"day": filters["created_after"][:10]})
    return words


@requires("campaign.launch")
@in_org_zone
def campaign_launch(request, campaign_id):
    """A confirmation stating the count and the cost, then start_campaign(); the first batch is
    queued at once so that the page shows it running (the worker queues the rest)."""
    campaign = _owned(request, campaign_id)
    if campaign.status != Campaign.Status.DRAFT:
        messages.warning(request, _("This campaign was already launched."))
        return redirect("backoffice:campaign_detail", campaign_id=campaign.pk)
    errors: list[str] = []
    if request.method == "POST":
        try:
            service.start_campaign(campaign, actor=actor(request))
        except ValidationError as error:
            errors = error.messages
        else:
            queued = service.enqueue_next_batch(campaign)
            messages.success(request, ngettext("Campaign launched: %(n)d message queued so far.",
                                               "Campaign launched: %(n)d messages queued so far.", queued)
                             % {"n": queued})
            return redirect("backoffice:campaign_detail", campaign_id=campaign.pk)
    context = {"campaign": campaign, "errors": errors, "purpose_label": campaign.purpose.label(request.LANGUAGE_CODE)}
    context.update(audience_context(campaign, service.audience(campaign)))
    return render(request, "backoffice/sending/campaign_launch.html", context)


def _change(request, campaign_id, change, done: str, **kwargs):
    campaign = _owned(request, campaign_id)
    try:
        change(campaign, actor=actor(request), **kwargs)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)
    return redirect("backoffice:campaign_detail", campaign_id=campaign.pk)


@requires("campaign.launch")
@require_POST
def campaign_pause(request, campaign_id):
    return _change(request, campaign_id, service.pause_campaign,
                   _("Campaign paused: the messages not sent yet wait until you resume it."),
                   reason="paused in the back-office")


@requires("campaign.launch")
@require_POST
def campaign_resume(request, campaign_id):
    return _change(request, campaign_id, service.resume_campaign,
                   _("Campaign resumed at its pace: the waiting messages were moved forward by the pause's length."))


@requires("campaign.launch")
@require_POST
def campaign_cancel(request, campaign_id):
    return _change(request, campaign_id, service.cancel_campaign,
                   _("Campaign cancelled: the messages not sent yet will not be sent."))

