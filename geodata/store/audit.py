"""Append-only audit log writer: every change to sites, plans, segments and keys goes through here.

Why a single function: the audit trail is only trustworthy if every writer records the same shape
(actor, action, entity, id, before, after) inside the *same* transaction as the change, so a rolled
back change leaves no audit row and a committed one always has one. There is deliberately no update
or delete helper; the HTTP layer exposes the log read-only.

Triggers and privileges stop the application from rewriting the log, but not the database's owner or
whoever holds the SQLite file. So each row also carries ``hash``, a SHA-256 over its content and the
hash of the row before it (``prev_hash``): a row edited, deleted from the middle or forged by a plain
``INSERT`` breaks the chain, and :func:`verify` names the first row where it breaks. Rows take
consecutive ids and times that never go backwards (the writer takes a lock, then reads the chain's
head), so a gap in the ids means deleted rows and an earlier time means a back-dated one. The chain
cannot tell a whole rewritten log or deleted last rows from a genuine one: keep the head that
``btsplan audit verify`` prints somewhere else, and check it later with ``--anchor``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import String, insert, select, text, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geodata.store.models import AuditLog, utcnow
from planning.i18n import _

#: Keys whose values never go into the audit log, whatever entity they come from.
SECRET_FIELDS = frozenset({"key", "key_hash", "secret", "password", "token"})
#: ``prev_hash`` of the first row of the chain.
GENESIS = "0" * 64
#: Key of the PostgreSQL advisory lock that serialises writers of the chain (tiles use 730010001).
CHAIN_LOCK_KEY = 730010002
#: Action of the row migration 0003 appended after chaining the rows written before it: their times
#: were taken without the lock, so only rows after it must keep their times in order.
CHAINED_ACTION = "chain"


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


def canonical_time(at: dt.datetime) -> str:
    """The time as hashed: naive UTC to the microsecond, as both backends store and return it."""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.isoformat(sep=" ", timespec="microseconds")


def chain_hash(prev_hash: str | None, row_id: int, at: dt.datetime, actor: str, action: str, entity: str,
               entity_id: str | None, before: Any, after: Any) -> str:
    """SHA-256 (hex) of one row and its predecessor's hash, over compact, key-sorted, ASCII JSON of
    ``[prev_hash, id, at, actor, action, entity, entity_id, before, after]``: a form any language can
    rebuild from the stored values, and the same whichever backend stored them."""
    payload = [prev_hash, row_id, canonical_time(at), actor, action, entity, entity_id, before, after]
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(body.encode("ascii")).hexdigest()


def _dialect(session_or_conn: Session | Connection) -> str:
    bind = session_or_conn.get_bind() if isinstance(session_or_conn, Session) else session_or_conn
    return bind.dialect.name


def _chain_head(conn: Session | Connection) -> tuple[int, str | None, dt.datetime] | None:
    """The last row (id, hash, time), read once no other writer can append before this transaction
    ends: PostgreSQL's advisory lock is held to commit; on SQLite any write takes the database's one
    write lock (kept to commit), and a snapshot older than the last commit cannot take it."""
    if _dialect(conn) == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})
    else:
        conn.execute(text("DELETE FROM audit_log WHERE 0"))
    t = AuditLog.__table__
    row = conn.execute(select(t.c.id, t.c.hash, t.c.at).order_by(t.c.id.desc()).limit(1)).first()
    return None if row is None else (int(row[0]), row[1], row[2])


def record(
    session_or_conn: Session | Connection,
    actor: str,
    action: str,
    entity: str,
    entity_id: Any,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Append one audit row in the caller's transaction (commit/rollback is the caller's job).

    The row gets the next id, a time no earlier than the last row's (a clock behind another host's
    must not look like back-dating) and its place in the hash chain; concurrent writers queue on the
    chain's head until this transaction ends."""
    head = _chain_head(session_or_conn)
    now = utcnow()
    values: dict[str, Any] = {
        "id": 1 if head is None else head[0] + 1,
        "at": now if head is None or head[2] is None else max(now, head[2]),
        "actor": (actor or "unknown")[:100],
        "action": action[:50],
        "entity": entity[:50],
        "entity_id": None if entity_id is None else str(entity_id)[:100],
        "before": None if before is None else jsonable(before),
        "after": None if after is None else jsonable(after),
        "prev_hash": GENESIS if head is None else head[1],
    }
    values["hash"] = chain_hash(values["prev_hash"], values["id"], values["at"], values["actor"], values["action"],
                                values["entity"], values["entity_id"], values["before"], values["after"])
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


# ------------------------------------------------------------------------------------------- verify

Problem = Literal["changed", "deleted", "inserted"]

#: Rows read per query while verifying (keyset pages: memory stays flat however long the log).
VERIFY_PAGE = 5000


@dataclass(frozen=True)
class Break:
    """Where the chain first breaks: the row at fault and what happened to it."""

    id: int
    problem: Problem
    detail: str


@dataclass(frozen=True)
class ChainReport:
    """Outcome of :func:`verify`: rows read (up to the break), the first break if any, and the head to
    keep as an anchor (only for an intact, non-empty log)."""

    rows: int
    head_id: int | None
    head_hash: str | None
    broken: Break | None

    @property
    def intact(self) -> bool:
        return self.broken is None

    def line(self) -> str:
        """One line for people and logs."""
        if self.broken is not None:
            b = self.broken
            return _("audit log broken at row {id}: {problem} ({detail})", id=b.id, problem=b.problem,
                     detail=b.detail)
        if self.head_id is None:
            return _("audit log intact: empty")
        return _("audit log intact: {rows:,} rows, head {id}:{hash}", rows=self.rows, id=self.head_id,
                 hash=self.head_hash)


