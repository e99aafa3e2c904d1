"""Plain words for what the services record as codes: why a message will not go (R-20), when a
reminder step comes (R-27), and what happened to a planned reminder at scheduling (R-21, R-22).

Pure helpers: they take values and return text or small dicts for the templates.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

# Every code a message or an excluded count may carry (consent.policy.Reason and the campaigns' own).
REASONS = {
    "no_consent": _("the person has not said yes to these messages"),
    "consent_expired": _("the person's consent has expired"),
    "withdrawn": _("the person withdrew their consent (or replied STOP)"),
    "objected": _("the person objected to these messages (or replied STOP)"),
    "not_informed": _("the person was never informed of this purpose"),
    "restricted": _("the person's data is restricted: nothing is sent to them"),
    "deceased": _("the person is recorded as deceased"),
    "erased": _("the person's data was erased"),
    "minor_without_guardian_consent": _("a minor without the consent of a parent or guardian"),
    "invalid_number": _("the number or address no longer works"),
    "expired": _("too late: the event had already started or the hold had ended"),
    "event_cancelled": _("the event was cancelled or moved"),
    "organisation_paused": _("sending is paused for the organisation"),
    "purpose_inactive": _("the purpose is not active"),
    "no_address": _("no phone number or e-mail address for this channel"),
    "campaign_cancelled": _("the campaign was cancelled"),
}
RULES = {  # the rule behind each reason, shown beside it for the DPO
    "no_consent": "R-10", "consent_expired": "R-13", "withdrawn": "R-12", "objected": "R-04", "not_informed": "R-04",
    "restricted": "R-44", "deceased": "R-45", "erased": "R-43", "minor_without_guardian_consent": "R-14",
    "invalid_number": "R-29", "expired": "R-23", "event_cancelled": "R-27", "organisation_paused": "R-34",
    "purpose_inactive": "R-01", "no_address": "R-20",
}
WHY_CANCELLED = {
    "rescheduled": _("the event was moved to another time: new reminders were planned"),
    "updated": _("the event was changed: new reminders were planned"),
    "cancelled": _("the event was cancelled"),
    "completed": _("the event is over (item returned, visit done)"),
}


def reason_text(code: str) -> str:
    return str(REASONS.get(code or "", code or ""))


def reasons(counts: dict[str, int]) -> list[dict]:
    """Excluded counts by reason, largest first, each with its words and its rule."""
    rows = [{"code": code, "count": n, "text": reason_text(code), "rule": RULES.get(code, "")}
            for code, n in (counts or {}).items() if n]
    return sorted(rows, key=lambda row: (-row["count"], row["code"]))


def offset_text(minutes: int) -> str:
    """-2880 → "2 days before", 120 → "2 hours after", 0 → "when it starts"."""
    if minutes == 0:
        return str(_("when it starts"))
    amount = abs(minutes)
    if amount % 1440 == 0:
        size = ngettext("%(n)d day", "%(n)d days", amount // 1440) % {"n": amount // 1440}
    elif amount % 60 == 0:
        size = ngettext("%(n)d hour", "%(n)d hours", amount // 60) % {"n": amount // 60}
    else:
        size = ngettext("%(n)d minute", "%(n)d minutes", amount) % {"n": amount}
    return str((_("%(size)s before") if minutes < 0 else _("%(size)s after")) % {"size": size})


def short_offset(minutes: int) -> str:
    """The compact form of R-27: −48 h, +3 d, −30 min (days from three days on)."""
    sign = "−" if minutes < 0 else "+"
    amount = abs(minutes)
    if amount >= 3 * 1440 and amount % 1440 == 0:
        return sign + str(_("%(n)d d") % {"n": amount // 1440})
    if amount % 60 == 0:
        return f"{sign}{amount // 60} h"
    return f"{sign}{amount} min"


def decision(message, first_line, not_before) -> dict:
    """What was decided for a planned reminder, in words: {"state", "text", "rule"}.

    `first_line` is the message's first timeline line (the schedule-time decision, R-21);
    `not_before` the next opening of the sending window at its due time (R-22), or None.
    """
    if message.status == "cancelled":
        why = (first_line_detail(message) or {}).get("why", "")
        return {"state": "cancelled", "text": str(WHY_CANCELLED.get(why, reason_text(message.reason))),
                "rule": message.rule}
    if message.status in ("suppressed", "expired"):
        return {"state": "suppressed", "text": reason_text(message.reason), "rule": message.rule}
    if message.status in ("sent", "delivered", "failed", "sending"):
        return {"state": "done", "text": "", "rule": ""}
    if first_line is not None and first_line.reason:
        return {"state": "at_risk", "text": reason_text(first_line.reason), "rule": first_line.rule}
    if not_before is not None and message.valid_until is not None and not_before >= message.valid_until:
        return {"state": "too_late", "text": "", "until": not_before, "rule": "R-23"}
    if not_before is not None:
        return {"state": "deferred", "text": "", "until": not_before, "rule": "R-22"}
    return {"state": "send", "text": "", "rule": "R-20"}


def first_line_detail(message) -> dict:
    """The detail of the line that closed the message (cancelled: why), if loaded."""
    closing = getattr(message, "closing_line", None)
    return closing.detail if closing is not None else {}
