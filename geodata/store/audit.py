"""Append-only audit log writer: every change to sites, plans, segments and keys goes through here.

Why a single function: the audit trail is only trustworthy if every writer records the same shape
(actor, action, entity, id, before, after) inside the *same* transaction as the change, so a rolled
back change leaves no audit row and a committed one always has one. There is deliberately no update
or delete helper; the HTTP layer exposes the log read-only.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geodata.store.models import AuditLog, utcnow

#: Keys whose values never go into the audit log, whatever entity they come from.
SECRET_FIELDS = frozenset({"key", "key_hash", "secret", "password", "token"})


def jsonable(value: Any) -> Any:
    """Convert a value into something JSON can store (dates as ISO strings, sets as sorted lists)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items() if str(k) not in SECRET_FIELDS}
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "__geo_interface__"):
        return value.__geo_interface__
    return str(value)


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Field-level difference ``{field: {"before": …, "after": …}}`` of two flat records."""
    b, a = jsonable(dict(before or {})), jsonable(dict(after or {}))
    return {k: {"before": b.get(k), "after": a.get(k)} for k in sorted(set(b) | set(a)) if b.get(k) != a.get(k)}


def record(
    session_or_conn: Session | Connection,
    actor: str,
    action: str,
    entity: str,
    entity_id: Any,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    *,
    at: dt.datetime | None = None,
) -> None:
    """Append one audit row in the caller's transaction (commit/rollback is the caller's job)."""
    values = {
        "at": at or utcnow(),
        "actor": (actor or "unknown")[:100],
        "action": action[:50],
        "entity": entity[:50],
        "entity_id": None if entity_id is None else str(entity_id)[:100],
        "before": None if before is None else jsonable(before),
        "after": None if after is None else jsonable(after),
    }
    session_or_conn.execute(insert(AuditLog).values(**values))


def entries(session_or_conn: Session | Connection, entity: str | None = None, entity_id: Any = None,
            limit: int = 500, offset: int = 0) -> list[dict[str, Any]]:
    """Read audit rows (newest last) filtered by entity and id."""
    t = AuditLog.__table__
    q = select(*t.c)
    if entity:
        q = q.where(t.c.entity == entity)
    if entity_id is not None:
        q = q.where(t.c.entity_id == str(entity_id))
    rows = session_or_conn.execute(q.order_by(t.c.id).limit(limit).offset(offset)).mappings().all()
    return [{**dict(r), "at": r["at"].isoformat() if r["at"] else None} for r in rows]
