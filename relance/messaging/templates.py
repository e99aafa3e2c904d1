"""Every write on templates and sending settings, each in one transaction with its audit event, and
the editor's preview (R-24, R-25, R-26).

A template is checked on every save: its fields (every problem at once, by field) and the linter
(`lint.py`). Linter errors refuse the save; warnings are only shown. A DPO may let flagged health
words through with a justification (`override_lint`); only the DPO role may.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from relance.accounts.models import Membership, Organisation, Site
from relance.accounts.permissions import allowed
from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent.models import CHANNELS, LANGUAGES, Purpose
from relance.consent.policy import MessageClass
from relance.lib import sms_text

from . import lint as linter
from . import windows
from .models import SendingSettings, Template
from .render import PLACEHOLDERS
from .sending import settings_for

CHANNEL_CODES = [code for code, _label in CHANNELS]
LANGUAGE_CODES = [code for code, _label in LANGUAGES]
MAX_BODY = {"sms": 1600, "email": 20000}
MAX_SUBJECT = 200
MIN_REASON = 10
TEMPLATE_CHANGES = {"body", "subject", "transliterate"}


# --- checks --------------------------------------------------------------------------------
def _add(errors: dict, field: str, message: str) -> None:
    errors.setdefault(field, []).append(str(message))


def _owned_purpose(org: Organisation, purpose) -> Purpose | None:
    pk = purpose.pk if isinstance(purpose, Purpose) else purpose
    return Purpose.objects.for_org(org).filter(pk=pk).first() if pk is not None else None


def _check_purpose(purpose: Purpose | None, errors: dict) -> None:
    if purpose is None:
        _add(errors, "purpose", _("No such purpose in your organisation. Give the id of one of your purposes."))
    elif purpose.status == Purpose.Status.RETIRED:
        _add(errors, "purpose", _("This purpose is retired: it sends nothing. Choose an active or draft purpose."))
    elif not purpose.message_class:
        _add(errors, "purpose", _("Set the purpose's message class first: the checks of a template depend on it."))


def _check_channel(purpose: Purpose | None, channel: str, language: str, errors: dict) -> None:
    if channel not in CHANNEL_CODES:
        _add(errors, "channel", _("Choose one of: %s.") % ", ".join(CHANNEL_CODES))
    elif purpose is not None and channel not in (purpose.channels or []):
        _add(errors, "channel", _("The purpose '%(purpose)s' sends by: %(channels)s. Choose one of them, or add "
                                  "this channel to the purpose first.")
             % {"purpose": purpose.code, "channels": ", ".join(purpose.channels or []) or "—"})
    if language not in LANGUAGE_CODES:
        _add(errors, "language", _("Choose one of: %s.") % ", ".join(LANGUAGE_CODES))


def _check_text(channel: str, body: str, subject: str, errors: dict) -> None:
    if not (body or "").strip():
        _add(errors, "body", _("Write the text of the message."))
    elif len(body) > MAX_BODY.get(channel, MAX_BODY["email"]):
        _add(errors, "body", _("The text is too long: at most %(max)d characters.")
             % {"max": MAX_BODY.get(channel, MAX_BODY["email"])})
    if channel == "email" and not (subject or "").strip():
        _add(errors, "subject", _("An e-mail needs a subject."))
    elif channel == "sms" and subject:
        _add(errors, "subject", _("An SMS has no subject: leave it empty."))
    elif len(subject or "") > MAX_SUBJECT:
        _add(errors, "subject", _("The subject is too long: at most %(max)d characters.") % {"max": MAX_SUBJECT})


def _check_transliterate(channel: str, transliterate: bool, sending: SendingSettings, errors: dict) -> None:
    if not transliterate:
        return
    if channel != "sms":
        _add(errors, "transliterate", _("Transliteration only applies to SMS."))
    elif not sending.allow_transliteration:
        _add(errors, "transliterate", _("Your organisation does not allow transliteration: an administrator can "
                                        "allow it in the sending settings."))


def lint_template(org: Organisation, *, purpose: Purpose, channel: str, language: str, body: str, subject: str = "",
                  transliterate: bool = False, overrides=(), sending: SendingSettings | None = None):
    """The linter's problems for this text in this organisation (R-24, R-25, R-26)."""
    sending = sending or settings_for(org)
    return linter.lint(
        body, subject, channel=channel, message_class=purpose.message_class or MessageClass.SERVICE,
        processes_health_data=org.processes_health_data, org_kind=org.kind, overrides=overrides,
        stop_mention=sending.stop_mention, sender=sending.sms_sender, org_name=org.name, language=language,
        sample=_samples(org, sending, language), transliterate=transliterate and sending.allow_transliteration)


