"""Template services, the DPO's override, the preview and the sending settings (R-22, R-24, R-25,
R-26, R-30, R-34), with the audit trail and isolation between the two organisations of `world`."""

from __future__ import annotations

import itertools

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from relance.accounts.models import Role
from relance.audit.models import AuditEvent
from relance.audit.services import Actor
from relance.consent.tests.helpers import make_consent_purpose, make_purpose
from relance.messaging import sending, templates
from relance.messaging.models import SendingSettings, Template
from relance.testing import SYSTEM, make_site

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

SMS = "Bonjour {first_name}, rappel : rendez-vous {date} à {time}, {place}. Appelez le {callback}."
_codes = itertools.count(1)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def build_template(org, *, purpose=None, **overrides):
    """A valid SMS template through the service (also the builder of tests/test_isolation.py)."""
    values = {"code": f"rappel-{next(_codes)}", "channel": "sms", "language": "fr", "body": SMS}
    values.update(overrides)
    return templates.create_template(org, actor=SYSTEM, purpose=purpose or make_purpose(org), **values)


def events(org, action):
    return list(AuditEvent.objects.filter(organisation=org, action=action).order_by("seq"))


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


# --- create, update, retire ----------------------------------------------------------------
def test_it_creates_a_template_with_its_audit_event(world):
    purpose = make_purpose(world.b)
    template = build_template(world.b, purpose=purpose, code="rappel-48h")
    assert (template.version, template.status, template.purpose_id) == (1, "active", purpose.pk)
    [event] = events(world.b, "template.created")
    assert event.target_id == str(template.pk)
    assert event.details == {"code": "rappel-48h", "purpose": purpose.pk, "channel": "sms", "language": "fr",
                             "warnings": []}


def test_it_refuses_a_health_word_naming_it_and_saves_nothing_r24(world):
    """R-24: a health organisation's template with "cardiologie" is refused; the message names the word."""
    purpose = make_purpose(world.b)
    with pytest.raises(ValidationError) as excinfo:
        build_template(world.b, purpose=purpose, body="Votre RDV de cardiologie le {date} à {time}.")
    [message] = errors_of(excinfo)["body"]
    assert "cardiologie" in message and "R-24" in message
    assert not Template.objects.for_org(world.b).exists() and events(world.b, "template.created") == []


def test_it_reports_every_problem_at_once_by_field(world):
    """Errors people see name every field at once: channel, subject, body (unknown placeholder, health)."""
    purpose = make_purpose(world.b, channels=["sms"])
    with pytest.raises(ValidationError) as excinfo:
        build_template(world.b, purpose=purpose, channel="email", code="bad code!", subject="",
                       body="{prenom} IRM {last_name}")
    assert set(errors_of(excinfo)) == {"channel", "subject", "code"}  # no linting on a channel the purpose lacks
    with pytest.raises(ValidationError) as excinfo:
        build_template(world.b, purpose=purpose, subject="Rappel", body="{prenom} IRM {last_name}")
    fields = errors_of(excinfo)
    assert set(fields) == {"subject", "body"} and len(fields["body"]) == 3


def test_it_requires_a_subject_for_emails_and_none_for_sms(world):
    purpose = make_purpose(world.a)
    with pytest.raises(ValidationError) as excinfo:
        build_template(world.a, purpose=purpose, channel="email", body="Bonjour {first_name}.")
    assert set(errors_of(excinfo)) == {"subject"}
    with pytest.raises(ValidationError) as excinfo:
        build_template(world.a, purpose=purpose, subject="Rappel")
    assert set(errors_of(excinfo)) == {"subject"}
    assert build_template(world.a, purpose=purpose, channel="email", subject="Rappel {org}", body="Bonjour.").subject


def test_it_refuses_a_second_template_with_the_same_code_channel_and_language(world):
    purpose = make_purpose(world.a)
    build_template(world.a, purpose=purpose, code="retard")
    with pytest.raises(ValidationError) as excinfo:
        build_template(world.a, purpose=purpose, code="retard")
    assert set(errors_of(excinfo)) == {"code"}
    assert build_template(world.a, purpose=purpose, code="retard", language="en").language == "en"


