"""The record of processing activities (Art. 30 GDPR, R-70), generated from the live configuration.

- `build_register(org, language=...)`: the controller's record (Art. 30(1)): its identity and DPO,
  one processing activity per active purpose, the sub-processors from the provider accounts the
  organisation sends through (its own and the platform's, enabled), transfers outside the EEA with
  their safeguards, retention, security measures and the DPIA references of health purposes (R-72).
- `build_processor_record(language=...)`: the platform's own record as a processor (Art. 30(2)).
- `missing_fields(record)`: every empty mandatory field, by dotted path, so `relance register
  --check` and the demo test can say what a DPO still has to fill in.

Both records are plain dicts (JSON as they are); `relance.privacy.register_document` lays them out
as HTML and PDF. Every label is already in the reader's language.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from relance.accounts.models import Organisation
from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent.models import DATA_CATEGORIES, LEGAL_BASES, MESSAGE_CLASSES, Purpose
from relance.providers.kinds import BUILT_IN_KINDS
from relance.providers.models import EEA, ProviderAccount

from .controller import get_controller_profile
from .models import DataCategory
from .retention import policies_for

# Art. 30(1)(c): the categories of data subjects follow from what the organisation is.
SUBJECTS = {
    Organisation.Kind.HEALTH: (gettext_lazy("Patients"),
                               gettext_lazy("Parents or legal guardians of minor or protected patients")),
    Organisation.Kind.ANSWERING_SERVICE: (gettext_lazy("Patients of the practices served"),
                                          gettext_lazy("Parents or legal guardians of minor or protected patients")),
    Organisation.Kind.OCCUPATIONAL_HEALTH: (gettext_lazy("Employees of the member companies"),),
    Organisation.Kind.LIBRARY: (gettext_lazy("Library patrons (borrowers)"),
                                gettext_lazy("Parents or legal guardians of minor patrons")),
    Organisation.Kind.PUBLIC_AUTHORITY: (gettext_lazy("Users of the public service"),
                                         gettext_lazy("Parents or legal guardians of minor users")),
    Organisation.Kind.COMPANY: (gettext_lazy("Customers"),),
}
PROSPECTS = gettext_lazy("Prospects who agreed to receive offers")

# Vendor identities per provider kind; an SMPP operator or an SMTP relay is named by its account
# (or by `vendor_name` in the account's options).
VENDORS = {"twilio": "Twilio Inc.", "vonage": "Vonage Holdings Corp.", "ovh": "OVH SAS (OVHcloud)",
           "brevo": "Sendinblue SAS (Brevo)"}
SCC = gettext_lazy("Standard contractual clauses (Art. 46(2)(c))")
DPF = gettext_lazy("EU-US Data Privacy Framework adequacy decision (Art. 45)")
ADEQUACY = gettext_lazy("Adequacy decision of the European Commission (Art. 45)")
# Countries with an adequacy decision (Art. 45) covering commercial processing.
ADEQUATE = frozenset("AD AR CA CH FO GB GG IL IM JE JP KR NZ UY".split())
# The US vendors of the registry are certified under the Data Privacy Framework; anyone else
# outside the EEA defaults to SCCs. An account's options `transfer_safeguard` overrides both.
KIND_SAFEGUARDS = {"twilio": DPF, "vonage": DPF}

# What the platform itself does to protect the data (SPEC §3.7); the organisation adds its own.
PLATFORM_MEASURES = (
    gettext_lazy("Personal fields and message bodies encrypted at rest with AES-256-GCM, one data key per "
                 "person, wrapped by the organisation's key and by a master key kept outside the database (R-60)."),
    gettext_lazy("Keys kept in a separate key store: erasing a person destroys their key (crypto-shredding), "
                 "which also makes their data unreadable in backups; key backups rotate every %(days)d days."),
    gettext_lazy("Look-ups by phone number or e-mail through keyed hashes (HMAC-SHA-256, one key per "
                 "organisation); no personal data in clear in indexes, logs or error reports (R-61)."),
    gettext_lazy("Key rotation without interruption (relance keys rotate, R-62)."),
    gettext_lazy("Isolation of organisations: every query is restricted to one organisation (R-63)."),
    gettext_lazy("Staff passwords hashed with Argon2, login throttling, second factor (TOTP) required for "
                 "administrators and DPOs, sessions that expire, CSRF protection (R-64)."),
    gettext_lazy("Encrypted transport (TLS) with HSTS and security headers (CSP) in production."),
    gettext_lazy("Audit trail of every read of personal data, export and change of configuration, consent or "
                 "request, hash-chained per organisation and checked by relance audit verify (R-65)."),
    gettext_lazy("Authenticated provider webhooks; outgoing webhooks signed with HMAC-SHA-256 (R-66)."),
    gettext_lazy("Retention policies enforced by a daily purge in batches, keeping only anonymous "
                 "statistics (R-50, R-51)."),
    gettext_lazy("Content minimisation for health data: templates checked against a list of medical words (R-24)."),
)

CONTROLLER_REQUIRED = ("name", "legal_name", "address", "contact_email")
DPO_REQUIRED = ("name", "email")
ACTIVITY_REQUIRED = ("name", "legal_basis", "subject_categories", "data_categories", "recipients", "retention")
PROCESSOR_REQUIRED = ("name", "address", "contact_email")


# --- pieces shared by both records ------------------------------------------------------------
def platform_measures() -> list[str]:
    days = getattr(settings, "RELANCE_KEY_BACKUP_DAYS", 7)
    return [str(text) % {"days": days} if "%(days)" in str(text) else str(text) for text in PLATFORM_MEASURES]


def safeguard(account: ProviderAccount) -> str:
    """The Chapter V safeguard of an account outside the EEA ("" inside it)."""
    if not account.transfer_outside_eea:
        return ""
    override = str((account.options or {}).get("transfer_safeguard") or "").strip()
    if override:
        return override
    if account.country.upper() in ADEQUATE:
        return str(ADEQUACY)
    return str(KIND_SAFEGUARDS.get(account.kind, SCC))


def vendor_name(account: ProviderAccount) -> str:
    return str((account.options or {}).get("vendor_name") or VENDORS.get(account.kind) or account.name)


def sub_processor(account: ProviderAccount) -> dict:
    return {
        "name": vendor_name(account), "account": account.name, "kind": account.kind, "channel": account.channel,
        "country": account.country.upper(), "hosting_region": account.hosting_region,
        "platform_wide": account.platform_wide, "transfer_outside_eea": account.transfer_outside_eea,
        "safeguard": safeguard(account),
    }


def provider_accounts(org: Organisation | None = None, *, every_org: bool = False) -> list[ProviderAccount]:
    """Enabled accounts that really hand data to a vendor (not the console/test providers): the
    organisation's own and the platform's, or every one (`every_org`) for the processor record."""
    rows = ProviderAccount.unscoped.filter(enabled=True).exclude(kind__in=[k for k in BUILT_IN_KINDS if k != "django"])
    if not every_org:
        rows = rows.filter(Q(organisation=org) | Q(organisation__isnull=True))
    return sorted(rows, key=lambda a: (a.channel, a.organisation_id is None, a.priority, a.pk))


def _sub_processors(accounts) -> list[dict]:
    seen, result = set(), []
    for account in accounts:
        entry = sub_processor(account)
        key = (entry["name"], entry["channel"], entry["country"], entry["hosting_region"], entry["safeguard"])
        if key not in seen:  # two accounts of one vendor are one sub-processor
            seen.add(key)
            result.append(entry)
    return result


# --- the controller's register (Art. 30(1)) -----------------------------------------------------
def _controller(org: Organisation) -> dict:
    profile = get_controller_profile(org)
    return {
        "name": org.name, "legal_name": profile.legal_name, "address": profile.address,
        "contact_email": profile.contact_email, "contact_phone": profile.contact_phone,
        "registration_number": profile.registration_number, "country": org.country,
        "representative": profile.representative, "joint_controllers": profile.joint_controllers,
        "needs_representative": org.country.upper() not in EEA,
    }


def _dpo(org: Organisation) -> dict:
    return {"name": org.dpo_name or "", "email": org.dpo_email or "", "phone": org.dpo_phone or ""}


def subject_categories(org: Organisation, purpose: Purpose) -> list[str]:
    subjects = [str(s) for s in SUBJECTS.get(org.kind, ())]
    if purpose.message_class.startswith("promotional") and org.kind == Organisation.Kind.COMPANY:
        subjects.append(str(PROSPECTS))
    return subjects


def _recipients(purpose: Purpose, subs: list[dict]) -> list[str]:
    processor = _("%(name)s (processor, Art. 28)") % {"name": processor_name()}
    channels = set(purpose.channels or ["sms", "email"])
    vendors = [_("%(name)s (sub-processor)") % {"name": s["name"]} for s in subs if s["channel"] in channels]
    result = []
    for item in [*(purpose.recipients or []), processor, *vendors]:
        if item not in result:
            result.append(item)
    return result


def _activity(org: Organisation, purpose: Purpose, language: str, subs: list[dict]) -> dict:
    classes, bases = dict(MESSAGE_CLASSES), dict(LEGAL_BASES)
    health = purpose.involves_health_data
    return {
        "purpose_code": purpose.code, "name": purpose.label(language),
        "message_class": purpose.message_class, "message_class_label": str(classes.get(purpose.message_class, "")),
        "legal_basis": purpose.legal_basis, "legal_basis_label": str(bases.get(purpose.legal_basis, "")),
        "art9_condition": purpose.art9_condition,
        "art9_label": str(Purpose.Art9(purpose.art9_condition).label) if purpose.art9_condition else "",
        "subject_categories": subject_categories(org, purpose),
        "data_categories": [{"code": code, "label": str(DATA_CATEGORIES[code][0]) if code in DATA_CATEGORIES else code}
                            for code in purpose.data_categories or []],
        "recipients": _recipients(purpose, subs),
        "channels": list(purpose.channels or []),
        "retention": purpose.retention, "retention_days": purpose.retention_days,
        "health": health,
        "dpia": {"ref": purpose.dpia_ref, "not_needed_reason": purpose.dpia_not_needed_reason} if health else None,
        "activated_at": purpose.activated_at.isoformat() if purpose.activated_at else None,
    }


def retention_rows(org: Organisation) -> list[dict]:
    """Every data category's policy in force: the organisation's own, or the default (R-50)."""
    labels = dict(DataCategory.choices)
    return [{"category": category, "label": str(labels[category]), "days": policy.days, "preset": policy.preset,
             "source": "" if policy.is_default else policy.source, "default": policy.is_default}
            for category, policy in policies_for(org).items()]


def build_register(org: Organisation, *, language: str = "fr", now=None) -> dict:
    """The organisation's record of processing activities from what is configured right now."""
    with translation.override(language):
        subs = _sub_processors(provider_accounts(org))
        purposes = Purpose.objects.for_org(org).filter(status=Purpose.Status.ACTIVE).order_by("code")
        activities = [_activity(org, p, language, subs) for p in purposes]
        profile = get_controller_profile(org)
        return {
            "record": "controller", "language": language,
            "generated_at": (now or timezone.now()).isoformat(),
            "organisation": org.slug, "processes_health_data": org.processes_health_data,
            "controller": _controller(org), "dpo": _dpo(org),
            "activities": activities,
            "sub_processors": subs,
            "transfers": [s for s in subs if s["transfer_outside_eea"]],
            "retention": retention_rows(org),
            "security_measures": {"platform": platform_measures(),
                                  "organisation": [line.strip() for line in profile.security_measures.splitlines()
                                                   if line.strip()]},
            "dpia": [{"purpose_code": a["purpose_code"], "name": a["name"], **a["dpia"]}
                     for a in activities if a["health"]],
        }