def _samples(org: Organisation, sending: SendingSettings, language: str) -> dict[str, str]:
    site = Site.objects.for_org(org).order_by("name").first()
    return linter.sample_values(language, org_name=org.name, sender=sending.sms_sender,
                                stop_mention=sending.stop_mention, site_name=site.name if site else "")


def _content_errors(org: Organisation, sending: SendingSettings, *, purpose: Purpose | None, channel: str,
                    language: str, body: str, subject: str, transliterate: bool, overrides=()) -> tuple[dict, list]:
    """Every problem at once: fields by name, then the linter's errors under the field they are in."""
    errors: dict[str, list[str]] = {}
    _check_purpose(purpose, errors)
    _check_channel(purpose, channel, language, errors)
    _check_text(channel, body, subject, errors)
    _check_transliterate(channel, transliterate, sending, errors)
    if errors.keys() & {"purpose", "channel", "language"} or not (body or "").strip():
        return errors, []
    problems = lint_template(org, purpose=purpose, channel=channel, language=language, body=body, subject=subject,
                             transliterate=transliterate, overrides=overrides, sending=sending)
    for problem in linter.errors_of(problems):
        _add(errors, problem.field, problem.message)
    return errors, problems


def _warning_codes(problems) -> list[str]:
    return sorted({p.code for p in problems if not p.is_error})


# --- templates -----------------------------------------------------------------------------
@transaction.atomic
def create_template(org: Organisation, *, actor: Actor, purpose, code: str, channel: str, language: str, body: str,
                    subject: str = "", transliterate: bool = False) -> Template:
    """A new template of a purpose, checked by field and by the linter; refused with every problem at once."""
    sending = settings_for(org)
    purpose = _owned_purpose(org, purpose)
    code = (code or "").strip()
    errors, problems = _content_errors(org, sending, purpose=purpose, channel=channel, language=language, body=body,
                                       subject=subject or "", transliterate=bool(transliterate))
    _check_code(org, purpose, code, channel, language, errors)
    if errors:
        raise ValidationError(errors)
    template = Template.objects.create(organisation=org, purpose=purpose, code=code, channel=channel,
                                       language=language, body=body, subject=subject or "",
                                       transliterate=bool(transliterate))
    audit.record(org, actor, "template.created", target=template, details={
        "code": code, "purpose": purpose.pk, "channel": channel, "language": language,
        "warnings": _warning_codes(problems)})
    return template


def _check_code(org, purpose, code: str, channel: str, language: str, errors: dict) -> None:
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,64}", code):
        _add(errors, "code", _("Give a code of 1 to 64 letters, digits, hyphens or underscores (e.g. reminder-48h)."))
    elif purpose is not None and Template.objects.for_org(org).filter(
            purpose=purpose, code=code, channel=channel, language=language).exists():
        _add(errors, "code", _("This purpose already has a template with this code, channel and language: "
                               "change that one, or choose another code."))


def _locked(template: Template) -> Template:
    return Template.objects.for_org(template.organisation_id).select_for_update().get(pk=template.pk)


