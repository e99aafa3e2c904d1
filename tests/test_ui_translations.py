"""Every string of the screens exists in French (SPEC §4: the back-office and the public pages in French
and English; issue 7: nothing left untranslated), with the same placeholders.

The sources: every template of the project, and the Python modules of the back-office and the public
pages. The strings are read as Django's `makemessages` reads them (templatize for templates, the gettext
calls for Python); the translations from every French catalogue Django loads (the project's, each app's,
each back-office area's). The browser tests check the rendered pages too (relance/testing_browser.py).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.utils.translation.template import templatize

RELANCE = Path(__file__).resolve().parents[1] / "relance"
TEMPLATES = sorted(p for p in RELANCE.glob("**/templates/**/*.html") if "privacy/templates/privacy" not in str(p))
MODULES = sorted(p for area in ("backoffice", "public") for p in (RELANCE / area).glob("**/*.py")
                 if "tests" not in p.parts and "migrations" not in p.parts)
CALL = re.compile(r"\b(n?gettext|pgettext|npgettext)\(((?:u'(?:[^'\\]|\\.)*'(?:, )?)+)")
LITERAL = re.compile(r"u('(?:[^'\\]|\\.)*')")
PLACEHOLDER = re.compile(r"%\(\w+\)\w|\{\w*\}")
GETTEXT = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy"}


def template_msgids(path: Path) -> set[str]:
    found = set()
    for name, literals in CALL.findall(templatize(path.read_text(), origin=str(path))):
        texts = [ast.literal_eval(t) for t in LITERAL.findall(literals)]
        if name.startswith("p"):
            texts = texts[1:]  # the context
        found.update(texts[:2] if name.startswith(("n", "np")) else texts[:1])
    return found


def python_msgids(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in GETTEXT):
            continue
        strings = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name.startswith("p"):
            strings = strings[1:]
        found.update(strings[:2] if name.startswith("n") else strings[:1])
    return found


def catalogues() -> list[Path]:
    from django.conf import settings

    paths = [Path(p) / "fr" / "LC_MESSAGES" / "django.po" for p in settings.LOCALE_PATHS]
    return [p for p in paths + sorted(RELANCE.glob("*/locale/fr/LC_MESSAGES/django.po")) if p.exists()]


def translations() -> dict[str, str]:
    """msgid (and msgid_plural) → msgstr, fuzzy and empty translations left out."""
    result: dict[str, str] = {}
    for path in catalogues():
        entries, fields, key, fuzzy, pending_fuzzy = [], {}, None, False, False
        for line in path.read_text().splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                pending_fuzzy = True
                continue
            match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) (".*")$', line)
            if match and match.group(1) == "msgid":  # a new entry (with or without a blank line before it)
                if fields:
                    entries.append((fields, fuzzy))
                fields, fuzzy, pending_fuzzy = {}, pending_fuzzy, False
            if match:
                key = match.group(1)
                fields[key] = ast.literal_eval(match.group(2))
            elif line.startswith('"') and key:
                fields[key] += ast.literal_eval(line)
        if fields:
            entries.append((fields, fuzzy))
        for fields, was_fuzzy in entries:
            msgstr = fields.get("msgstr", fields.get("msgstr[0]", ""))
            if was_fuzzy or not fields.get("msgid") or not msgstr:
                continue
            result.setdefault(fields["msgid"], msgstr)
            if "msgid_plural" in fields:
                result.setdefault(fields["msgid_plural"], fields.get("msgstr[1]", msgstr))
    return result


def wanted() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in TEMPLATES:
        for msgid in template_msgids(path):
            found.setdefault(msgid, str(path.relative_to(RELANCE.parent)))
    for path in MODULES:
        for msgid in python_msgids(path):
            found.setdefault(msgid, str(path.relative_to(RELANCE.parent)))
    return found


def test_it_reads_the_strings_of_templates_and_modules():
    """The extraction itself works (else the next test would pass on nothing)."""
    strings = wanted()
    assert "Dashboard" in strings and "Skip to main content" in strings and "Previous page" in strings
    assert len(strings) > 150


def django_translates(msgid: str) -> bool:
    """Django's own catalogue translates it (day names, month names...)."""
    from django.utils import translation

    with translation.override("fr"):
        return translation.gettext(msgid) != msgid


def test_every_string_of_the_screens_has_its_french_translation():
    known = translations()
    missing = sorted(f"{where}: {msgid!r}" for msgid, where in wanted().items()
                     if not known.get(msgid) and not django_translates(msgid))
    assert not missing, "translate into French (the catalogue of the file's app or area):\n" + "\n".join(missing)


def test_the_french_keeps_the_placeholders():
    known = translations()
    wrong = [msgid for msgid in wanted() if msgid in known and
             sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(known[msgid]))]
    assert not wrong, wrong