# --- the platform's record as a processor (Art. 30(2)) ----------------------------------------
def processor_name() -> str:
    return getattr(settings, "RELANCE_PROCESSOR_NAME", "") or "Relance"


def _processor() -> dict:
    return {
        "name": processor_name(),
        "address": getattr(settings, "RELANCE_PROCESSOR_ADDRESS", ""),
        "contact_email": getattr(settings, "RELANCE_PROCESSOR_EMAIL", ""),
        "dpo": getattr(settings, "RELANCE_PROCESSOR_DPO", ""),
        "storage_location": getattr(settings, "RELANCE_STORAGE_LOCATION", "EU"),
    }


PROCESSING_CATEGORIES = (
    gettext_lazy("Storage of contacts, events and consent records on behalf of the controller"),
    gettext_lazy("Scheduling and sending of SMS and e-mail messages through the sub-processors"),
    gettext_lazy("Handling of delivery receipts and replies (STOP, INFO) and of the suppression list"),
    gettext_lazy("Support for data-subject requests: exports, rectification, erasure"),
    gettext_lazy("Retention purges and anonymous statistics"),
)


def _controller_entry(org: Organisation, language: str) -> dict:
    profile = get_controller_profile(org)
    purposes = Purpose.objects.for_org(org).filter(status=Purpose.Status.ACTIVE).order_by("code")
    return {
        "organisation": org.slug, "name": org.name, "legal_name": profile.legal_name, "address": profile.address,
        "contact_email": profile.contact_email, "contact_phone": profile.contact_phone,
        "dpo_name": org.dpo_name or "", "dpo_email": org.dpo_email or "",
        "processing": [p.label(language) for p in purposes],
    }


