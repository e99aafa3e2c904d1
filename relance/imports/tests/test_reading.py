"""Reading a contacts file without the database: encodings, separators, headers, limits, CSV bombs
(SPEC §4 "nothing is lost on bad input", R-61)."""

import codecs
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relance.imports.csv_import import FileRefused, decode, map_header, normalise_header, read_table, sniff

FR_HEADER = "Prénom;Nom;Téléphone;Courriel;Date de naissance;Référence;Langue;Mineur"


def _refused(data: bytes, **kwargs) -> FileRefused:
    with pytest.raises(FileRefused) as caught:
        read_table(data, **kwargs)
    assert caught.value.message
    return caught.value


# --- encodings and separators ----------------------------------------------------------------
def test_it_reads_utf8_with_a_bom():
    data = codecs.BOM_UTF8 + "Prénom,Téléphone\nÉlodie,06 12 34 56 78\n".encode()
    table = read_table(data)
    assert table.encoding == "utf-8-sig"
    assert table.header.columns == ["Prénom", "Téléphone"]  # the BOM is not part of the first column's name
    assert table.header.fields == ["first_name", "phone"]
    assert table.rows == [(2, ["Élodie", "06 12 34 56 78"])]


def test_it_falls_back_to_windows_1252_for_french_excel_files():
    data = (FR_HEADER + "\nHélène;Lefèvre;06 12 34 56 78;h@example.org;01/02/1990;A1;français;non\n").encode("cp1252")
    table = read_table(data)
    assert table.encoding == "windows-1252" and table.delimiter == ";"
    assert table.rows[0][1][:2] == ["Hélène", "Lefèvre"]
    assert table.header.fields == ["first_name", "last_name", "phone", "email", "birth_date", "external_ref",
                                   "language", "minor"]


def test_it_reads_utf16_excel_unicode_text():
    data = "Prénom\tTéléphone\nÉlodie\t06 12 34 56 78\n".encode("utf-16")
    table = read_table(data)
    assert table.encoding == "utf-16" and table.delimiter == "\t" and table.rows[0][1][0] == "Élodie"


@pytest.mark.parametrize(("line", "expected"), [
    ("a;b;c", ";"), ("a,b,c", ","), ("a\tb\tc", "\t"), ("nom; prénom, dit", ";"), ("phone", ","),
])
def test_it_sniffs_the_separator_from_the_header(line, expected):
    assert sniff(line + "\n1,2;3\n") == expected


def test_it_counts_lines_across_quoted_values_that_span_lines():
    """The report's line numbers are lines of the file: a quoted value over two lines shifts the next row."""
    data = b'first_name,phone\n"Anne\nMarie",06 12 34 56 78\n\nPaul,06 12 34 56 79\n'
    assert [line for line, _cells in read_table(data).rows] == [2, 5]


# --- headers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("header", "field"), [
    ("Prénom", "first_name"), ("First name", "first_name"), ("NOM", "last_name"), ("Last Name", "last_name"),
    ("Téléphone", "phone"), ("Portable", "phone"), ("Mobile", "phone"), ("phone", "phone"), ("Tél.", "phone"),
    ("E-mail", "email"), ("Courriel", "email"), ("email", "email"), ("Date de naissance", "birth_date"),
    ("Birth date", "birth_date"), ("Mineur", "minor"), ("Minor", "minor"), ("Référence", "external_ref"),
    ("External ref", "external_ref"), ("Langue", "language"), ("Language", "language"), ("Site code", "site"),
    ("Source du consentement", "consent_source"), ("consent_source", "consent_source"),
    ("Date du consentement", "consent_date"), ("consent_date", "consent_date"),
    ("Référence du formulaire", "consent_ref"), ("consent notice", "consent_ref"), ("Collecteur", "consent_collector"),
    ("consent_collector", "consent_collector"), ("Canal du consentement", "consent_channel"),
])
def test_it_recognises_french_and_english_headers(header, field):
    assert map_header([header, "phone" if field != "phone" else "email"]).fields[0] == field


def test_it_normalises_headers_without_case_accents_or_punctuation():
    assert normalise_header("  Date_de-Naissance ") == "date de naissance"
    assert normalise_header("E-MAIL") == "e mail"


