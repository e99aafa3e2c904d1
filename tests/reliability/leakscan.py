"""A scanner for clear personal values in dumps, logs, error pages and exported files (R-60, R-61).

Two kinds of detection:
- known values (names, phone numbers, e-mail addresses, message bodies a test created or loaded),
  in every form they could take: as typed, lower-cased, hex-encoded inside a binary column
  (tests/dumps.forms_of), URL-encoded, JSON-escaped, HTML-escaped, and phone numbers in national
  formats (0612345678, 06 12 34 56 78, 06.12.34.56.78) as well as E.164. All forms of all values
  are matched in one pass over a text (a regular expression built as a trie), case-insensitively;
- patterns (the standalone command, for files no test listed the values of): anything that looks
  like an e-mail address or a mobile/landline number in E.164 or French national format.

A finding names the source, the line, the kind and a masked excerpt: the value itself is never
printed (`‹phone›` stands in its place, and in the place of any other finding on the same line).

Standalone, for `make chaos`:

    python -m tests.reliability.leakscan artifacts var/test/leaks [--values FILE] [--allow REGEX]

scans every file under the paths (images skipped, PDF streams inflated) for the demo's personal
values (relance.ops.demo.DEMO_PERSONAL_VALUES), the values of FILE (a JSON list) and the patterns;
prints the findings and the bytes scanned; exits 1 if there is any finding.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

from tests.dumps import forms_of as dump_forms

# Below this many bytes a value's hex form could show by chance inside the hex of a ciphertext.
MIN_HEX_BYTES = 6
SKIPPED_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".woff", ".woff2", ".sqlite3", ".pyc"}
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?![\w-])", re.IGNORECASE)
PHONE = re.compile(r"(?<![\w+.\-/])(?:\+[1-9]\d{7,14}|0[1-9](?:[ .\-]?\d{2}){4})(?![\w\-])")
# Addresses that are not a person's: the platform's sender and the bench organisations' placeholders.
DEFAULT_ALLOWED = [r"^no-?reply@", r"@bench\.invalid$", r"@relance\.example$"]
EXCERPT = 40


def national_forms(phone: str) -> list[str]:
    """A French E.164 number as people write it: 0612345678, 06 12 34 56 78, 06.12.34.56.78, +33 6 12 34 56 78."""
    digits = re.sub(r"[^\d+]", "", phone)
    if not (digits.startswith("+33") and len(digits) == 12):
        return []
    national = "0" + digits[3:]
    pairs = [national[i:i + 2] for i in range(0, 10, 2)]
    return [national, " ".join(pairs), ".".join(pairs), "-".join(pairs),
            f"+33 {national[1]} " + " ".join(pairs[1:]), "0033" + digits[3:]]


def forms_of(value: str) -> list[str]:
    """Every form of a clear value the scan looks for (see the module's docstring)."""
    found = list(dump_forms(value))
    if len(value.encode()) < MIN_HEX_BYTES:
        found = [form for form in found if form in (value, value.lower())]
    found += [quote(value), quote_plus(value), quote(value, safe=""), json.dumps(value)[1:-1],
              json.dumps(value, ensure_ascii=False)[1:-1], html.escape(value), html.escape(value, quote=False)]
    if re.fullmatch(r"\+\d{8,15}", value):
        found += national_forms(value)
        found += [quote(form) for form in national_forms(value)]
    return sorted({form for form in found if form})


def kind_of(value: str) -> str:
    if "@" in value and EMAIL.fullmatch(value):
        return "email"
    if re.fullmatch(r"\+?[\d .\-()]{8,20}", value):
        return "phone"
    return "text" if " " in value.strip() and len(value) > 40 else "name"


def trie_pattern(words: Iterable[str]) -> str:
    """One regular expression matching any of `words` (longest first), as a trie of their characters:
    matching tries one branch per character instead of every word at every position."""
    root: dict = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        ends = "" in node
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return build(root)


_COMPILED: dict[tuple[str, ...], tuple[re.Pattern | None, dict[str, str]]] = {}


@dataclass
class Finding:
    source: str
    line: int
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.kind}: {self.excerpt}"


