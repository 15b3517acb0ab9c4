"""Physical upkeep of the sites table: keep its rows stored in spatial order (``btsplan db optimize``).

Why: every read by area — an OGC ``/items`` page and its ``numberMatched`` count, a site check's
neighbours, the map's filtered view — finds its rows through the GiST index and then fetches each
row from the table. Sites arrive in import order (operators' lists, the demo's generator), which
has nothing to do with where they stand, so the few thousand sites of one dense 1 km box lie on as
many different 8 kB pages: measured on the 1M-site demo (2026-12-05), counting the 7,304 sites of a
0.008° box in the city centre touched 6,502 heap pages, and at 150 requests/s those page visits
made OGC items the costliest request (10.5 ms of PostgreSQL CPU each; p99 147 ms). Rewriting the
table in the order of its spatial index (``CLUSTER … USING`` the GiST index) puts neighbours on the
same pages, so the same count reads a few hundred pages; no row, id or value changes, so the data
version (and every cache keyed on it) stays as it is.

PostgreSQL does not keep that order for rows written later, so this is maintenance: the demo loader
runs it after a large load, and an operator runs ``btsplan db optimize`` after large imports (it
skips while fewer than 1 % of the sites were written since its last run). ``CLUSTER`` holds an
exclusive lock on ``sites`` while it rewrites the table (about a minute per million sites on a 2-core VM): readers
wait, so run it in a quiet hour. It must be run by the table's owner (the migration role).

SpatiaLite stores rows in rowid order, and the rowid is the site id: there is no other physical
order to choose, so the step does nothing there (small deployments, where a file fits in the cache).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine, text

from geodata.store.db import engine_backend
from geodata.store.meta import data_changes, data_version, meta_get, meta_set

#: ``meta`` key: ``{"data_version", "sites", "seconds", "at"}`` of the last spatial reordering
SPATIAL_ORDER_KEY = "sites.spatial_order"
#: a demo load of at least this many sites reorders the table itself (smaller tables fit in the
#: cache whatever their order, and the test databases keep their insertion order)
AUTO_MIN_SITES = 100_000
#: the order counts as kept while fewer than this share of the sites were written since the last run
#: (a moved or added mast lands wherever PostgreSQL finds room; a few such rows cost a page each)
REORDER_FRACTION = 0.01

Outcome = Literal["reordered", "current", "sqlite", "not_owner", "empty"]


@dataclass(frozen=True)
class OptimizeResult:
    """What :func:`optimize_sites` did: ``reordered`` (``seconds``), or why not."""

    outcome: Outcome
    sites: int
    seconds: float
    data_version: int


def _gist_index(conn: Connection) -> str | None:
    """The name of the GiST index on ``sites`` (the geometry index; GeoAlchemy names it
    ``idx_sites_geom``, looked up rather than assumed so a renamed index still works)."""
    return conn.execute(text(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = 'sites'::regclass AND a.amname = 'gist' "
        "ORDER BY c.relname LIMIT 1")).scalar()


def _owns_sites(conn: Connection) -> bool:
    return bool(conn.execute(text(
        "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = 'sites'::regclass")).scalar())


def sites_written_since(conn: Connection, version: int, now: int) -> int | None:
    """How many site rows the writes after data version ``version`` changed, from the change journal
    (:func:`geodata.store.meta.data_changes`); None when unknown (a write that changed every site or did
    not say what it changed, or a stretch longer than the journal keeps)."""
    changes = data_changes(conn, version, now)
    if changes is None:
        return None
    n = 0
    for c in changes:
        if c is None:
            return None
        sites = c.get("sites")
        if sites is None:
            continue
        if not isinstance(sites, list):  # "all"
            return None
        n += len(sites)
    return n


def is_spatially_ordered(engine: Engine) -> bool:
    """Whether the sites are (still) in spatial order: reordered once, and fewer than
    :data:`REORDER_FRACTION` of them written since."""
    with engine.connect() as conn:
        return _still_ordered(conn, data_version(conn))


def _still_ordered(conn: Connection, version: int) -> bool:
    done = meta_get(conn, SPATIAL_ORDER_KEY)
    if not isinstance(done, dict) or not isinstance(done.get("data_version"), int):
        return False
    written = sites_written_since(conn, done["data_version"], version)
    return written is not None and written < REORDER_FRACTION * max(int(done.get("sites") or 0), 1)


def optimize_sites(engine: Engine, *, force: bool = False) -> OptimizeResult:
    """Rewrite ``sites`` in the order of its GiST index, then vacuum and analyse it (PostGIS).

    Skips (``current``) unless ``force`` while the order still holds: reordered before, and fewer than
    :data:`REORDER_FRACTION` of the sites written since (other data — plans, cables — does not count).
    Afterwards the visibility map is complete again (``VACUUM``) and the planner's statistics
    describe the new order (``ANALYZE``: the primary key no longer follows the physical order, so
    the planner prices an id-ordered scan of a small area as the random reads it now is)."""
    backend = engine_backend(engine)
    with engine.connect() as conn:
        version = data_version(conn)
        if backend != "postgis":
            return OptimizeResult("sqlite", 0, 0.0, version)
        n = int(conn.execute(text("SELECT count(*) FROM sites")).scalar() or 0)
        if n == 0:
            return OptimizeResult("empty", 0, 0.0, version)
        if not force and _still_ordered(conn, version):
            return OptimizeResult("current", n, 0.0, version)
        if not _owns_sites(conn):
            return OptimizeResult("not_owner", n, 0.0, version)
        index = _gist_index(conn)
    if index is None:  # the migrations always create it; a hand-made schema without one has no order to use
        raise RuntimeError("sites has no GiST index to order it by: run `btsplan db upgrade`")
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # a rewrite of a large table runs longer than a request may; this session only
        conn.exec_driver_sql("SET statement_timeout = 0")
        conn.exec_driver_sql(f'CLUSTER sites USING "{index}"')
        conn.exec_driver_sql("VACUUM (ANALYZE) sites")
        conn.exec_driver_sql("RESET statement_timeout")
    seconds = time.perf_counter() - t0
    with engine.begin() as conn:
        meta_set(conn, SPATIAL_ORDER_KEY, {"data_version": version, "sites": n, "seconds": round(seconds, 1),
                                           "at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()})
    return OptimizeResult("reordered", n, seconds, version)
