"""The template linter (pure): health words and placeholders (R-24), promotional mentions (R-25),
placeholders and braces, SMS length and encoding warnings (R-26). Table tests per rule, then
properties (hypothesis): allow-listed text passes, a blocked word is caught whatever its case,
accents or plural."""

from __future__ import annotations

import unicodedata

import pytest
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from relance.messaging.lint import ERROR, HEALTH, HEALTH_PLACEHOLDERS, HEALTH_WORDS, WARNING, errors_of, fold, lint

HEALTH_SMS = {"channel": "sms", "message_class": "service", "processes_health_data": True, "org_kind": "health"}
LIBRARY_SMS = {"channel": "sms", "message_class": "service", "processes_health_data": False, "org_kind": "library"}
PROMO_SMS = {**LIBRARY_SMS, "message_class": "promotional_noncommercial"}
PROMO_EMAIL = {**PROMO_SMS, "channel": "email"}


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def codes(problems) -> list[tuple[str, str]]:
    return [(p.code, p.word) for p in problems]


# --- health words --------------------------------------------------------------------
@pytest.mark.parametrize(("text", "words"), [
    ("Votre RDV de cardiologie le {date} à {time}.", ["cardiologie"]),
    ("Rappel : prise de sang à jeun le {date}.", ["prise de sang"]),
    ("Your MRI is booked on {date} at {time}.", ["MRI"]),
    ("Consultation IVG le {date}.", ["IVG"]),
    ("Résultats de dépistage VIH disponibles.", ["dépistage", "VIH"]),
    ("Séance de CHIMIOTHÉRAPIE demain.", ["CHIMIOTHÉRAPIE"]),
    ("Votre echographie est prévue.", ["echographie"]),
    ("Vos analyses sont prêtes.", ["analyses"]),
    ("Deux SCANNERS prévus.", ["SCANNERS"]),
    ("Your X-ray appointment.", ["X-ray"]),
    ("Blood tests on Monday.", ["Blood tests"]),
    ("Consultation avec les sages-femmes.", ["sages-femmes"]),
    ("Suivi grossesse et diabète.", ["grossesse", "diabète"]),
    ("Rendez-vous en gynécologie puis en psychiatrie.", ["gynécologie", "psychiatrie"]),
    ("Your gynaecology appointment.", ["gynaecology"]),
    ("Séance de dialyse, vaccination, cancer.", ["dialyse", "vaccination", "cancer"]),
])
def test_it_blocks_medical_words_for_health_organisations_r24(text, words):
    """R-24: a specialty, a reason for visit, a diagnosis or an exam is an error naming the word as written."""
    problems = lint(text, **HEALTH_SMS)
    assert codes(errors_of(problems)) == [("health_word", word) for word in words]
    for problem, word in zip(problems, words, strict=False):
        assert word in problem.message and "R-24" in problem.message and problem.rule == "R-24"


@pytest.mark.parametrize("text", [
    "Document scannerisé et envoyé.",  # a longer word that merely starts with a listed one
    "Séance de psychanalyse collective.",  # "psychanalyste" is listed, not this word
    "First aid course on {date}.",  # "aid" is not "AIDS"
    "Une émission radiophonique.",
    "Bonjour {first_name}, le Dr Martin vous attend {date} à {time}, {place}. Appelez le {callback}.",
])
def test_it_matches_whole_words_only_r24(text):
    """R-24: only whole words count; ordinary reminders of a practice pass."""
    assert lint(text, **HEALTH_SMS) == []


def test_it_leaves_other_organisations_free_to_use_the_words_r24():
    """R-24 applies to organisations processing health data: a library may say "cardiologie"."""
    assert lint("Conférence sur la cardiologie le {date}.", **LIBRARY_SMS) == []


@pytest.mark.parametrize("override", ["cardiologie", "Cardiologies", "CARDIOLOGIE"])
def test_it_lets_a_dpo_overridden_word_through_r24(override):
    """R-24: a word in the DPO's recorded override passes, whatever its case or plural; the others still block."""
    problems = lint("Cardiologie et radiologie le {date}.", **HEALTH_SMS, overrides=[override])
    assert codes(problems) == [("health_word", "radiologie")]


def test_it_says_an_email_can_be_read_by_someone_else_too_r24():
    """R-24: e-mail templates are checked too, subject included, with a reason fitting the channel."""
    problems = lint("Votre rendez-vous le {date}.", "Rendez-vous de dermatologie", **{**HEALTH_SMS, "channel": "email"})
    assert codes(problems) == [("health_word", "dermatologie")]
    assert problems[0].field == "subject" and "e-mail" in problems[0].message


def test_it_writes_the_reason_in_french_r24():
    """R-24: the message says which word and why, in the user's language."""
    with translation.override("fr"):
        message = lint("RDV de cardiologie le {date}.", **HEALTH_SMS)[0].message
    assert message.startswith("Le mot « cardiologie » révèle une spécialité médicale : un SMS peut être lu par un "
                              "tiers (R-24).")