def build_processor_record(*, language: str = "fr", organisation: Organisation | None = None, now=None) -> dict:
    """The platform's Art. 30(2) record: every controller it works for, or only `organisation` (what
    one organisation may see of it through the API)."""
    with translation.override(language):
        if organisation is not None:
            orgs, accounts = [organisation], provider_accounts(organisation)
        else:
            orgs, accounts = list(Organisation.objects.order_by("name")), provider_accounts(every_org=True)
        subs = _sub_processors(accounts)
        return {
            "record": "processor", "language": language, "generated_at": (now or timezone.now()).isoformat(),
            "processor": _processor(),
            "controllers": [_controller_entry(org, language) for org in orgs],
            "processing_categories": [str(text) for text in PROCESSING_CATEGORIES],
            "sub_processors": subs,
            "transfers": [s for s in subs if s["transfer_outside_eea"]],
            "security_measures": {"platform": platform_measures(), "organisation": []},
        }


# --- completeness -----------------------------------------------------------------------------
def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def missing_fields(record: dict) -> list[str]:
    """Dotted paths of every empty mandatory field (Art. 30(1) or 30(2)), in the record's order."""
    if record.get("record") == "processor":
        missing = [f"processor.{name}" for name in PROCESSOR_REQUIRED if _empty(record["processor"].get(name))]
    else:
        missing = _missing_controller(record)
    for entry in record["transfers"]:
        if _empty(entry["safeguard"]):
            missing.append(f"transfers.{entry['name']}.safeguard")
    if _empty(record["security_measures"]["platform"]) and _empty(record["security_measures"]["organisation"]):
        missing.append("security_measures")
    return missing


