"""From an event and its rule to outbox messages (R-23, R-27): one message per future step, with the
template in the person's language, the values the template needs, and the validity of its kind."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from relance.messaging import outbox
from relance.messaging.models import Message, Template
from relance.messaging.render import format_date

from .models import Event, EventKind, ReminderRule

SOURCE = Message.Source.EVENT


@dataclass
class Plan:
    """What scheduling an event produced: messages to write, and steps left out because already past."""

    messages: list[Message] = field(default_factory=list)
    past: int = 0
    missing_template: int = 0


def validity(kind: str, starts_at: datetime, ends_at: datetime | None) -> datetime | None:
    """R-23: never after an appointment or a convocation starts, never after a hold ends; a loan
    reminder has no end of validity (returning the item cancels it instead)."""
    if kind == EventKind.RESERVED_ITEM:
        return ends_at
    if kind == EventKind.LOAN_DUE:
        return None
    return starts_at


def templates_by_key(org, purpose_ids) -> dict[tuple, Template]:
    """Active templates of these purposes, by (purpose id, code, channel, language)."""
    found = Template.objects.for_org(org).filter(purpose_id__in=list(purpose_ids), status=Template.Status.ACTIVE)
    return {(t.purpose_id, t.code, t.channel, t.language): t for t in found}


def choose_template(templates: dict, purpose_id: int, code: str, channel: str, languages: list[str]) -> Template | None:
    """The person's language first, then the organisation's default, then any language written."""
    for language in languages:
        found = templates.get((purpose_id, code, channel, language))
        if found is not None:
            return found
    others = sorted(key for key in templates if key[:3] == (purpose_id, code, channel))
    return templates[others[0]] if others else None


def message_params(event: Event, org, site, extra: dict, language: str) -> dict:
    """The values the template may use, sealed in the message: the event's start (the renderer
    formats date and time in the organisation's zone), the place, and the integrator's values."""
    values = {"starts_at": event.starts_at.isoformat()}
    if site is not None:
        values["site"] = site.name
        values["place"] = site.name
    if event.kind == EventKind.LOAN_DUE:
        values["due_date"] = format_date(event.starts_at, language, org.time_zone)
    values.update(extra)
    return values


def event_params(event: Event) -> dict:
    return json.loads(event.params) if event.params else {}


def plan(event: Event, *, org, contact, purpose, rule: ReminderRule | None, site, templates: dict, now: datetime,
         extra: dict | None = None) -> Plan:
    """Messages for the rule's steps still to come; steps already past are only counted."""
    result = Plan()
    if rule is None:
        return result
    extra = event_params(event) if extra is None else extra
    until = validity(event.kind, event.starts_at, event.ends_at)
    languages = [contact.language, org.default_language]
    for index, step in enumerate(rule.steps):
        due = event.starts_at + timedelta(minutes=step["offset_minutes"])
        if due <= now:
            result.past += 1
            continue
        template = choose_template(templates, purpose.pk, step["template"], step["channel"], languages)
        if template is None:  # retired since the rule was written: the step cannot be rendered
            result.missing_template += 1
            continue
        result.messages.append(outbox.build(
            contact, purpose, step["channel"], template=template, due_at=due, source=SOURCE, source_id=str(event.pk),
            step=index, valid_until=until, language=template.language,
            params=message_params(event, org, site, extra, template.language),
            event_ref=str(event.pk) if purpose.refresh_per_event else ""))
    return result