def test_it_has_a_generous_french_and_english_list_r24():
    """R-24: ~80 entries at least, French and English."""
    assert len(HEALTH.terms) >= 80
    assert {"cardiologie", "cardiology", "prise de sang", "blood test", "IRM", "MRI"} <= set(HEALTH_WORDS)


# --- placeholders --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["last_name", "reason", "item_title"])
def test_it_refuses_placeholders_not_allow_listed_for_health_r24(name):
    """R-24: health organisations may only use allow-listed fields."""
    problems = lint(f"Bonjour {{{name}}}, RDV le {{date}}.", **HEALTH_SMS)
    assert codes(problems) == [("health_placeholder", f"{{{name}}}")] and problems[0].rule == "R-24"


def test_it_accepts_every_allow_listed_placeholder_for_health_r24():
    """R-24: first name or initials, date, time, place, call-back number and links pass."""
    text = " ".join(f"{{{name}}}" for name in sorted(HEALTH_PLACEHOLDERS))
    assert errors_of(lint(text, **HEALTH_SMS)) == []
    assert {"first_name", "initials", "date", "time", "place", "callback", "link"} <= HEALTH_PLACEHOLDERS
    assert not {"last_name", "reason", "item_title"} & HEALTH_PLACEHOLDERS


def test_it_refuses_item_titles_in_library_notices_by_default_r24():
    """R-24: library notices do not include item titles by default; a DPO override allows them."""
    text = "Bonjour {first_name}, « {item_title} » est à rendre le {due_date}."
    assert codes(errors_of(lint(text, **LIBRARY_SMS))) == [("item_title", "{item_title}")]
    assert errors_of(lint(text, **LIBRARY_SMS, overrides=["item_title"])) == []


# --- promotional mentions ------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected", "options"), [
    ("Nouveautés ce mois-ci !", ["promotional_sender", "promotional_stop"], {}),
    ("{org} : nouveautés ce mois-ci !", ["promotional_stop"], {}),
    ("Nouveautés ce mois-ci ! {stop}", ["promotional_sender"], {}),
    ("{sender} : nouveautés. {stop}", [], {}),
    ("Médiathèques A : nouveautés. STOP au 36111", [], {"org_name": "Médiathèques A"}),
    ("MEDIATHEQ : nouveautés. Répondez ARRET pour ne plus recevoir.", [], {"sender": "MEDIATHEQ"}),
    ("MEDIATHEQ : nouveautés. Désinscription au 36111", [], {"sender": "MEDIATHEQ",
                                                               "stop_mention": "Désinscription au 36111"}),
    ("MEDIATHEQUES : nouveautés. {stop}", ["promotional_sender"], {"sender": "MEDIATHEQ"}),  # a word, not a prefix
])
def test_it_requires_sender_and_opt_out_in_promotional_sms_r25(text, expected, options):
    """R-25: promotional SMS carry the sender's identity and a free opt-out mention."""
    problems = lint(text, **PROMO_SMS, **options)
    assert [p.code for p in problems] == expected
    assert all(p.rule == "R-25" and p.severity == ERROR for p in problems)


def test_it_requires_an_unsubscribe_link_in_promotional_emails_r25():
    """R-25: a promotional e-mail needs {link}; the sender may be in the subject."""
    assert [p.code for p in lint("Nouveautés !", "Les nouveautés", **PROMO_EMAIL)] == [
        "promotional_sender", "promotional_unsubscribe"]
    assert lint("Nouveautés ! Se désabonner : {link}", "{org} : les nouveautés", **PROMO_EMAIL) == []


@pytest.mark.parametrize("message_class", ["service", "consent_request", "rights_request", "breach_notice"])
def test_it_asks_no_promotional_mentions_of_other_classes_r25(message_class):
    """R-25 is about promotional messages only."""
    assert lint("Votre livre est à rendre le {due_date}.", **{**LIBRARY_SMS, "message_class": message_class}) == []


# --- placeholders and braces ---------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("Bonjour {prenom}", [("unknown_placeholder", "{prenom}")]),
    ("Bonjour {First_Name}", [("unknown_placeholder", "{First_Name}")]),
    ("Bonjour {first name}", [("unknown_placeholder", "{first name}")]),
    ("Bonjour {}", [("unknown_placeholder", "{}")]),
    ("Bonjour {first_name", [("stray_brace", "{")]),
    ("Prix : 3 €}", [("stray_brace", "}")]),
    ("{{first_name}}", [("stray_brace", "{"), ("stray_brace", "}")]),
])
def test_it_refuses_unknown_placeholders_and_stray_braces(text, expected):
    """A typo in a placeholder would send a hole or raw braces: an error naming it."""
    problems = lint(text, **LIBRARY_SMS)
    assert codes(problems) == expected and all(p.severity == ERROR for p in problems)


# --- warnings ------------------------------------------------------------------------
def test_it_warns_when_an_sms_takes_more_than_two_parts_r26():
    """R-26: a long SMS is a warning (cost), never an error."""
    problems = lint("Bonjour {first_name}. " + "x" * 320, **LIBRARY_SMS)
    assert codes(problems) == [("sms_long", "3")] and problems[0].severity == WARNING and problems[0].rule == "R-26"
    assert lint("x" * 306, **LIBRARY_SMS) == []  # two concatenated parts of 153