@transaction.atomic
def update_template(template: Template, *, actor: Actor, **changes) -> Template:
    """Change the text, subject or transliteration; each change makes a new version."""
    unknown = set(changes) - TEMPLATE_CHANGES
    if unknown:
        raise ValidationError({name: [_("This field is unknown or cannot be changed.")] for name in sorted(unknown)})
    template = _locked(template)
    if template.status == Template.Status.RETIRED:
        raise ValidationError({"status": [_("This template is retired and can no longer change: create a new one.")]})
    org = template.organisation
    values = {name: getattr(template, name) for name in TEMPLATE_CHANGES} | changes
    values["subject"], values["transliterate"] = values["subject"] or "", bool(values["transliterate"])
    errors, problems = _content_errors(org, settings_for(org), purpose=template.purpose, channel=template.channel,
                                       language=template.language, overrides=template.lint_override, **values)
    if errors:
        raise ValidationError(errors)
    changed = sorted(name for name in TEMPLATE_CHANGES if getattr(template, name) != values[name])
    if not changed:
        return template
    for name in changed:
        setattr(template, name, values[name])
    template.version += 1
    template.save()
    audit.record(org, actor, "template.updated", target=template, details={
        "fields": changed, "version": template.version, "warnings": _warning_codes(problems)})
    return template


@transaction.atomic
def retire_template(template: Template, *, actor: Actor) -> Template:
    """Retire a template: kept for the messages that used it; a retired template is not changed again."""
    template = _locked(template)
    if template.status == Template.Status.RETIRED:
        return template
    template.status = Template.Status.RETIRED
    template.save(update_fields=["status", "updated_at"])
    audit.record(template.organisation, actor, "template.retired", target=template, details={"code": template.code})
    return template


def _require_dpo(org: Organisation, actor: Actor) -> None:
    membership = None
    if actor.kind == "user":
        membership = Membership.objects.for_org(org).filter(user_id=actor.id).first()
    if not allowed(membership.role if membership else None, "template.override_linter"):
        raise PermissionDenied(_("Only the organisation's data protection officer may override the health-content "
                                 "linter (R-24)."))


def _override_terms(words, errors: dict) -> list[str]:
    if not isinstance(words, list | tuple) or not words or not all(isinstance(w, str) and w.strip() for w in words):
        _add(errors, "words", _("Give the list of flagged words to let through."))
        return []
    terms = []
    for word in words:
        term = linter.HEALTH.term_for(word) or (word.strip("{} ") if word.strip("{} ") in linter.OFF_BY_DEFAULT else None)
        if term is None:
            _add(errors, "words", _("« %(word)s » is not a word the linter blocks: there is nothing to "
                                    "override.") % {"word": word})
        else:
            terms.append(term)
    return terms


@transaction.atomic
def override_lint(template: Template, *, actor: Actor, words, reason: str) -> Template:
    """R-24: the DPO lets the given flagged words (or {item_title}) through for this template, with a
    justification kept on the template. The audit event names the words, never the justification."""
    org = template.organisation
    _require_dpo(org, actor)
    errors: dict[str, list[str]] = {}
    terms = _override_terms(words, errors)
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        _add(errors, "reason", _("Write the justification of the override (at least %(min)d characters): it is kept "
                                 "as the DPO's record.") % {"min": MIN_REASON})
    if errors:
        raise ValidationError(errors)
    template = _locked(template)
    template.lint_override = sorted(set(template.lint_override or []) | set(terms))
    previous = template.lint_override_reason
    template.lint_override_reason = f"{previous}\n\n{reason}" if previous else reason  # earlier ones are kept
    template.lint_override_by = actor.id
    template.save(update_fields=["lint_override", "lint_override_reason", "lint_override_by", "updated_at"])
    audit.record(org, actor, "template.lint_overridden", target=template,
                 details={"code": template.code, "words": sorted(set(terms)), "rule": "R-24"})
    return template


# --- preview -------------------------------------------------------------------------------
def _check_preview(channel: str, language: str, message_class: str, sample) -> dict:
    errors: dict[str, list[str]] = {}
    _check_channel(None, channel, language, errors)
    if message_class not in {str(c) for c in MessageClass}:
        _add(errors, "message_class", _("Choose one of: %s.") % ", ".join(MessageClass))
    if sample is not None and (not isinstance(sample, dict) or set(sample) - PLACEHOLDERS.keys()
                               or not all(isinstance(v, str) and len(v) <= 300 for v in sample.values())):
        _add(errors, "sample", _("Give placeholder names and text values (at most 300 characters), e.g. "
                                 "{\"first_name\": \"Camille\"}. Known placeholders: %s.") % ", ".join(PLACEHOLDERS))
    return errors


