"""Readable documents (exports, register, breach drafts) rendered to HTML and PDF."""

import io

import pypdf

from relance.privacy.documents import Document, Section, Table, to_html, to_pdf


def _document():
    return Document(
        title="Vos données « Relance » — œuvre à 5 €",
        language="fr",
        subtitle="Généré pour <b>Zoë</b>",
        sections=[
            Section("Contact", fields=[("Nom", "Zoë <script>alert(1)</script>"), ("Mineur", False)]),
            Section("Messages", table=Table(["Date", "Texte"], [["2026-11-02", "Rappel : RDV demain 9h"]])),
            Section("Demandes", empty_text="Aucune demande."),
        ],
        footer="Relance",
    )


def test_it_escapes_every_value_in_html():
    html = to_html(_document())
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "&lt;b&gt;Zoë&lt;/b&gt;" in html
    assert 'lang="fr"' in html and "Aucune demande." in html


def test_it_writes_a_pdf_with_the_french_characters():
    pdf = to_pdf(_document())
    assert pdf.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    for expected in ("« Relance »", "œuvre", "€", "Zoë <script>alert(1)</script>", "Rappel : RDV demain 9h",
                     "Aucune demande."):
        assert expected in text
