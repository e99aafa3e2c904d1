"""The permission matrix: which role may do what. THE one place it is decided (docs/permissions.md
is generated from it and a test keeps the two equal)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

ADMIN, DPO, OPERATOR, AUDITOR = "admin", "dpo", "operator", "auditor"
ROLES = (ADMIN, DPO, OPERATOR, AUDITOR)

# action -> (roles allowed, description)
MATRIX: dict[str, tuple[frozenset[str], str]] = {
    "organisation.view": (frozenset(ROLES), _("See the organisation's settings")),
    "organisation.configure": (frozenset({ADMIN}), _("Change settings, sending windows, keywords")),
    "site.manage": (frozenset({ADMIN}), _("Create and edit sites")),
    "member.view": (frozenset({ADMIN, DPO, AUDITOR}), _("See users and their roles")),
    "member.manage": (frozenset({ADMIN}), _("Invite users, change roles, remove users")),
    "apikey.manage": (frozenset({ADMIN}), _("Create and revoke API keys")),
    "audit.view": (frozenset({ADMIN, DPO, AUDITOR}), _("Read the audit trail and verify it")),
    "contact.view_personal": (frozenset({ADMIN, DPO, OPERATOR}), _("See contacts' personal data unmasked")),
    "contact.edit": (frozenset({ADMIN, DPO, OPERATOR}), _("Create, edit and import contacts")),
    "consent.record": (frozenset({ADMIN, DPO, OPERATOR}), _("Record consent or objection on someone's behalf")),
    "purpose.manage": (frozenset({ADMIN, DPO}), _("Create and activate purposes and notices")),
    "template.manage": (frozenset({ADMIN, DPO, OPERATOR}), _("Write message templates")),
    "template.override_linter": (frozenset({DPO}), _("Override the health-content linter with a justification")),
    "message.view": (frozenset(ROLES), _("See the outbox and message timelines (content masked for auditors)")),
    "campaign.launch": (frozenset({ADMIN, OPERATOR}), _("Launch campaigns")),
    "rights.manage": (frozenset({ADMIN, DPO}), _("Handle data-subject requests")),
    "export.download": (frozenset({DPO}), _("Download access exports")),
    "retention.manage": (frozenset({ADMIN, DPO}), _("Set retention policies and run purges")),
    "register.view": (frozenset({ADMIN, DPO, AUDITOR}), _("See and download the Art. 30 register")),
    "breach.manage": (frozenset({ADMIN, DPO}), _("Record and notify breaches")),
    "provider.manage": (frozenset({ADMIN}), _("Configure SMS and e-mail providers")),
    "webhook.manage": (frozenset({ADMIN}), _("Configure the outgoing webhooks to connected systems")),
    "contact.erase": (frozenset({ADMIN, DPO}), _("Erase a contact for good (crypto-shredding)")),
    "compliance.view": (frozenset({ADMIN, DPO, AUDITOR}), _("See the monthly compliance reports")),
}

# API key scopes, the integrator's side of the matrix.
API_SCOPES: dict[str, str] = {  # labels shown in the back-office and docs
    "organisation:read": _("read the organisation and its sites"),
    "sites:write": _("create and edit sites"),
    "contacts:read": _("read contacts"),
    "contacts:write": _("create, update and import contacts"),
    "consent:write": _("record consent events"),
    "purposes:write": _("create, change and activate purposes; publish notices"),
    "templates:read": _("read message templates and preview them"),
    "templates:write": _("create, change and retire message templates"),
    "settings:write": _("change the sending settings (sender, opt-out mention, keywords, windows)"),
    "events:write": _("create, update and cancel events"),
    "events:read": _("read events, their reminders and reminder rules"),
    "messages:read": _("read messages and their status"),
    "messages:write": _("send messages"),
    "campaigns:read": _("read campaigns and preview their audience"),
    "campaigns:write": _("create, start, pause, resume and cancel campaigns"),
    "rights:read": _("read data-subject requests and their deadlines"),
    "rights:write": _("open and handle data-subject requests (extend, complete, refuse)"),
    "exports:read": _("generate and download access exports (personal data)"),
    "erasure:write": _("erase a contact (crypto-shredding) and restrict processing"),
    "retention:read": _("read retention policies and purge reports"),
    "retention:write": _("change retention policies and run purges"),
    "register:read": _("read the Art. 30 register and the compliance reports"),
    "breaches:read": _("read the breach register"),
    "breaches:write": _("record breaches, notify and tell the people concerned"),
    "webhooks:write": _("manage the organisation's outgoing webhook endpoints"),
    "audit:read": _("read the audit trail"),
}


def allowed(role: str | None, action: str) -> bool:
    try:
        roles, _description = MATRIX[action]
    except KeyError:
        raise KeyError(f"unknown action {action!r}: add it to accounts/permissions.py MATRIX") from None
    return role in roles


def require(role: str | None, action: str) -> None:
    if not allowed(role, action):
        raise PermissionDenied(action)


def matrix_markdown() -> str:
    """The matrix as the Markdown table written to docs/permissions.md."""
    from django.utils import translation

    with translation.override("en"):
        lines = [
            "| action | " + " | ".join(ROLES) + " | what it allows |",
            "|---|" + "---|" * len(ROLES) + "---|",
        ]
        for action, (roles, description) in MATRIX.items():
            cells = " | ".join("yes" if role in roles else "—" for role in ROLES)
            lines.append(f"| `{action}` | {cells} | {description} |")
        lines += ["", "| API key scope | what it allows |", "|---|---|"]
        lines += [f"| `{scope}` | {text} |" for scope, text in API_SCOPES.items()]
    return "\n".join(lines) + "\n"
