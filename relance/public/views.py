"""Public pages (/p/): the home page, notices and the INFO page. Notices are public documents: anyone
holding the link may read the exact text a person was shown (the receipts point here), with its
version and SHA-256."""

from django.http import Http404
from django.shortcuts import render

from relance.consent.models import Notice, Purpose
from relance.privacy.controller import get_controller_profile
from relance.privacy.intake import MAX_CODES_PER_HOUR

from . import pages


@pages.public_page
def index(request):
    return render(request, "public/index.html")


@pages.public_page
def notice(request, notice_uid):
    found = Notice.unscoped.select_related("purpose", "organisation").filter(uid=notice_uid).first()
    if found is None:
        raise Http404
    return render(request, "public/notice.html", {"notice": found, "org": found.organisation,
                                                  "purpose_label": found.purpose.label(found.language)})


def purposes_of(org):
    """What the organisation sends: its active purposes, as the person sees them."""
    shown = []
    for purpose in Purpose.objects.for_org(org).filter(status=Purpose.Status.ACTIVE).order_by("code"):
        if purpose.message_class not in pages.CLASSES:
            continue
        shown.append({"purpose": purpose, "label": purpose.label(pages.language()),
                      "kind": pages.CLASSES[purpose.message_class], "basis": pages.BASES.get(purpose.legal_basis, ""),
                      "channels": [pages.CHANNEL_NAMES[c] for c in purpose.channels or [] if c in pages.CHANNEL_NAMES],
                      "consent_based": purpose.consent_based})
    return shown


@pages.public_page
def info(request, org_slug):
    """R-30 INFO: who sends, who the DPO is, what is sent and why, how long it is kept, the rights."""
    org = pages.organisation(org_slug)
    return render(request, "public/info.html", {
        "org": org, "profile": get_controller_profile(org), "purposes": purposes_of(org),
        "dpo": {"name": pages.sealed(lambda: org.dpo_name), "email": pages.sealed(lambda: org.dpo_email),
                "phone": pages.sealed(lambda: org.dpo_phone)},
        "cnil_url": pages.CNIL_COMPLAINT_URL, "codes_per_hour": MAX_CODES_PER_HOUR})