def test_it_refuses_a_purpose_of_another_organisation(world):
    """R-63: a purpose of B cannot carry a template of A; the answer is the same as for no purpose."""
    with pytest.raises(ValidationError) as excinfo:
        build_template(world.a, purpose=make_purpose(world.b))
    assert set(errors_of(excinfo)) == {"purpose"}
    assert not Template.objects.for_org(world.a).exists() and not Template.objects.for_org(world.b).exists()


def test_it_refuses_promotional_templates_without_sender_or_opt_out_r25(world):
    """R-25: promotional SMS need the sender's identity and an opt-out; the configured mention counts."""
    purpose = make_consent_purpose(world.a)
    with pytest.raises(ValidationError) as excinfo:
        build_template(world.a, purpose=purpose, body="Nouveautés du mois !")
    assert len(errors_of(excinfo)["body"]) == 2
    templates.update_sending_settings(world.a, actor=SYSTEM, sms_sender="MEDIATHEQ", stop_mention="STOP au 36111")
    assert build_template(world.a, purpose=purpose, body="MEDIATHEQ : nouveautés. STOP au 36111").pk


def test_it_updates_text_as_a_new_version_with_its_audit_event(world):
    template = build_template(world.a)
    updated = templates.update_template(template, actor=SYSTEM, body=SMS + " Merci.")
    assert (updated.version, updated.body) == (2, SMS + " Merci.")
    assert templates.update_template(updated, actor=SYSTEM, body=SMS + " Merci.").version == 2  # no change
    [event] = events(world.a, "template.updated")
    assert event.details == {"fields": ["body"], "version": 2, "warnings": []}


def test_it_refuses_an_update_the_linter_refuses_and_keeps_the_template(world):
    """R-24 on every save: the stored text stays as it was."""
    template = build_template(world.b)
    with pytest.raises(ValidationError) as excinfo:
        templates.update_template(template, actor=SYSTEM, body="Votre mammographie le {date}.")
    assert "mammographie" in errors_of(excinfo)["body"][0]
    template.refresh_from_db()
    assert (template.body, template.version) == (SMS, 1)


def test_it_refuses_unknown_changes(world):
    with pytest.raises(ValidationError) as excinfo:
        templates.update_template(build_template(world.a), actor=SYSTEM, channel="email", purpose=1)
    assert set(errors_of(excinfo)) == {"channel", "purpose"}


def test_it_retires_once_and_then_refuses_changes(world):
    template = build_template(world.a)
    retired = templates.retire_template(template, actor=SYSTEM)
    assert retired.status == "retired"
    templates.retire_template(retired, actor=SYSTEM)
    assert len(events(world.a, "template.retired")) == 1
    with pytest.raises(ValidationError) as excinfo:
        templates.update_template(retired, actor=SYSTEM, body="Bonjour.")
    assert set(errors_of(excinfo)) == {"status"}


# --- the DPO's override (R-24) -------------------------------------------------------------
def test_it_lets_the_dpo_override_flagged_words_with_a_justification_r24(world):
    """R-24: the DPO records an override; the word then passes; the audit names the words, not the reason."""
    template = build_template(world.b)
    dpo = Actor.user(world.users_b[Role.DPO])
    justification = "Cabinet de cardiologie : la spécialité figure déjà dans le nom affiché du cabinet."
    templates.override_lint(template, actor=dpo, words=["Cardiologie"], reason=justification)
    updated = templates.update_template(template, actor=SYSTEM, body="RDV de cardiologie le {date} à {time}.")
    assert updated.lint_override == ["cardiologie"] and updated.lint_override_reason == justification
    assert str(updated.lint_override_by) == str(world.users_b[Role.DPO].pk)
    [event] = events(world.b, "template.lint_overridden")
    assert event.details == {"code": template.code, "words": ["cardiologie"], "rule": "R-24"}
    assert event.actor_id == dpo.id and justification not in str(event.details)
    with pytest.raises(ValidationError):  # other words still block
        templates.update_template(updated, actor=SYSTEM, body="RDV de cardiologie, échographie le {date}.")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR, Role.AUDITOR])
def test_it_refuses_the_override_to_anyone_but_the_dpo_r24(world, role):
    template = build_template(world.b)
    with pytest.raises(PermissionDenied):
        templates.override_lint(template, actor=Actor.user(world.users_b[role]), words=["IRM"],
                                reason="Une justification suffisamment longue.")
    template.refresh_from_db()
    assert template.lint_override == [] and events(world.b, "template.lint_overridden") == []


