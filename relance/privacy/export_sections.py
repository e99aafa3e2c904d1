"""The parts of an access export (R-42) that are not rows about the person: the controller, the
purposes and categories, the actual recipients, retention, the rights, the CNIL, the source and the
statement on automated decisions. Strings are translated in the caller's language (exports.py runs
them under translation.override). The readable rendering is in export_render.py.
"""

from __future__ import annotations

from collections import Counter

from django.db.models import Q
from django.utils.translation import gettext as _

from relance.consent.models import DATA_CATEGORIES, LEGAL_BASES, MESSAGE_CLASSES, Purpose
from relance.contacts.models import Contact
from relance.providers.kinds import BUILT_IN_KINDS, adapter
from relance.providers.models import ProviderAccount

from .models import ControllerProfile, DataCategory

CNIL = {
    "authority": "Commission nationale de l'informatique et des libertés (CNIL)",
    "address": "3 Place de Fontenoy, TSA 80715, 75334 Paris Cedex 07",
    "url": "https://www.cnil.fr/fr/plaintes",
}
# Which kinds of data the person's own fields are (Purpose.data_categories keys).
FIELD_CATEGORIES = {"first_name": "identity", "last_name": "identity", "phone": "contact", "email": "contact",
                    "birth_date": "birth_date", "minor": "birth_date"}


def _label(choices, value) -> str:
    return str(dict(choices).get(value, value or ""))


def controller(org) -> dict:
    profile = ControllerProfile.objects.for_org(org).first()
    return {
        "name": org.name, "legal_name": profile.legal_name if profile else "", "country": org.country,
        "address": profile.address if profile else "", "email": profile.contact_email if profile else "",
        "phone": profile.contact_phone if profile else "", "time_zone": org.time_zone,
        "dpo": {"name": org.dpo_name or "", "email": org.dpo_email or "", "phone": org.dpo_phone or ""},
    }


def purpose(p: Purpose, language: str) -> dict:
    return {
        "id": p.pk, "code": p.code, "label": p.label(language),
        "message_class": p.message_class, "message_class_label": _label(MESSAGE_CLASSES, p.message_class),
        "legal_basis": p.legal_basis, "legal_basis_label": _label(LEGAL_BASES, p.legal_basis),
        "art9_condition": p.art9_condition or None,
        "art9_condition_label": _label(Purpose.Art9.choices, p.art9_condition) if p.art9_condition else None,
        "legitimate_interest_assessment": p.balancing_test_ref or None,
        "data_categories": [category(code) for code in p.data_categories or []],
        "recipients": list(p.recipients or []), "retention": p.retention, "retention_days": p.retention_days,
        "consent_validity_days": p.consent_validity_days, "refresh_per_event": p.refresh_per_event,
        "channels": list(p.channels or []), "status": p.status,
    }


def category(code: str) -> dict:
    known = DATA_CATEGORIES.get(code)
    return {"code": code, "label": str(known[0]) if known else code}


def categories(subject: dict, purposes: list[Purpose]) -> list[dict]:
    """The union of what the person's fields are and what the purposes declare."""
    codes = [code for name, code in FIELD_CATEGORIES.items() if subject.get(name) not in (None, "")]
    codes += [code for p in purposes for code in p.data_categories or []]
    return [category(code) for code in dict.fromkeys(codes)]


def _vendor(kind: str, account: ProviderAccount | None) -> str:
    if kind == "smpp":
        return _("SMPP gateway \"%(name)s\"") % {"name": account.name if account else "smpp"}
    if kind in BUILT_IN_KINDS:
        return _("Relance itself (test or console provider: no message left the platform)") if kind != "django" \
            else _("The organisation's e-mail server (SMTP)")
    try:
        return adapter(kind).label
    except ValueError:
        return kind


def _provider(label: str, count: int, accounts: dict[int, ProviderAccount]) -> dict:
    kind, _sep, pk = label.partition(":")
    account = accounts.get(int(pk)) if pk.isdigit() else None
    return {
        "provider": label, "vendor": _vendor(kind, account), "kind": kind,
        "account": account.name if account else None, "channel": account.channel if account else None,
        "country": account.country if account else None, "hosting_region": account.hosting_region if account else None,
        "transfer_outside_eea": account.transfer_outside_eea if account else None,
        "platform_wide": account.platform_wide if account else None, "messages": count,
    }


