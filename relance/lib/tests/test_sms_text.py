"""SMS segment counting, splitting and transliteration (R-26), from the GSM 03.38 tables. No database.

Empty text policy (documented in sms_text): GSM-7, 0 units, 1 segment with 160 remaining, split → [""].
"""

from __future__ import annotations

import itertools
import math
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relance.lib import sms_text
from relance.lib.sms_text import GSM7, UCS2, analyse, split, transliterate, transliteration

EXTENSION = "^{}\\[~]|€\f"
GSM_ONLY = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡AZÄÖÑÜ§¿azäöñüà"
FRENCH_NOT_GSM = "âêîôûëïüÿçÂÊÎÔÛËÏŸÀÈÙœŒ"
TYPOGRAPHY = "’‘‚“”„«»–—…\u00a0\u202f"
EMOJI = ["😀", "👍", "🇫🇷", "👍🏽", "👨‍👩‍👧", "❤️", "\U0001f9d1\u200d\U0001f4bb"]

gsm_texts = st.text(alphabet=GSM_ONLY + EXTENSION, max_size=500)
mixed_texts = st.lists(
    st.one_of(st.sampled_from(GSM_ONLY + EXTENSION + FRENCH_NOT_GSM + TYPOGRAPHY + "\u0301"), st.sampled_from(EMOJI)),
    max_size=250,
).map("".join)
any_texts = st.one_of(gsm_texts, mixed_texts, st.text(max_size=300))


def short_id(value):
    """Readable test ids for long texts: runs of one character as a*152+\\u20ac+b*10."""
    if not isinstance(value, str):
        return None
    runs = [(ch, len(list(run))) for ch, run in itertools.groupby(value)]
    return "+".join(ascii(ch)[1:-1] + (f"*{n}" if n > 1 else "") for ch, n in runs)[:40] or "empty"


