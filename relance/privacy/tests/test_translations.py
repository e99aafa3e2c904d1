"""Every message of the privacy operations, the outgoing webhooks and their API exists in French
(SPEC §4: French and English), with the same placeholders. Catalogues: every app's
locale/fr/LC_MESSAGES/django.po (Django merges them)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PRIVACY = Path(__file__).resolve().parents[1]
RELANCE = PRIVACY.parent
SOURCES = (
    *sorted(PRIVACY.glob("*.py")), *sorted(PRIVACY.glob("purge/*.py")), *sorted((RELANCE / "webhooks").glob("*.py")),
    *(RELANCE / "api" / "endpoints" / f"{name}.py"
      for name in ("rights", "exports", "erasure", "retention", "register", "breaches", "outgoing_webhooks")),
)
CATALOGS = tuple(sorted(RELANCE.glob("**/locale/fr/LC_MESSAGES/django.po")))


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
    """msgid → msgstr over every app's French catalogue."""
    result = {}
    for path in CATALOGS:
        if not path.exists():
            continue
        for msgid, msgstr in re.findall(r'^msgid (".*")\nmsgstr (".*")$', path.read_text(), flags=re.M):
            result[_unquote(msgid)] = _unquote(msgstr)
    return result


def test_it_translates_every_message_into_french():
    known = translations()
    wanted = set().union(*(msgids(path) for path in SOURCES))
    missing = sorted(m for m in wanted if not known.get(m))
    assert not missing, f"add these to relance/privacy/locale/fr/LC_MESSAGES/django.po: {missing}"


def test_it_keeps_the_placeholders_in_french():
    ours = set().union(*(msgids(path) for path in SOURCES))
    for msgid, msgstr in translations().items():
        if msgid in ours:
            assert sorted(re.findall(r"%\(\w+\)\w", msgid)) == sorted(re.findall(r"%\(\w+\)\w", msgstr)), msgid
