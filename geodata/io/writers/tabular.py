"""Every CSV and XLSX file the project writes, through one CSV writer and one XLSX writer.

CSV (:func:`csv_text`, :func:`csv_stream`): RFC 4180 line ends (CRLF) and UTF-8 with a BOM (Excel
opens Vietnamese correctly only with it; text for a terminal or a pipe goes without), one header row
of field names, so an exported file re-imports unchanged. XLSX (:func:`write_xlsx` of
:class:`Sheet` specs): an optional title row (the filter and the date) and label row (Vietnamese
labels as cell comments would be lost on filters, so the labels go in row 2 and field names in row 3
— the importer finds the header by its field names), the header row, frozen panes, an autofilter,
sensible column widths; typed cells, and text never read as a formula or a link. xlsxwriter's
``constant_memory`` mode streams rows to disk, so a million sites do not sit in memory.
Export layers go through the same two (:func:`csv_chunks`, :func:`layer_sheet`); so do the
inspection lists, the plan report, the statistics and the CLI's tables.

Every text cell passes :func:`neutral` (formula injection, OWASP's CSV-injection guidance): any firm
can name a site or title a plan, and a department user opens the download in Excel, so a text that
a spreadsheet would read as a formula gets a leading ``'``. Numbers are written as numbers and never
touched (a negative distance stays a number); only text is. CSV cells holding ``;`` are quoted too:
Excel in a locale whose list separator is ``;`` (usual where the decimal mark is a comma) splits an
unquoted ``x;=HYPERLINK(…)`` into a second cell that starts with ``=``.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import numbers
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geodata.io.exports import Column, ExportLayer
from planning.i18n import gettext

#: decimals per column kind: lon/lat to 1e-9° (0.1 mm), metres to the millimetre
DECIMALS = {"lon": 9, "lat": 9}
#: the one line end of every CSV written (RFC 4180), and the byte-order mark that tells Excel it is UTF-8
CSV_NEWLINE = "\r\n"
BOM = "\ufeff"
#: first characters that make Excel, LibreOffice or Google Sheets read a text cell as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: a CSV cell holding one of these is quoted: the RFC 4180 ones, plus ``;`` and tab, which some
#: locales' spreadsheets split on
_CSV_QUOTED = re.compile(r'[",;\t\r\n]')


def neutral(text: str) -> str:
    """``text`` as a spreadsheet shows it literally: a leading ``'`` when it would start a formula.

    Text that already starts with quotes before a formula character gets one more, so the escape
    can be undone exactly (:func:`geodata.io.import_values.unquote_formula` on import: an exported
    file re-imports unchanged)."""
    return "'" + text if text.lstrip("'").startswith(FORMULA_START) else text


def _cell(col: Column, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NaT:
        return None
    if col.kind == "list":
        if isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                return v
        return ";".join(str(x) for x in v) if isinstance(v, list | tuple | np.ndarray) else str(v)
    if col.kind == "float":
        f = float(v)
        return round(f, DECIMALS.get(col.name, 3))
    if col.kind == "int":
        return int(v)
    if col.kind == "bool":
        return bool(v)
    if hasattr(v, "isoformat") and col.kind == "date":
        return v.isoformat()[:10]
    return v


def _text(col: Column, v: Any) -> str:
    c = _cell(col, v)
    if c is None:
        return ""
    if isinstance(c, bool):
        return "true" if c else "false"
    if isinstance(c, float):
        return f"{c:.{DECIMALS.get(col.name, 3)}f}".rstrip("0").rstrip(".") if c != int(c) or abs(c) < 1e15 else str(c)
    return neutral(c) if isinstance(c, str) else str(c)  # an int is a number, a text is neutralised


def _safe(row: Sequence[Any]) -> list[Any]:
    """A row of typed values with its text neutralised (numbers, booleans and blanks as they are)."""
    return [neutral(v) if isinstance(v, str) else v for v in row]


def _wkt_column(layer: ExportLayer) -> bool:
    """Line layers carry their geometry in a WKT column in tables (points have lon/lat)."""
    return layer.geometry_type != "Point"


def _csv_field(v: Any) -> str:
    s = "" if v is None else str(v)
    return '"' + s.replace('"', '""') + '"' if _CSV_QUOTED.search(s) else s


def _csv_rows(rows: Iterable[Sequence[Any]]) -> str:
    """RFC 4180 lines of cells already made safe (a lone empty cell quoted, or the line would be blank)."""
    return "".join((",".join(map(_csv_field, r)) or ('""' if r else "")) + CSV_NEWLINE for r in rows)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = True) -> str:
    """The whole CSV as text (``None`` cells empty); ``bom`` for files and downloads, not for a terminal."""
    return (BOM if bom else "") + _csv_rows([_safe(header), *map(_safe, rows)])


def csv_stream(header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = True,
               block_rows: int = 500) -> Iterator[bytes]:
    """The CSV as UTF-8 byte blocks of ``block_rows`` rows, for a streamed HTTP response."""
    yield ((BOM if bom else "") + _csv_rows([_safe(header)])).encode("utf-8")
    it = iter(rows)
    while block := list(itertools.islice(it, block_rows)):
        yield _csv_rows(map(_safe, block)).encode("utf-8")


def csv_chunks(layer: ExportLayer) -> Iterator[bytes]:
    """An export layer's CSV as byte blocks (BOM first), one block per chunk of the layer.

    The header row keeps the field names (the contract scripts and the importer read); coded values
    (mount, status, method, severity, check) are written as their labels in the current language."""
    cols = layer.columns
    yield csv_text([c.name for c in cols] + (["wkt"] if _wkt_column(layer) else []), []).encode("utf-8")
    shown = _value_labels(cols)
    for df in layer.chunks():
        yield _csv_rows([_text(c, _shown(s, v)) for c, s, v in zip(cols, shown, row, strict=False)]
                        + _safe(row[len(cols):]) for row in _layer_rows(df, layer)).encode("utf-8")


def _value_labels(cols: Sequence[Column]) -> list[dict[str, str] | None]:
    """Per column, code → label in the current language (translated once per export, not per cell)."""
    return [{k: gettext(v) for k, v in c.values.items()} if c.values else None for c in cols]


def _shown(labels: dict[str, str] | None, v: Any) -> Any:
    return labels.get(v, v) if labels is not None and isinstance(v, str) else v


def _layer_rows(df: pd.DataFrame, layer: ExportLayer) -> Iterator[list[Any]]:
    """Raw values of one chunk per row, the WKT of the geometry last for line layers."""
    import shapely

    arrays = [df[c.name].to_numpy(dtype=object) for c in layer.columns]
    if _wkt_column(layer):
        geoms = df["geometry"].to_numpy(dtype=object)
        arrays.append(np.array([shapely.to_wkt(g, rounding_precision=9) if g is not None else "" for g in geoms],
                               dtype=object))
    for i in range(len(df)):
        yield [a[i] for a in arrays]


# --------------------------------------------------------------------------------------------
# XLSX
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sheet:
    """One worksheet: an optional title row and label row above the header row, then the rows."""

    name: str
    header: Sequence[str] = ()
    rows: Iterable[Sequence[Any]] = ()
    title: str | None = None
    labels: Sequence[str] = ()
    #: per column; columns beyond (or a ``None``) are sized from their header and label
    widths: Sequence[float | None] = ()
    #: columns whose long text wraps (messages, reasons)
    wrap: Collection[int] = ()
    #: columns formatted as dates
    dates: Collection[int] = ()
    #: the first column styled like a header (a key/value sheet without a header row)
    row_heads: bool = False
    #: freeze the rows down to the header and this many columns (``None``: nothing frozen)
    frozen_columns: int | None = None
    #: lines above the title, each (left, right): an issued document's authority | national heading
    preamble: Sequence[tuple[str, str]] = ()


def layer_sheet(layer: ExportLayer) -> Sheet:
    """An export layer as a sheet: title (filter and date), labels in the current language, field names."""
    cols = layer.columns
    wkt = _wkt_column(layer)
    names = [c.name for c in cols] + (["wkt"] if wkt else [])
    labels = [c.caption for c in cols] + ([gettext("Geometry (WKT, WGS84)")] if wkt else [])
    widths = [max(_auto_width(n, lb), c.width or 0) for n, lb, c in zip(names, labels, cols, strict=False)]
    shown = _value_labels(cols)
    rows = ([_cell(c, _shown(s, v)) for c, s, v in zip(cols, shown, row, strict=False)]
            + [v or None for v in row[len(cols):]] for df in layer.chunks() for row in _layer_rows(df, layer))
    return Sheet(layer.name[:31], names, rows, title=layer.heading, labels=labels,
                 widths=[*widths, 60] if wkt else widths,
                 dates=[i for i, c in enumerate(cols) if c.kind == "date"], frozen_columns=1)


def _auto_width(name: str, label: str = "") -> int:
    return max(len(name), min(len(label), 28), 8) + 2


def write_xlsx(out: Any, sheets: Sequence[Sheet]) -> None:
    """Write the workbook to a path or a binary file object."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                   "strings_to_urls": False, "in_memory": False})
    try:
        styles = {
            "title": wb.add_format({"bold": True, "font_size": 13}),
            "label": wb.add_format({"italic": True, "font_color": "#555555", "text_wrap": True, "valign": "top"}),
            "head": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                   "valign": "top"}),
            "date": wb.add_format({"num_format": "yyyy-mm-dd"}),
            "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
        }
        for sheet in sheets:
            _write_sheet(wb.add_worksheet(sheet.name[:31]), sheet, styles)
    finally:
        wb.close()


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """The workbook as bytes (a download built in one go)."""
    buf = io.BytesIO()
    write_xlsx(buf, sheets)
    return buf.getvalue()


