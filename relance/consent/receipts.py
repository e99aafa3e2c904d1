"""Consent receipts (R-16): one ledger event as a Kantara Consent Receipt v1.1 and as an ISO/IEC TS
27560 consent record expressed with the W3C Data Privacy Vocabulary (DPV).

Sources of the field lists:
- Kantara Initiative, Consent Receipt Specification v1.1.0 (2018-02-20), section 5 (receipt fields)
  and appendices (purpose categories, PII categories):
  https://kantarainitiative.org/file-downloads/consent-receipt-specification-v1-1-0/
- W3C DPVCG, "Consent Records and Receipts as per ISO/IEC TS 27560:2023 using DPV" (Final Community
  Group Report, 2024-08-01), section 7.2 (ISO 27560 ↔ GDPR ↔ DPV table) and Example 39 (a record with
  only the required fields): https://w3id.org/dpv/guides/consent-27560

Exporting a receipt is an export of a person's data: `export_receipt()` writes its audit event (R-65).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from relance.accounts.models import Site
from relance.audit import services as audit
from relance.audit.services import Actor

from .decision import is_below_consent_age
from .models import DATA_CATEGORIES, ConsentEvent, Purpose
from .policy import Basis, MessageClass
from .services import current_notice

KANTARA_VERSION = "KI-CR-v1.1.0"
DPV_RECORD_PROFILE = "https://w3id.org/dpv/schema/dpv-27560#record"
FORMATS = ("kantara", "iso27560")
# Where Relance keeps the data (ISO 27560 "storage locations", mandatory): a deployment setting.
DEFAULT_STORAGE_LOCATION = "EU"

# Kantara v1.1 receipts attest a consent: the events that give one.
KANTARA_ACTIONS = {"given", "renewed", "restored"}
# ISO 27560 records describe a consent's life: every consent decision (not objections, which are not consent).
ISO_ACTIONS = {"given", "renewed", "restored", "refused", "withdrawn", "expired"}

METHOD_TEXT = {
    "web_form": "Web form (explicit opt-in)",
    "paper_form": "Signed paper form",
    "phone_call": "Phone call, recorded by staff",
    "sms_keyword": "SMS keyword reply",
    "api": "Integration (API) from the organisation's software",
    "import": "Import with per-row proof of consent",
    "system": "Recorded by Relance (expiry)",
}
DPV_STATUS = {
    "given": "dpv:ConsentGiven", "restored": "dpv:ConsentGiven", "renewed": "dpv:RenewedConsentGiven",
    "refused": "dpv:ConsentRefused", "withdrawn": "dpv:ConsentWithdrawn", "expired": "dpv:ConsentExpired",
}
LEGAL_BASIS_IRI = {
    Basis.CONSENT: "eu-gdpr:A6-1-a", Basis.CONTRACT: "eu-gdpr:A6-1-b", Basis.LEGAL_OBLIGATION: "eu-gdpr:A6-1-c",
    Basis.VITAL_INTEREST: "eu-gdpr:A6-1-d", Basis.PUBLIC_TASK: "eu-gdpr:A6-1-e",
    Basis.LEGITIMATE_INTEREST: "eu-gdpr:A6-1-f",
}
RIGHTS = [("eu-gdpr:A7-3", "Right to withdraw consent"), ("eu-gdpr:A15", "Right of access"),
          ("eu-gdpr:A16", "Right to rectification"), ("eu-gdpr:A17", "Right to erasure"),
          ("eu-gdpr:A18", "Right to restriction of processing"), ("eu-gdpr:A20", "Right to data portability"),
          ("eu-gdpr:A77", "Right to lodge a complaint with a supervisory authority")]
CONTEXT = {
    "dpv": "https://w3id.org/dpv#", "pd": "https://w3id.org/dpv/pd#", "loc": "https://w3id.org/dpv/loc#",
    "eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#", "dct": "http://purl.org/dc/terms/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
}


class NotReceiptable(ValueError):
    """This event cannot be given as a receipt in this format (e.g. an objection is not a consent)."""


class ControllerIncomplete(NotReceiptable):
    """The organisation lacks contact details a receipt MUST carry (Kantara v1.1: the controller's
    e-mail and phone): the receipt is refused rather than issued incomplete."""

    def __init__(self, fields: list[str]):
        self.fields = fields
        super().__init__("the organisation's settings lack: " + ", ".join(fields))


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _controller(org) -> dict:
    site = Site.objects.for_org(org).exclude(address="").order_by("name", "pk").first()
    return {
        "name": org.name, "country": org.country, "street": site.address if site else "",
        "contact": org.dpo_name or org.name, "email": org.dpo_email or "", "phone": org.dpo_phone or "",
    }


def _purpose_category(purpose: Purpose) -> list[str]:
    if purpose.message_class in (MessageClass.PROMOTIONAL_COMMERCIAL, MessageClass.PROMOTIONAL_NONCOMMERCIAL):
        return ["6 - Marketing"]
    if purpose.message_class == MessageClass.CONSENT_REQUEST:
        return ["4 - Contact Requested"]
    categories = ["2 - Contracted Service" if purpose.legal_basis == Basis.CONTRACT else "1 - Core Function"]
    if purpose.involves_health_data:
        categories.append("14 - Protecting Your Health")
    return categories


def _termination(event: ConsentEvent) -> str:
    stop = "or until withdrawn (reply STOP to any SMS, or use the preferences link)"
    if event.event_ref and event.purpose.refresh_per_event:
        return f"Valid for the event {event.event_ref} only, {stop}"
    if event.valid_until:
        return f"Valid until {event.valid_until.isoformat()}, {stop}"
    return f"Valid {stop}"


def _collection_method(event: ConsentEvent) -> str:
    text = METHOD_TEXT[event.method]
    if event.expressed_by == ConsentEvent.ExpressedBy.GUARDIAN:
        text += ", expressed by the holder of parental responsibility"
    elif event.expressed_by == ConsentEvent.ExpressedBy.STAFF_ON_BEHALF:
        text += ", expressed by the person to staff who recorded it"
    return text


def kantara(event: ConsentEvent, *, policy_url: str, controller_url: str = "") -> dict:
    """A Kantara Consent Receipt v1.1 for a `given`, `renewed` or `restored` event."""
    if event.action not in KANTARA_ACTIONS or not event.purpose.consent_based:
        raise NotReceiptable("a Kantara receipt attests a consent given (given, renewed or restored)")
    org, purpose = event.organisation, event.purpose
    controller = _controller(org)
    absent = [name for name, key in (("dpo_email", "email"), ("dpo_phone", "phone")) if not controller[key]]
    if absent:
        raise ControllerIncomplete(absent)
    address = {"addressCountry": controller["country"]}
    if controller["street"]:
        address["streetAddress"] = controller["street"]
    pii = list(dict.fromkeys(DATA_CATEGORIES[c][1] for c in purpose.data_categories))
    receipt = {
        "version": KANTARA_VERSION,
        "jurisdiction": org.country,
        "consentTimestamp": int(event.occurred_at.timestamp()),
        "collectionMethod": _collection_method(event),
        "consentReceiptID": str(event.pk),
        "language": event.language,
        "piiPrincipalId": str(event.contact_id),
        "piiControllers": [{
            "piiController": controller["name"], "onBehalf": False, "contact": controller["contact"],
            "address": address, "email": controller["email"], "phone": controller["phone"],
            **({"piiControllerUrl": controller_url} if controller_url else {}),
        }],
        "policyUrl": policy_url,
        "services": [{
            "service": org.name,
            "purposes": [{
                "purpose": purpose.label(event.language),
                "purposeCategory": _purpose_category(purpose),
                "consentType": "EXPLICIT",  # a positive act, never pre-ticked
                "piiCategory": pii,
                "primaryPurpose": True,
                "termination": _termination(event),
                # Recipients are the controller's staff and its processors (Art. 28), not third parties.
                "thirdPartyDisclosure": False,
            }],
        }],
        "sensitive": purpose.involves_health_data,
        "spiCat": ["6 - Health"] if purpose.involves_health_data else [],
    }
    return receipt


def _history(event: ConsentEvent) -> list[ConsentEvent]:
    """The consent's life up to this event: same contact, purpose, channel and track."""
    events = ConsentEvent.objects.for_org(event.organisation_id).filter(
        contact_id=event.contact_id, purpose_id=event.purpose_id, channel=event.channel, seq__lte=event.seq,
        action__in=ISO_ACTIONS)
    if event.expressed_by == ConsentEvent.ExpressedBy.GUARDIAN:
        events = events.filter(expressed_by=ConsentEvent.ExpressedBy.GUARDIAN)
    else:
        events = events.exclude(expressed_by=ConsentEvent.ExpressedBy.GUARDIAN)
    return sorted(events, key=lambda e: (e.occurred_at, e.seq))


