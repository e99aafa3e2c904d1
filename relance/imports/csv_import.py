"""Reading a contacts file: bytes → text → header mapping → rows, with limits checked as it goes.

Pure except for the organisation it is given: no query, no write. A file that cannot be read as a
whole (too big, binary, a CSV bomb, an ambiguous header) raises `FileRefused`; a bad row never
does: it is a `Problem` in the report, named by its line in the file (the header is line 1).
Messages name the column and the reason, never the value (R-61).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
MAX_COLUMNS = 60
MAX_LINE = 32 * 1024  # characters on one physical line: a row of a dozen columns is far below
DELIMITERS = (";", ",", "\t")
IGNORE = "ignore"

CONTACT_FIELDS = ("first_name", "last_name", "phone", "email", "birth_date", "minor", "external_ref", "language",
                  "site")
CONSENT_FIELDS = ("consent_source", "consent_date", "consent_ref", "consent_collector")
FIELDS = CONTACT_FIELDS + CONSENT_FIELDS + ("consent_channel",)

# Headers people write, French and English, compared without case, accents or punctuation.
ALIASES = {
    "first_name": ["prenom", "prenoms", "first name", "firstname", "given name", "forename"],
    "last_name": ["nom", "nom de famille", "last name", "lastname", "surname", "family name"],
    "phone": ["telephone", "tel", "portable", "telephone portable", "tel portable", "mobile", "numero de mobile",
              "numero de telephone", "phone", "phone number", "mobile phone", "mobile number", "cell", "gsm"],
    "email": ["email", "e mail", "courriel", "mail", "adresse email", "adresse e mail", "adresse mail",
              "email address", "e mail address"],
    "birth_date": ["date de naissance", "naissance", "ne le", "nee le", "birth date", "birthdate", "date of birth",
                   "dob"],
    "minor": ["mineur", "mineure", "minor"],
    "external_ref": ["reference", "ref", "reference externe", "identifiant", "id externe", "external ref",
                     "external reference", "external id", "reference client", "numero de dossier"],
    "language": ["langue", "language", "lang"],
    "site": ["site", "code site", "code du site", "site code"],
    "consent_source": ["consent source", "source du consentement", "source consentement"],
    "consent_date": ["consent date", "date du consentement", "date consentement", "date de consentement"],
    "consent_ref": ["consent ref", "consent reference", "consent notice", "consent form", "form reference",
                    "notice reference", "consent notice or form reference", "reference du consentement",
                    "reference du formulaire", "formulaire de consentement", "mention du consentement",
                    "notice du consentement"],
    "consent_collector": ["consent collector", "collector", "original collector", "collecteur",
                          "collecteur d origine", "collecte par", "collecteur du consentement"],
    "consent_channel": ["consent channel", "canal du consentement", "canal consentement", "canal"],
}


def limit(name: str, default: int) -> int:
    """A limit, overridable in settings (RELANCE_IMPORT_MAX_BYTES, _MAX_ROWS, _MAX_COLUMNS, _MAX_LINE)."""
    return int(getattr(settings, f"RELANCE_IMPORT_{name}", default))


class FileRefused(Exception):
    """The file as a whole cannot be imported: nothing was read into the database."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(code)


@dataclass(frozen=True)
class Problem:
    line: int
    column: str  # the column's header as written in the file ("" for the row as a whole)
    field: str  # the Relance field it maps to ("" when none)
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "field": self.field, "code": self.code,
                "message": self.message}


@dataclass
class Header:
    columns: list[str]  # as written in the file
    fields: list[str | None]  # per column: the field it maps to, or None (ignored or unknown)
    warnings: list[Problem] = field(default_factory=list)

    def column_of(self, name: str) -> str:
        return self.columns[self.fields.index(name)] if name in self.fields else name

    @property
    def mapped(self) -> dict[str, str]:
        return {column: name for column, name in zip(self.columns, self.fields, strict=True) if name}


@dataclass
class Table:
    encoding: str
    delimiter: str
    header: Header
    rows: list[tuple[int, list[str]]]  # (line of the row's first character, its cells)