def _missing_controller(record: dict) -> list[str]:
    controller, dpo = record["controller"], record["dpo"]
    missing = [f"controller.{name}" for name in CONTROLLER_REQUIRED if _empty(controller.get(name))]
    if controller.get("needs_representative") and _empty(controller.get("representative")):
        missing.append("controller.representative")  # Art. 27: a controller outside the EU
    missing += [f"dpo.{name}" for name in DPO_REQUIRED if _empty(dpo.get(name))]
    if not record["activities"]:
        missing.append("activities")
    for activity in record["activities"]:
        prefix = f"activities.{activity['purpose_code']}"
        missing += [f"{prefix}.{name}" for name in ACTIVITY_REQUIRED if _empty(activity.get(name))]
        if record.get("processes_health_data") and _empty(activity["art9_condition"]):
            missing.append(f"{prefix}.art9_condition")
        if activity["health"] and _empty(activity["dpia"]["ref"]) and _empty(activity["dpia"]["not_needed_reason"]):
            missing.append(f"{prefix}.dpia")
    return missing


# --- audited generation (what the command and the API call) -----------------------------------
@transaction.atomic
def generate_register(org: Organisation, *, actor: Actor, language: str = "fr", fmt: str = "json") -> dict:
    record = build_register(org, language=language)
    audit.record(org, actor, "privacy.register_generated", target=org,
                 details={"record": "controller", "format": fmt, "language": language,
                          "activities": len(record["activities"]), "missing": len(missing_fields(record))})
    return record


@transaction.atomic
def generate_processor_record(*, actor: Actor, language: str = "fr", fmt: str = "json",
                              organisation: Organisation | None = None) -> dict:
    record = build_processor_record(language=language, organisation=organisation)
    audit.record(organisation, actor, "privacy.register_generated", target=organisation,
                 details={"record": "processor", "format": fmt, "language": language,
                          "controllers": len(record["controllers"])})
    return record
