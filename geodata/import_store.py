"""Writing validated import rows: a disk spool between validation and the write transaction, and the
bulk writers for both backends (``COPY`` on PostGIS, batched inserts on SpatiaLite).

Why a spool: validation must finish before the one write transaction opens (a rejected file leaves
the database byte-for-byte unchanged), yet a million validated rows must not sit in memory. Each
validated batch is pickled to a temporary file and read back batch by batch inside the transaction.
"""

from __future__ import annotations

import io
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

from geodata import models as m


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

SITE_COLUMNS = ["code", "operator", "name", "address", "mount", "mast_height_m", "building_height_m", "reach_m",
                "camouflaged", "declared_class", "tech", "transmitters", "shared_by", "max_tenants", "status",
                "commune_code", "district_code", "x_m", "y_m", "built_on", "target_date"]
#: changing these makes a stored derived class stale (it is cleared; `btsplan classify` recomputes it)
CLASSIFIER_INPUTS = {"mount", "mast_height_m", "building_height_m", "reach_m", "camouflaged"}

_HEX = np.frombuffer(b"".join(f"{i:02X}".encode() for i in range(256)), np.uint8).reshape(256, 2)
_POINT_HEADER = np.frombuffer(bytes.fromhex("0101000020") + (4326).to_bytes(4, "little"), np.uint8)


def ewkb_points_hex(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Hex EWKB of SRID=4326 points, built with numpy (≈10× faster than per-geometry encoding)."""
    n = len(lon)
    raw = np.empty((n, 25), np.uint8)
    raw[:, :9] = _POINT_HEADER
    raw[:, 9:17] = np.ascontiguousarray(lon, dtype="<f8").view(np.uint8).reshape(n, 8)
    raw[:, 17:25] = np.ascontiguousarray(lat, dtype="<f8").view(np.uint8).reshape(n, 8)
    return _HEX[raw].reshape(n, 50).view("S50").ravel().astype(str)


def _json_list(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return json.dumps(list(v), ensure_ascii=False)


#: a PostGIS insert of at least this many rows, and at least as many as the table holds, drops the
#: table's secondary indexes, loads, and rebuilds them (in the same transaction): building an index
#: once over sorted data is several times cheaper than a million random index insertions.
BULK_MIN_ROWS = 100_000


def _drop_indexes(conn: Connection, table: str, n_new: int) -> list[tuple[str, str]] | None:
    """Drop ``table``'s unique constraints and secondary indexes for a bulk load; returns the DDL that
    restores them, or None when the load is too small for it to pay. Takes an ACCESS EXCLUSIVE lock
    until commit (readers of the table wait for the import)."""
    if n_new < BULK_MIN_ROWS:
        return None
    existing = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0
    if existing > n_new:
        return None
    cons = conn.execute(text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype = 'u'"), {"t": table}).all()
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
    return restore


def _rebuild_indexes(conn: Connection, restore: list[tuple[str, str]]) -> None:
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for _, ddl in restore:
        conn.execute(text(ddl))


def _update_stage(conn: Connection) -> None:
    """A temporary table shaped like ``sites`` without its NOT NULL constraints: an update carries only
    the columns the file has, the others stay as stored."""
    conn.execute(text("CREATE TEMP TABLE _btsplan_site_updates ON COMMIT DROP AS SELECT * FROM sites WITH NO DATA"))


def _copy_frame(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """Stream a DataFrame into ``COPY table FROM STDIN (FORMAT csv)`` (Arrow writes the CSV)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    tbl = pa.Table.from_pandas(frame, preserve_index=False)
    buf = io.BytesIO()
    pcsv.write_csv(tbl, buf, pcsv.WriteOptions(include_header=False, quoting_style="needed"))
    data = memoryview(buf.getbuffer())
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as cp:
        for i in range(0, len(data), 1 << 20):
            cp.write(data[i:i + (1 << 20)])


def _pg_site_frame(chunk: pd.DataFrame, cols: list[str], now: Any) -> pd.DataFrame:
    out = pd.DataFrame({c: chunk[c] for c in cols})
    if "shared_by" in out:
        out["shared_by"] = [_json_list(v) for v in out["shared_by"]]
    for c in ("camouflaged",):
        if c in out:
            out[c] = out[c].astype(object)
    for c in ("transmitters", "max_tenants"):
        if c in out:
            out[c] = pd.array(out[c].to_numpy(dtype=float, na_value=np.nan), dtype="Float64").astype("Int64")
    out["updated_at"] = now
    out["geom"] = ewkb_points_hex(chunk["lon"].to_numpy(float), chunk["lat"].to_numpy(float))
    return out


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
    ins_cols = SITE_COLUMNS
    upd_cols = [c for c in SITE_COLUMNS if c != "code" and (c in fields or c in ("commune_code", "district_code", "x_m", "y_m"))]
    clear_class = bool(CLASSIFIER_INPUTS & fields)
    inserted = updated = 0
    staged = False
    rebuild = _drop_indexes(conn, "sites", spool.inserts) if pg else None
    for chunk in spool:
        new = chunk[chunk["_action"] == "insert"]
        old = chunk[chunk["_action"] == "update"]
        if len(new):
            if pg:
                _copy_frame(conn, "sites", _pg_site_frame(new, ins_cols, now))
            else:
                conn.execute(insert(m.Site), _sqlite_site_records(new, ins_cols, now))
            inserted += len(new)
        if len(old):
            if pg:
                if not staged:
                    _update_stage(conn)
                    staged = True
                _copy_frame(conn, "_btsplan_site_updates", _pg_site_frame(old, ["code", *upd_cols], now))
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
        self.upd_cols = [c for c in SITE_COLUMNS if c != "code" and (c in fields or c in ("commune_code", "district_code", "x_m", "y_m"))]
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
                    _copy_frame(self.conn, "sites", _pg_site_frame(new, SITE_COLUMNS, self.now))
                    self.inserted += len(new)
                if len(old):
                    if not self.staged:
                        _update_stage(self.conn)
                        self.staged = True
                    _copy_frame(self.conn, "_btsplan_site_updates", _pg_site_frame(old, ["code", *self.upd_cols], self.now))
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
