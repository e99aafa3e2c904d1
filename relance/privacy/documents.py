"""Readable documents (access exports, the Art. 30 register, breach notifications, compliance
reports) as one neutral structure, rendered to HTML (a Django template) and to PDF (reportlab).

Callers build a `Document` from plain values, already translated into the reader's language;
this module only lays it out. Text is escaped in both outputs (a name like "<b>" stays text).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

from django.template.loader import render_to_string
from django.utils import timezone


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)  # label, value
    table: Table | None = None
    subsections: list[Section] = field(default_factory=list)
    empty_text: str = ""  # shown when the section has nothing else


@dataclass
class Document:
    title: str
    language: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    footer: str = ""
    generated_at: object = None

    def __post_init__(self):
        self.generated_at = self.generated_at or timezone.now()


def _text(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value) or "—"
    return str(value)


def to_html(document: Document) -> str:
    """A standalone HTML page (inline CSS, no external resource), printable."""
    return render_to_string("privacy/document.html", {"doc": document, "text": _text})


# --- PDF ------------------------------------------------------------------------------------
_FONT_LOCK = threading.Lock()
_FONTS: tuple[str, str] | None = None
_FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
)


def _fonts() -> tuple[str, str]:
    """A TrueType font with the French characters (’ « » œ €): DejaVu when the system has it,
    else Bitstream Vera, which reportlab ships."""
    global _FONTS
    with _FONT_LOCK:
        if _FONTS is None:
            from reportlab.pdfbase import pdfmetrics
            from reportlab.pdfbase.ttfonts import TTFont

            regular, bold = next(((r, b) for r, b in _FONT_CANDIDATES if Path(r).exists() and Path(b).exists()),
                                 ("Vera.ttf", "VeraBd.ttf"))
            # reportlab finds Vera*.ttf on its own font path when DejaVu is absent.
            pdfmetrics.registerFont(TTFont("RelanceSans", regular))
            pdfmetrics.registerFont(TTFont("RelanceSans-Bold", bold))
            _FONTS = ("RelanceSans", "RelanceSans-Bold")
        return _FONTS


def _styles():
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    regular, bold = _fonts()
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=base["Title"], fontName=bold, fontSize=16, leading=20),
        "subtitle": ParagraphStyle("s", parent=base["Normal"], fontName=regular, fontSize=10, leading=13),
        "h1": ParagraphStyle("h1", parent=base["Heading2"], fontName=bold, fontSize=12.5, leading=16, spaceBefore=10),
        "h2": ParagraphStyle("h2", parent=base["Heading3"], fontName=bold, fontSize=11, leading=14, spaceBefore=6),
        "body": ParagraphStyle("b", parent=base["Normal"], fontName=regular, fontSize=9.5, leading=12.5),
        "cell": ParagraphStyle("c", parent=base["Normal"], fontName=regular, fontSize=8, leading=10),
        "cellb": ParagraphStyle("cb", parent=base["Normal"], fontName=bold, fontSize=8, leading=10),
    }


def _para(text, style):
    from xml.sax.saxutils import escape

    from reportlab.platypus import Paragraph

    return Paragraph(escape(_text(text)).replace("\n", "<br/>"), style)


def _grid(rows, widths, header: bool):
    from reportlab.lib import colors
    from reportlab.platypus import Table as PdfTable
    from reportlab.platypus import TableStyle

    table = PdfTable(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")))
    table.setStyle(TableStyle(style))
    return table


def _section_flow(section: Section, styles, width: float, level: int = 1) -> list:
    flow = [_para(section.heading, styles["h1" if level == 1 else "h2"])]
    flow += [_para(text, styles["body"]) for text in section.paragraphs]
    if section.fields:
        rows = [[_para(label, styles["cellb"]), _para(value, styles["cell"])] for label, value in section.fields]
        flow.append(_grid(rows, [width * 0.32, width * 0.68], header=False))
    if section.table is not None and section.table.rows:
        count = max(1, len(section.table.headers))
        rows = [[_para(h, styles["cellb"]) for h in section.table.headers]]
        rows += [[_para(cell, styles["cell"]) for cell in row] for row in section.table.rows]
        flow.append(_grid(rows, [width / count] * count, header=True))
    has_content = section.paragraphs or section.fields or (section.table and section.table.rows) or section.subsections
    if not has_content and section.empty_text:
        flow.append(_para(section.empty_text, styles["body"]))
    for sub in section.subsections:
        flow += _section_flow(sub, styles, width, level + 1)
    return flow


def to_pdf(document: Document) -> bytes:
    """An A4 PDF of the document, with page numbers and the generation time in the footer."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate, Spacer

    styles = _styles()
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=16 * mm, title=document.title, lang=document.language)
    flow = [_para(document.title, styles["title"])]
    if document.subtitle:
        flow.append(_para(document.subtitle, styles["subtitle"]))
    flow.append(Spacer(1, 4 * mm))
    for section in document.sections:
        flow += _section_flow(section, styles, pdf.width)
    footer = f"{document.footer}  ·  {document.generated_at:%Y-%m-%d %H:%M %Z}".strip(" ·")

    def on_page(canvas, doc):
        canvas.saveState()
        canvas.setFont(_fonts()[0], 7.5)
        canvas.drawString(18 * mm, 9 * mm, footer[:150])
        canvas.drawRightString(A4[0] - 18 * mm, 9 * mm, str(doc.page))
        canvas.restoreState()

    pdf.build(flow, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()