def test_it_lists_characters_forcing_ucs2_with_their_transliteration_r26():
    """R-26: the characters forcing UCS-2 are listed, with what transliteration would give."""
    problems = lint("« Bonjour » l’équipe ê", **LIBRARY_SMS)
    assert codes(problems) == [("ucs2_characters", "«»’ê")]
    assert '« → "' in problems[0].message and "’ → '" in problems[0].message and "ê → e" in problems[0].message


def test_it_says_when_no_transliteration_exists_r26():
    """R-26: an emoji has no GSM equivalent: listed, with advice to replace it."""
    problems = lint("Merci 🙂", **LIBRARY_SMS)
    assert codes(problems) == [("ucs2_characters", "🙂")] and "Replace them" in problems[0].message


def test_it_counts_with_transliteration_when_the_template_uses_it_r26():
    """R-26: with transliteration on, only what stays UCS-2 is reported."""
    assert lint("« Bonjour » l’équipe", **LIBRARY_SMS, transliterate=True) == []
    assert codes(lint("« Bonjour » 🙂", **LIBRARY_SMS, transliterate=True)) == [("ucs2_characters", "🙂")]


def test_it_does_not_count_sms_parts_of_emails_r26():
    assert lint("« " + "x" * 2000 + " »", "Sujet", **{**LIBRARY_SMS, "channel": "email"}) == []


def test_it_reports_every_problem_at_once_errors_first():
    """All problems in one pass, errors before warnings, each naming its word."""
    problems = lint("« {prenom} » cardiologie {last_name} }", **{**HEALTH_SMS, "message_class": "promotional_commercial"})
    assert [p.code for p in problems] == ["unknown_placeholder", "health_placeholder", "stray_brace", "health_word",
                                          "promotional_sender", "promotional_stop", "ucs2_characters"]


# --- properties ----------------------------------------------------------------------------
SAFE_WORDS = ["Bonjour", "rendez-vous", "prévu", "été", "à", "mardi", "février", "août", "Noël", "cabinet",
              "médecin", "docteur", "accueil", "réception", "numéro", "présentez-vous", "carte", "Vitale",
              "ordonnance", "merci", "appelez", "annulé", "déplacé", "rappel", "hôpital", "clinique", "salle",
              "d’attente", "à bientôt", "Hello", "appointment", "practice", "reminder", "call", "thank", "you",
              "Où", "ça", "çà", "élève", "œuvre", "naïve", "Dr", "Mme", "M.", "14h30", "3e étage"]
SEPARATORS = [" ", ", ", ". ", " (", ") ", "\n", " « ", " » ", "’", "'", " : ", " - ", "\u00a0", "!"]
ACCENTED = {"a": "àâä", "e": "éèêë", "i": "îï", "o": "ôö", "u": "ùûü", "c": "ç"}


def _text(draw, words) -> str:
    parts = draw(st.lists(st.sampled_from(words), max_size=12))
    out = ""
    for word in parts:
        out += word + draw(st.sampled_from(SEPARATORS))
    return out


@st.composite
def safe_texts(draw):
    placeholders = [f"{{{name}}}" for name in sorted(HEALTH_PLACEHOLDERS)]
    return _text(draw, SAFE_WORDS + placeholders)


@given(safe_texts(), st.sampled_from(["sms", "email"]))
@settings(max_examples=300, deadline=None)
def test_it_passes_any_allow_listed_text_with_accents_r24(text, channel):
    """R-24 property: allow-listed words and placeholders, accents included, never raise an error."""
    assert errors_of(lint(text, "Rappel", **{**HEALTH_SMS, "channel": channel})) == []


def _strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


@st.composite
def disguised(draw, term: str) -> str:
    """The term with random case, accents removed or added, and maybe a plural "s"."""
    if draw(st.booleans()):
        term = _strip_accents(term)
    out = []
    for ch in term:
        if ch.lower() in ACCENTED and draw(st.integers(0, 3)) == 0:
            ch = draw(st.sampled_from(ACCENTED[ch.lower()]))
        out.append(ch.upper() if draw(st.booleans()) else ch.lower())
    return "".join(out) + draw(st.sampled_from(["", "s"]))


@given(st.data())
@settings(max_examples=500, deadline=None)
def test_it_catches_any_blocked_word_inside_any_text_whatever_case_accents_or_plural_r24(data):
    """R-24 property: a listed word, disguised, between any allow-listed words, is reported."""
    term = data.draw(st.sampled_from(HEALTH_WORDS))
    word = data.draw(disguised(term))
    before, after = data.draw(safe_texts()), data.draw(safe_texts())
    text = before + data.draw(st.sampled_from(SEPARATORS)) + word + data.draw(st.sampled_from(SEPARATORS)) + after
    found = [p for p in lint(text, **HEALTH_SMS) if p.code == "health_word"]
    # The word as written is reported (it may read as another listed term: "diabètes" is also "diabetes").
    assert any(fold(p.word) == fold(word) and HEALTH.term_for(p.word) for p in found), (text, [p.word for p in found])
