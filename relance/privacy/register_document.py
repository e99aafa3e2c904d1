"""The Art. 30 records (relance.privacy.register) as readable documents (HTML and PDF through
relance.privacy.documents), in the record's language."""

from __future__ import annotations

import json

from django.utils import translation
from django.utils.translation import gettext as _

from .documents import Document, Section, Table, to_html, to_pdf
from .register import missing_fields

FORMATS = ("json", "html", "pdf")
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "html": "text/html; charset=utf-8",
                 "pdf": "application/pdf"}


def _v(value) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list | tuple):
        return "\n".join(_v(item) for item in value)
    return str(value)


def _controller_section(record: dict) -> Section:
    c = record["controller"]
    fields = [(_("Name"), c["name"]), (_("Legal name"), c["legal_name"]), (_("Address"), c["address"]),
              (_("Contact e-mail"), c["contact_email"]), (_("Contact phone"), c["contact_phone"]),
              (_("Registration number"), c["registration_number"]), (_("Country"), c["country"]),
              (_("Representative (Art. 27)"), c["representative"]), (_("Joint controllers"), c["joint_controllers"])]
    return Section(_("Controller (Art. 30(1)(a))"), fields=[(label, _v(value)) for label, value in fields])


def _dpo_section(record: dict) -> Section:
    d = record["dpo"]
    fields = [(_("Name"), d["name"]), (_("E-mail"), d["email"]), (_("Phone"), d["phone"])]
    return Section(_("Data protection officer"), fields=[(label, _v(value)) for label, value in fields])


def _activity_section(a: dict) -> Section:
    basis = a["legal_basis_label"] or a["legal_basis"]
    fields = [
        (_("Purpose"), a["name"]), (_("Code"), a["purpose_code"]), (_("Kind of messages"), a["message_class_label"]),
        (_("Legal basis (Art. 6)"), basis), (_("Special categories (Art. 9)"), a["art9_label"]),
        (_("Categories of data subjects"), a["subject_categories"]),
        (_("Categories of personal data"), [d["label"] for d in a["data_categories"]]),
        (_("Recipients"), a["recipients"]), (_("Channels"), a["channels"]),
        (_("Retention"), a["retention"]),
    ]
    if a["health"]:
        dpia = a["dpia"]
        fields.append((_("DPIA (R-72)"), dpia["ref"] or dpia["not_needed_reason"]))
    return Section(a["name"], fields=[(label, _v(value)) for label, value in fields])


def _subs_table(subs: list[dict]) -> Table:
    headers = [_("Sub-processor"), _("Channel"), _("Country"), _("Hosting region"), _("Outside the EEA"),
               _("Safeguard")]
    rows = [[s["name"], s["channel"], s["country"], _v(s["hosting_region"]), _v(s["transfer_outside_eea"]),
             _v(s["safeguard"])] for s in subs]
    return Table(headers, rows)


def _shared_sections(record: dict) -> list[Section]:
    transfers = Table([_("Recipient"), _("Country"), _("Safeguard")],
                      [[s["name"], s["country"], _v(s["safeguard"])] for s in record["transfers"]])
    measures = record["security_measures"]
    return [
        Section(_("Sub-processors"), table=_subs_table(record["sub_processors"]),
                empty_text=_("No provider account hands data to a vendor.")),
        Section(_("Transfers outside the EEA (Art. 30(1)(e))"), table=transfers,
                empty_text=_("No transfer outside the European Economic Area.")),
        Section(_("Technical and organisational security measures (Art. 32)"), paragraphs=[
            *measures["platform"], *measures["organisation"]]),
    ]


def _missing_section(record: dict) -> list[Section]:
    missing = missing_fields(record)
    if not missing:
        return []
    return [Section(_("Fields still to fill in"), paragraphs=[
        _("These mandatory fields are empty: %(fields)s.") % {"fields": ", ".join(missing)}])]


def register_document(record: dict) -> Document:
    with translation.override(record["language"]):
        retention = Table([_("Category"), _("Retention"), _("Preset"), _("Source")],
                          [[r["label"], _("%(days)d days") % {"days": r["days"]},
                            _("Default of Relance") if r["default"] else _v(r["preset"]), _v(r["source"])]
                           for r in record["retention"]])
        dpia = Table([_("Purpose"), _("DPIA reference"), _("Why no DPIA is needed")],
                     [[d["name"], _v(d["ref"]), _v(d["not_needed_reason"])] for d in record["dpia"]])
        sections = [
            _controller_section(record), _dpo_section(record),
            Section(_("Processing activities"), subsections=[_activity_section(a) for a in record["activities"]],
                    empty_text=_("No active purpose.")),
            *_shared_sections(record),
            Section(_("Retention by data category"), table=retention),
            Section(_("Data protection impact assessments (R-72)"), table=dpia,
                    empty_text=_("No purpose processes health data.")),
            *_missing_section(record),
        ]
        return Document(title=_("Record of processing activities (Art. 30 GDPR)"), language=record["language"],
                        subtitle=record["controller"]["name"], sections=sections,
                        footer=_("Generated from the live configuration of Relance"))


def processor_document(record: dict) -> Document:
    with translation.override(record["language"]):
        p = record["processor"]
        controllers = Table([_("Controller"), _("Contact"), _("Data protection officer"), _("Processing")],
                            [[c["legal_name"] or c["name"], _v([c["address"], c["contact_email"]]),
                              _v([c["dpo_name"], c["dpo_email"]]), _v(c["processing"])] for c in record["controllers"]])
        sections = [
            Section(_("Processor (Art. 30(2)(a))"), fields=[
                (_("Name"), _v(p["name"])), (_("Address"), _v(p["address"])),
                (_("Contact e-mail"), _v(p["contact_email"])), (_("Data protection officer"), _v(p["dpo"])),
                (_("Storage location"), _v(p["storage_location"]))]),
            Section(_("Controllers on whose behalf the processor acts"), table=controllers,
                    empty_text=_("No organisation.")),
            Section(_("Categories of processing (Art. 30(2)(b))"), paragraphs=record["processing_categories"]),
            *_shared_sections(record),
            *_missing_section(record),
        ]
        return Document(title=_("Record of processing activities of the processor (Art. 30(2) GDPR)"),
                        language=record["language"], subtitle=p["name"], sections=sections,
                        footer=_("Generated from the live configuration of Relance"))


def render(record: dict, fmt: str) -> bytes:
    """The record in `fmt` (json, html or pdf) as bytes."""
    if fmt == "json":
        return json.dumps(record, ensure_ascii=False, indent=2).encode()
    document = processor_document(record) if record["record"] == "processor" else register_document(record)
    if fmt == "html":
        return to_html(document).encode()
    if fmt == "pdf":
        return to_pdf(document)
    raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
