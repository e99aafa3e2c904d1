"""Exact SMS segment counting, splitting and GSM transliteration (R-26). Pure: plain values in and out.

Counting rules (3GPP TS 23.038, "GSM 03.38"):
- GSM-7 when every character is in the default alphabet or its extension table, else UCS-2.
- GSM-7 counts septets: a basic character is 1, an extension character (^ { } \\ [ ~ ] | € and form
  feed) is 2, the escape 0x1B followed by the character.
- UCS-2 counts UTF-16 code units: a character outside the Basic Multilingual Plane (most emoji) is a
  surrogate pair, 2 units.
- One part holds 160 septets / 70 units; a concatenated message loses 6 octets per part to the user
  data header, leaving 153 septets / 67 units.
- Parts are really packed, character by character: an escape never ends a part without its character,
  and a surrogate pair is never cut, so a part may end one unit short of its limit.

Policy for the empty text: GSM-7, 0 units, 1 segment of 0 (with 160 remaining). That is what the
editor shows and what common calculators say; refusing an empty body is the template's job.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7 = "GSM-7"
UCS2 = "UCS-2"
LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}  # (single part, each part of a concatenated message)
ESCAPE = 0x1B

# The default alphabet in code order, 16 per row; "\x1b" marks the escape slot (0x1B), not a character.
_BASIC_ROWS = (
    "@£$¥èéùìòÇ\nØø\rÅå",
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
)
GSM_BASIC: dict[str, int] = {ch: code for code, ch in enumerate("".join(_BASIC_ROWS)) if code != ESCAPE}
GSM_EXTENSION: dict[str, int] = {
    "\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
}  # fmt: skip
_GSM_ALL = frozenset(GSM_BASIC) | frozenset(GSM_EXTENSION)
_EXTENSION = frozenset(GSM_EXTENSION)


def is_gsm(ch: str) -> bool:
    return ch in GSM_BASIC or ch in GSM_EXTENSION


def units(ch: str, encoding: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) one character takes."""
    if encoding == GSM7:
        return 2 if ch in GSM_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


@dataclass(frozen=True)
class SmsAnalysis:
    encoding: str  # GSM7 or UCS2
    length_units: int  # septets or UTF-16 code units in the whole text
    segments: int
    per_segment_limit: int  # 160/70 for one part, 153/67 when concatenated
    remaining_in_last: int  # units still free in the last part
    ucs2_characters: tuple[str, ...]  # distinct characters forcing UCS-2, in order of first appearance


def ucs2_characters(text: str) -> tuple[str, ...]:
    if _GSM_ALL.issuperset(text):
        return ()
    return tuple(dict.fromkeys(ch for ch in text if not is_gsm(ch)))


def encoding_of(text: str) -> str:
    return GSM7 if _GSM_ALL.issuperset(text) else UCS2


def _total(text: str, encoding: str) -> int:
    """Units of the whole text, counted on its distinct characters (a set operation, not a loop)."""
    wide = _EXTENSION.intersection(text) if encoding == GSM7 else {ch for ch in set(text) if ord(ch) > 0xFFFF}
    return len(text) + sum(text.count(ch) for ch in wide)


def _pack(text: str, encoding: str) -> tuple[list[str], list[int], int]:
    """The parts, the units used in each, and the limit per part."""
    single, multi = LIMITS[encoding]
    total = _total(text, encoding)
    if total <= single:  # one part: nothing to pack
        return [text], [total], single
    costs = [units(ch, encoding) for ch in text]
    parts, used, start, filled = [], [], 0, 0
    for i, cost in enumerate(costs):
        if filled + cost > multi:  # the whole character (escape + char, surrogate pair) moves on
            parts.append(text[start:i])
            used.append(filled)
            start, filled = i, 0
        filled += cost
    parts.append(text[start:])
    used.append(filled)
    return parts, used, multi


def analyse(text: str) -> SmsAnalysis:
    """R-26: encoding, exact segment count and what forces UCS-2, for the editor and for billing."""
    encoding = encoding_of(text)
    parts, used, limit = _pack(text, encoding)
    return SmsAnalysis(
        encoding=encoding,
        length_units=sum(used),
        segments=len(parts),
        per_segment_limit=limit,
        remaining_in_last=limit - used[-1],
        ucs2_characters=ucs2_characters(text) if encoding == UCS2 else (),
    )


def split(text: str) -> list[str]:
    """R-26: the parts a concatenated SMS is sent as (each gets a UDH); "" is one empty part."""
    return _pack(text, encoding_of(text))[0]


# --- transliteration -----------------------------------------------------------------------
# Only characters outside GSM, each to a GSM text that reads the same. Letters with diacritics not
# in GSM (ê, ç, Ô …) lose them through Unicode decomposition below, so they are not listed here.
_QUOTE, _DQUOTE = "'", '"'
TRANSLITERATIONS: dict[str, str] = {
    "\u2019": _QUOTE, "\u2018": _QUOTE, "\u201a": _QUOTE, "\u201b": _QUOTE,  # ’ ‘ ‚ ‛
    "\u02bc": _QUOTE, "\u2032": _QUOTE, "`": _QUOTE, "\u00b4": _QUOTE,  # ʼ ′ ` ´
    "\u201c": _DQUOTE, "\u201d": _DQUOTE, "\u201e": _DQUOTE, "\u201f": _DQUOTE,  # “ ” „ ‟
    "\u00ab": _DQUOTE, "\u00bb": _DQUOTE, "\u2033": _DQUOTE,  # « » ″
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",  # ‐ ‑ ‒ – — ― −
    "\u2026": "...",  # …
    "\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ",  # no-break, narrow, thin …
    "\u2002": " ", "\u2003": " ", "\u2004": " ", "\u2005": " ", "\u2006": " ", "\u205f": " ",
    "\u200b": "", "\u2060": "", "\ufeff": "", "\u00ad": "",  # invisible: zero width space, word joiner, BOM, soft hyphen
    "\u0153": "oe", "\u0152": "OE", "\ufb01": "fi", "\ufb02": "fl",  # œ Œ ﬁ ﬂ
}  # fmt: skip


def _clusters(text: str):
    """A character with the combining marks that follow it (e + U+0301 is one cluster)."""
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or not unicodedata.combining(text[i]):
            yield text[start:i]
            start = i


def _replacement(cluster: str) -> str | None:
    if all(is_gsm(ch) for ch in cluster):
        return None  # never touch GSM characters
    if cluster in TRANSLITERATIONS:
        return TRANSLITERATIONS[cluster]
    composed = unicodedata.normalize("NFC", cluster)
    if len(composed) == 1 and is_gsm(composed):
        return composed  # e + U+0301 is é, which GSM has: nothing is lost
    base, *marks = unicodedata.normalize("NFD", composed)
    if base.isascii() and base.isalpha() and marks and all(unicodedata.combining(m) for m in marks):
        return base  # ê → e, Ç stays (GSM), ç → c
    return None


def transliteration(text: str) -> tuple[str, list[tuple[str, str]]]:
    """R-26: text with UCS-2-forcing characters replaced by faithful GSM ones, and the distinct
    (original, replacement) pairs in order of first appearance. What has no faithful equivalent
    (emoji, °, ‹ …) stays, and still forces UCS-2."""
    out, changes = [], {}
    for cluster in _clusters(text):
        new = _replacement(cluster)
        if new is None:
            out.append(cluster)
        else:
            out.append(new)
            changes.setdefault(cluster, new)
    return "".join(out), list(changes.items())


def transliterate(text: str) -> str:
    return transliteration(text)[0]