def test_it_refuses_the_override_to_the_dpo_of_another_organisation_or_an_api_key(world):
    """R-63: A's DPO is nobody in B."""
    template = build_template(world.b)
    for actor in (Actor.user(world.users_a[Role.DPO]), Actor("api_key", "1"), SYSTEM):
        with pytest.raises(PermissionDenied):
            templates.override_lint(template, actor=actor, words=["IRM"], reason="Une justification assez longue.")


def test_it_refuses_overrides_of_words_the_linter_does_not_block_or_without_a_reason_r24(world):
    template = build_template(world.b)
    dpo = Actor.user(world.users_b[Role.DPO])
    with pytest.raises(ValidationError) as excinfo:
        templates.override_lint(template, actor=dpo, words=["bonjour", "IRM"], reason="court")
    assert set(errors_of(excinfo)) == {"words", "reason"} and "bonjour" in errors_of(excinfo)["words"][0]
    with pytest.raises(ValidationError) as excinfo:
        templates.override_lint(template, actor=dpo, words=[], reason="Une justification assez longue.")
    assert set(errors_of(excinfo)) == {"words"}


def test_it_lets_a_library_dpo_allow_item_titles_r24(world):
    """R-24: item titles are off by default in library notices; the DPO may allow them for one template."""
    template = build_template(world.a)
    body = "Bonjour {first_name}, « {item_title} » est à rendre le {due_date}."
    with pytest.raises(ValidationError):
        templates.update_template(template, actor=SYSTEM, body=body)
    templates.override_lint(template, actor=Actor.user(world.users_a[Role.DPO]), words=["{item_title}"],
                            reason="Titres demandés par le conseil des usagers, sans document sensible.")
    assert templates.update_template(template, actor=SYSTEM, body=body).lint_override == ["item_title"]


# --- preview (R-26) ------------------------------------------------------------------------
def preview(org, body, **options):
    values = {"channel": "sms", "language": "fr", "message_class": "service"} | options
    return templates.preview(org, body=body, **values)


def test_it_previews_with_realistic_french_samples_r26(world):
    make_site(world.b, name="Cabinet Sud")
    result = preview(world.b, "Bonjour {first_name}, RDV {date} à {time}, {place}. {org}")
    assert result["text"] == "Bonjour Camille, RDV mardi 3 mars à 14h30, Cabinet Sud. Cabinet B"
    assert (result["encoding"], result["segments"], result["units"]) == ("GSM-7", 1, len(result["text"]))
    assert result["remaining_in_last"] == 160 - len(result["text"])
    assert result["errors"] == result["warnings"] == [] and result["transliterated"] is None


def test_it_shows_characters_forcing_ucs2_and_the_transliterated_text_r26(world):
    """R-26: the editor shows what forces UCS-2 and the GSM-7 text transliteration would give."""
    result = preview(world.a, "« Bonjour » l’équipe {org}")
    assert (result["encoding"], result["ucs2_characters"]) == ("UCS-2", ["«", "»", "’"])
    assert result["transliterated"] == '" Bonjour " l\'équipe Médiathèques A'
    assert result["transliterated_segments"] == 1
    assert result["transliteration"] == [["«", '"'], ["»", '"'], ["’", "'"]]
    assert [w["code"] for w in result["warnings"]] == ["ucs2_characters"]


def test_it_applies_transliteration_only_when_the_organisation_allows_it_r26(world):
    refused = preview(world.a, "« Bonjour »", transliterate=True)
    assert refused["encoding"] == "UCS-2" and not refused["transliteration_applied"]
    assert "transliteration_off" in [w["code"] for w in refused["warnings"]]
    templates.update_sending_settings(world.a, actor=SYSTEM, allow_transliteration=True)
    applied = preview(world.a, "« Bonjour »", transliterate=True)
    assert (applied["text"], applied["encoding"], applied["warnings"]) == ('" Bonjour "', "GSM-7", [])


def test_it_counts_long_texts_and_returns_linter_problems_r24_r26(world):
    result = preview(world.b, "Votre IRM {last_name}. " + "x" * 400)
    assert result["segments"] == 3 and result["remaining_in_last"] == 3 * 153 - result["units"]
    assert [(e["code"], e["word"]) for e in result["errors"]] == [("health_placeholder", "{last_name}"),
                                                                   ("health_word", "IRM")]
    assert [w["code"] for w in result["warnings"]] == ["sms_long"]


