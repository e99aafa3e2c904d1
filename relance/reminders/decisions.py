"""The schedule-time decision (R-21) for many reminders at once: messaging.facts.load_facts() reads
the facts of a whole batch in a few queries, the same pure decide() takes them.

Only messages the decision lets through are written as decided; anything else goes through the
outbox's own per-message decision, so that its timeline line and any final suppression are exactly
those of a single upsert (see bulk.py). Per-event consents (R-13) always take that exact path.
"""

from __future__ import annotations

from datetime import datetime

from relance.consent.policy import MessageFacts, decide
from relance.messaging.facts import load_facts
from relance.messaging.models import Message


def sendable(org, messages: list[Message], now: datetime) -> list[bool]:
    """For each message, True when decide() lets it through now; False sends it to the exact path."""
    groups: dict[tuple, list[Message]] = {}
    for message in messages:
        if not message.purpose.refresh_per_event:
            groups.setdefault((message.purpose_id, message.channel), []).append(message)
    passes: set[int] = set()
    for (_purpose_id, channel), group in groups.items():
        contacts = list({m.contact_id: m.contact for m in group}.values())
        facts = load_facts(org, contacts, group[0].purpose, channel, now)
        for message in group:
            contact_f, purpose_f, consent_f = facts[message.contact_id]
            situation = MessageFacts(channel=channel, country=org.country, organisation_paused=org.paused,
                                     valid_until=message.valid_until)
            if decide(contact_f, purpose_f, consent_f, situation, now).sends:
                passes.add(id(message))
    return [id(message) in passes for message in messages]
