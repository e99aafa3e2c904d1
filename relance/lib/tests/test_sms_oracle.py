"""lib/sms_text checked against an independent oracle (R-26): Twilio's npm package
sms-segments-calculator (pinned in tests/oracle/package.json, installed by `make sms-oracle`), driven
through ONE long-lived node process (tests/oracle/sms_oracle.js, JSON lines in and out).

Compared on hypothesis texts rich in French accents, GSM extension characters, curly quotes and emoji:
encoding, length in septets / UTF-16 units, segment count, the text of every part, the space left in
the last part, and the characters forcing UCS-2; then our transliteration against Twilio's Smart
Encoding. Without node or the package the tests skip, and fail when CI=true.

Where the oracle's policy differs, our implementation is NOT changed; the difference is listed here,
filtered only where it applies, and shown by its own test:

| #  | Case                                      | Oracle (sms-segments-calculator 1.3.0) | Relance (R-26)                     |
|----|-------------------------------------------|----------------------------------------|------------------------------------|
| D1 | a part boundary falls inside a grapheme   | moves the whole cluster to the next    | keeps code points whole (escape +  |
|    | cluster of several code points (👍🏽, 🇫🇷, | part, so it may need one more part     | char, surrogate pair): fewest parts|
|    | ❤️, 👨‍👩‍👧, e + U+0301)                      |                                        | the phone rejoins them for display |
| D2 | ‚ U+201A single low-9 quotation mark       | , (a comma)                            | ' (it is a quotation mark)         |
| D3 | no-break, narrow no-break, thin spaces    | two spaces                             | one space                          |
| D4 | ê ç œ ‑ ′ ﬁ … (no Smart Encoding entry)    | unchanged: the text stays UCS-2        | base letter, oe, -, ', fi …        |
| D5 | combining marks after a letter            | some become symbols: e + U+0302 → e^,  | composed if GSM has the letter     |
|    |                                           | n + U+0303 → n~; others stay           | (e + U+0301 → é), else dropped     |
| D6 | fullwidth forms, ‹ ›, tab, bullets …      | mapped (＠ → @, ‹ → <, tab → 7 spaces) | kept: no faithful GSM equivalent   |

D1 is the only counting difference; on GSM-7 text (no clusters) every part must be identical.
"""

from __future__ import annotations

import itertools
import json
import select
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from conftest import needs
from relance.lib import sms_text
from relance.lib.sms_text import GSM7, UCS2, analyse, split, transliterate

ORACLE_DIR = Path(__file__).resolve().parents[3] / "tests" / "oracle"
SCRIPT = ORACLE_DIR / "sms_oracle.js"
PACKAGE = "sms-segments-calculator"
BITS = {GSM7: 7, UCS2: 16}

EXTENSION = "^{}\\[~]|€\f"
GSM_LETTERS = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;!?'\"-()@£$¥èéùìòÇØøÅåÆæßÉÄÖÑÜäöñüà§¿¡_ΔΦΓΛΩΠΨΣΘΞ\n\r"
)
FRENCH = "âêîôûëïüÿçÂÊÎÔÛËÏŸÀÈÙœŒ"
QUOTES = "’‘‚“”„«»–—…\u00a0\u202f"
EMOJI = ["😀", "👍", "🎉", "☀", "📅", "🚗"]  # one code point each: no grapheme cluster, D1 cannot apply
CLUSTERS = ["🇫🇷", "👍🏽", "👨‍👩‍👧", "❤️", "e\u0301", "\U0001f9d1\u200d\U0001f4bb"]  # several code points each

# D2, D3: what the oracle's Smart Encoding gives where ours differs (ours is in sms_text.TRANSLITERATIONS).
SMART_DIFFERS = {"\u201a": ","} | {
    space: "  " for space in "\u00a0\u202f\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u205f"
}
# D4: characters ours replaces and the oracle's Smart Encoding leaves as they are.
SMART_UNMAPPED = set("\u2032\u2033\u2011\u2012\u2212\u00ad\ufb01\ufb02œŒ") | set(FRENCH) - {"ü"}