def _write_sheet(ws: Any, sheet: Sheet, styles: dict[str, Any]) -> None:
    header, labels = list(sheet.header), list(sheet.labels)
    for i in range(max(len(header), len(labels), len(sheet.widths))):
        given = sheet.widths[i] if i < len(sheet.widths) else None
        auto = _auto_width(header[i] if i < len(header) else "", labels[i] if i < len(labels) else "")
        width = given if given is not None else auto
        ws.set_column(i, i, min(width, 60), styles["date"] if i in sheet.dates else None)
    r = 0
    for left, right in sheet.preamble:
        for col, text in ((0, left), (max(len(header) // 2, 1), right)):
            if text:
                ws.write_string(r, col, neutral(text), styles["title"])
        r += 1
    if sheet.title is not None:
        ws.write_string(r, 0, neutral(sheet.title), styles["title"])
        r += 1
    if labels:
        for i, lb in enumerate(labels):
            ws.write_string(r, i, neutral(lb), styles["label"])
        r += 1
    head_row = r
    if header:
        for i, name in enumerate(header):
            ws.write_string(r, i, neutral(name), styles["head"])
        r += 1
        if sheet.frozen_columns is not None:
            ws.freeze_panes(r, sheet.frozen_columns)
    for row in sheet.rows:
        for j, v in enumerate(row):
            style = (styles["head"] if sheet.row_heads and j == 0 else styles["wrap"] if j in sheet.wrap else None)
            _put(ws, r, j, v, style)
        r += 1
    if header:
        ws.autofilter(head_row, 0, max(r - 1, head_row), len(header) - 1)


def _put(ws: Any, r: int, c: int, v: Any, style: Any) -> None:
    """One typed cell: booleans and numbers as such, everything else as neutralised text (never
    ``write()``, which would turn '=…' into a formula and a URL into a link); nothing for a blank."""
    if v is None or (isinstance(v, str) and not v) or (isinstance(v, float) and math.isnan(v)):
        return
    if isinstance(v, bool | np.bool_):
        ws.write_boolean(r, c, bool(v), style)
    elif isinstance(v, numbers.Real) and math.isfinite(v):
        ws.write_number(r, c, v, style)
    else:
        ws.write_string(r, c, neutral(str(v)), style)
