"""Contacts imports (R-04, R-15, R-31): upload a CSV file, read the dry-run report in the page (rows
OK, rows refused with their line and reason, duplicates, consent proofs), then run it for real.

Every upload is first a dry run (nothing written but the batch and its report); the file waits sealed
(pending.py) for the button that imports it. A long file is imported in a background thread: its page
shows the progress and reloads itself until the import is over (a <meta> refresh: no script needed).
"""

from __future__ import annotations

import logging
import threading

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connections
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language, override
from django.utils.translation import gettext as _

from relance.audit.services import Actor
from relance.consent.models import Purpose
from relance.consent.policy import PROMOTIONAL_CLASSES, Basis
from relance.imports import services
from relance.imports.csv_import import MAX_BYTES, FileRefused, limit
from relance.imports.models import ImportBatch

from ...access import requires
from ...lists import paginate
from ...services import actor
from . import pending
from .forms import ImportForm

log = logging.getLogger("relance.backoffice")
INLINE_ROWS = 2000  # above this many rows, the import runs in the background with its progress shown
PROGRESS_TTL = 6 * 3600


def _batch(request, import_id) -> ImportBatch:
    return get_object_or_404(ImportBatch.objects.for_org(request.organisation).select_related("purpose"), pk=import_id)


def _purposes(org) -> list[tuple[int, str]]:
    language = (get_language() or "fr")[:2]
    rows = Purpose.objects.for_org(org).exclude(status=Purpose.Status.RETIRED).order_by("code")
    return [(p.pk, (p.label_en if language == "en" else p.label_fr) or p.label_fr or p.code) for p in rows]


@requires("contact.edit")
def import_list(request):
    page = paginate(request, ImportBatch.objects.for_org(request.organisation).select_related("created_by"))
    return render(request, "backoffice/settings/imports.html", {"page": page})


@requires("contact.edit")
def import_create(request):
    org = request.organisation
    form = ImportForm(request.POST or None, request.FILES or None, purposes=_purposes(org))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data["file"].read(limit("MAX_BYTES", MAX_BYTES) + 1)
        purpose = Purpose.objects.for_org(org).filter(pk=form.cleaned_data["purpose"]).first() \
            if form.cleaned_data["purpose"] else None
        try:
            batch = services.import_contacts(org, data, actor=actor(request), purpose=purpose, dry_run=True,
                                             mode=form.cleaned_data["mode"], source=form.cleaned_data["source"],
                                             collector=form.cleaned_data["collector"])
        except FileRefused as exc:
            form.add_error("file", exc.message)
        except ValidationError as error:
            for name, problems in error.message_dict.items():
                form.add_error(name if name in form.fields else None, problems)
        else:
            pending.keep(request, batch, data)
            return redirect("backoffice:import_detail", import_id=batch.pk)
    return render(request, "backoffice/settings/import_form.html", {"form": form})


def _progress_key(batch) -> str:
    return f"relance:import-progress:{batch.pk}"


def _summary(batch: ImportBatch) -> dict:
    problems = (batch.report or {}).get("problems", [])
    lines = {problem["line"] for problem in problems}
    return {
        "problems": problems, "refused_lines": len(lines),
        "duplicates": sum(1 for p in problems if p.get("code") == "duplicate_ref"),
        "warnings": (batch.report or {}).get("warnings", []),
        "columns": (batch.report or {}).get("columns", {}),
        "records_consent": bool(batch.purpose and batch.purpose.legal_basis == Basis.CONSENT),
        "proof_required": bool(batch.purpose and batch.purpose.message_class in PROMOTIONAL_CLASSES),
        "informed": bool(batch.purpose and batch.purpose.legal_basis != Basis.CONSENT),
    }


def _later_run(batch: ImportBatch) -> ImportBatch | None:
    """The real import of this dry run's file, once started (found in the database: any process)."""
    if not batch.dry_run:
        return None
    return ImportBatch.objects.for_org(batch.organisation_id).filter(
        file_sha256=batch.file_sha256, dry_run=False, created_at__gte=batch.created_at).order_by("created_at").first()


@requires("contact.edit")
def import_detail(request, import_id):
    batch = _batch(request, import_id)
    later = _later_run(batch)
    progress = cache.get(_progress_key(batch)) if batch.dry_run else None
    running = bool(progress and not progress.get("done")) or (
        later is not None and later.status == ImportBatch.Status.RUNNING)
    context = {"batch": batch, **_summary(batch), "later": later, "running": running, "progress": progress,
               "can_run": batch.dry_run and batch.status == ImportBatch.Status.VALIDATED and later is None
               and not running and pending.available(request, batch)}
    if context["can_run"]:
        context["will_import"] = batch.valid if batch.mode == ImportBatch.Mode.GOOD_ROWS_ONLY or \
            batch.valid == batch.rows else 0
    return render(request, "backoffice/settings/import_detail.html", context)


def _run(org, batch: ImportBatch, data: bytes, who: Actor, progress=None) -> ImportBatch:
    return services.import_contacts(org, data, actor=who, purpose=batch.purpose, mode=batch.mode, dry_run=False,
                                    source=batch.source, collector=batch.collector, progress=progress)


def release_connections() -> None:
    """Close the background thread's own database connections (close_old_connections would keep
    healthy ones open until the process ends)."""
    connections.close_all()


def _in_background(org, batch: ImportBatch, data: bytes, who: Actor, language: str) -> threading.Thread:
    key = _progress_key(batch)

    def progress(stage: str, done: int, total: int) -> None:
        cache.set(key, {"stage": stage, "done_rows": done, "total": total, "done": False}, PROGRESS_TTL)

    def work():
        try:
            with override(language):
                result = _run(org, batch, data, who, progress)
            cache.set(key, {"done": True, "result": str(result.pk)}, PROGRESS_TTL)
        except Exception:
            log.exception("import.background_failed", extra={"batch": str(batch.pk)})
            cache.set(key, {"done": True, "error": True}, PROGRESS_TTL)
        finally:
            release_connections()

    progress("validate", 0, batch.rows)
    thread = threading.Thread(target=work, name=f"import-{batch.pk}", daemon=True)
    thread.start()
    return thread


@requires("contact.edit")
def import_run(request, import_id):
    batch = _batch(request, import_id)
    if request.method != "POST" or not batch.dry_run or batch.status != ImportBatch.Status.VALIDATED:
        return redirect("backoffice:import_detail", import_id=batch.pk)
    data = pending.take(request, batch)
    if data is None:
        messages.error(request, _("The file of this check is no longer kept. Upload it again."))
        return redirect("backoffice:import_create")
    if batch.rows > INLINE_ROWS:
        _in_background(request.organisation, batch, data, actor(request), get_language() or "fr")
        return redirect("backoffice:import_detail", import_id=batch.pk)
    result = _run(request.organisation, batch, data, actor(request))
    if result.status == ImportBatch.Status.IMPORTED:
        messages.success(request, _("The import is done."))
    else:
        messages.error(request, _("Nothing was imported: see why below."))
    return redirect("backoffice:import_detail", import_id=result.pk)