def notice_for(event: ConsentEvent):
    """The notice a receipt points to: the event's own, else the one of the consent it concerns, else the
    purpose's current notice in the event's language."""
    if event.notice_id:
        return event.notice
    giving = next((e for e in reversed(_history(event)) if e.action in KANTARA_ACTIONS and e.notice_id), None)
    if giving is not None:
        return giving.notice
    return current_notice(event.purpose, event.language)


def _indicated_by(event: ConsentEvent) -> str:
    if event.expressed_by == ConsentEvent.ExpressedBy.GUARDIAN:
        return "dpv:GuardianOfDataSubject"
    if event.method == ConsentEvent.Method.SYSTEM:
        return "dpv:DataController"
    return "dpv:DataSubject"


def _status(event: ConsentEvent) -> dict:
    status = {
        "@type": [DPV_STATUS[event.action]] + (["dpv:ExplicitlyExpressedConsent"] if event.action in KANTARA_ACTIONS
                                               else []),
        "dpv:isIndicatedBy": _indicated_by(event),
        "dpv:hasIndicationMethod": _collection_method(event),
        "dpv:isIndicatedAtTime": _iso(event.occurred_at),
        "dpv:isImplementedByEntity": f"urn:relance:{event.actor_kind}:{event.actor_id or '-'}",
        "dct:identifier": str(event.pk),
    }
    if event.staff_user_id:
        status["dpv:isImplementedByEntity"] = f"urn:relance:user:{event.staff_user_id}"
    return status