# --- bytes to text ----------------------------------------------------------------------------
def decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM), UTF-16 with its BOM, else Windows-1252 (French Excel)."""
    if data.startswith(codecs.BOM_UTF8):
        return _decode(data[len(codecs.BOM_UTF8):], "utf-8"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(data, "utf-16"), "utf-16"
    if b"\x00" in data:
        raise FileRefused("binary_file", _("This is not a text file (it contains NUL bytes). Save it as CSV."))
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return _decode(data, "cp1252"), "windows-1252"


def _decode(data: bytes, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise FileRefused("bad_encoding", _("The file's characters cannot be read. Save it as CSV in UTF-8."))
    if "\x00" in text:
        raise FileRefused("binary_file", _("This is not a text file (it contains NUL bytes). Save it as CSV."))
    return text


def sniff(text: str) -> str:
    """The delimiter used most on the header line: ';' (French Excel), ',' or a tab."""
    first = text[:MAX_LINE].split("\n", 1)[0].split("\r", 1)[0]
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _bounded_lines(text: str, max_line: int) -> Iterator[str]:
    """The physical lines, refusing a line longer than any real row (a CSV bomb) before csv splits it."""
    for line in io.StringIO(text, newline=""):
        if len(line) > max_line:
            raise FileRefused("line_too_long", _("A line of the file is longer than %(max)d characters: this is not "
                                                 "a contacts file, or it is damaged.") % {"max": max_line})
        yield line


# --- the header -------------------------------------------------------------------------------
def normalise_header(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.strip().lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


_BY_ALIAS = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_BY_ALIAS.update({normalise_header(name): name for name in FIELDS})


def map_header(columns: list[str], mapping: dict[str, str] | None = None) -> Header:
    """Each column to a field: the explicit mapping first, then French and English headers.
    Columns left unknown are reported (their data is not imported); two columns for one field refuse
    the file, since which one is right cannot be guessed."""
    mapping = _check_mapping(columns, mapping or {})
    fields: list[str | None] = []
    warnings = []
    for index, column in enumerate(columns):
        name = mapping.get(column.strip())
        if name is None:
            name = _BY_ALIAS.get(normalise_header(column))
            if name is None:
                label = column.strip()[:80] or f"#{index + 1}"
                warnings.append(Problem(1, label, "", "unknown_column", _(
                    "Unknown column: its data is not imported. Map it to a field, or to 'ignore'.")))
        fields.append(None if name == IGNORE else name)
    seen: dict[str, str] = {}
    for column, name in zip(columns, fields, strict=True):
        if name and name in seen:
            raise FileRefused("duplicate_column", _("Two columns give the field %(field)s: '%(a)s' and '%(b)s'. "
                                                    "Map one of them to 'ignore'.")
                              % {"field": name, "a": seen[name][:80], "b": column.strip()[:80]})
        if name:
            seen[name] = column.strip()
    if not {"phone", "email"} & seen.keys():
        raise FileRefused("no_contact_column", _("No column gives a phone number or an e-mail address. Name one "
                                                 "'téléphone'/'phone' or 'e-mail', or map it."))
    return Header([c.strip() for c in columns], fields, warnings)


def mapping_from_json(text: str, max_length: int = 20_000) -> dict | None:
    """A mapping sent as JSON ({"column": "field"}); None for an empty text."""
    if not text.strip():
        return None
    try:
        mapping = json.loads(text) if len(text) <= max_length else None
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise FileRefused("bad_mapping", _('Give the mapping as a JSON object {"column": "field"}.'))
    return mapping


def _check_mapping(columns: list[str], mapping: dict) -> dict[str, str]:
    if not isinstance(mapping, dict):
        raise FileRefused("bad_mapping", _("Give the mapping as pairs 'column=field'."))
    present = {c.strip() for c in columns}
    clean = {}
    for column, name in mapping.items():
        column, name = str(column).strip(), str(name).strip().lower()
        if name not in FIELDS and name != IGNORE:
            raise FileRefused("bad_mapping", _("Unknown field '%(field)s' in the mapping. Use one of: %(fields)s.")
                              % {"field": name[:40], "fields": ", ".join((*FIELDS, IGNORE))})
        if column not in present:
            raise FileRefused("bad_mapping", _("The mapping names a column the file does not have: '%(column)s'.")
                              % {"column": column[:80]})
        clean[column] = name
    return clean


# --- the whole file ---------------------------------------------------------------------------
def read_table(data: bytes, mapping: dict | None = None, delimiter: str | None = None) -> Table:
    """Decode, split and map the file; raises FileRefused as soon as it is clear it cannot be read."""
    if len(data) > limit("MAX_BYTES", MAX_BYTES):
        raise FileRefused("file_too_large", _("The file is larger than %(max)d MB. Split it into smaller files.")
                          % {"max": limit("MAX_BYTES", MAX_BYTES) // (1024 * 1024)})
    if not data.strip():
        raise FileRefused("empty_file", _("The file is empty."))
    text, encoding = decode(data)
    if delimiter is not None and delimiter not in DELIMITERS:
        raise FileRefused("bad_delimiter", _("The separator must be ';', ',' or a tab."))
    delimiter = delimiter or sniff(text)
    # strict: a quote left open would otherwise swallow the rest of the file into one value, silently.
    reader = csv.reader(_bounded_lines(text, limit("MAX_LINE", MAX_LINE)), delimiter=delimiter, strict=True)
    try:
        columns = _first_row(reader)
        header = map_header(columns, mapping)
        rows = list(_rows(reader))
    except csv.Error:
        raise FileRefused("malformed_csv", _("The file is not valid CSV near line %(line)d (a quote is not closed, or "
                                             "is followed by more text, or a value is far too long). Check it in a "
                                             "spreadsheet and save it again as CSV.") % {"line": reader.line_num})
    if not rows:
        raise FileRefused("no_rows", _("The file has a header but no rows."))
    return Table(encoding, delimiter, header, rows)


def _first_row(reader) -> list[str]:
    for cells in reader:
        if len(cells) > limit("MAX_COLUMNS", MAX_COLUMNS):
            raise FileRefused("too_many_columns", _("The file has more than %(max)d columns.")
                              % {"max": limit("MAX_COLUMNS", MAX_COLUMNS)})
        if any(c.strip() for c in cells):
            return cells
    raise FileRefused("empty_file", _("The file is empty."))


def _rows(reader) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with the line their first character is on (a quoted value may span lines)."""
    max_rows, max_columns, count = limit("MAX_ROWS", MAX_ROWS), limit("MAX_COLUMNS", MAX_COLUMNS), 0
    line = reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > max_columns:
            raise FileRefused("too_many_columns", _("Line %(line)d has more than %(max)d values.")
                              % {"line": start, "max": max_columns})
        count += 1
        if count > max_rows:
            raise FileRefused("too_many_rows", _("The file has more than %(max)d rows. Split it into smaller files.")
                              % {"max": max_rows})
        yield start, cells
