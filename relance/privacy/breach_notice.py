"""The draft notification of an incident to the CNIL (R-71, Art. 33(3)), as data and as a document.

`draft_cnil_notification()` gathers what Art. 33(3) asks — (a) the nature, categories and approximate
numbers of people and records, (b) the DPO's name and contact, (c) the likely consequences, (d) the
measures taken or proposed — with the controller's identity and the timeline (aware, occurred,
deadline, notified, reasons for a delay). The DPO copies it into the CNIL's online form; Relance
does not file it. `missing_for_notification()` lists the Art. 33(3) items still empty (Art. 33(4)
allows sending in phases, so it warns and blocks nothing).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from relance.consent.models import DATA_CATEGORIES

from . import breaches
from .documents import Document, Section, Table
from .models import Breach, BreachSubject, ControllerProfile

KIND_LABELS = {"confidentiality": gettext_lazy("Confidentiality (disclosure or access)"),
               "integrity": gettext_lazy("Integrity (alteration)"),
               "availability": gettext_lazy("Availability (loss or destruction)")}


def _dpo(org) -> dict:
    return {"name": org.dpo_name or "", "email": org.dpo_email or "", "phone": org.dpo_phone or ""}


def missing_for_notification(breach: Breach) -> list[str]:
    """The Art. 33(3) items still empty, by field name."""
    dpo = _dpo(breach.organisation)
    checks = {
        "nature": breach.nature.strip(), "kinds": breach.kinds, "data_categories": breach.data_categories,
        "approx_subjects": breach.approx_subjects is not None, "approx_records": breach.approx_records is not None,
        "dpo_name": dpo["name"], "dpo_contact": dpo["email"] or dpo["phone"],
        "consequences": breach.consequences.strip(),
        "measures": breach.measures_taken.strip() or breach.measures_proposed.strip(),
    }
    return [name for name, present in checks.items() if not present]


def _controller(org) -> dict:
    profile = ControllerProfile.objects.for_org(org).first()
    return {"name": org.name, "legal_name": getattr(profile, "legal_name", "") or org.name,
            "address": getattr(profile, "address", ""), "registration_number": getattr(profile, "registration_number", ""),
            "email": getattr(profile, "contact_email", ""), "phone": getattr(profile, "contact_phone", ""),
            "electronic_communications_provider": org.electronic_communications_provider}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def draft_cnil_notification(breach: Breach, *, language: str = "fr", now: datetime | None = None) -> dict:
    """Everything the CNIL's form asks, as JSON-ready values (labels in `language`)."""
    now = now or timezone.now()
    org = breach.organisation
    with translation.override(language):
        categories = [{"code": c, "label": str(DATA_CATEGORIES[c][0]) if c in DATA_CATEGORIES else c}
                      for c in breach.data_categories]
        kinds = [{"code": k, "label": str(KIND_LABELS.get(k, k))} for k in breach.kinds]
        risk_label = str(Breach.Risk(breach.risk).label) if breach.risk else ""
    tick = breaches.clock(breach, now)
    return {
        "reference": breach.reference, "title": breach.title, "language": language, "status": breach.status,
        "controller": _controller(org),
        "a_nature": {"description": breach.nature, "kinds": kinds, "data_categories": categories,
                     "subject_categories": breach.subject_categories, "approx_subjects": breach.approx_subjects,
                     "approx_records": breach.approx_records,
                     "listed_subjects": BreachSubject.objects.for_org(org).filter(breach=breach).count()},
        "b_dpo": _dpo(org),
        "c_consequences": breach.consequences,
        "d_measures": {"taken": breach.measures_taken, "proposed": breach.measures_proposed},
        "risk": {"level": breach.risk, "label": risk_label, "reason": breach.risk_reason},
        "timeline": {"aware_at": _iso(breach.aware_at), "occurred_from": _iso(breach.occurred_from),
                     "occurred_to": _iso(breach.occurred_to), "deadline": _iso(tick["deadline"]),
                     "notified_at": _iso(breach.notified_at), "subjects_notified_at": _iso(breach.subjects_notified_at),
                     "late": tick["late"], "hours_left": tick["hours_left"]},
        "delay_reason": breach.delay_reason, "authority_reference": breach.authority_reference,
        "missing": missing_for_notification(breach),
    }