@dataclass(frozen=True)
class _Link:
    """One stored row as the checks need it: its own hash is ``sound`` when it matches its content."""

    id: int
    prev_hash: str | None
    hash: str | None
    at: dt.datetime | None
    sound: bool


def _time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    raise ValueError(f"not a time: {value!r}")


def _json(value: Any) -> Any:
    return None if value is None else json.loads(value) if isinstance(value, str) else value


def _links(conn: Session | Connection) -> Iterator[_Link]:
    """Every row in id order. The time and JSON columns are read as stored text on SQLite (which
    stores anything in any column), so a row edited into something unreadable counts as changed
    rather than stopping the check; PostgreSQL's types already refuse such values."""
    t = AuditLog.__table__
    stored = ([type_coerce(t.c[n], String).label(n) for n in ("at", "before", "after")]
              if _dialect(conn) == "sqlite" else [t.c.at, t.c.before, t.c.after])
    cols = [t.c.id, t.c.prev_hash, t.c.hash, t.c.actor, t.c.action, t.c.entity, t.c.entity_id, *stored]
    last = 0
    while True:
        page = conn.execute(select(*cols).where(t.c.id > last).order_by(t.c.id).limit(VERIFY_PAGE)).all()
        for r in page:
            try:
                at: dt.datetime | None = _time(r.at)
                sound = r.hash == chain_hash(r.prev_hash, r.id, at, r.actor, r.action, r.entity, r.entity_id,
                                             _json(r.before), _json(r.after))
            except (ValueError, TypeError):
                at, sound = None, False
            yield _Link(int(r.id), r.prev_hash, r.hash, at, sound)
        if len(page) < VERIFY_PAGE:
            return
        last = int(page[-1].id)


def _unlinked(row: _Link, prev: _Link | None, prev_prev_hash: str | None) -> Break:
    """Why a row whose own hash is sound does not chain to the row before it."""
    if prev is None:
        if row.id > 1:
            return Break(row.id - 1, "deleted", _("the rows before row {id} are gone: it does not start the "
                                                  "chain", id=row.id))
        return Break(row.id, "inserted", _("it does not start the chain"))
    if prev_prev_hash is not None and row.prev_hash == prev_prev_hash:
        return Break(prev.id, "inserted", _("row {id} chains past it to the row before it", id=row.id))
    if row.id > prev.id + 1:
        gone = (_("row {id}", id=prev.id + 1) if row.id == prev.id + 2 else
                _("rows {first}-{last}", first=prev.id + 1, last=row.id - 1))
        return Break(prev.id + 1, "deleted", _("{gone} missing: row {id} chains to a row that is gone",
                                               gone=gone, id=row.id))
    return Break(row.id, "inserted", _("it does not chain to row {id} (one of the two was forged or "
                                       "rewritten)", id=prev.id))


def _check(row: _Link, prev: _Link | None, prev_prev_hash: str | None, timed_after: int) -> Break | None:
    """The first problem of ``row`` given the row before it, or None."""
    linked = row.prev_hash == (GENESIS if prev is None else prev.hash)
    if linked and not row.sound:
        return Break(row.id, "changed", _("its content no longer matches its hash"))
    if not linked and not row.sound:
        after = "the start" if prev is None else f"row {prev.id}"
        return Break(row.id, "inserted", _("written outside the audit writer: it neither chains to {after} "
                                           "nor matches its own hash", after=after))
    if not linked:
        return _unlinked(row, prev, prev_prev_hash)
    if prev is not None and row.id > timed_after and prev.at and row.at and row.at < prev.at:
        return Break(row.id, "inserted", _("back-dated: its time {at} is before row {id}'s {at2}",
                                           at=canonical_time(row.at), id=prev.id,
                                           at2=canonical_time(prev.at)))
    return None


def verify(session_or_conn: Session | Connection, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Walk the whole chain and report the first row where it breaks.

    ``anchor`` (an id and the hash it had, as an earlier run printed it) also catches what the chain
    alone cannot: the log rewritten and re-hashed from that row on, or its last rows deleted."""
    t = AuditLog.__table__
    timed_after = session_or_conn.execute(
        select(t.c.id).where(t.c.action == CHAINED_ACTION, t.c.entity == "audit_log")
        .order_by(t.c.id.desc()).limit(1)).scalar() or 0
    prev: _Link | None = None
    prev_prev_hash: str | None = None
    rows = 0
    for row in _links(session_or_conn):
        rows += 1
        broken = _check(row, prev, prev_prev_hash, timed_after) or _off_anchor(anchor, row, prev)
        if broken is not None:
            return ChainReport(rows, None, None, broken)
        prev_prev_hash, prev = (prev.hash if prev else None), row
    if prev is None:
        return ChainReport(0, None, None, None if anchor is None else
                           Break(anchor[0], "deleted", _("the anchored row is gone: the log is empty")))
    if anchor is not None and prev.id < anchor[0]:
        return ChainReport(rows, None, None,
                           Break(anchor[0], "deleted", _("the anchored row is gone: the log ends before it")))
    return ChainReport(rows, prev.id, prev.hash, None)


def _off_anchor(anchor: tuple[int, str] | None, row: _Link, prev: _Link | None) -> Break | None:
    if anchor is None:
        return None
    anchor_id, anchor_hash = anchor
    if row.id == anchor_id and row.hash != anchor_hash:
        return Break(anchor_id, "changed", _("its hash is not the anchored one: the log was rewritten from "
                                             "here"))
    if row.id > anchor_id and (prev is None or prev.id < anchor_id):
        return Break(anchor_id, "deleted", _("the anchored row is gone"))
    return None
