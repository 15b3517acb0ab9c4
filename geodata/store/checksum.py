"""Content checksums of the stored tables, to prove that nothing changed (rejected imports) or that a
restore brought back exactly what was backed up. Backend-neutral: geometry is compared as WKB hex."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import Engine, func, select

from geodata.store.models import Base


def _value(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, (bytes, memoryview)):
        return bytes(v).hex()
    return v


def table_checksums(engine: Engine, tables: list[str] | None = None,
                    exclude_columns: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """``{table: (row count, sha256 of the rows in primary-key order)}`` for our tables."""
    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for name, table in Base.metadata.tables.items():
            if tables is not None and name not in tables:
                continue
            cols = []
            for c in table.columns:
                if c.name in exclude_columns:
                    continue
                cols.append(func.ST_AsText(c).label(c.name) if isinstance(c.type, Geometry) else c)
            h = hashlib.sha256()
            n = 0
            for row in conn.execute(select(*cols).order_by(*table.primary_key.columns)):
                h.update(json.dumps([_value(v) for v in row], default=str, ensure_ascii=False).encode())
                n += 1
            out[name] = (n, h.hexdigest())
    return out
