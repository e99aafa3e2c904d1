"""An access export's JSON (exports.build_document) as a readable document (documents.Document),
every heading and label in the reader's language; documents.py renders it to HTML or PDF.
Times are shown in the organisation's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import translation
from django.utils.translation import gettext as _

from .documents import Document, Section, Table


class _Clock:
    def __init__(self, zone: str):
        try:
            self.zone = ZoneInfo(zone or "Europe/Paris")
        except (ValueError, KeyError):
            self.zone = ZoneInfo("UTC")

    def __call__(self, iso: str | None) -> str:
        if not iso:
            return ""
        return datetime.fromisoformat(iso).astimezone(self.zone).strftime("%Y-%m-%d %H:%M")


def _yes(value) -> str:
    if value is None:
        return ""
    return _("yes") if value else _("no")


def to_document(doc: dict, language: str) -> Document:
    with translation.override(language):
        when = _Clock(doc.get("controller", {}).get("time_zone", ""))
        controller = doc.get("controller", {})
        sections = [_controller(controller), _subject(doc.get("subject", {}), when), _messages(doc, when),
                    _replies(doc, when), _consent(doc, when), _information(doc, when), _events(doc, when),
                    _requests(doc, when), _purposes(doc), _categories(doc), _recipients(doc), _retention(doc),
                    _rights(doc), _complaint(doc), _source(doc, when), _automated(doc), _other(doc, when)]
        generated = datetime.fromisoformat(doc["generated_at"]) if doc.get("generated_at") else None
        return Document(
            title=_("Your personal data held by %(org)s") % {"org": controller.get("name", "")},
            subtitle=_("Access to your data (GDPR Art. 15), generated on %(date)s. The same data in JSON is "
                       "available for portability (Art. 20).") % {"date": when(doc.get("generated_at"))},
            language=language, sections=sections, generated_at=generated,
            footer=_("%(org)s - access export - format %(version)s") % {
                "org": controller.get("name", ""), "version": doc.get("format_version", "")})


def _controller(c: dict) -> Section:
    dpo = c.get("dpo", {})
    return Section(_("Controller"), fields=[
        (_("Name"), c.get("legal_name") or c.get("name")), (_("Address"), c.get("address")),
        (_("Country"), c.get("country")), (_("E-mail"), c.get("email")), (_("Phone"), c.get("phone")),
        (_("Data protection officer"), dpo.get("name")), (_("DPO e-mail"), dpo.get("email")),
        (_("DPO phone"), dpo.get("phone"))])


def _subject(s: dict, when) -> Section:
    return Section(_("Your data"), fields=[
        (_("First name"), s.get("first_name")), (_("Last name"), s.get("last_name")), (_("Phone"), s.get("phone")),
        (_("E-mail"), s.get("email")), (_("Birth date"), s.get("birth_date")), (_("Minor"), _yes(s.get("minor"))),
        (_("Your reference at the organisation"), s.get("external_ref")), (_("Language"), s.get("language")),
        (_("Site"), s.get("site_name")), (_("Status"), s.get("status_label")),
        (_("Number valid"), _yes(s.get("number_valid"))), (_("E-mail address valid"), _yes(s.get("email_valid"))),
        (_("Guardian (identifier)"), s.get("guardian")), (_("Guardian of (identifiers)"), s.get("guardian_of")),
        (_("Recorded on"), when(s.get("created_at"))), (_("Last activity"), when(s.get("last_activity_at"))),
        (_("Identifier"), s.get("id"))])


def _timeline(message: dict, when) -> str:
    return "\n".join(f"{when(line['at'])} {line['kind']}{' (' + line['reason'] + ')' if line['reason'] else ''}"
                     for line in message.get("timeline", []))


def _messages(doc: dict, when) -> Section:
    rows = [[
        "\n".join(filter(None, [when(m["created_at"]), when(m.get("sent_at")) and _("sent %(at)s") % {
            "at": when(m["sent_at"])}])),
        f"{m.get('purpose_label') or m.get('purpose') or '—'}\n{m['channel']}"
        + ("\n" + _("sent to you as guardian") if m["role"] == "recipient" else ""),
        f"{m['status_label']}{' — ' + m['reason'] if m['reason'] else ''}\n{_timeline(m, when)}",
        "\n".join(filter(None, [m.get("provider_name"), m.get("segments") and _("%(n)s segment(s)") % {
            "n": m["segments"]}])),
        m.get("body") or _("(not written yet: the text is composed when the message is sent)"),
    ] for m in doc.get("messages", [])]
    return Section(_("Messages"), table=Table([_("Date"), _("Purpose and channel"), _("Status and timeline"),
                                               _("Provider"), _("Text as sent")], rows),
                   empty_text=_("No message was sent or planned for you."))


def _replies(doc: dict, when) -> Section:
    rows = [[when(r["received_at"]), r["keyword"], r["action_label"]] for r in doc.get("replies", [])]
    return Section(_("Your replies"), paragraphs=[_("The text of a reply is never stored: only the keyword "
                                                   "recognised and what was done.")],
                   table=Table([_("Received"), _("Keyword"), _("What was done")], rows))


def _consent(doc: dict, when) -> Section:
    consent = doc.get("consent", {})
    history = [[when(e["occurred_at"]), e.get("purpose_label") or e.get("purpose"), e["channel"], e["action_label"],
                f"{e['expressed_by_label']}, {e['method_label']}",
                _("version %(v)s, SHA-256 %(h)s") % {"v": e["notice_version"], "h": e["notice_sha256"]}
                if e.get("notice_sha256") else "—"] for e in consent.get("history", [])]
    current = [[s.get("purpose_label") or s.get("purpose"), s["channel"], s["status"], when(s.get("valid_until"))]
               for s in consent.get("current", [])]
    return Section(_("Consent and objections"), subsections=[
        Section(_("History"), table=Table([_("Date"), _("Purpose"), _("Channel"), _("Decision"), _("Expressed by"),
                                           _("Notice")], history), empty_text=_("No consent decision recorded.")),
        Section(_("Current state"), table=Table([_("Purpose"), _("Channel"), _("State"), _("Valid until")], current),
                empty_text=_("No consent decision recorded."))])


def _information(doc: dict, when) -> Section:
    rows = [[when(i["informed_at"]), i.get("purpose_label") or i.get("purpose"),
             _("version %(v)s, SHA-256 %(h)s") % {"v": i["notice_version"], "h": i["notice_sha256"]},
             i["method_label"], i.get("source")] for i in doc.get("information", [])]
    return Section(_("Information given to you"), table=Table(
        [_("Date"), _("Purpose"), _("Notice"), _("How"), _("Source")], rows), empty_text=_("None recorded."))


def _events(doc: dict, when) -> Section:
    rows = [[when(e["starts_at"]), e["kind_label"], e.get("purpose_label") or e.get("purpose"), e["status_label"],
             e.get("site"), e.get("external_id")] for e in doc.get("events", [])]
    return Section(_("Appointments, loans and other events"), table=Table(
        [_("Date"), _("Kind"), _("Purpose"), _("Status"), _("Place"), _("Reference")], rows),
        empty_text=_("None recorded."))


def _requests(doc: dict, when) -> Section:
    rows = [[r["reference"], r["kind_label"], when(r["received_at"]), when(r["due_at"]), r["status_label"]]
            for r in doc.get("requests", [])]
    return Section(_("Your requests"), table=Table([_("Reference"), _("Request"), _("Received"), _("Due"),
                                                    _("Status")], rows), empty_text=_("None recorded."))


def _purposes(doc: dict) -> Section:
    subsections = [Section(f"{p['label']} ({p['code']})", fields=[
        (_("Kind of message"), p["message_class_label"]), (_("Legal basis"), p["legal_basis_label"]),
        (_("Health data condition (Art. 9(2))"), p.get("art9_condition_label")),
        (_("Legitimate interests assessment"), p.get("legitimate_interest_assessment")),
        (_("Data used"), [c["label"] for c in p["data_categories"]]), (_("Recipients"), p["recipients"]),
        (_("Kept for"), p["retention"])]) for p in doc.get("purposes", [])]
    return Section(_("Purposes"), subsections=subsections, empty_text=_("None."))


def _categories(doc: dict) -> Section:
    return Section(_("Categories of data"), paragraphs=[", ".join(c["label"] for c in doc.get("categories", []))])


def _recipients(doc: dict) -> Section:
    recipients = doc.get("recipients", {})
    rows = [[p["vendor"], p.get("country"), p.get("hosting_region"), _yes(p.get("transfer_outside_eea")),
             str(p["messages"])] for p in recipients.get("providers", [])]
    declared = [f"{d['purpose']}: {', '.join(d['recipients'])}" for d in recipients.get("declared", [])]
    return Section(_("Recipients"), paragraphs=[recipients.get("processor", "")], subsections=[
        Section(_("Providers that carried your messages"), table=Table(
            [_("Provider"), _("Country"), _("Where it processes"), _("Outside the EEA"), _("Messages")], rows),
            empty_text=_("No message of yours went through a provider.")),
        Section(_("Recipients declared by the purposes"), paragraphs=declared, empty_text=_("None."))])


def _retention(doc: dict) -> Section:
    retention = doc.get("retention", {})
    if retention.get("applies") == "policies":
        rows = [[p["label"], _("%(n)s days") % {"n": p["days"]}, p.get("source")] for p in retention["policies"]]
        return Section(_("How long your data is kept"), table=Table([_("Data"), _("Kept for"), _("Source")], rows))
    rows = [[p["purpose"], p["retention"]] for p in retention.get("purposes", [])]
    return Section(_("How long your data is kept"), table=Table([_("Purpose"), _("Kept for")], rows),
                   empty_text=_("None."))


def _rights(doc: dict) -> Section:
    rows = [[f"{r['title']} ({r['article']})", r["text"], r["how"]] for r in doc.get("rights", [])]
    return Section(_("Your rights"), table=Table([_("Right"), _("What it gives you"), _("How")], rows))


def _complaint(doc: dict) -> Section:
    complaint = doc.get("complaint", {})
    return Section(_("Complaint to the CNIL"), paragraphs=[complaint.get("text", "")], fields=[
        (_("Authority"), complaint.get("authority")), (_("Address"), complaint.get("address")),
        (_("Online"), complaint.get("url"))])


def _source(doc: dict, when) -> Section:
    source = doc.get("source", {})
    batch = source.get("import_batch") or {}
    return Section(_("Where your data comes from"), fields=[
        (_("Source"), source.get("label")), (_("Recorded on"), when(source.get("recorded_at"))),
        (_("Import"), batch.get("id")), (_("Stated source of the import"), batch.get("source")),
        (_("Original collector"), batch.get("collector"))])


def _automated(doc: dict) -> Section:
    return Section(_("Automated decisions"), paragraphs=[doc.get("automated_decisions", {}).get("text", "")])


def _other(doc: dict, when) -> Section:
    suppression = [[s["reason_label"], s["channel"], when(s["since"])] for s in doc.get("suppression", [])]
    breaches = [[b["reference"], b["title"], when(b["aware_at"])] for b in doc.get("breaches", [])]
    exports = [[when(e["created_at"]), e["language"], str(e["items"])] for e in doc.get("previous_exports", [])]
    return Section(_("Other records"), subsections=[
        Section(_("Opt-out list (your number, kept as a keyed hash)"), table=Table(
            [_("Why"), _("Channel"), _("Since")], suppression), empty_text=_("None.")),
        Section(_("Security incidents concerning you"), table=Table([_("Reference"), _("Incident"), _("Known on")],
                                                                    breaches), empty_text=_("None.")),
        Section(_("Earlier exports"), table=Table([_("Date"), _("Language"), _("Items")], exports),
                empty_text=_("None."))])