def preview(org: Organisation, *, body: str, channel: str, language: str, message_class: str, subject: str = "",
            sample: dict | None = None, transliterate: bool = False, overrides=()) -> dict:
    """The text as a person would receive it, with sample values, and what the editor shows (R-26):
    encoding, segments, units, room left in the last part, the characters forcing UCS-2, the
    transliterated text when it would change the encoding, and the linter's problems."""
    errors = _check_preview(channel, language, message_class, sample)
    if errors:
        raise ValidationError(errors)
    sending = settings_for(org)
    values = _samples(org, sending, language) | dict(sample or {})
    applied = bool(transliterate) and sending.allow_transliteration and channel == "sms"
    text = linter.fill(body or "", values)
    text = sms_text.transliterate(text) if applied else text
    problems = linter.lint(
        body or "", subject, channel=channel, message_class=message_class,
        processes_health_data=org.processes_health_data, org_kind=org.kind, overrides=overrides,
        stop_mention=sending.stop_mention, sender=sending.sms_sender, org_name=org.name, language=language,
        sample=values, transliterate=applied)
    result = {"text": text, "subject": linter.fill(subject, values) if channel == "email" else "",
              "channel": channel, "transliteration_applied": applied,
              "errors": [p.as_dict() for p in problems if p.is_error],
              "warnings": [p.as_dict() for p in problems if not p.is_error]}
    if transliterate and not applied and channel == "sms":
        result["warnings"].append(_transliteration_off())
    result.update(_sms_figures(text) if channel == "sms" else _no_sms_figures())
    return result


def _transliteration_off() -> dict:
    return linter.Problem("transliteration_off", linter.WARNING, "transliterate", "", _(
        "Your organisation does not allow transliteration: the text is shown as written. An administrator can "
        "allow it in the sending settings (R-26)."), "R-26").as_dict()


def _no_sms_figures() -> dict:
    return {"encoding": None, "segments": None, "units": None, "per_segment_limit": None, "remaining_in_last": None,
            "ucs2_characters": [], "transliterated": None, "transliterated_segments": None, "transliteration": []}


def _sms_figures(text: str) -> dict:
    analysis = sms_text.analyse(text)
    figures = {"encoding": analysis.encoding, "segments": analysis.segments, "units": analysis.length_units,
               "per_segment_limit": analysis.per_segment_limit, "remaining_in_last": analysis.remaining_in_last,
               "ucs2_characters": list(analysis.ucs2_characters), "transliterated": None,
               "transliterated_segments": None, "transliteration": []}
    if analysis.encoding == sms_text.UCS2:
        new, pairs = sms_text.transliteration(text)
        figures["transliteration"] = [[old, replacement] for old, replacement in pairs]
        if sms_text.encoding_of(new) != analysis.encoding:
            figures["transliterated"] = new
            figures["transliterated_segments"] = sms_text.analyse(new).segments
    return figures


# --- sending settings ----------------------------------------------------------------------
SENDER_RE = re.compile(r"[A-Za-z0-9]{3,11}")
KEYWORD_FAMILIES = ("stop", "start", "info")
WINDOW_FAMILIES = {windows.SERVICE: MessageClass.SERVICE, windows.PROMOTIONAL: MessageClass.PROMOTIONAL_COMMERCIAL}


def _clean_sender(org, value):
    if not isinstance(value, str) or (value.strip() and not SENDER_RE.fullmatch(value.strip())):
        raise ValueError(_("The SMS sender is 3 to 11 letters or digits, without spaces or accents (e.g. MEDIATHEQ), "
                           "or a short code of digits (e.g. 36111); leave it empty to use the provider's number."))
    return value.strip()


def _clean_bool(org, value):
    if not isinstance(value, bool):
        raise ValueError(_("Give true or false."))
    return value


def _clean_stop_mention(org, value):
    if not isinstance(value, str) or len(value.strip()) > 60:
        raise ValueError(_("Give a text of at most 60 characters, e.g. “STOP au 36111”."))
    if value.strip() and not linter.says_stop(value):
        raise ValueError(_("The opt-out mention must name the keyword to send, e.g. “STOP au 36111” (R-25)."))
    return value.strip()


