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
#: the data version of the last write that changed the admin units (or did not say what it changed)
UNITS_VERSION = "units_version"


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


#: ``meta`` keys ``data_changes.<version>``: what the write that made that version changed
CHANGES_PREFIX = "data_changes."
#: journal entries kept; a cache further behind than this rebuilds from scratch
JOURNAL_KEEP = 1000


def bump_data_version(conn: Connection, changes: dict[str, Any] | None = None) -> int:
    """Increase the data version (tile caches key on it); call inside the writing transaction.

    ``changes`` says what the write changed, so the planning context can update itself instead of
    being rebuilt: ``{"sites": [codes] | "all", "routes": True, "zones": True, "units": True}``,
    and any other key (``"findings"``, ``"cables"``, …) for data the context does not hold. Without
    ``changes`` the write counts as changing anything."""
    v = data_version(conn) + 1
    meta_set(conn, DATA_VERSION, v)
    if changes is None or changes.get("units"):
        meta_set(conn, UNITS_VERSION, v)
    if changes is not None:
        conn.execute(insert(Meta).values(key=f"{CHANGES_PREFIX}{v}", value=changes))
    conn.execute(delete(Meta).where(Meta.key == f"{CHANGES_PREFIX}{v - JOURNAL_KEEP}"))
    return v


def units_version(bind: Engine | Connection) -> int:
    """The data version at which the admin units last changed (0: not since this key was kept). What
    is derived from the units alone — the province outline a site check is tested against — keys on
    this, not on the data version, so a changed mast does not make every worker union the outline
    again. A process's caches start empty, so a units change before the key existed cannot be missed."""
    return int(meta_get(bind, UNITS_VERSION) or 0)


def data_changes(bind: Engine | Connection, after: int, upto: int) -> list[dict[str, Any] | None] | None:
    """What each version in (``after``, ``upto``] changed, oldest first (None for a write that did
    not say); None when that stretch is longer than the journal keeps."""
    if upto <= after:
        return []
    if upto - after >= JOURNAL_KEEP:
        return None
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return data_changes(conn, after, upto)
    keys = [f"{CHANGES_PREFIX}{v}" for v in range(after + 1, upto + 1)]
    found = dict(bind.execute(select(Meta.key, Meta.value).where(Meta.key.in_(keys))).all())
    return [found.get(k) for k in keys]
