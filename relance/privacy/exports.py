"""Access and portability exports (R-42, Art. 15 and 20): one JSON document per contact, kept sealed
with the contact's key, and rendered on demand as a readable HTML page or PDF (export_sections.py).

The document walks THE list (personal_data.HOLDINGS): every holding has one handler here, keyed by
`Holding.key` (a test fails when one is missing), which adds what that model holds about the person.
Then come what R-42 adds around the data: purposes, categories, the actual recipients (the
providers that carried the person's messages, by name and country), retention, rights, the CNIL,
the source and the statement on automated decisions.

Speed (SPEC §7): every query is by the contact on an index (messages: message_contact_idx for the
contact's own, the recipient foreign key's index for those sent to them as a guardian); timelines
come in one query per 1,000 messages, purposes and provider accounts in one query each.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation, Site
from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent.models import ConsentEvent, ConsentState, Information, Purpose
from relance.consent.services import evidence_of
from relance.contacts import personal_data as contact_data
from relance.contacts.models import Contact, SuppressionEntry
from relance.contacts.services import ensure_data_key
from relance.imports.models import ImportBatch
from relance.keystore.services import KeyDestroyed
from relance.messaging.models import InboundMessage, Message, MessageEvent
from relance.reminders.models import Event

from . import export_render
from . import export_sections as texts
from .models import AccessExport, BreachSubject, RetentionPolicy, RightsRequest, VerificationCode
from .personal_data import HOLDINGS

FORMAT_VERSION = "1.0"
CHUNK = 1000


@dataclass
class Context:
    contact: Contact
    org: Organisation
    language: str
    doc: dict = field(default_factory=dict)
    purpose_ids: set[int] = field(default_factory=set)
    message_ids: list = field(default_factory=list)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _clear(instance, name: str):
    """A sealed field in clear; None once the subject's key was destroyed."""
    try:
        return getattr(instance, name)
    except KeyDestroyed:
        return None


def _json(instance, name: str):
    raw = _clear(instance, name)
    return json.loads(raw) if raw else None


def _label(choices, value) -> str:
    return str(dict(choices).get(value, value or ""))


# --- one handler per holding ---------------------------------------------------------------------
def _contact(ctx: Context) -> None:
    subject = contact_data.export(ctx.contact)
    subject["status_label"] = _label(Contact.Status.choices, ctx.contact.status)
    subject["site_name"] = Site.objects.for_org(ctx.org).filter(pk=ctx.contact.site_id).values_list(
        "name", flat=True).first() if ctx.contact.site_id else None
    ctx.doc["subject"] = subject


def _suppression(ctx: Context) -> None:
    rows = SuppressionEntry.objects.for_org(ctx.org).filter(phone_hash=ctx.contact.phone_index).order_by("created_at") \
        if ctx.contact.phone_index else []
    ctx.doc["suppression"] = [{"channel": row.channel, "reason": row.reason,
                               "reason_label": _label(SuppressionEntry.Reason.choices, row.reason),
                               "since": _iso(row.created_at)} for row in rows]


def _messages(ctx: Context) -> None:
    own = Message.objects.for_org(ctx.org).filter(contact_id=ctx.contact.pk)
    received = Message.objects.for_org(ctx.org).filter(recipient_id=ctx.contact.pk).exclude(contact_id=ctx.contact.pk)
    rows = sorted([*own, *received], key=lambda m: (m.created_at, str(m.pk)))
    ctx.purpose_ids |= {m.purpose_id for m in rows if m.purpose_id}
    ctx.message_ids = [m.pk for m in rows]
    ctx.doc["messages"] = [_message(m, ctx.contact) for m in rows]


def _message(message: Message, contact: Contact) -> dict:
    about_self = message.contact_id == contact.pk
    return {
        "id": str(message.pk),
        "role": "subject" if about_self else "recipient",
        # Someone else's message sent to this person's number (as guardian): that person's id only.
        "about_contact": None if about_self else str(message.contact_id),
        "recipient": None if message.recipient_id == message.contact_id else str(message.recipient_id),
        "channel": message.channel, "purpose_id": message.purpose_id, "message_class": message.message_class,
        "language": message.language, "source": message.source,
        "source_label": _label(Message.Source.choices, message.source), "step": message.step,
        "status": message.status, "status_label": _label(Message.Status.choices, message.status),
        "reason": message.reason, "rule": message.rule,
        "created_at": _iso(message.created_at), "due_at": _iso(message.due_at),
        "valid_until": _iso(message.valid_until), "sent_at": _iso(message.sent_at),
        "finished_at": _iso(message.finished_at), "attempts": message.attempts,
        "sender": message.sender, "provider": message.provider, "encoding": message.encoding,
        "segments": message.segments, "body": _clear(message, "body"),
        # The placeholder values are the subject's: not given to a guardian who only received the text.
        "params": _json(message, "params") if about_self else None,
        "timeline": [],
    }


