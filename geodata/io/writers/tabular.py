"""CSV and XLSX writers for export layers.

CSV: UTF-8 with a BOM (Excel opens Vietnamese correctly only with it), one header row of field
names, so an exported file re-imports unchanged. XLSX: a title row naming the filter and the date,
the header row (field names, Vietnamese labels as cell comments would be lost on filters, so the
labels go in row 2 and field names in row 3 — the importer finds the header by its field names),
frozen panes below the header, an autofilter, sensible column widths. xlsxwriter's
``constant_memory`` mode streams rows to disk, so a million sites do not sit in memory.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
import pandas as pd

from geodata.io.exports import Column, ExportLayer

#: decimals per column kind: lon/lat to 1e-9° (0.1 mm), metres to the millimetre
DECIMALS = {"lon": 9, "lat": 9}


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
    return str(c)


def _wkt_column(layer: ExportLayer) -> bool:
    """Line layers carry their geometry in a WKT column in tables (points have lon/lat)."""
    return layer.geometry_type != "Point"


def csv_chunks(layer: ExportLayer) -> Iterator[bytes]:
    """The CSV as byte blocks (BOM first): stream it to a file or an HTTP response."""
    import shapely

    cols = layer.columns
    wkt = _wkt_column(layer)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([c.name for c in cols] + (["wkt"] if wkt else []))
    yield "\ufeff".encode() + buf.getvalue().encode("utf-8")
    for df in layer.chunks():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        arrays = [df[c.name].to_numpy(dtype=object) for c in cols]
        if wkt:
            geoms = df["geometry"].to_numpy(dtype=object)
            arrays.append(np.array([shapely.to_wkt(g, rounding_precision=9) if g is not None else "" for g in geoms],
                                   dtype=object))
        for i in range(len(df)):
            w.writerow([_text(c, a[i]) for c, a in zip(cols, arrays, strict=False)] + ([arrays[-1][i]] if wkt else []))
        yield buf.getvalue().encode("utf-8")


def write_csv(layer: ExportLayer, out: IO[bytes]) -> int:
    n = 0
    for block in csv_chunks(layer):
        out.write(block)
        n += len(block)
    return n


def write_xlsx(layer: ExportLayer, out: Any) -> None:
    """Write the workbook to a path or a binary file object."""
    import shapely
    import xlsxwriter

    cols = layer.columns
    wkt = _wkt_column(layer)
    names = [c.name for c in cols] + (["wkt"] if wkt else [])
    labels = [c.label for c in cols] + (["Hình học (WKT, WGS84)"] if wkt else [])
    wb = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                   "strings_to_urls": False, "in_memory": False})
    try:
        ws = wb.add_worksheet(layer.name[:31])
        title = wb.add_format({"bold": True, "font_size": 13})
        label_fmt = wb.add_format({"italic": True, "font_color": "#555555", "text_wrap": True, "valign": "top"})
        head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        widths = [max(len(n), min(len(lb), 28), 8) + 2 for n, lb in zip(names, labels, strict=True)]
        for i, c in enumerate(cols):
            if c.width:
                widths[i] = max(widths[i], c.width)
        if wkt:
            widths[-1] = 60
        for i, wdt in enumerate(widths):
            ws.set_column(i, i, min(wdt, 60), date_fmt if i < len(cols) and cols[i].kind == "date" else None)
        ws.write_string(0, 0, layer.heading, title)
        for i, lb in enumerate(labels):
            ws.write_string(1, i, lb, label_fmt)
        for i, n in enumerate(names):
            ws.write_string(2, i, n, head)
        ws.freeze_panes(3, 1)
        r = 3
        for df in layer.chunks():
            arrays = [df[c.name].to_numpy(dtype=object) for c in cols]
            geoms = df["geometry"].to_numpy(dtype=object) if wkt else None
            for i in range(len(df)):
                for j, (c, a) in enumerate(zip(cols, arrays, strict=True)):
                    v = _cell(c, a[i])
                    if v is None:
                        continue
                    if isinstance(v, bool):
                        ws.write_boolean(r, j, v)
                    elif isinstance(v, int | float):
                        ws.write_number(r, j, v)
                    else:
                        ws.write_string(r, j, str(v))
                if geoms is not None and geoms[i] is not None:
                    ws.write_string(r, len(cols), shapely.to_wkt(geoms[i], rounding_precision=9))
                r += 1
        ws.autofilter(2, 0, max(r - 1, 2), len(names) - 1)
    finally:
        wb.close()
