"""The ``meta`` key/value table: the data version that caches key on, and small stored settings.

Why the data version lives here and not with the caches: every writer (imports, plans, cables,
inspections, the demo) bumps it inside its own transaction, so it belongs to storage; the caches in
:mod:`geodata.store.cache` only read it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from geodata.store.models import Meta

DATA_VERSION = "data_version"


def meta_get(bind: Engine | Connection, key: str) -> Any:
    """The stored value of ``key`` (None when absent)."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return meta_get(conn, key)
    return bind.execute(select(Meta.value).where(Meta.key == key)).scalar()


def meta_set(conn: Connection, key: str, value: Any) -> None:
    """Store ``value`` under ``key`` inside the caller's transaction (replaces any earlier value)."""
    conn.execute(delete(Meta).where(Meta.key == key))
    conn.execute(insert(Meta).values(key=key, value=value))


def data_version(bind: Engine | Connection) -> int:
    """Current data version (0 when nothing was ever written)."""
    return int(meta_get(bind, DATA_VERSION) or 0)


def bump_data_version(conn: Connection) -> int:
    """Increase the data version (tile caches key on it); call inside the writing transaction."""
    v = data_version(conn) + 1
    meta_set(conn, DATA_VERSION, v)
    return v
