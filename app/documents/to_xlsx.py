"""An :class:`~app.documents.model.OfficialDocument` holding a table as XLSX: the spreadsheet a department
fills in periodic reports, with the same header as the printed copy (written by ``tabular`` like every
workbook)."""

from __future__ import annotations

from app.documents.model import MOTTO, NATIONAL_TITLE, OfficialDocument, Table
from geodata.io.writers import tabular


def document_xlsx(doc: OfficialDocument) -> bytes:
    """The document's first table as a workbook, under the authority header and the document's title."""
    table = next(b for b in doc.body if isinstance(b, Table))
    iss = doc.issuer
    preamble = [(iss.parent.upper(), NATIONAL_TITLE), (iss.authority.upper(), MOTTO),
                (doc.reference, doc.place_date), ("", "")]
    labels, header = ([str(h) for h in table.head], list(table.keys)) if table.keys else ((), [str(h) for h in table.head])
    sheet = tabular.Sheet(doc.kind_code, header, table.rows, labels=labels,
                          title=f"{doc.kind}: {doc.subject}", widths=[6, 34, *[11] * (len(table.head) - 2)],
                          preamble=preamble)
    return tabular.xlsx_bytes([sheet])
