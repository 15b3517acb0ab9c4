"""File downloads over HTTP: meaningful ``Content-Disposition`` names and streamed bodies.

Bodies are generators, so a million rows never sit in memory at once: rows come from the database a
page at a time (keyset paging) and leave as soon as they are encoded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from planning.names import fold

CSV_MEDIA = "text/csv; charset=utf-8"


def ascii_slug(text: str) -> str:
    """``Lê Chân`` → ``le-chan`` (file names that survive every browser, zip tool and e-mail client)."""
    return re.sub(r"[^a-z0-9._]+", "-", fold(text)).strip("-") or "file"


def filename(*parts: str | None, ext: str, day: dt.date | None = None) -> str:
    """``sites-le-chan-vtl-2026-05-01.csv``: what, which filters, when."""
    bits = [ascii_slug(p) for p in parts if p]
    bits.append((day or dt.date.today()).isoformat())
    return "-".join(bits) + "." + ext


def attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"}


def stream(body: Iterator[bytes], media_type: str, name: str) -> StreamingResponse:
    return StreamingResponse(body, media_type=media_type, headers=attachment(name))