def test_it_reports_unknown_columns_instead_of_dropping_them_silently():
    header = map_header(["Prénom", "Téléphone", "Couleur préférée", ""])
    assert header.fields == ["first_name", "phone", None, None]
    assert [(w.line, w.column, w.code) for w in header.warnings] == [
        (1, "Couleur préférée", "unknown_column"), (1, "#4", "unknown_column")]


def test_it_follows_an_explicit_mapping_and_lets_a_column_be_ignored():
    header = map_header(["Col A", "Numéro", "Couleur"], {"Col A": "last_name", "Numéro": "phone", "Couleur": "ignore"})
    assert header.fields == ["last_name", "phone", None] and header.warnings == []


@pytest.mark.parametrize(("columns", "mapping", "code"), [
    (["Téléphone", "Portable"], None, "duplicate_column"),
    (["Prénom", "Nom"], None, "no_contact_column"),
    (["Téléphone"], {"Téléphone": "favourite_colour"}, "bad_mapping"),
    (["Téléphone"], {"Absent": "phone"}, "bad_mapping"),
])
def test_it_refuses_a_header_it_cannot_map_safely(columns, mapping, code):
    with pytest.raises(FileRefused) as caught:
        map_header(columns, mapping)
    assert caught.value.code == code


# --- files that cannot be read ---------------------------------------------------------------
@pytest.mark.parametrize(("data", "code"), [
    (b"", "empty_file"), (b"   \n\n", "empty_file"), (b"phone\n", "no_rows"), (b"phone\n\n\n", "no_rows"),
    (b"phone\x00\n06 12 34 56 78\n", "binary_file"), (codecs.BOM_UTF8 + b"phone\n\xff\xfe\n", "bad_encoding"),
    (b'phone\n"06 12 34 56 78\n', "malformed_csv"), (b'phone\n"06" 12\n', "malformed_csv"),
    (b"\x81\x8d", "bad_encoding"),
])
def test_it_refuses_files_that_are_not_contacts_files(data, code):
    assert _refused(data).code == code


def test_it_refuses_a_file_over_the_size_limit(settings):
    settings.RELANCE_IMPORT_MAX_BYTES = 1000
    assert _refused(b"phone\n" + b"06 12 34 56 78\n" * 100).code == "file_too_large"


def test_it_refuses_a_file_over_the_row_limit(settings):
    settings.RELANCE_IMPORT_MAX_ROWS = 10
    assert _refused(b"phone\n" + b"06 12 34 56 78\n" * 11).code == "too_many_rows"
    assert len(read_table(b"phone\n" + b"06 12 34 56 78\n" * 10).rows) == 10


def test_it_refuses_a_csv_bomb_with_millions_of_columns_quickly():
    """A 6 MB header of commas would make millions of cells: refused before csv splits it."""
    started = time.perf_counter()
    assert _refused(b"," * 6_000_000 + b"\nx\n").code == "line_too_long"
    assert _refused(b"phone\n" + b";" * 3_000_000 + b"\n").code == "line_too_long"
    assert time.perf_counter() - started < 2


def test_it_refuses_a_row_with_too_many_values():
    assert _refused(b"phone\n" + b"1," * 100 + b"\n").code == "too_many_columns"
    assert _refused(b"," * 100 + b"phone\n1\n").code == "too_many_columns"


def test_it_refuses_a_huge_quoted_value_quickly():
    """A quoted value that never ends (or spans 200,000 short lines) is refused, not read whole."""
    started = time.perf_counter()
    assert _refused(b'phone\n"' + b"a\n" * 200_000).code == "malformed_csv"
    assert time.perf_counter() - started < 2


def test_it_decodes_what_windows_1252_defines_and_refuses_what_it_does_not():
    assert decode("é".encode("cp1252")) == ("é", "windows-1252")
    with pytest.raises(FileRefused):
        decode(b"\xe9\x81")


# --- anything at all -------------------------------------------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=400), st.text(alphabet=st.sampled_from(list(',;\t"\r\n\x00 aé0+@/')),
                                                  max_size=300).map(str.encode)))
def test_it_reads_any_bytes_or_refuses_them_cleanly(data):
    """Random bytes never raise anything but FileRefused with a message (SPEC §4)."""
    try:
        table = read_table(data)
    except FileRefused as exc:
        assert exc.code and exc.message
        return
    assert table.rows and all(line >= 2 for line, _cells in table.rows)
