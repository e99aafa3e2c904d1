"""Public pages (/p/). Notices are public documents: anyone holding the link may read the exact
text a person was shown (the receipts point here), with its version and SHA-256."""

from django.http import Http404
from django.shortcuts import render
from django.utils import translation

from relance.consent.models import Notice


def notice(request, notice_uid):
    found = Notice.unscoped.select_related("purpose", "organisation").filter(uid=notice_uid).first()
    if found is None:
        raise Http404
    with translation.override(found.language):
        return render(request, "public/notice.html", {"notice": found, "purpose_label": found.purpose.label(found.language)})