def test_it_previews_emails_with_subject_and_no_segments(world):
    result = preview(world.a, "Bonjour {first_name}", channel="email", subject="Rappel de {org}", language="en",
                     sample={"first_name": "Sam"})
    assert (result["text"], result["subject"], result["encoding"], result["segments"]) == (
        "Bonjour Sam", "Rappel de Médiathèques A", None, None)


def test_it_refuses_an_invalid_preview_request_by_field(world):
    with pytest.raises(ValidationError) as excinfo:
        preview(world.a, "Bonjour", channel="fax", language="de", message_class="spam", sample={"password": "x"})
    assert set(errors_of(excinfo)) == {"channel", "language", "message_class", "sample"}


# --- sending settings ----------------------------------------------------------------------
def test_it_updates_sending_settings_with_an_audit_event(world):
    """R-22, R-25, R-34: settings are validated, saved and audited (field names only)."""
    changed = templates.update_sending_settings(
        world.a, actor=SYSTEM, sms_sender="MEDIATHEQ", stop_mention="STOP au 36111", email_from="rappels@example.org",
        keywords={"stop": ["STOP", "ARRET"], "info": ["INFO"]}, stop_rate_threshold="1.5",
        windows={"promotional": {"start": "09:00", "end": "19:00", "days": [0, 1, 2, 3, 4]}},
        holiday_subdivision="57", allow_transliteration=True)
    assert str(changed.stop_rate_threshold) == "1.50" and changed.sms_sender == "MEDIATHEQ"
    stored = sending.settings_for(world.a)
    policy = sending.policy(world.a, "promotional_commercial", stored)
    assert (policy.start.hour, policy.end.hour, policy.days, policy.subdiv) == (9, 19, frozenset(range(5)), "57")
    [event] = events(world.a, "sending_settings.updated")
    assert event.details == {"fields": ["allow_transliteration", "email_from", "holiday_subdivision", "keywords",
                                        "sms_sender", "stop_mention", "stop_rate_threshold", "windows"]}
    assert sending.settings_for(world.b).sms_sender == ""  # B untouched


def test_it_reports_every_invalid_setting_at_once(world):
    with pytest.raises(ValidationError) as excinfo:
        templates.update_sending_settings(
            world.a, actor=SYSTEM, sms_sender="AB", stop_mention="Désinscription au 36111", email_from="nope",
            keywords={"stop": ["STOP"], "start": ["stop"]}, stop_rate_threshold=150, holiday_subdivision="99",
            windows={"promotional": {"start": "20:00", "end": "08:00"}}, allow_transliteration="yes", colour="red")
    assert set(errors_of(excinfo)) == {"sms_sender", "stop_mention", "email_from", "keywords", "stop_rate_threshold",
                                       "holiday_subdivision", "windows", "allow_transliteration", "colour"}
    assert "R-22" in errors_of(excinfo)["windows"][0]
    assert not SendingSettings.objects.for_org(world.a).exists()
    assert events(world.a, "sending_settings.updated") == []


@pytest.mark.parametrize("sender", ["MEDIATHEQ", "36111", "Cab1", "ABCDEFGHIJK", ""])
def test_it_accepts_alphanumeric_senders_and_short_codes(world, sender):
    assert templates.update_sending_settings(world.a, actor=SYSTEM, sms_sender=sender).sms_sender == sender


@pytest.mark.parametrize("sender", ["AB", "ABCDEFGHIJKL", "Médiathèq", "Cab 1", "+33612345678", 36111])
def test_it_refuses_other_senders(world, sender):
    with pytest.raises(ValidationError):
        templates.update_sending_settings(world.a, actor=SYSTEM, sms_sender=sender)


def test_it_keeps_each_organisations_templates_apart(world):
    """R-63: A's templates are not B's; each organisation's preview uses its own name."""
    mine = build_template(world.a)
    build_template(world.b)
    assert list(Template.objects.for_org(world.b).filter(pk=mine.pk)) == []
    assert preview(world.b, "{org}")["text"] == "Cabinet B" and preview(world.a, "{org}")["text"] == "Médiathèques A"
