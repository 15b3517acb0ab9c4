"""File downloads over HTTP: meaningful ``Content-Disposition`` names and streamed bodies.

Bodies are generators, so a million rows never sit in memory at once: rows come from the database a
page at a time (keyset paging) and leave as soon as they are encoded.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

from fastapi.responses import StreamingResponse

CSV_MEDIA = "text/csv; charset=utf-8"


def ascii_slug(text: str) -> str:
    """``Lê Chân`` → ``le-chan`` (file names that survive every browser, zip tool and e-mail client)."""
    t = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9._]+", "-", t).strip("-") or "file"


def filename(*parts: str | None, ext: str, day: dt.date | None = None) -> str:
    """``sites-le-chan-vtl-2026-05-01.csv``: what, which filters, when."""
    bits = [ascii_slug(p) for p in parts if p]
    bits.append((day or dt.date.today()).isoformat())
    return "-".join(bits) + "." + ext


def attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"}


def _csv_line(values: Iterable[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buf.getvalue()


def csv_body(header: list[str], rows: Iterable[Iterable[Any]], bom: bool = True) -> Iterator[bytes]:
    """UTF-8 CSV with a BOM (so Excel shows Vietnamese), flushed every few hundred rows."""
    yield (("\ufeff" if bom else "") + _csv_line(header)).encode("utf-8")
    chunk: list[str] = []
    for r in rows:
        chunk.append(_csv_line(r))
        if len(chunk) >= 500:
            yield "".join(chunk).encode("utf-8")
            chunk = []
    if chunk:
        yield "".join(chunk).encode("utf-8")


def stream(body: Iterator[bytes], media_type: str, name: str) -> StreamingResponse:
    return StreamingResponse(body, media_type=media_type, headers=attachment(name))