@dataclass
class Scanner:
    """Scan texts for `values` (clear personal values) and, with `patterns`, for e-mails and phones.

    `scanned` counts the bytes scanned per source label (the caller groups files as it likes)."""

    values: Iterable[str] = ()
    patterns: bool = False
    allowed: list[str] = field(default_factory=lambda: list(DEFAULT_ALLOWED))
    scanned: dict[str, int] = field(default_factory=dict)

    ignore: frozenset[str] = frozenset()

    def __post_init__(self):
        self.values = tuple(sorted({v for v in self.values if v and v.strip()}))
        if self.values not in _COMPILED:  # a big set takes seconds to compile: scanners of one set share it
            owners: dict[str, str] = {}
            for value in self.values:
                for form in forms_of(value):
                    owners.setdefault(form.lower(), value)
            pattern = trie_pattern(sorted(owners, key=len, reverse=True)) if owners else None
            if len(_COMPILED) >= 4:
                _COMPILED.pop(next(iter(_COMPILED)))
            _COMPILED[self.values] = (re.compile(pattern, re.IGNORECASE) if pattern else None, owners)
        self.known, self.owners = _COMPILED[self.values]
        self.allow = [re.compile(p, re.IGNORECASE) for p in self.allowed]

    def but(self, ignored) -> Scanner:
        """The same scanner, ignoring some of its values (a person's own values in their export)."""
        return Scanner(self.values, patterns=self.patterns, allowed=self.allowed, scanned=self.scanned,
                       ignore=frozenset(ignored))

    # --- matching -------------------------------------------------------------------------------
    def matches(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, kind) of every finding in `text`, sorted, overlapping ones merged."""
        spans = []
        if self.known is not None:
            for m in self.known.finditer(text):
                owner = self.owners.get(m.group().lower(), "")
                if owner not in self.ignore:
                    spans.append((m.start(), m.end(), kind_of(owner) if owner else "value"))
        if self.patterns:
            spans += [(m.start(), m.end(), "email") for m in EMAIL.finditer(text)
                      if not any(a.search(m.group()) for a in self.allow)]
            spans += [(m.start(), m.end(), "phone") for m in PHONE.finditer(text)]
        merged: list[tuple[int, int, str]] = []
        for start, end, kind in sorted(spans):
            if merged and start < merged[-1][1]:
                last = merged[-1]
                merged[-1] = (last[0], max(last[1], end), last[2])
            else:
                merged.append((start, end, kind))
        return merged

    def mask(self, text: str) -> str:
        """`text` with every finding replaced by ‹kind›."""
        out, at = [], 0
        for start, end, kind in self.matches(text):
            out += [text[at:start], f"‹{kind}›"]
            at = end
        return "".join([*out, text[at:]])

    # --- scanning -------------------------------------------------------------------------------
    def scan_text(self, text: str, source: str, *, label: str | None = None) -> list[Finding]:
        label = label or source
        self.scanned[label] = self.scanned.get(label, 0) + len(text.encode("utf-8", "replace"))
        findings = []
        line_starts = None
        for start, _end, kind in self.matches(text):
            if line_starts is None:
                line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
            line = _bisect(line_starts, start)
            line_end = text.find("\n", start)
            begins = line_starts[line - 1]
            masked = self.mask(text[begins:line_end if line_end >= 0 else len(text)])
            centre = len(self.mask(text[begins:start]))
            excerpt = masked[max(0, centre - EXCERPT):centre + EXCERPT].replace("\t", " ")
            findings.append(Finding(source, line, kind, excerpt))
        return findings

    def scan_bytes(self, data: bytes, source: str, *, label: str | None = None) -> list[Finding]:
        return self.scan_text(readable(data, source), source, label=label)

    def scan_path(self, path: str | os.PathLike, *, label: str | None = None) -> list[Finding]:
        """A file, or every file under a directory (images and compiled files skipped)."""
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        findings = []
        for file in files:
            if file.suffix.lower() in SKIPPED_SUFFIXES:
                continue
            findings += self.scan_bytes(file.read_bytes(), str(file), label=label or str(path))
        return findings


def _bisect(starts: list[int], position: int) -> int:
    from bisect import bisect_right

    return bisect_right(starts, position)


def readable(data: bytes, name: str = "") -> str:
    """A file's text; a PDF's compressed streams inflated and appended (their text would be hidden)."""
    text = data.decode("utf-8", "replace")
    if name.lower().endswith(".pdf") or data.startswith(b"%PDF"):
        inflated = []
        for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
            try:
                inflated.append(zlib.decompress(match.group(1)).decode("latin-1"))
            except zlib.error:
                continue
        text += "\n" + "\n".join(inflated)
    return text


def demo_values() -> list[str]:
    """The demo's personal values (needs Django set up: relance.ops.demo imports the models)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    import django

    django.setup()
    from relance.ops.demo import DEMO_PERSONAL_VALUES

    return list(DEMO_PERSONAL_VALUES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.leakscan", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="files or directories to scan")
    parser.add_argument("--values", action="append", default=[], help="a JSON file: a list of clear values")
    parser.add_argument("--allow", action="append", default=[], help="a regex of e-mail addresses that are fine")
    parser.add_argument("--no-demo", action="store_true", help="without the demo's personal values")
    parser.add_argument("--no-patterns", action="store_true", help="known values only (no e-mail/phone patterns)")
    options = parser.parse_args(argv)
    values = [] if options.no_demo else demo_values()
    for name in options.values:
        values += [str(v) for v in json.loads(Path(name).read_text())]
    scanner = Scanner(values, patterns=not options.no_patterns, allowed=DEFAULT_ALLOWED + options.allow)
    findings = []
    for path in options.paths:
        if not Path(path).exists():
            print(f"leakscan: {path} does not exist (skipped)")
            continue
        findings += scanner.scan_path(path)
    for finding in findings:
        print(finding)
    total = sum(scanner.scanned.values())
    print(f"leakscan: {len(values)} known values, {len(scanner.scanned)} paths, {total:,} bytes scanned, "
          f"{len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
