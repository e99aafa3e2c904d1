"""How a contact is shown: in clear to roles with contact.view_personal, masked to the others (the
auditor), and the links to other areas' pages that exist."""

from __future__ import annotations

from relance.accounts.permissions import allowed

DOT = "•"


def sees_personal(request) -> bool:
    return request.membership is not None and allowed(request.membership.role, "contact.view_personal")



def mask_phone(e164: str | None) -> str:
    """"+33 6•••••• 78": the country and the last two digits, enough to tell two numbers apart."""
    if not e164:
        return ""
    if len(e164) < 8:
        return DOT * len(e164)
    return f"{e164[:3]} {e164[3]}{DOT * (len(e164) - 6)} {e164[-2:]}"


def mask_name(name: str | None) -> str:
    return f"{name[0]}{DOT * 4}" if name else ""


def mask_email(email: str | None) -> str:
    if not email or "@" not in email:
        return DOT * 4 if email else ""
    local, domain = email.rsplit("@", 1)
    tld = domain.rsplit(".", 1)[-1] if "." in domain else ""
    return f"{local[0]}{DOT * 3}@{DOT * 3}.{tld}" if tld else f"{local[0]}{DOT * 3}@{DOT * 3}"


def masked(data: dict) -> dict:
    """The same keys with values no one can read back: what an auditor sees."""
    out = dict.fromkeys(data, "")
    out.update({
        "first_name": mask_name(data.get("first_name")), "last_name": mask_name(data.get("last_name")),
        "phone": mask_phone(data.get("phone")), "email": mask_email(data.get("email")),
    })
    for name in ("birth_date", "external_ref"):
        if data.get(name):
            out[name] = DOT * 4
    if data.get("minor") is not None:
        out["minor"] = DOT * 4
    return out


def shown(request, data: dict) -> dict:
    return data if sees_personal(request) else masked(data)


def display_name(data: dict) -> str:
    return " ".join(part for part in (data.get("first_name"), data.get("last_name")) if part)
