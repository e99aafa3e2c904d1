"""Reply keywords (R-30), pure: normalise a reply and say whether it is a STOP, a START or an INFO.

Normalising ignores case, accents, punctuation and spacing: "Stop.", " arrêt ", "STOP SMS" and
"stop!!" are all opt-outs. A reply is a keyword when its whole normalised text is one; "STOP" or
"ARRET" followed by other words ("Stop merci") is an opt-out too, because ignoring an opt-out costs
the person more than honouring one. Opt-ins (OUI, YES, START) are never guessed from a longer text:
"oui je viendrai" answers a reminder, it is not a consent (R-28).

Organisations extend the lists with `SendingSettings.keywords` ({"stop": [...], "start": [...],
"info": [...]}); a word they configure moves to the kind they give, except the default opt-out
words, which always stop (R-30 names them).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

STOP, START, INFO, OTHER = "stop", "start", "info", "other"
KINDS = (STOP, START, INFO)

DEFAULTS: dict[str, tuple[str, ...]] = {
    STOP: ("STOP", "STOP SMS", "ARRET", "DESABONNER", "UNSUBSCRIBE", "END", "QUIT"),
    START: ("START", "OUI", "YES"),
    INFO: ("INFO", "AIDE", "HELP"),
}
# Opt-out words that stop even when more words follow ("STOP merci", "arrêt svp").
LEADING_STOP = ("STOP", "ARRET", "DESABONNER", "UNSUBSCRIBE")
MAX_INPUT = 320  # a reply longer than two SMS parts is read no further
MAX_KEYWORD = 32  # InboundMessage.keyword

_NOT_WORD = re.compile(r"[^0-9A-Z]+")


@dataclass(frozen=True)
class Classification:
    kind: str  # stop, start, info or other
    keyword: str = ""  # the normalised keyword recognised; empty for other (the text is never kept)


def normalise(text: str) -> str:
    """Upper case, no accents, every run of punctuation, symbols or spaces as one space, trimmed."""
    decomposed = unicodedata.normalize("NFKD", (text or "")[:MAX_INPUT])
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    upper = bare.upper()
    return _NOT_WORD.sub(" ", upper).strip()


def table(configured: dict | None = None) -> dict[str, str]:
    """Normalised keyword → kind, with the organisation's words (see the module docstring)."""
    words = {normalise(word): kind for kind in KINDS for word in DEFAULTS[kind]}
    protected = {normalise(word) for word in DEFAULTS[STOP]}
    configured = configured if isinstance(configured, dict) else {}
    for kind in KINDS:
        words_of_kind = configured.get(kind)
        for word in words_of_kind if isinstance(words_of_kind, list) else []:
            key = normalise(word)[:MAX_KEYWORD] if isinstance(word, str) else ""
            if key and key not in protected:
                words[key] = kind
    return words


def classify(text: str, configured: dict | None = None) -> Classification:
    normalised = normalise(text)
    if not normalised:
        return Classification(OTHER)
    words = table(configured)
    kind = words.get(normalised)
    if kind is not None:
        return Classification(kind, normalised[:MAX_KEYWORD])
    first = normalised.split(" ", 1)[0]
    if first in LEADING_STOP:
        return Classification(STOP, first)
    return Classification(OTHER)

