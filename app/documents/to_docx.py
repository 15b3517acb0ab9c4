"""An :class:`~app.documents.model.OfficialDocument` as DOCX (python-docx), editable by the department.

Offices finish documents in Word (number from the register, signature, seal), so the DOCX keeps the
Decree 30/2020 layout as real structure: a borderless two-column header table, a ruled body table and a
two-column footer (nơi nhận | signature), Times New Roman 13 pt on A4 with the decree's margins.
Each header line is one run, so the quốc hiệu is a contiguous string in ``word/document.xml``.
"""

from __future__ import annotations

import io

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import _Cell

from app.documents.model import MOTTO, NATIONAL_TITLE, OfficialDocument, Paragraph, Table

_FONT = "Times New Roman"


def _line(cell: _Cell, text: str, *, bold: bool = False, italic: bool = False, size: float = 13,
          first: bool = False, align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.CENTER) -> None:
    p = cell.paragraphs[0] if first else cell.add_paragraph()
    p.alignment = align
    p.paragraph_format.space_after = Pt(0)
    run = p.add_run(text)
    run.bold, run.italic, run.font.size = bold, italic, Pt(size)


def _no_borders(table: object) -> None:
    tbl_pr = table._tbl.tblPr  # type: ignore[attr-defined]
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    tbl_pr.append(borders)


def _grid(doc: Document, t: Table, width_mm: float) -> None:
    table = doc.add_table(rows=1, cols=len(t.head))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    total = sum(t.widths) or 1
    widths = [Mm(width_mm * w / total) for w in t.widths]
    for i, h in enumerate(t.head):
        c = table.rows[0].cells[i]
        c.width = widths[i]
        _line(c, str(h), bold=True, size=11, first=True)
    for r, row in enumerate(t.rows):
        cells = table.add_row().cells
        for i, v in enumerate(row):
            cells[i].width = widths[i]
            align = WD_ALIGN_PARAGRAPH.RIGHT if i in t.numeric else WD_ALIGN_PARAGRAPH.LEFT
            for n, part in enumerate(("" if v is None else str(v)).split("\n")):
                _line(cells[i], part, bold=r in t.bold_rows, size=11, first=n == 0, align=align)


def document_docx(doc: OfficialDocument) -> bytes:
    """The document as DOCX bytes."""
    d = Document()
    normal = d.styles["Normal"]
    normal.font.name, normal.font.size = _FONT, Pt(13)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), _FONT)
    sec = d.sections[0]
    sec.page_width, sec.page_height = (Mm(297), Mm(210)) if doc.landscape else (Mm(210), Mm(297))
    sec.orientation = WD_ORIENT.LANDSCAPE if doc.landscape else WD_ORIENT.PORTRAIT
    sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin = Mm(20), Mm(20), Mm(30), Mm(15)
    text_mm = (297 if doc.landscape else 210) - 45

    head = d.add_table(rows=1, cols=2)
    _no_borders(head)
    left, right = head.rows[0].cells
    left.width, right.width = Mm(text_mm * 0.42), Mm(text_mm * 0.58)
    _line(left, doc.issuer.parent.upper(), size=12, first=True)
    _line(left, doc.issuer.authority.upper(), bold=True, size=12)
    _line(left, "———", size=8)
    _line(left, doc.reference)
    _line(right, NATIONAL_TITLE, bold=True, size=12, first=True)
    _line(right, MOTTO, bold=True)
    _line(right, "———————", size=8)
    _line(right, doc.place_date, italic=True)

    for text, bold in ((doc.kind, True), (doc.subject, True)):
        p = d.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(0)
        r = p.add_run(text)
        r.bold = bold
        r.font.size = Pt(14)
    for b in doc.body:
        if isinstance(b, Paragraph):
            p = d.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.LEFT if b.heading else WD_ALIGN_PARAGRAPH.JUSTIFY
            if not b.heading:
                p.paragraph_format.first_line_indent = Mm(10)
            r = p.add_run(b.text)
            r.bold, r.italic = b.bold, b.italic
        else:
            _grid(d, b, text_mm)

    foot = d.add_table(rows=1, cols=2)
    _no_borders(foot)
    lcell, rcell = foot.rows[0].cells
    _line(lcell, "Nơi nhận:", bold=True, italic=True, size=12, first=True, align=WD_ALIGN_PARAGRAPH.LEFT)
    for r in doc.recipients:
        _line(lcell, f"- {r}", size=11, align=WD_ALIGN_PARAGRAPH.LEFT)
    _line(rcell, doc.signer_title, bold=True, first=True)
    if doc.signer_note:
        _line(rcell, doc.signer_note, italic=True)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()
