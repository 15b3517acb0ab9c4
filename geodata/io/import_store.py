"""Writing validated import rows: a disk spool between validation and the write transaction, and the
bulk writers for both backends (``COPY`` on PostGIS, batched inserts on SpatiaLite).

Why a spool: validation must finish before the one write transaction opens (a rejected file leaves
the database byte-for-byte unchanged), yet a million validated rows must not sit in memory. Each
validated batch is pickled to a temporary file and read back batch by batch inside the transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.engine import Connection

from geodata.store import models as m


class Spool:
    """Validated batches on disk, in order."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="btsplan-spool-"))
        self.files: list[Path] = []
        self.rows = 0
        self.inserts = 0

    def add(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        p = self.dir / f"{len(self.files):06d}.pkl"
        with open(p, "wb") as f:
            pickle.dump(frame, f, protocol=pickle.HIGHEST_PROTOCOL)
        self.files.append(p)
        self.rows += len(frame)
        if "_action" in frame:
            self.inserts += int((frame["_action"] == "insert").sum())

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for p in self.files:
            with open(p, "rb") as f:
                yield pickle.load(f)  # noqa: S301  (our own temporary files)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.files.clear()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# existing keys (read-only, during validation)
# --------------------------------------------------------------------------------------------

def existing(conn: Connection, table: Any, column: str, values: Sequence[str], extra: Sequence[str] = ()
             ) -> list[Any]:
    """Rows of ``table`` whose ``column`` is in ``values`` (one query per batch on either backend)."""
    vals = [v for v in dict.fromkeys(values) if v is not None]
    if not vals:
        return []
    cols = [table.c.id, table.c[column], *(table.c[e] for e in extra)]
    if conn.dialect.name == "postgresql":
        from sqlalchemy import String, any_
        from sqlalchemy.dialects.postgresql import ARRAY

        # one text parameter split server-side: IN (...) would need a bind parameter per value
        # (65,535 at most), and a list adapted as an array costs a regex per element client-side
        joined = bindparam("vals", "\x1e".join(vals), type_=String)
        arr = func.string_to_array(joined, "\x1e", type_=ARRAY(String))
        return list(conn.execute(select(*cols).where(table.c[column] == any_(arr))))
    # SQLite: one JSON parameter instead of thousands of '?' (SQLITE_MAX_VARIABLE_NUMBER)
    sub = text("SELECT value FROM json_each(:vals)").bindparams(vals=json.dumps(vals, ensure_ascii=False))
    q = select(*cols).where(table.c[column].in_(sub.columns(value=table.c[column].type).subquery().select()))
    return list(conn.execute(q))


# --------------------------------------------------------------------------------------------
# sites
# --------------------------------------------------------------------------------------------

#: The ``sites`` columns an import writes (all but the derived class and its reasons: classification sets those).
SITE_IMPORT_COLUMNS = ["code", "operator", "name", "address", "mount", "structure", "mast_height_m", "building_height_m",
                       "reach_m", "camouflaged", "declared_class", "tech", "transmitters", "shared_by", "max_tenants",
                       "status", "commune_code", "district_code", "x_m", "y_m", "built_on", "target_date"]
#: changing these makes a stored derived class stale (it is cleared; `btsplan classify` recomputes it)
CLASSIFIER_INPUTS = {"mount", "structure", "mast_height_m", "building_height_m", "reach_m", "camouflaged"}

_POINT_HEADER = np.frombuffer(bytes.fromhex("0101000020") + (4326).to_bytes(4, "little"), np.uint8)


#: a PostGIS insert of at least this many rows, and at least as many as the table holds, drops the
#: table's secondary indexes, loads, and rebuilds them (in the same transaction): building an index
#: once over sorted data is several times cheaper than a million random index insertions.
BULK_MIN_ROWS = 100_000


def _drop_indexes(conn: Connection, table: str, n_new: int) -> list[tuple[str, str]] | None:
    """Drop ``table``'s unique and foreign-key constraints and secondary indexes for a bulk load; returns the DDL that
    restores them, or None when the load is too small for it to pay. Takes an ACCESS EXCLUSIVE lock
    until commit (readers of the table wait for the import)."""
    if n_new < BULK_MIN_ROWS:
        return None
    # only the table's owner may drop its constraints: the application's own role (which owns nothing,
    # so that it cannot touch the audit log's guards) loads the slower way, indexes kept
    owner = conn.execute(text("SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                         {"t": table}).scalar()
    if not owner:
        return None
    existing = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0
    if existing > n_new:
        return None
    # unique constraints (their index is rebuilt once) and foreign keys (checked by one join when
    # re-added, instead of a trigger firing per row — the operators were all resolved by validation)
    cons = conn.execute(text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('u', 'f') ORDER BY contype DESC"), {"t": table}).all()
    # a unique index stays: rows arrive in the file's order, usually sorted by code, so maintaining it
    # costs about what rebuilding it would, and it does so while Python is still validating
    cons = [(n, d) for n, d in cons if not d.startswith("UNIQUE")]
    idx = conn.execute(text(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = CAST(:t AS regclass) AND NOT x.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"), {"t": table}).all()
    restore: list[tuple[str, str]] = []
    for name, definition in cons:
        conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        restore.append((name, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    for name, definition in idx:
        conn.execute(text(f'DROP INDEX "{name}"'))
        restore.append((name, definition))
    # indexes and unique constraints first, foreign keys last (their check reads the loaded rows)
    restore.sort(key=lambda r: "FOREIGN KEY" in r[1])
    return restore


def _rebuild_indexes(conn: Connection, restore: list[tuple[str, str]]) -> None:
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for _, ddl in restore:
        conn.execute(text(ddl))


def _update_stage(conn: Connection) -> None:
    """A temporary table shaped like ``sites`` without its NOT NULL constraints: an update carries only
    the columns the file has, the others stay as stored."""
    conn.execute(text("CREATE TEMP TABLE _btsplan_site_updates ON COMMIT DROP AS SELECT * FROM sites WITH NO DATA"))


#: PostgreSQL binary COPY types of the site columns (everything not listed is text)
SITE_PG_TYPES = {
    "mast_height_m": "float8", "building_height_m": "float8", "reach_m": "float8", "x_m": "float8", "y_m": "float8",
    "camouflaged": "bool", "transmitters": "int4", "max_tenants": "int4", "shared_by": "json",
    "built_on": "date", "target_date": "date",
}
_PG_EPOCH = dt.date(2000, 1, 1)
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"


def _by_value(values: np.ndarray, fn: Any) -> list[Any]:
    """``fn`` over the distinct non-null values only (dates, flags: a handful of values per million)."""
    out: list[Any] = [None] * len(values)
    cache: dict[Any, Any] = {}
    for i in np.flatnonzero(~pd.isna(values)):
        v = values[i]
        key = v if not isinstance(v, list) else tuple(v)
        if key not in cache:
            cache[key] = fn(v)
        out[i] = cache[key]
    return out


def _field(kind: str, values: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(byte length per row, -1 for NULL; the non-NULL values' bytes concatenated in row order)."""
    import pyarrow as pa

    if kind in ("float8", "int4"):
        v = pd.array(values, dtype="Float64").to_numpy(dtype=float, na_value=np.nan) \
            if getattr(values, "dtype", None) == object else np.asarray(values, dtype=float)
        null = ~np.isfinite(v)
        width = 8 if kind == "float8" else 4
        data = v[~null].astype(">f8" if kind == "float8" else ">i4")
        return np.where(null, -1, width), data.view(np.uint8)
    if kind in ("bool", "date"):
        vals = np.asarray(values, dtype=object)
        enc = _by_value(vals, (lambda b: b"\x01" if b else b"\x00") if kind == "bool" else
                        (lambda d: int((d - _PG_EPOCH).days).to_bytes(4, "big", signed=True)))
        lens = np.array([-1 if e is None else len(e) for e in enc], dtype=np.int64) if n else np.zeros(0, np.int64)
        return lens, np.frombuffer(b"".join(e for e in enc if e is not None), np.uint8)
    if kind == "json":
        vals = np.asarray(values, dtype=object)
        enc = _by_value(vals, lambda v: json.dumps(list(v), ensure_ascii=False))
        arr = pa.array(enc, type=pa.string())
    else:
        arr = pa.array(np.asarray(values, dtype=object), type=pa.string(), from_pandas=True)
    offsets = np.frombuffer(arr.buffers()[1], np.int32)[arr.offset: arr.offset + n + 1]
    lens = np.diff(offsets).astype(np.int64)
    if arr.null_count:
        lens[arr.is_null().to_numpy(zero_copy_only=False)] = -1
    data = np.frombuffer(arr.buffers()[2], np.uint8)[offsets[0]:offsets[-1]] if arr.buffers()[2] else \
        np.zeros(0, np.uint8)
    return lens, data


def _binary_array(lens: np.ndarray, data: np.ndarray, n: int) -> Any:
    import pyarrow as pa

    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.maximum(lens, 0), out=offsets[1:])
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets),
                                                                  pa.py_buffer(np.ascontiguousarray(data))])


def binary_copy_payload(fields: list[tuple[np.ndarray, np.ndarray]], n: int) -> bytes:
    """PostgreSQL binary COPY bytes for ``n`` rows from per-column (lengths, data): each field becomes
    an Arrow binary column (4-byte length, then the value) and Arrow joins them row by row in C++ —
    no per-row Python, nothing for the server to parse."""
    import pyarrow as pa
    import pyarrow.compute as pc

    k = len(fields)
    cols = [_binary_array(np.full(n, 2), np.tile(np.frombuffer(np.array([k], ">i2").tobytes(), np.uint8), n), n)]
    for lens, data in fields:
        cols.append(_binary_array(np.full(n, 4), lens.astype(">i4").view(np.uint8), n))
        cols.append(_binary_array(lens, data, n))
    joined = pc.binary_join_element_wise(*cols, pa.scalar(b"", pa.large_binary()))
    offsets = np.frombuffer(joined.buffers()[1], np.int64)[joined.offset: joined.offset + n + 1]
    body = memoryview(joined.buffers()[2])[offsets[0]:offsets[-1]] if n else b""
    return _COPY_HEADER + bytes(body) + b"\xff\xff"


def _copy_sites_binary(conn: Connection, table: str, chunk: pd.DataFrame, cols: list[str], now: Any) -> None:
    """COPY rows of ``chunk`` into ``table`` (``sites`` or its update stage) in binary format."""
    n = len(chunk)
    fields = [_field(SITE_PG_TYPES.get(c, "text"), chunk[c].to_numpy(dtype=object) if SITE_PG_TYPES.get(c) in
                     (None, "bool", "date", "json") else chunk[c].to_numpy(), n) for c in cols]
    stamp = int((now - dt.datetime(2000, 1, 1)).total_seconds() * 1_000_000)
    fields.append((np.full(n, 8, np.int64), np.tile(np.frombuffer(stamp.to_bytes(8, "big", signed=True), np.uint8), n)))
    raw = np.empty((n, 25), np.uint8)
    raw[:, :9] = _POINT_HEADER
    raw[:, 9:17] = np.ascontiguousarray(chunk["lon"].to_numpy(float), dtype="<f8").view(np.uint8).reshape(n, 8)
    raw[:, 17:25] = np.ascontiguousarray(chunk["lat"].to_numpy(float), dtype="<f8").view(np.uint8).reshape(n, 8)
    fields.append((np.full(n, 25, np.int64), raw.ravel()))
    payload = memoryview(binary_copy_payload(fields, n))
    names = ", ".join(f'"{c}"' for c in [*cols, "updated_at", "geom"])
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT binary)") as cp:
        for i in range(0, len(payload), 1 << 20):
            cp.write(payload[i:i + (1 << 20)])


def _sqlite_site_records(chunk: pd.DataFrame, cols: list[str], now: Any) -> list[dict[str, Any]]:
    recs: list[dict[str, Any]] = []
    sub = chunk[cols + ["lon", "lat"]].astype(object).where(chunk[cols + ["lon", "lat"]].notna(), None)
    for r in sub.itertuples(index=False):
        d = dict(zip(cols, r[: len(cols)], strict=True))
        for k in ("transmitters", "max_tenants"):
            if d.get(k) is not None:
                d[k] = int(d[k])
        if d.get("shared_by") is not None:
            d["shared_by"] = list(d["shared_by"])
        d["updated_at"] = now
        d["geom"] = f"SRID=4326;POINT({r[-2]:.10f} {r[-1]:.10f})"
        recs.append(d)
    return recs


def write_sites(conn: Connection, spool: Spool, fields: set[str], progress: Any = None) -> tuple[int, int]:
    """Insert new sites and update existing ones (``_action`` column); returns (inserted, updated)."""
    now = m.utcnow()
    pg = conn.dialect.name == "postgresql"
    ins_cols = SITE_IMPORT_COLUMNS
    upd_cols = [c for c in SITE_IMPORT_COLUMNS if c != "code" and (c in fields or c in ("commune_code", "district_code", "x_m", "y_m"))]
    clear_class = bool(CLASSIFIER_INPUTS & fields)
    inserted = updated = 0
    staged = False
    rebuild = _drop_indexes(conn, "sites", spool.inserts) if pg else None
    for chunk in spool:
        new = chunk[chunk["_action"] == "insert"]
        old = chunk[chunk["_action"] == "update"]
        if len(new):
            if pg:
                _copy_sites_binary(conn, "sites", new, ins_cols, now)
            else:
                conn.execute(insert(m.Site), _sqlite_site_records(new, ins_cols, now))
            inserted += len(new)
        if len(old):
            if pg:
                if not staged:
                    _update_stage(conn)
                    staged = True
                _copy_sites_binary(conn, "_btsplan_site_updates", old, ["code", *upd_cols], now)
            else:
                recs = _sqlite_site_records(old, ["code", *upd_cols], now)
                t = m.Site.__table__
                values = {c: bindparam(f"v_{c}") for c in [*upd_cols, "updated_at", "geom"]}
                if clear_class:
                    values.update(derived_class=None, reasons=None)
                stmt = update(t).where(t.c.code == bindparam("k_code")).values(**values)
                conn.execute(stmt, [{"k_code": r["code"], **{f"v_{k}": v for k, v in r.items() if k != "code"}}
                                    for r in recs])
            updated += len(old)
        if progress:
            progress(len(chunk))
    if rebuild is not None:
        if progress:
            progress(0)
        _rebuild_indexes(conn, rebuild)
    if staged:
        sets = ", ".join(f'"{c}" = u."{c}"' for c in [*upd_cols, "updated_at", "geom"])
        if clear_class:
            sets += ", derived_class = NULL, reasons = NULL"
        conn.execute(text(f"UPDATE sites s SET {sets} FROM _btsplan_site_updates u WHERE s.code = u.code"))
    return inserted, updated


# --------------------------------------------------------------------------------------------
# admin units, zones, routes, cables (thousands of rows: plain batched statements)
# --------------------------------------------------------------------------------------------

MODELS = {"admin": m.AdminUnit, "zones": m.Zone, "routes": m.Route, "cables": m.CableSegment}


def write_features(conn: Connection, kind: str, spool: Spool, fields: set[str], progress: Any = None
                   ) -> tuple[int, int]:
    model = MODELS[kind]
    t = model.__table__
    cols = [c.name for c in t.columns if c.name not in ("id",)]
    inserted = updated = 0
    for chunk in spool:
        present = [c for c in chunk.columns if c in cols]
        recs = chunk[present].astype(object).where(chunk[present].notna(), None).to_dict("records")
        for r in recs:
            for k, v in list(r.items()):
                if isinstance(v, tuple):
                    r[k] = list(v)
                elif isinstance(v, np.integer):
                    r[k] = int(v)
                elif isinstance(v, np.floating):
                    r[k] = float(v)
        actions = chunk["_action"].to_numpy()
        new = [r for r, a in zip(recs, actions, strict=True) if a == "insert"]
        if new:
            if kind == "cables":
                for r in new:
                    r.setdefault("version", 1)
            conn.execute(insert(t), new)
            inserted += len(new)
        ids = chunk["_id"].to_numpy()
        old = [(r, i) for r, a, i in zip(recs, actions, ids, strict=True) if a == "update"]
        if old:
            upd = [c for c in present if c in fields or c in ("geom", "district_code", "length_m", "urban", "level")]
            stmt = update(t).where(t.c.id == bindparam("k_id")).values(**{c: bindparam(f"v_{c}") for c in upd})
            if kind == "cables":
                stmt = stmt.values(version=t.c.version + 1)
            conn.execute(stmt, [{"k_id": int(i), **{f"v_{c}": r.get(c) for c in upd}} for r, i in old])
            updated += len(old)
        if progress:
            progress(len(chunk))
    return inserted, updated


class SiteStream:
    """Sink for the PostGIS bulk path: validated batches are COPYed into ``sites`` by a writer thread
    on ``conn`` (inside the caller's open transaction) while the caller validates the next batch.

    The queue holds at most two batches, so memory stays bounded. Updates (``--on-conflict update``)
    go to a temporary table and are applied by :meth:`finish`, which also rebuilds the indexes that
    a bulk load dropped. :meth:`abort` stops the thread; the caller rolls the transaction back."""

    def __init__(self, conn: Connection, fields: set[str], expected: int) -> None:
        import queue
        import threading

        self.conn = conn
        self.fields = fields
        self.now = m.utcnow()
        self.rows = 0
        self.inserted = 0
        self.updated = 0
        self.upd_cols = [c for c in SITE_IMPORT_COLUMNS if c != "code" and (c in fields or c in ("commune_code", "district_code", "x_m", "y_m"))]
        self.staged = False
        self.rebuild = _drop_indexes(conn, "sites", expected)
        self.q: queue.Queue[pd.DataFrame | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="btsplan-copy", daemon=True)
        self.thread.start()

    def add(self, frame: pd.DataFrame) -> None:
        if self.error is not None:
            raise self.error
        if frame.empty:
            return
        self.rows += len(frame)
        self.q.put(frame)

    def _run(self) -> None:
        try:
            while (chunk := self.q.get()) is not None:
                new = chunk[chunk["_action"] == "insert"]
                old = chunk[chunk["_action"] == "update"]
                if len(new):
                    _copy_sites_binary(self.conn, "sites", new, SITE_IMPORT_COLUMNS, self.now)
                    self.inserted += len(new)
                if len(old):
                    if not self.staged:
                        _update_stage(self.conn)
                        self.staged = True
                    _copy_sites_binary(self.conn, "_btsplan_site_updates", old, ["code", *self.upd_cols], self.now)
                    self.updated += len(old)
        except BaseException as exc:  # reported to the validating thread on its next add()/finish()
            self.error = exc
            while self.q.get() is not None:  # keep draining so the producer never blocks
                pass

    def _stop(self) -> None:
        if self.thread.is_alive():
            self.q.put(None)
            self.thread.join()

    def abort(self) -> None:
        self._stop()

    def finish(self) -> tuple[int, int]:
        self._stop()
        if self.error is not None:
            raise self.error
        if self.rebuild is not None:
            _rebuild_indexes(self.conn, self.rebuild)
        if self.staged:
            sets = ", ".join(f'"{c}" = u."{c}"' for c in [*self.upd_cols, "updated_at", "geom"])
            if CLASSIFIER_INPUTS & self.fields:
                sets += ", derived_class = NULL, reasons = NULL"
            self.conn.execute(text(f"UPDATE sites s SET {sets} FROM _btsplan_site_updates u WHERE s.code = u.code"))
        return self.inserted, self.updated