def short_id(value):
    """Readable test ids for long texts: runs of one character as a*152+\\u20ac+b*10."""
    if not isinstance(value, str):
        return None
    runs = [(ch, len(list(run))) for ch, run in itertools.groupby(value)]
    return "+".join(ascii(ch)[1:-1] + (f"*{n}" if n > 1 else "") for ch, n in runs)[:40] or "empty"


def texts(pieces, longest: int):
    """Texts of 0 to `longest` code points, evenly spread to cross part boundaries often: a random run
    repeated to a random length, then a random tail (drawing every piece of a long text is slow)."""
    run = st.lists(pieces, min_size=1, max_size=40).map("".join)
    fill = st.builds(lambda r, n: (r * (n // len(r) + 1))[:n], run, st.integers(0, longest))
    return st.builds(str.__add__, fill, run | st.just(""))


gsm_texts = texts(st.sampled_from(list(GSM_LETTERS) * 3 + list(EXTENSION)), 470)
rich_pieces = st.one_of(
    st.sampled_from(GSM_LETTERS),
    st.sampled_from(EXTENSION),
    st.sampled_from(FRENCH),
    st.sampled_from(QUOTES),
    st.sampled_from(EMOJI),
)
rich_texts = texts(rich_pieces, 220)
cluster_texts = texts(st.one_of(rich_pieces, st.sampled_from(CLUSTERS)), 220)
french_texts = texts(st.sampled_from(GSM_LETTERS + EXTENSION + FRENCH + QUOTES), 400)


class Oracle:
    """One node process; one JSON line per question, one per answer."""

    def __init__(self):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            ["node", str(SCRIPT)],
            cwd=ORACLE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            encoding="utf-8",
        )

    def ask(self, text: str, smart: bool = False) -> dict:
        try:
            self.proc.stdin.write(json.dumps({"text": text, "smart": smart}) + "\n")
            self.proc.stdin.flush()
        except OSError:  # node has exited (BrokenPipeError)
            pass
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.stderr.seek(0)
            raise RuntimeError(f"the node oracle did not answer: {self.stderr.read().decode(errors='replace')[-2000:]}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def oracle_problem() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    installed = ORACLE_DIR / "node_modules" / PACKAGE / "package.json"
    if not installed.exists():
        return f"{PACKAGE} is not installed in {ORACLE_DIR}: run `make sms-oracle`"
    pinned = json.loads((ORACLE_DIR / "package.json").read_text())["dependencies"][PACKAGE]
    version = json.loads(installed.read_text())["version"]
    if version != pinned:
        return f"{PACKAGE} {version} is installed but {pinned} is pinned: run `make sms-oracle`"
    return None


@pytest.fixture(scope="module")
def oracle():
    problem = oracle_problem()
    needs("sms oracle", problem is None, problem or "")
    oracle = Oracle()
    try:
        try:
            oracle.ask("")  # once: can node load the package?
        except RuntimeError as error:
            needs("sms oracle", False, f"node could not run {SCRIPT.name}: {error}")
        yield oracle
    finally:
        oracle.close()


def utf16_offsets(lengths) -> set[int]:
    """Offsets in UTF-16 units where a new piece starts, strictly inside the text."""
    offsets, at = set(), 0
    for length in lengths:
        at += length
        offsets.add(at)
    return offsets


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cuts_a_grapheme(parts: list[str], graphemes: list[int]) -> bool:
    """D1 applies: one of our part boundaries falls strictly inside one of the oracle's clusters."""
    ours = utf16_offsets(utf16_len(p) for p in parts[:-1])
    return not ours <= utf16_offsets(graphemes)


def pack_whole_clusters(text: str, graphemes: list[int], encoding: str) -> list[str]:
    """Our packing with the oracle's unit, the grapheme cluster (D1), for the clusters of these tests
    (each far shorter than a part)."""
    clusters, start = [], 0
    for length in graphemes:
        end, got = start, 0
        while got < length:
            got, end = got + utf16_len(text[end]), end + 1
        clusters.append(text[start:end])
        start = end
    costs = [sum(sms_text.units(ch, encoding) for ch in cluster) for cluster in clusters]
    single, multi = sms_text.LIMITS[encoding]
    if sum(costs) <= single:
        return [text]
    parts, current, filled = [], "", 0
    for cluster, cost in zip(clusters, costs, strict=True):
        if filled + cost > multi:
            parts, current, filled = [*parts, current], "", 0
        current, filled = current + cluster, filled + cost
    return [*parts, current]


def note(what: str) -> None:
    if currently_in_test_context():  # hypothesis statistics (--hypothesis-show-statistics)
        event(what)


def compare(oracle, text: str, *, clusters: bool = False, smart: bool = False) -> dict:
    """Assert agreement on everything, allowing D1 only when `clusters`; return the oracle's answer."""
    theirs, ours, parts = oracle.ask(text, smart), analyse(text), split(text)
    assert theirs["encoding"] == ours.encoding, text
    assert theirs["bits"] == ours.length_units * BITS[ours.encoding], text
    forcing = set(ours.ucs2_characters)  # each of the oracle's non-GSM clusters holds one of ours, and only those
    assert forcing <= {ch for g in theirs["nonGsm"] for ch in g} and all(forcing & set(g) for g in theirs["nonGsm"]), text
    note(f"{ours.encoding}, {min(ours.segments, 4)} segment(s)")
    if clusters and theirs["parts"] != parts:
        # D1 only: a boundary of ours cuts a cluster, and the oracle's parts are exactly our packing
        # done cluster by cluster; it then needs as many parts or more.
        note("D1: a part boundary cuts a grapheme cluster")
        assert cuts_a_grapheme(parts, theirs["graphemes"]), (text, parts, theirs["parts"])
        assert theirs["parts"] == pack_whole_clusters(text, theirs["graphemes"], ours.encoding), text
        assert theirs["segments"] >= ours.segments, text
        return theirs
    assert (theirs["segments"], theirs["parts"]) == (ours.segments, parts), text
    assert theirs["lastFreeBits"] // BITS[ours.encoding] == ours.remaining_in_last, text
    return theirs


# --- counting ------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(text=rich_texts)
def test_it_agrees_with_the_oracle_on_rich_texts(oracle, text):
    """R-26: French accents, extension characters, curly quotes, emoji of one code point: encoding,
    units, segments, every part, space left and UCS-2 characters exactly as the oracle."""
    compare(oracle, text)


@settings(max_examples=300, deadline=None)
@given(text=cluster_texts)
def test_it_agrees_with_the_oracle_on_texts_with_grapheme_clusters_except_d1(oracle, text):
    """R-26: with 🇫🇷, 👍🏽, ❤️, e + U+0301 …: the same except D1, and then the oracle's parts are
    exactly ours packed cluster by cluster."""
    compare(oracle, text, clusters=True)


@settings(max_examples=300, deadline=None)
@given(text=gsm_texts)
def test_it_agrees_with_the_oracle_part_for_part_on_gsm_7_texts(oracle, text):
    """R-26: GSM-7 with extension characters at part boundaries: no difference at all (D1 cannot
    apply: the oracle also keeps an escape with its character)."""
    theirs = oracle.ask(text)
    assert (theirs["encoding"], theirs["parts"]) == (GSM7, split(text))
    assert theirs["lastFreeBits"] // 7 == analyse(text).remaining_in_last


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a" * 160,
        "a" * 161,
        "a" * 306,
        "a" * 307,
        "a" * 159 + "€",
        "a" * 152 + "€" + "b" * 10,
        "€" * 153,
        "ê" * 70,
        "ê" * 71,
        "ê" * 134,
        "ê" * 135,
        "😀" * 35,
        "😀" * 67,
        "a" * 66 + "😀" + "b" * 5,
        "Cl’é : ça coûte 5 € 😀",
    ],
    ids=short_id,
)
def test_it_agrees_with_the_oracle_at_the_boundaries(oracle, text):
    """R-26: the table cases of test_sms_text, asked to the oracle; none falls under D1."""
    theirs = compare(oracle, text)
    assert theirs["parts"] == split(text)


@pytest.mark.parametrize(
    "text, ours, theirs",
    [
        ("a" * 65 + "👍🏽" + "b" * 64, 2, 3),  # 👍 ends our first part, 🏽 opens the second
        ("a" * 66 + "e\u0301" + "b" * 66, 2, 3),  # e ends our first part, U+0301 opens the second
        ("a" * 65 + "🇫🇷" + "b" * 5, 2, 2),  # same count, different parts
    ],
    ids=short_id,
)
def test_it_differs_from_the_oracle_when_a_boundary_cuts_a_grapheme_cluster_d1(oracle, text, ours, theirs):
    """R-26, D1: the oracle moves a whole grapheme cluster; we keep code points whole and need fewer
    parts. Both keep every part within 67 UTF-16 units."""
    answer = oracle.ask(text)
    assert (analyse(text).segments, answer["segments"]) == (ours, theirs)
    assert cuts_a_grapheme(split(text), answer["graphemes"]) and split(text) != answer["parts"]
    assert answer["parts"] == pack_whole_clusters(text, answer["graphemes"], UCS2)
    assert all(utf16_len(part) <= 67 for part in split(text) + answer["parts"])


# --- transliteration -----------------------------------------------------------------------
@pytest.mark.parametrize("ch", sorted(set(sms_text.TRANSLITERATIONS) | set(FRENCH)))
def test_it_transliterates_like_the_oracles_smart_encoding_except_d2_to_d4(oracle, ch):
    """R-26: each character we replace, through Twilio's Smart Encoding: the same replacement, or
    one of the documented differences D2–D4."""
    theirs, ours = oracle.ask(ch, smart=True)["smart"], transliterate(ch)
    if ch in SMART_DIFFERS:
        assert (theirs, ours) == (SMART_DIFFERS[ch], sms_text.TRANSLITERATIONS[ch]) and theirs != ours
    elif ch in SMART_UNMAPPED:
        assert theirs == ch != ours
    else:
        assert theirs == ours


@pytest.mark.parametrize("text, theirs, ours", [("e\u0302", "e^", "e"), ("e\u0301", "e\u0301", "é"), ("n\u0303", "n~", "ñ")])
def test_it_handles_combining_marks_unlike_the_oracle_d5(oracle, text, theirs, ours):
    """R-26, D5: we compose or drop a combining mark; the oracle turns some into symbols."""
    assert (oracle.ask(text, smart=True)["smart"], transliterate(text)) == (theirs, ours)


@pytest.mark.parametrize("ch, theirs", [("＠", "@"), ("‹", "<"), ("\t", " " * 7), ("•", "-")])
def test_it_keeps_what_only_the_oracle_maps_d6(oracle, ch, theirs):
    """R-26, D6: outside our table the character stays (and still forces UCS-2)."""
    assert (oracle.ask(ch, smart=True)["smart"], transliterate(ch)) == (theirs, ch)


@settings(max_examples=300, deadline=None)
@given(text=french_texts)
def test_it_makes_french_texts_gsm_7_by_the_oracles_own_table(oracle, text):
    """R-26: after our transliteration the oracle, with its own GSM table, says GSM-7, agrees on the
    count, and its Smart Encoding has nothing left to change."""
    new = transliterate(text)
    theirs = compare(oracle, new, smart=True)
    assert theirs["encoding"] == GSM7 and theirs["smart"] == new
