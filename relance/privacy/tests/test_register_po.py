"""Every message the register, the compliance report and the controller profile show exists in French
(R-70, R-73; SPEC §4: French and English), with the same placeholders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PRIVACY = Path(__file__).resolve().parents[1]
SOURCES = ("register.py", "register_document.py", "compliance.py", "controller.py")
CATALOGS = (PRIVACY / "locale/fr/parts/register.po", PRIVACY / "locale/fr/LC_MESSAGES/django.po")


def msgids(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in {"_", "gettext", "gettext_lazy"}:
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def _unquote(text: str) -> str:
    return ast.literal_eval(text)


def translations() -> dict[str, str]:
    """msgid → msgstr of the fragment and, once the lead merged it, of the app's catalog."""
    result = {}
    for path in CATALOGS:
        if not path.exists():
            continue
        for msgid, msgstr in re.findall(r'^msgid (".*")\nmsgstr (".*")$', path.read_text(), flags=re.M):
            result[_unquote(msgid)] = _unquote(msgstr)
    return result


def test_it_translates_every_message_into_french():
    known = translations()
    wanted = set().union(*(msgids(PRIVACY / name) for name in SOURCES))
    missing = sorted(m for m in wanted if not known.get(m))
    assert not missing, f"add these to locale/fr/parts/register.po: {missing}"


def test_it_keeps_the_placeholders_in_french():
    for msgid, msgstr in translations().items():
        if msgid in set().union(*(msgids(PRIVACY / name) for name in SOURCES)):
            assert sorted(re.findall(r"%\(\w+\)\w", msgid)) == sorted(re.findall(r"%\(\w+\)\w", msgstr)), msgid