def _message_events(ctx: Context) -> None:
    by_id = {item["id"]: item for item in ctx.doc.get("messages", [])}
    for start in range(0, len(ctx.message_ids), CHUNK):
        lines = MessageEvent.objects.for_org(ctx.org).filter(message_id__in=ctx.message_ids[start:start + CHUNK])
        for line in lines.order_by("message_id", "at", "id").values("message_id", "at", "kind", "reason", "rule",
                                                                    "detail"):
            by_id[str(line["message_id"])]["timeline"].append({
                "at": _iso(line["at"]), "kind": line["kind"], "reason": line["reason"], "rule": line["rule"],
                "detail": line["detail"]})


def _inbound(ctx: Context) -> None:
    rows = InboundMessage.objects.for_org(ctx.org).filter(contact_id=ctx.contact.pk).order_by("received_at")
    ctx.doc["replies"] = [{
        "id": str(row.pk), "received_at": _iso(row.received_at), "keyword": row.keyword, "action": row.action,
        "action_label": _label(InboundMessage.Action.choices, row.action), "to": row.to, "provider": row.provider,
        "outcome": row.outcome} for row in rows]


def _events(ctx: Context) -> None:
    rows = Event.objects.for_org(ctx.org).filter(contact_id=ctx.contact.pk).select_related("site").order_by("starts_at")
    ctx.purpose_ids |= {row.purpose_id for row in rows}
    ctx.doc["events"] = [{
        "id": str(row.pk), "external_id": _clear(row, "external_id"), "kind": row.kind,
        "kind_label": _label(Event._meta.get_field("kind").choices, row.kind), "purpose_id": row.purpose_id,
        "site": row.site.name if row.site else None, "starts_at": _iso(row.starts_at), "ends_at": _iso(row.ends_at),
        "status": row.status, "status_label": _label(Event.Status.choices, row.status), "params": _json(row, "params"),
        "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at)} for row in rows]


def _consent_events(ctx: Context) -> None:
    rows = ConsentEvent.objects.for_org(ctx.org).filter(contact_id=ctx.contact.pk).order_by("seq")
    ctx.purpose_ids |= {row.purpose_id for row in rows}
    ctx.doc.setdefault("consent", {})["history"] = [_consent_event(row) for row in rows]


def _consent_event(row: ConsentEvent) -> dict:
    return {
        "id": str(row.pk), "seq": row.seq, "purpose_id": row.purpose_id, "channel": row.channel,
        "action": row.action, "action_label": _label(ConsentEvent.Action.choices, row.action),
        "expressed_by": row.expressed_by, "expressed_by_label": _label(ConsentEvent.ExpressedBy.choices, row.expressed_by),
        "guardian": str(row.guardian_id) if row.guardian_id else None,
        "staff_user": str(row.staff_user_id) if row.staff_user_id else None,
        "method": row.method, "method_label": _label(ConsentEvent.Method.choices, row.method),
        "notice_id": row.notice_id, "notice_version": row.notice_version, "notice_sha256": row.notice_sha256,
        "language": row.language, "occurred_at": _iso(row.occurred_at), "recorded_at": _iso(row.recorded_at),
        "valid_until": _iso(row.valid_until), "event_ref": row.event_ref, "evidence": _evidence(row),
        "hash": row.hash}


def _evidence(row: ConsentEvent):
    try:
        return evidence_of(row)
    except KeyDestroyed:
        return None


def _consent_states(ctx: Context) -> None:
    rows = ConsentState.objects.for_org(ctx.org).filter(contact_id=ctx.contact.pk).order_by("purpose_id", "channel")
    ctx.purpose_ids |= {row.purpose_id for row in rows}
    ctx.doc.setdefault("consent", {})["current"] = [{
        "purpose_id": row.purpose_id, "channel": row.channel, "status": row.status,
        "valid_until": _iso(row.valid_until), "event_ref": row.event_ref, "since": _iso(row.last_occurred_at),
        "guardian_status": row.guardian_status, "guardian_valid_until": _iso(row.guardian_valid_until)}
        for row in rows]


def _information(ctx: Context) -> None:
    rows = list(Information.objects.for_org(ctx.org).filter(contact_id=ctx.contact.pk))
    if ctx.contact.import_batch_id:  # told as part of an import batch, with its stated source
        rows += list(Information.objects.for_org(ctx.org).filter(import_batch_id=ctx.contact.import_batch_id,
                                                                 contact__isnull=True))
    rows.sort(key=lambda row: (row.informed_at, row.pk))
    ctx.purpose_ids |= {row.purpose_id for row in rows}
    ctx.doc["information"] = [{
        "purpose_id": row.purpose_id, "notice_id": row.notice_id, "notice_version": row.notice_version,
        "notice_sha256": row.notice_sha256, "method": row.method,
        "method_label": _label(Information.Method.choices, row.method), "source": row.source,
        "via": "contact" if row.contact_id else "import_batch", "informed_at": _iso(row.informed_at)} for row in rows]


def _requests(ctx: Context) -> None:
    rows = RightsRequest.objects.for_org(ctx.org).filter(contact_id=ctx.contact.pk).order_by("received_at")
    ctx.doc["requests"] = [{
        "reference": row.reference, "kind": row.kind, "kind_label": _label(RightsRequest.Kind.choices, row.kind),
        "channel": row.channel, "requested_by": row.requested_by, "status": row.status,
        "status_label": _label(RightsRequest.Status.choices, row.status), "received_at": _iso(row.received_at),
        "due_at": _iso(row.due_at), "extended_at": _iso(row.extended_at), "extension_reason": row.extension_reason,
        "completed_at": _iso(row.completed_at), "refusal_code": row.refusal_code,
        "refusal_reason": row.refusal_reason, "details": _clear(row, "details"), "outcome": row.outcome}
        for row in rows]


def _exports(ctx: Context) -> None:
    rows = AccessExport.objects.for_org(ctx.org).filter(contact_id=ctx.contact.pk).order_by("created_at")
    ctx.doc["previous_exports"] = [{"id": str(pk), "created_at": _iso(at), "language": language, "items": items}
                                   for pk, at, language, items in rows.values_list("pk", "created_at", "language",
                                                                                   "items")]


def _breach_subjects(ctx: Context) -> None:
    rows = BreachSubject.objects.for_org(ctx.org).filter(contact_id=ctx.contact.pk).select_related("breach")
    ctx.doc["breaches"] = [{
        "reference": row.breach.reference, "title": row.breach.title, "aware_at": _iso(row.breach.aware_at),
        "data_categories": row.breach.data_categories, "status": row.breach.status,
        "notice_message": str(row.notice_message_id) if row.notice_message_id else None}
        for row in rows.order_by("breach__aware_at")]


def _verification_codes(ctx: Context) -> None:
    rows = VerificationCode.objects.for_org(ctx.org).filter(phone_hash=ctx.contact.phone_index).order_by(
        "created_at") if ctx.contact.phone_index else []
    # Codes sent to the person's number for a request: when, and whether used (never the code).
    ctx.doc["verification_codes"] = [{"purpose": row.purpose, "created_at": _iso(row.created_at),
                                      "expires_at": _iso(row.expires_at), "consumed_at": _iso(row.consumed_at)}
                                     for row in rows]


HANDLERS = {
    "contact": _contact, "suppression": _suppression, "messages": _messages, "message_events": _message_events,
    "inbound": _inbound, "events": _events, "consent_events": _consent_events, "consent_states": _consent_states,
    "information": _information, "requests": _requests, "exports": _exports, "breach_subjects": _breach_subjects,
    "verification_codes": _verification_codes,
}


# --- what R-42 adds around the data --------------------------------------------------------------
def _import_batch(contact: Contact) -> dict | None:
    if not contact.import_batch_id:
        return None
    batch = ImportBatch.objects.for_org(contact.organisation_id).filter(pk=contact.import_batch_id).first()
    if batch is None:
        return {"id": str(contact.import_batch_id)}
    return {"id": str(batch.pk), "source": batch.source, "collector": batch.collector,
            "imported_at": _iso(batch.created_at), "purpose_id": batch.purpose_id}


def _surroundings(ctx: Context) -> None:
    batch = _import_batch(ctx.contact)
    if batch and batch.get("purpose_id"):
        ctx.purpose_ids.add(batch["purpose_id"])
    purposes = list(Purpose.objects.for_org(ctx.org).filter(pk__in=ctx.purpose_ids).order_by("code"))
    _name_purposes(ctx.doc, {p.pk: (p.code, p.label(ctx.language)) for p in purposes})
    ctx.doc["purposes"] = [texts.purpose(p, ctx.language) for p in purposes]
    ctx.doc["categories"] = texts.categories(ctx.doc["subject"], purposes)
    ctx.doc["recipients"] = texts.recipients(ctx.org, ctx.doc["messages"], purposes)
    policies = list(RetentionPolicy.objects.for_org(ctx.org).order_by("category"))
    ctx.doc["retention"] = texts.retention(policies, purposes)
    ctx.doc["rights"] = texts.rights(ctx.org)
    ctx.doc["complaint"] = texts.complaint()
    ctx.doc["source"] = texts.source(ctx.contact, batch)
    ctx.doc["automated_decisions"] = texts.automated_decisions()


def _name_purposes(doc: dict, names: dict[int, tuple[str, str]]) -> None:
    """Each item that names a purpose by id gets its code (stable across systems) and label too."""
    items = [*doc["messages"], *doc["events"], *doc["information"], *doc["consent"].get("history", []),
             *doc["consent"].get("current", [])]
    for item in items:
        if item.get("purpose_id") is not None:
            item["purpose"], item["purpose_label"] = names.get(item["purpose_id"], ("", ""))


def build_document(contact: Contact, *, language: str) -> dict:
    """The R-42 document of one contact, JSON-ready, labels in `language`. Reads only: its callers
    audit it (create_export)."""
    org = contact.organisation
    with translation.override(language):
        ctx = Context(contact=contact, org=org, language=language)
        ctx.doc.update({"format_version": FORMAT_VERSION, "generated_at": _iso(timezone.now()), "language": language,
                        "controller": texts.controller(org)})
        for holding in HOLDINGS:
            HANDLERS[holding.key](ctx)
        _surroundings(ctx)
    return ctx.doc


def counts(document: dict) -> dict[str, int]:
    consent = document.get("consent", {})
    return {"messages": len(document.get("messages", [])), "replies": len(document.get("replies", [])),
            "consent_events": len(consent.get("history", [])), "events": len(document.get("events", [])),
            "requests": len(document.get("requests", [])), "information": len(document.get("information", []))}


# --- services --------------------------------------------------------------------------------------
def _language(contact: Contact, language: str | None) -> str:
    chosen = language or contact.language or contact.organisation.default_language
    return chosen if chosen in ("fr", "en") else "en"


@transaction.atomic
def create_export(contact: Contact, *, actor: Actor, request: RightsRequest | None = None,
                  language: str | None = None) -> AccessExport:
    """Build the contact's document and keep it sealed with the contact's key (R-42, R-60)."""
    if contact.status == Contact.Status.ERASED:
        raise ValidationError({"contact": [_("This contact was erased: nothing is left to export.")]})
    if request is not None and request.organisation_id != contact.organisation_id:
        raise ValidationError({"request": [_("This request belongs to another organisation.")]})
    ensure_data_key(contact)
    language = _language(contact, language)
    document = build_document(contact, language=language)
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, default=str)
    found = counts(document)
    export = AccessExport(organisation_id=contact.organisation_id, contact=contact, request=request,
                          language=language, sha256=hashlib.sha256(text.encode()).hexdigest(),
                          items=sum(found.values()), created_by_kind=actor.kind, created_by_id=actor.id)
    export.data_key_id = contact.data_key_id
    export.document = text
    export.save()
    audit.record(contact.organisation, actor, "privacy.export_created", target=export, details={
        "contact": str(contact.pk), "request": str(request.pk) if request else "", "language": language, **found})
    return export


@transaction.atomic
def read_export(export: AccessExport, *, actor: Actor) -> dict:
    """The export's document in clear: an audited read of personal data (R-65). KeyDestroyed once
    the person was erased."""
    audit.record(export.organisation, actor, "privacy.export_read", target=export,
                 details={"contact": str(export.contact_id)})
    return json.loads(export.document)


def render_html(document: dict, language: str | None = None) -> str:
    from .documents import to_html

    return to_html(export_render.to_document(document, language or document.get("language") or "fr"))


def render_pdf(document: dict, language: str | None = None) -> bytes:
    from .documents import to_pdf

    return to_pdf(export_render.to_document(document, language or document.get("language") or "fr"))
