"""The access export viewer (R-42): the readable document inside the back-office page (our own
template around privacy/document_section.html: the standalone document carries an inline style the
CSP refuses), and the downloads (JSON, HTML, PDF) for the DPO. Each read goes through
privacy.exports.read_export, which audits it (R-65)."""

from __future__ import annotations

import json

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _

from relance.accounts.permissions import allowed
from relance.keystore.services import KeyDestroyed
from relance.privacy import export_render, exports
from relance.privacy.models import AccessExport

from ...access import forbidden, requires
from ...services import actor

FORMATS = ("json", "html", "pdf")


def _get(request, export_id) -> AccessExport:
    return get_object_or_404(AccessExport.objects.for_org(request.organisation).select_related("request"),
                             pk=export_id)


def _read(request, export):
    try:
        return export, exports.read_export(export, actor=actor(request))
    except KeyDestroyed:
        return export, None


@requires("rights.manage")
def export_detail(request, export_id):
    export, document = _read(request, _get(request, export_id))
    context = {"export": export, "erased": document is None, "formats": FORMATS,
               "can_download": allowed(request.membership.role, "export.download")}
    if document is not None:
        context["doc"] = export_render.to_document(document, export.language)
    return render(request, "backoffice/privacy/export_detail.html", context, status=410 if document is None else 200)


@requires("rights.manage")
def export_download(request, export_id, fmt: str):
    """export.download (the DPO) is checked once the export is known to be the organisation's, so that
    another organisation's export is a 404 for everyone (R-63), and before anything is read."""
    if fmt not in FORMATS:
        raise Http404
    export = _get(request, export_id)
    if not allowed(request.membership.role, "export.download"):
        return forbidden(request, reason=_("Only the data protection officer can download exports."))
    export, document = _read(request, export)
    if document is None:
        return HttpResponse(_("This person's data was erased: the export can no longer be read."), status=410,
                            content_type="text/plain; charset=utf-8")
    name = f"access-export-{export.pk}"
    if fmt == "json":
        body, content_type = json.dumps(document, ensure_ascii=False, indent=2).encode(), "application/json"
    elif fmt == "html":
        body, content_type = exports.render_html(document, export.language).encode(), "text/html; charset=utf-8"
    else:
        body, content_type = exports.render_pdf(document, export.language), "application/pdf"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}-{export.language}.{fmt}"'
    return response
