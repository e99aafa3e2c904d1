"""Reply keywords (R-30): case-, accent-, punctuation- and whitespace-insensitive, configurable."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relance.messaging import keywords
from relance.messaging.keywords import INFO, OTHER, START, STOP, classify, normalise

SPELLINGS = {
    STOP: ["STOP", "STOP SMS", "ARRET", "ARRÊT", "DESABONNER", "DÉSABONNER", "UNSUBSCRIBE", "END", "QUIT"],
    START: ["START", "OUI", "YES"],
    INFO: ["INFO", "AIDE", "HELP"],
}
ALL = [(kind, word) for kind, words in SPELLINGS.items() for word in words]
NOISE = st.text(alphabet=" \t\n.,;:!?¡¿'\"-_()[]«»…*#~", max_size=4)


def variants(word: str):
    """The word with any case per letter and random punctuation or spaces around it and inside gaps."""
    return st.tuples(NOISE, st.lists(st.booleans(), min_size=len(word), max_size=len(word)), NOISE).map(
        lambda t: t[0] + "".join(c.lower() if low else c.upper() for c, low in zip(word, t[1], strict=True)) + t[2])


@pytest.mark.parametrize(("kind", "word"), ALL)
def test_it_recognises_every_keyword_of_r30(kind, word):
    """R-30: each listed keyword, as written in the SPEC."""
    assert classify(word).kind == kind


@pytest.mark.parametrize("text", ["Stop.", " arrêt ", "STOP SMS", "stop!!", "Stop sms !", "  Désabonner\n", "STOP 🛑"])
def test_it_reads_the_usual_ways_people_write_stop(text):
    """R-30: punctuation, accents, spaces and emoji around a STOP do not hide it."""
    assert classify(text).kind == STOP


@given(st.sampled_from(ALL).flatmap(lambda kw: st.tuples(st.just(kw[0]), variants(kw[1]))))
def test_it_is_insensitive_to_case_punctuation_and_whitespace(case):
    """R-30 (property): any casing with punctuation or spaces around still classifies the same."""
    kind, text = case
    assert classify(text).kind == kind


@given(st.sampled_from(["ARRÊT", "DÉSABONNER", "arrêt", "désabonner"]))
def test_it_is_insensitive_to_accents(word):
    """R-30: ARRÊT and ARRET, DÉSABONNER and DESABONNER are the same keyword."""
    assert classify(word) == classify(word.replace("Ê", "E").replace("ê", "e").replace("É", "E").replace("é", "e"))


@given(st.text(max_size=200))
def test_it_normalises_idempotently_to_uppercase_words(text):
    """Normalising twice changes nothing; the result is ASCII-free of punctuation and spacing runs."""
    once = normalise(text)
    assert normalise(once) == once
    assert once == once.strip() and "  " not in once
    assert not any(ch in string.punctuation for ch in once)


@given(st.text(max_size=200))
def test_it_never_keeps_the_text_of_a_reply_that_is_not_a_keyword(text):
    """An unrecognised reply records no keyword (InboundMessage never holds the text)."""
    result = classify(text)
    assert result.kind in (STOP, START, INFO, OTHER)
    if result.kind == OTHER:
        assert result.keyword == ""
    else:
        assert len(result.keyword) <= keywords.MAX_KEYWORD


@pytest.mark.parametrize("text", ["oui je viendrai", "Yes please call me", "info sur le rdv ?", "stopper", "help me",
                                  "", "   ", "!!!", "pas de stop ici"])
def test_it_guesses_no_opt_in_or_info_from_a_longer_text(text):
    """R-28: 'oui je viendrai' answers a reminder; it is not a consent."""
    assert classify(text).kind == OTHER


@pytest.mark.parametrize("text", ["Stop merci", "ARRÊT svp", "stop les sms"])
def test_it_honours_a_stop_followed_by_other_words(text):
    """R-30: an opt-out is not lost because the person added a word."""
    assert classify(text).kind == STOP


def test_it_extends_the_keywords_per_organisation():
    """R-30 configurable: an organisation adds its own words; the defaults still work."""
    configured = {"stop": ["BASTA"], "start": ["D'ACCORD"], "info": ["Qui êtes-vous"]}
    assert classify("basta!", configured).kind == STOP
    assert classify("d accord", configured).kind == START
    assert classify("qui etes vous ?", configured).kind == INFO
    assert classify("STOP", configured).kind == STOP and classify("OUI", configured).kind == START


def test_it_lets_an_organisation_move_a_word_but_never_a_default_stop_word():
    """R-30: an organisation may override OUI, never turn a listed opt-out into something else."""
    configured = {"info": ["OUI", "STOP", "END"]}
    assert classify("oui", configured).kind == INFO
    assert classify("stop", configured).kind == STOP
    assert classify("end", configured).kind == STOP


def test_it_ignores_malformed_configuration_values():
    """Bad settings never stop the defaults from working."""
    configured = {"stop": None, "start": [None, 3, "", "!!"], "info": "HELLO"}
    assert classify("stop", configured).kind == STOP and classify("oui", configured).kind == START
    assert classify("none", configured).kind == OTHER and classify("3", configured).kind == OTHER
    assert classify("hello", configured).kind == OTHER
