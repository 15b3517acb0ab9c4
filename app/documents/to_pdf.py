"""An :class:`~app.documents.model.OfficialDocument` as PDF: HTML laid out by WeasyPrint (Pango).

The font stack ends in DejaVu Serif, which ``scripts/sysdeps.sh`` installs: it has every Vietnamese
glyph, so a machine without Times New Roman still prints "CỘNG HÒA" rather than boxes.
"""

from __future__ import annotations

from html import escape

from app.documents.model import MOTTO, NATIONAL_TITLE, OfficialDocument, Paragraph, Table

_CSS = """
@page { size: A4 %(orient)s; margin: 20mm 15mm 20mm 30mm;
        @bottom-center { content: counter(page); font-size: 10pt; } }
body { font-family: "Times New Roman", "Liberation Serif", "DejaVu Serif", serif; font-stretch: condensed;
       font-size: 13pt; color: #000; }
table.head { width: 100%%; border-collapse: collapse; margin-bottom: 10pt; }
table.head td { vertical-align: top; text-align: center; border: none; padding: 0; font-size: 12pt; }
.b { font-weight: bold; } .i { font-style: italic; }
.rule { display: block; width: 30%%; margin: 2pt auto 4pt; border-top: 1px solid #000; }
.rule.wide { width: 55%%; }
h1 { font-size: 14pt; text-align: center; margin: 12pt 0 0; }
p.subject { text-align: center; font-weight: bold; margin: 2pt 0 2pt; }
p { text-align: justify; margin: 4pt 0; text-indent: 10mm; }
p.h { text-indent: 0; margin-top: 8pt; }
table.grid { width: 100%%; border-collapse: collapse; font-size: 11pt; margin: 6pt 0; }
table.grid th, table.grid td { border: 1px solid #000; padding: 2pt 4pt; vertical-align: top; white-space: pre-line; }
table.grid th { font-weight: bold; text-align: center; }
table.grid td.num { text-align: right; } table.grid tr.bold td { font-weight: bold; }
tr { page-break-inside: avoid; }
table.foot { width: 100%%; margin-top: 14pt; border-collapse: collapse; page-break-inside: avoid; }
table.foot td { vertical-align: top; border: none; padding: 0; }
.recipients { font-size: 11pt; } .sign { text-align: center; font-weight: bold; }
"""


def _block(b: Paragraph | Table) -> str:
    e = escape
    if isinstance(b, Paragraph):
        cls = " ".join(c for c, on in (("b", b.bold), ("i", b.italic), ("h", b.heading)) if on)
        return f'<p class="{cls}">{e(b.text)}</p>'
    total = sum(b.widths) or 1
    cols = "".join(f'<col style="width:{100 * w / total:.1f}%">' for w in b.widths)
    head = "".join(f"<th>{e(str(h))}</th>" for h in b.head)
    rows = []
    for r, row in enumerate(b.rows):
        cells = "".join(f'<td{" class=num" if i in b.numeric else ""}>{e("" if v is None else str(v))}</td>'
                        for i, v in enumerate(row))
        rows.append(f'<tr{" class=bold" if r in b.bold_rows else ""}>{cells}</tr>')
    return f'<table class="grid"><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>' \
           f'<tbody>{"".join(rows)}</tbody></table>'


def document_html(doc: OfficialDocument) -> str:
    """The document as one self-contained HTML page (the PDF's source; printable by a browser too)."""
    e = escape
    iss = doc.issuer
    recipients = "".join(f"<div>- {e(r)}</div>" for r in doc.recipients)
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>{e(doc.kind)} — {e(doc.subject)}</title>
<style>{_CSS % {"orient": "landscape" if doc.landscape else "portrait"}}</style></head><body>
<table class="head"><tr>
<td style="width:42%"><div>{e(iss.parent.upper())}</div><div class="b">{e(iss.authority.upper())}</div>
<span class="rule"></span><div>{e(doc.reference)}</div></td>
<td style="width:58%"><div class="b">{NATIONAL_TITLE}</div><div class="b">{MOTTO}</div>
<span class="rule wide"></span><div class="i">{e(doc.place_date)}</div></td>
</tr></table>
<h1>{e(doc.kind)}</h1>
<p class="subject">{e(doc.subject)}</p><span class="rule"></span>
{"".join(_block(b) for b in doc.body)}
<table class="foot"><tr>
<td style="width:50%" class="recipients"><div class="b i">Nơi nhận:</div>{recipients}</td>
<td style="width:50%" class="sign"><div>{e(doc.signer_title)}</div><div class="i" style="font-weight:normal">
{e(doc.signer_note)}</div></td>
</tr></table>
</body></html>"""


def document_pdf(doc: OfficialDocument) -> bytes:
    """The document as PDF bytes (WeasyPrint is imported here: only PDF requests pay its start-up)."""
    from weasyprint import HTML

    return HTML(string=document_html(doc)).write_pdf()