def iso27560(event: ConsentEvent, *, notice_url: str, preferences_url: str = "") -> dict:
    """An ISO/IEC TS 27560 consent record (DPV profile `dpv-27560#record`) for one consent decision."""
    if event.action not in ISO_ACTIONS or not event.purpose.consent_based:
        raise NotReceiptable("an ISO/IEC TS 27560 record describes a consent decision")
    org, purpose, contact = event.organisation, event.purpose, event.contact
    controller = _controller(org)
    location = getattr(settings, "RELANCE_STORAGE_LOCATION", DEFAULT_STORAGE_LOCATION)
    history = _history(event)
    giving = next((e for e in reversed(history) if e.action in KANTARA_ACTIONS), None)
    start = giving.occurred_at if giving else event.occurred_at
    until = giving.valid_until if giving else None
    subject_types = ["dpv:DataSubject"] + (["dpv:Child"] if is_below_consent_age(contact, event.occurred_at.date()) else [])
    legal_bases = [LEGAL_BASIS_IRI[Basis.CONSENT], "dpv:ExplicitlyExpressedConsent"]
    if purpose.involves_health_data:
        legal_bases.append(f"eu-gdpr:A9-2-{purpose.art9_condition}")
    notice = notice_for(event)
    contacts = [c for c in (controller["email"], controller["phone"]) if c]
    return {
        "@context": CONTEXT,
        "@id": f"urn:uuid:{event.pk}",
        "@type": "dpv:ConsentRecord",
        "dct:identifier": str(event.pk),
        "dct:conformsTo": DPV_RECORD_PROFILE,
        "dct:language": event.language,
        "dct:date": _iso(event.occurred_at),
        "dct:valid": f"{_iso(start)}/{_iso(until) if until else '..'}",
        "dpv:hasDataSubject": {"@id": f"urn:uuid:{contact.pk}", "@type": subject_types,
                               "dct:identifier": str(contact.pk)},
        "dpv:hasDataController": {
            "@id": f"urn:uuid:{org.uid}", "@type": "dpv:DataController", "dct:identifier": str(org.uid),
            "dpv:hasName": controller["name"],
            "dpv:hasAddress": ", ".join(x for x in (controller["street"], controller["country"]) if x),
            "dpv:hasContact": contacts or [controller["contact"]],
        },
        "dpv:hasJurisdiction": f"loc:{org.country}",
        "dpv:hasApplicableLaw": "eu-gdpr:GDPR",
        "dpv:hasLegalBasis": legal_bases,
        "dpv:hasProcess": {
            "@type": "dpv:Process",
            "dpv:hasService": org.name,
            "dpv:hasPurpose": {
                "@type": "dpv:Purpose", "dct:identifier": purpose.code, "dct:title": purpose.label(event.language),
                "skos:broader": "dpv:DirectMarketing" if purpose.message_class in (
                    MessageClass.PROMOTIONAL_COMMERCIAL, MessageClass.PROMOTIONAL_NONCOMMERCIAL)
                else "dpv:CommunicationManagement",
            },
            "dpv:hasPersonalData": [DATA_CATEGORIES[c][2] for c in purpose.data_categories],
            "dpv:hasRecipient": list(purpose.recipients),
            "dpv:hasStorageCondition": [
                {"@type": "dpv:StorageLocation", "dpv:hasLocation": f"loc:{location}"},
                {"@type": "dpv:StorageDuration", "dpv:hasDuration": f"P{purpose.retention_days}D",
                 "dct:description": purpose.retention},
            ],
            "dct:description": f"Messages by {event.channel} (consent is per purpose and channel, R-10)",
        },
        "dpv:hasNotice": {
            "@id": notice_url, "@type": "dpv:ConsentNotice",
            "dct:identifier": f"sha256:{notice.sha256}" if notice else "",
            "dct:hasVersion": str(notice.version) if notice else "",
            "dct:date": _iso(notice.published_at) if notice else None,
            "dct:language": notice.language if notice else event.language,
        },
        "dpv:hasConsentControl": {
            "@type": ["dpv:ProvideConsent", "dpv:WithdrawConsent"],
            "dpv:isExercisedAt": [x for x in ("sms:STOP", preferences_url) if x],
        },
        "dpv:hasRight": [{"@type": ["dpv:DataSubjectRight", iri], "dct:title": title} for iri, title in RIGHTS],
        "dpv:hasAuthority": {"@type": "dpv:DataProtectionAuthority", "dpv:hasName": "CNIL",
                             "@id": "https://www.cnil.fr"},
        "dpv:hasConsentStatus": [_status(e) for e in history],
    }


@transaction.atomic
def export_receipt(event: ConsentEvent, fmt: str, *, actor: Actor, notice_url: str, controller_url: str = "",
                   preferences_url: str = "") -> dict:
    """The receipt in `fmt` ("kantara" or "iso27560"), and its audit event (R-65)."""
    if fmt == "kantara":
        receipt = kantara(event, policy_url=notice_url, controller_url=controller_url)
    elif fmt == "iso27560":
        receipt = iso27560(event, notice_url=notice_url, preferences_url=preferences_url)
    else:
        raise NotReceiptable(f"unknown format {fmt!r}: use {' or '.join(FORMATS)}")
    audit.record(event.organisation, actor, "consent.receipt_exported", target=event,
                 details={"contact": str(event.contact_id), "format": fmt})
    return receipt