def utf16_units(text: str) -> int:
    """Counted without sms_text: the length of the UTF-16 encoding."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def septets(text: str) -> int:
    return sum(2 if ch in EXTENSION else 1 for ch in text)


def size(text: str, encoding: str) -> int:
    return septets(text) if encoding == GSM7 else utf16_units(text)


# --- the GSM 03.38 tables ------------------------------------------------------------------
def test_it_has_the_127_basic_characters_and_10_extension_characters_of_gsm_03_38():
    """R-26: 128 code points minus the escape 0x1B; the extension table as in the spec."""
    assert len(sms_text.GSM_BASIC) == 127 and sorted(sms_text.GSM_BASIC.values()) == [c for c in range(128) if c != 0x1B]
    assert set(sms_text.GSM_EXTENSION) == set(EXTENSION)
    assert (sms_text.GSM_BASIC["@"], sms_text.GSM_BASIC["$"], sms_text.GSM_BASIC["Ç"], sms_text.GSM_BASIC["à"]) == (0, 2, 9, 0x7F)
    assert sms_text.GSM_EXTENSION["€"] == 0x65 and sms_text.GSM_EXTENSION["\f"] == 0x0A


@pytest.mark.parametrize("ch", ["ç", "`", "\t", "ê", "Ê", "È", "á", "°", "\x00", "δ", "’"])
def test_it_forces_ucs2_for_characters_outside_gsm(ch):
    """R-26: Ç is GSM but ç is not; backtick, tab, ° and lowercase Greek are not GSM either."""
    assert analyse(f"abc{ch}").encoding == UCS2


def test_it_keeps_gsm_7_for_every_basic_and_extension_character():
    """R-26: the whole default alphabet and the extension table stay GSM-7."""
    assert analyse(GSM_ONLY + EXTENSION).encoding == GSM7


# --- boundaries ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, encoding, units, segments, limit, remaining",
    [
        ("", GSM7, 0, 1, 160, 160),
        ("a" * 160, GSM7, 160, 1, 160, 0),
        ("a" * 161, GSM7, 161, 2, 153, 145),
        ("a" * 306, GSM7, 306, 2, 153, 0),
        ("a" * 307, GSM7, 307, 3, 153, 152),
        ("€" * 80, GSM7, 160, 1, 160, 0),
        ("a" * 159 + "€", GSM7, 161, 2, 153, 145),
        ("ê" * 70, UCS2, 70, 1, 70, 0),
        ("ê" * 71, UCS2, 71, 2, 67, 63),
        ("ê" * 134, UCS2, 134, 2, 67, 0),
        ("ê" * 135, UCS2, 135, 3, 67, 66),
        ("😀" * 35, UCS2, 70, 1, 70, 0),
        ("😀" * 36, UCS2, 72, 2, 67, 61),
        ("€ç", UCS2, 2, 1, 70, 68),
        ("\r\n", GSM7, 2, 1, 160, 158),
    ],
    ids=short_id,
)
def test_it_counts_segments_at_the_gsm_03_38_boundaries(text, encoding, units, segments, limit, remaining):
    """R-26: 160/153 septets, 70/67 UCS-2 units; extension characters count two in GSM-7, one in UCS-2."""
    result = analyse(text)
    assert (result.encoding, result.length_units, result.segments) == (encoding, units, segments)
    assert (result.per_segment_limit, result.remaining_in_last) == (limit, remaining)


def test_it_keeps_the_escape_with_its_extension_character_at_a_part_boundary():
    """R-26: a part that would end with the escape of € ends one septet short; € opens the next part."""
    parts = split("a" * 152 + "€" + "b" * 10)
    assert parts == ["a" * 152, "€" + "b" * 10]
    assert analyse("a" * 152 + "€" + "b" * 10).remaining_in_last == 153 - 12


def test_it_packs_parts_rather_than_dividing_when_extension_characters_straddle():
    """R-26: 153 € are 306 septets, but 76 fit per part (152 septets): 3 parts, not 306 / 153 = 2."""
    result = analyse("€" * 153)
    assert (result.length_units, result.segments) == (306, 3)
    assert [len(p) for p in split("€" * 153)] == [76, 76, 1]


def test_it_never_splits_a_surrogate_pair_across_parts():
    """R-26: an emoji is 2 UTF-16 units; a part with 66 units left over 1 free unit, the emoji moves on."""
    text = "a" * 66 + "😀" + "b" * 5
    assert split(text) == ["a" * 66, "😀bbbbb"]
    result = analyse("😀" * 67)  # 134 units, yet 33 emoji per part: 3 parts
    assert (result.length_units, result.segments, result.remaining_in_last) == (134, 3, 65)


def test_it_lists_the_characters_forcing_ucs2_once_in_order_of_first_appearance():
    """R-26: the editor shows which characters force UCS-2."""
    result = analyse("Cl’é : ça coûte 5 € 😀, l’été ça 😀")
    assert result.ucs2_characters == ("’", "ç", "û", "😀")
    assert analyse("Plain [GSM] {text} €").ucs2_characters == ()


def test_it_makes_the_empty_text_one_empty_part():
    """R-26: policy for the editor: an empty text is one segment of 0 (160 remaining)."""
    assert split("") == [""] and analyse("").segments == 1


# --- properties ----------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(text=any_texts)
def test_it_splits_into_parts_that_rejoin_fit_and_match_the_count(text):
    """R-26: parts re-join to the text, each within its limit, as many as analyse() counts."""
    result, parts = analyse(text), split(text)
    limit = sms_text.LIMITS[result.encoding][0 if len(parts) == 1 else 1]
    assert "".join(parts) == text
    assert result.segments == len(parts) and result.per_segment_limit == limit
    assert all(size(part, result.encoding) <= limit for part in parts)
    assert result.length_units == size(text, result.encoding)
    assert result.remaining_in_last == limit - size(parts[-1], result.encoding)


@settings(max_examples=300, deadline=None)
@given(text=any_texts)
def test_it_fills_each_part_as_far_as_the_next_whole_character_allows(text):
    """R-26: greedy packing: a part ends only when the next character (escape + char, surrogate
    pair) would not fit, so the count is the fewest parts and at most one unit is lost per part."""
    result, parts = analyse(text), split(text)
    enc, limit = result.encoding, result.per_segment_limit
    for part, following in zip(parts, parts[1:], strict=False):
        assert part and size(part, enc) + size(following[0], enc) > limit
    if len(parts) > 1:
        assert math.ceil(result.length_units / limit) <= len(parts) <= math.ceil(result.length_units / (limit - 1))


@given(text=any_texts)
def test_it_chooses_gsm_7_exactly_when_no_character_forces_ucs2(text):
    """R-26: GSM-7 if and only if ucs2_characters is empty."""
    result = analyse(text)
    assert (result.encoding == GSM7) == (result.ucs2_characters == ())
    assert set(result.ucs2_characters) == {ch for ch in text if not sms_text.is_gsm(ch)}


# --- transliteration -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "original, replacement",
    [
        ("’", "'"), ("‘", "'"), ("‚", "'"), ("`", "'"),
        ("“", '"'), ("”", '"'), ("„", '"'), ("«", '"'), ("»", '"'),
        ("–", "-"), ("—", "-"), ("\u2011", "-"), ("…", "..."),
        ("\u00a0", " "), ("\u202f", " "), ("\u2009", " "), ("\u200b", ""), ("\ufeff", ""),
        ("œ", "oe"), ("Œ", "OE"),
        ("ê", "e"), ("â", "a"), ("î", "i"), ("ô", "o"), ("û", "u"), ("ë", "e"), ("ï", "i"), ("ÿ", "y"), ("ç", "c"),
        ("Ê", "E"), ("Â", "A"), ("Î", "I"), ("Ô", "O"), ("Û", "U"), ("Ë", "E"), ("Ï", "I"), ("Ÿ", "Y"),
        ("À", "A"), ("È", "E"), ("Ù", "U"), ("á", "a"), ("í", "i"), ("ó", "o"), ("ú", "u"),
        ("e\u0301", "é"), ("o\u0308", "ö"), ("\u212b", "Å"),
    ],
)  # fmt: skip
def test_it_transliterates_to_a_faithful_gsm_equivalent(original, replacement):
    """R-26: ’ → ', « → ", ê → e …; decomposed é (e + U+0301) becomes GSM's own é."""
    assert transliteration(f"x{original}y") == (f"x{replacement}y", [(original, replacement)])


@pytest.mark.parametrize("kept", ["😀", "°", "‹", "δ", "\t", "≠", "\u0301", "中"])
def test_it_keeps_characters_that_have_no_faithful_gsm_equivalent(kept):
    """R-26: what cannot be written faithfully in GSM stays, and still forces UCS-2."""
    assert transliteration(f"1{kept}2") == (f"1{kept}2", [])


def test_it_never_transliterates_gsm_characters_and_reports_each_change_once():
    """R-26: é è ù ì ò à Ç Ä Ö Ñ Ü stay; each (original, replacement) is listed once, in order."""
    text = "Élève à Noël\u202f: «\u00a0où ça\u00a0?\u00a0» Ça coûte 5\u00a0€, c’est l’été—voilà…"
    new, changes = transliteration(text)
    assert new == "Élève à Noel : \" où ca ? \" Ça coute 5 €, c'est l'été-voilà..."
    assert changes == [
        ("ë", "e"), ("\u202f", " "), ("«", '"'), ("\u00a0", " "), ("ç", "c"), ("»", '"'),
        ("û", "u"), ("’", "'"), ("—", "-"), ("…", "..."),
    ]  # fmt: skip
    assert analyse(new).encoding == GSM7


def test_it_has_every_gsm_character_stable_under_unicode_composition():
    """R-26: composing (NFC) can never turn a GSM character into another one."""
    for ch in sms_text.GSM_BASIC.keys() | sms_text.GSM_EXTENSION.keys():
        assert unicodedata.normalize("NFC", ch) == ch
        assert transliteration(ch) == (ch, [])


def test_it_maps_every_table_entry_outside_gsm_to_gsm():
    """R-26: the table only replaces characters that force UCS-2, and only with GSM text."""
    for original, replacement in sms_text.TRANSLITERATIONS.items():
        assert not sms_text.is_gsm(original)
        assert all(sms_text.is_gsm(ch) for ch in replacement)


@given(text=gsm_texts)
def test_it_leaves_gsm_text_alone(text):
    """R-26: never transliterate characters that are in GSM."""
    assert transliteration(text) == (text, [])


@given(text=any_texts)
def test_it_transliterates_idempotently_and_only_what_forces_ucs2(text):
    """R-26: a second pass changes nothing; every change's original forced UCS-2; the result has no
    more UCS-2 characters than the text."""
    new, changes = transliteration(text)
    assert transliterate(new) == new
    assert all(not all(sms_text.is_gsm(ch) for ch in original) for original, _ in changes)
    assert set(analyse(new).ucs2_characters) <= set(analyse(text).ucs2_characters)


@given(text=st.text(alphabet=GSM_ONLY + EXTENSION + FRENCH_NOT_GSM + TYPOGRAPHY, max_size=300))
def test_it_makes_french_text_gsm_7(text):
    """R-26: French accents and typography all have a GSM equivalent: the result is GSM-7."""
    assert analyse(transliterate(text)).encoding == GSM7