# --- the readable document -------------------------------------------------------------------
def _when(value: str | None, tz: str) -> str:
    if not value:
        return ""
    return timezone.localtime(datetime.fromisoformat(value), timezone=ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def _yes(value: bool) -> str:
    return _("yes") if value else _("no")


def _sections(draft: dict, tz: str) -> list[Section]:
    a, ctl, line = draft["a_nature"], draft["controller"], draft["timeline"]
    return [
        Section(_("Controller"), fields=[
            (_("Name"), ctl["legal_name"]), (_("Address"), ctl["address"]),
            (_("Registration number"), ctl["registration_number"]), (_("E-mail"), ctl["email"]),
            (_("Telephone"), ctl["phone"]),
            (_("Electronic-communications provider (24-hour deadline)"), _yes(ctl["electronic_communications_provider"])),
        ]),
        Section(_("Timeline"), fields=[
            (_("Became aware"), _when(line["aware_at"], tz)), (_("Occurred from"), _when(line["occurred_from"], tz)),
            (_("Occurred until"), _when(line["occurred_to"], tz)), (_("Deadline for the notification"),
                                                                   _when(line["deadline"], tz)),
            (_("Notified to the CNIL"), _when(line["notified_at"], tz)), (_("CNIL reference"), draft["authority_reference"]),
            (_("Late"), _yes(line["late"])), (_("Reasons for the delay (Art. 33(1))"), draft["delay_reason"]),
            (_("People told (Art. 34)"), _when(line["subjects_notified_at"], tz)),
        ]),
        Section(_("(a) Nature of the breach"), paragraphs=[a["description"]], fields=[
            (_("Kind"), [k["label"] for k in a["kinds"]]),
            (_("Categories of data"), [c["label"] for c in a["data_categories"]]),
            (_("Categories of people"), a["subject_categories"]),
            (_("Approximate number of people"), a["approx_subjects"]),
            (_("Approximate number of records"), a["approx_records"]),
            (_("Contacts listed in the register"), a["listed_subjects"]),
        ]),
        Section(_("(b) Data protection officer"), fields=[
            (_("Name"), draft["b_dpo"]["name"]), (_("E-mail"), draft["b_dpo"]["email"]),
            (_("Telephone"), draft["b_dpo"]["phone"])]),
        Section(_("(c) Likely consequences"), paragraphs=[draft["c_consequences"]] if draft["c_consequences"] else [],
                empty_text=_("Not described yet.")),
        Section(_("(d) Measures"), fields=[(_("Taken"), draft["d_measures"]["taken"]),
                                           (_("Proposed"), draft["d_measures"]["proposed"])]),
        Section(_("Risk assessment"), fields=[(_("Level"), draft["risk"]["label"]),
                                              (_("Reasons"), draft["risk"]["reason"])]),
        Section(_("Still missing for the notification"),
                table=Table([_("Field")], [[name] for name in draft["missing"]]),
                empty_text=_("Every Art. 33(3) item is filled in.")),
    ]


def draft_document(breach: Breach, *, language: str = "fr", now: datetime | None = None) -> Document:
    """The draft as a readable document, for documents.to_html() / to_pdf()."""
    draft = draft_cnil_notification(breach, language=language, now=now)
    with translation.override(language):
        return Document(
            title=_("Personal data breach %(reference)s: draft notification to the CNIL") % {
                "reference": breach.reference},
            language=language, subtitle=f"{breach.title} — {draft['controller']['legal_name']}",
            sections=_sections(draft, breach.organisation.time_zone),
            footer=_("Draft prepared by Relance (GDPR Art. 33(3)); file it on notifications.cnil.fr"),
            generated_at=now)