def recipients(org, messages: list[dict], purposes: list[Purpose]) -> dict:
    """The providers that actually carried the person's messages (by name and country), then what
    the purposes declare. Each message gets its provider's name as `provider_name`."""
    used = Counter(m["provider"] for m in messages if m.get("provider"))
    ids = {int(pk) for label in used for pk in [label.partition(":")[2]] if pk.isdigit()}
    accounts = {a.pk: a for a in ProviderAccount.unscoped.filter(pk__in=ids).filter(
        Q(organisation_id=org.pk) | Q(organisation__isnull=True))}
    providers = [_provider(label, count, accounts) for label, count in sorted(used.items())]
    names = {item["provider"]: item["vendor"] for item in providers}
    for message in messages:
        message["provider_name"] = names.get(message.get("provider"))
    return {
        "providers": providers,
        "processor": _("Relance, the messaging platform, processes the data on the organisation's behalf (Art. 28)."),
        "declared": [{"purpose": p.code, "recipients": list(p.recipients or [])} for p in purposes],
    }


def retention(policies, purposes: list[Purpose]) -> dict:
    """The organisation's policies when it set any (they are what the purge applies), else the purposes'."""
    return {
        "applies": "policies" if policies else "purposes",
        "policies": [{"category": p.category, "label": _label(DataCategory.choices, p.category), "days": p.days,
                      "preset": p.preset, "source": p.source} for p in policies],
        "purposes": [{"purpose": p.code, "retention": p.retention, "retention_days": p.retention_days}
                     for p in purposes],
    }


def rights(org) -> list[dict]:
    dpo = org.dpo_email or org.dpo_phone or org.name
    how = _("Write to the data protection officer (%(dpo)s) or ask %(org)s directly; the answer comes within one "
            "month (Art. 12(3)).") % {"dpo": dpo, "org": org.name}
    stop = _("Reply STOP to any of our SMS, use the link in our messages, or ask us: it takes effect at once.")
    return [
        {"code": "access", "article": "Art. 15", "title": _("Access"),
         "text": _("Obtain a copy of your data and of this information."), "how": how},
        {"code": "rectification", "article": "Art. 16", "title": _("Rectification"),
         "text": _("Have inaccurate data corrected and incomplete data completed."), "how": how},
        {"code": "erasure", "article": "Art. 17", "title": _("Erasure"),
         "text": _("Have your data erased, except what a legal obligation requires us to keep."), "how": how},
        {"code": "restriction", "article": "Art. 18", "title": _("Restriction"),
         "text": _("Have the use of your data suspended while a question is examined."), "how": how},
        {"code": "portability", "article": "Art. 20", "title": _("Portability"),
         "text": _("Receive the data you gave in a machine-readable format (this document's JSON)."), "how": how},
        {"code": "objection", "article": "Art. 21", "title": _("Objection"),
         "text": _("Object to messages based on a public task or legitimate interests."), "how": stop},
        {"code": "withdraw_consent", "article": "Art. 7(3)", "title": _("Withdrawal of consent"),
         "text": _("Withdraw a consent as easily as you gave it; earlier messages stay lawful."), "how": stop},
        {"code": "complaint", "article": "Art. 77", "title": _("Complaint"),
         "text": _("Lodge a complaint with the supervisory authority (see below)."), "how": CNIL["url"]},
    ]


def complaint() -> dict:
    return {**CNIL, "text": _("If you think your data is not handled lawfully, you may complain to the CNIL: online "
                              "at www.cnil.fr/fr/plaintes or by post to 3 Place de Fontenoy, TSA 80715, "
                              "75334 Paris Cedex 07.")}


def source(contact: Contact, batch: dict | None) -> dict:
    return {"source": contact.source, "label": _label(Contact.Source.choices, contact.source),
            "import_batch": batch, "recorded_at": contact.created_at.isoformat() if contact.created_at else None}


def automated_decisions() -> dict:
    return {"exists": False, "text": _(
        "No decision producing legal effects or similarly significant effects is taken about you by automated "
        "means alone (Art. 22). Whether a message is sent follows fixed rules (consent, objection, sending hours, "
        "validity), and each message above shows the rule that applied.")}