def _clean_email(org, value):
    if not isinstance(value, str):
        raise ValueError(_("Give an e-mail address."))
    if value.strip():
        try:
            validate_email(value.strip())
        except ValidationError:
            raise ValueError(_("Give a valid e-mail address, e.g. rappels@example.org.")) from None
    return value.strip()


def _clean_keywords(org, value):
    if not isinstance(value, dict) or set(value) - set(KEYWORD_FAMILIES):
        raise ValueError(_("Give lists of keywords under %s.") % ", ".join(KEYWORD_FAMILIES))
    cleaned, seen = {}, {}
    for family, words in value.items():
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and 0 < len(w.strip()) <= 32
                                                               for w in words):
            raise ValueError(_("Give '%(family)s' as a list of keywords of 1 to 32 characters.") % {"family": family})
        for word in words:
            if seen.setdefault(linter.fold(word.strip()), family) != family:
                raise ValueError(_("The keyword « %(word)s » is in two lists: a reply must mean one thing "
                                   "(R-30).") % {"word": word.strip()})
        cleaned[family] = [w.strip() for w in words]
    return cleaned


def _clean_windows(org, value):
    if not isinstance(value, dict) or set(value) - set(WINDOW_FAMILIES):
        raise ValueError(_("Give sending windows under %s.") % ", ".join(WINDOW_FAMILIES))
    for family, overrides in value.items():
        try:
            if not isinstance(overrides, dict):
                raise ValueError(_("give an object such as {\"start\": \"09:00\", \"end\": \"19:00\"}"))
            windows.policy_for(WINDOW_FAMILIES[family], country=org.country, time_zone=org.time_zone,
                               overrides=overrides)
        except (ValueError, TypeError) as exc:
            raise ValueError(_("The %(family)s window is not valid: %(problem)s (R-22).")
                             % {"family": family, "problem": exc}) from None
    return value


def _clean_subdivision(org, value):
    if not isinstance(value, str) or len(value.strip()) > 8:
        raise ValueError(_("Give a subdivision code such as 57 (Moselle) or 6AE (Alsace)."))
    if value.strip():
        try:
            windows.policy_for(MessageClass.PROMOTIONAL_COMMERCIAL, country=org.country, time_zone=org.time_zone,
                               overrides={"subdiv": value.strip()})
        except ValueError:
            raise ValueError(_("Unknown subdivision for %(country)s: give a code such as 57 (Moselle) or 6AE "
                               "(Alsace).") % {"country": org.country}) from None
    return value.strip()


def _clean_threshold(org, value):
    try:
        number = Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or not 0 <= number <= 100:
        raise ValueError(_("Give a percentage between 0 and 100 (R-34)."))
    return number.quantize(Decimal("0.01"))


SETTINGS_CLEANERS = {
    "sms_sender": _clean_sender, "shared_sender": _clean_bool, "stop_mention": _clean_stop_mention,
    "email_from": _clean_email, "keywords": _clean_keywords, "windows": _clean_windows,
    "holiday_subdivision": _clean_subdivision, "stop_rate_threshold": _clean_threshold,
    "allow_transliteration": _clean_bool,
}


@transaction.atomic
def update_sending_settings(org: Organisation, *, actor: Actor, **changes) -> SendingSettings:
    """Change how the organisation sends; every invalid field is reported at once."""
    errors, cleaned = {}, {}
    for name, value in changes.items():
        cleaner = SETTINGS_CLEANERS.get(name)
        if cleaner is None:
            _add(errors, name, _("This field is unknown or cannot be changed."))
            continue
        try:
            cleaned[name] = cleaner(org, value)
        except ValueError as exc:
            _add(errors, name, str(exc))
    if errors:
        raise ValidationError(errors)
    settings_for(org)
    sending = SendingSettings.objects.for_org(org).select_for_update().get()
    for name, value in cleaned.items():
        setattr(sending, name, value)
    sending.save()
    audit.record(org, actor, "sending_settings.updated", target=sending, details={"fields": sorted(cleaned)})
    return sending
