"""Import a province's file into the database: validate every row first, then write it all in ONE
transaction (or nothing at all).

Pass 1 streams the file in batches (bounded memory): parse values, resolve operators, place every
row (CRS, axis convention, province extent, lat/lon swaps), join it to its commune and district,
catch duplicate keys in the file and conflicts with the database, and spool the good rows to disk.
Only pass 1 reads the database. If any row is bad the import stops there — the database file is
not even opened for writing — unless ``skip_bad_rows`` is set. Pass 2 opens one transaction,
bulk-writes the spool (``COPY`` on PostGIS), bumps the data version (tile caches) and appends one
audit entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.engine import Connection

from geodata.store import audit
from geodata.io import import_geo as ig
from geodata.io import import_kinds as ik
from geodata.io import import_store as st
from geodata.store import models as m
from geodata.crs import ResolvedCRS, parse_crs, resolve_file_crs
from geodata.store.area import province_area, registry_area
from geodata.store.meta import bump_data_version
from geodata.store.units import unit_choices
from geodata.io.readers.columns import KINDS, KML_STANDARD, ColumnMap, fields_of, norm, resolve, why_ignored
from geodata.io.readers.errors import ErrorLog, ReadError, RowError
from geodata.io.readers.source import Batch, Source, open_source
from planning.names import fold
from planning.units import match_units
from planning.i18n import _

OnConflict = Literal["error", "skip", "update"]
Progress = Callable[[str, int, int | None], None]


@dataclass
class ImportOptions:
    crs: str | None = None  #: overrides the file's own CRS (a wrong .prj)
    operator: str | None = None  #: operator of every row when the file has no operator column
    dry_run: bool = False
    on_conflict: OnConflict = "error"
    skip_bad_rows: bool = False
    sheet: str | None = None  #: XLSX sheet, or layer of a GeoPackage/KML/zip
    mapping: dict[str, str] = field(default_factory=dict)  #: file column → field (``--map``)
    encoding: str | None = None
    actor: str = "cli"
    max_rows: int | None = 2_000_000
    batch_size: int = 100_000
    province: str = "haiphong"
    metric_crs: str = "EPSG:9210"
    as_of: dt.date | None = None  #: which admin units are current for the spatial join
    level: str | None = None  #: admin: province | district | commune when the file does not say
    valid_from: dt.date | None = None  #: admin: default validity
    valid_to: dt.date | None = None
    method: str | None = None  #: cables: method of every row whose file gives none (never assumed otherwise)


@dataclass
class ImportResult:
    """What one import read, then what it wrote (or on a dry run would write): grouped so, because a
    rejected row is a reading outcome and a skipped one a writing outcome (``on_conflict="skip"``)."""

    # reading
    kind: str
    file: str
    crs: str | None = None
    convention: str | None = None
    rows: int = 0
    valid: int = 0
    rejected: int = 0
    notes: list[str] = field(default_factory=list)
    #: every column of the file that was not read, with why (``why_ignored``)
    ignored_columns: list[dict[str, str]] = field(default_factory=list)
    log: ErrorLog = field(default_factory=ErrorLog)
    # writing
    dry_run: bool = False
    committed: bool = False
    inserted: int = 0
    updated: int = 0
    skipped: int = 0

    @property
    def failed(self) -> bool:
        """Nothing was (or would be) written because of errors."""
        return not self.committed and not (self.dry_run and self.rejected == 0 and not self.file_errors)

    @property
    def file_errors(self) -> list[RowError]:
        return [e for e in self.log.errors if e.row is None]

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": self.file, "rows": self.rows, "valid": self.valid,
                "inserted": self.inserted, "updated": self.updated, "skipped": self.skipped,
                "rejected": self.rejected, "errors": self.log.n_errors, "warnings": self.log.n_warnings,
                "crs": self.crs, "convention": self.convention, "committed": self.committed,
                "dry_run": self.dry_run, "ignored_columns": self.ignored_columns}


class SeenKeys:
    """Keys already met in the file, as 64-bit hashes (8 bytes a row: a million codes cost 16 MB with
    their row numbers, not the ~100 MB a Python set of strings would). Kept as sorted runs, one per
    batch, merged when they pile up, so each batch costs a few binary searches, not a re-sort."""

    MAX_RUNS = 16

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def _lookup(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen = np.zeros(len(h), dtype=bool)
        first = np.zeros(len(h), dtype=np.int64)
        for hashes, rows in self.runs:
            pos = np.minimum(np.searchsorted(hashes, h), len(hashes) - 1)
            hit = ~seen & (hashes[pos] == h)
            seen |= hit
            first[hit] = rows[pos[hit]]
        return seen, first

    def check(self, keys: np.ndarray, rows: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(duplicate mask, row of the first occurrence) for the ``ok`` rows; remembers new keys."""
        n = len(keys)
        dup = np.zeros(n, dtype=bool)
        first = np.zeros(n, dtype=np.int64)
        idx = np.flatnonzero(ok)
        if not len(idx):
            return dup, first
        h = pd.util.hash_array(keys[idx].astype(object))
        seen, first_seen = self._lookup(h)
        dup[idx[seen]] = True
        first[idx[seen]] = first_seen[seen]
        within = pd.Series(h).duplicated(keep="first").to_numpy() & ~seen
        if within.any():
            firsts = pd.Series(rows[idx]).groupby(h).transform("first").to_numpy()
            dup[idx[within]] = True
            first[idx[within]] = firsts[within]
        new = ~seen & ~within
        order = np.argsort(h[new], kind="stable")
        self.runs.append((h[new][order], rows[idx[new]][order]))
        if len(self.runs) > self.MAX_RUNS:
            hs = np.concatenate([r[0] for r in self.runs])
            rs = np.concatenate([r[1] for r in self.runs])
            o = np.argsort(hs, kind="stable")
            self.runs = [(hs[o], rs[o])]
        return dup, first


@dataclass
class _Context:
    kind: str
    opts: ImportOptions
    prov: Any
    crs: ResolvedCRS | None
    cmap: ColumnMap
    mode: str  #: geometry | lonlat | survey | en | none
    operators: dict[str, str]
    operator_codes: list[str]
    admin: ig.AdminIndex
    districts_metric: Any = None
    #: (code, name) of the districts, for files that name a feature's district instead of coding it
    district_units: list[tuple[str, str]] = field(default_factory=list)
    convention: ig.Convention | None = None
    fields: set[str] = field(default_factory=set)
    table_empty: bool = False  #: nothing stored yet: no key can conflict (the unique index still guards)


def _known_columns(kind: str) -> set[str]:
    return {a for aliases in fields_of(kind).values() for a in aliases}


def file_sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def import_file(engine: Engine, kind: str, path: str | Path, opts: ImportOptions | None = None,
                progress: Progress | None = None) -> ImportResult:
    """Validate ``path`` as ``kind`` rows and write them in one transaction (see module doc)."""
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}; one of {', '.join(KINDS)}")
    opts = opts or ImportOptions()
    p = Path(path)
    res = ImportResult(kind, p.name, dry_run=opts.dry_run)
    try:
        return _import(engine, kind, p, opts, res, progress)
    except IntegrityError as exc:  # e.g. a code stored by someone else while we validated
        msg = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        res.committed = False
        res.log.add(RowError(None, "database", "", _("the database refused the import (nothing written): "
                                                     "{msg}", msg=msg)))
        return res


def _import(engine: Engine, kind: str, p: Path, opts: ImportOptions, res: ImportResult,
            progress: Progress | None) -> ImportResult:
    try:
        src = open_source(p, sheet=opts.sheet, encoding=opts.encoding, max_rows=opts.max_rows,
                          known_columns=_known_columns(kind))
    except ReadError as exc:
        res.log.add(exc.error)
        return res
    with src:
        res.notes += src.notes
        try:
            ctx = _prepare(engine, kind, src, opts, res)
        except ReadError as exc:
            res.log.add(exc.error)
            return res
        if (kind == "sites" and not opts.dry_run and engine.dialect.name == "postgresql"
                and (src.n_rows or 0) >= st.BULK_MIN_ROWS):
            _import_streaming(engine, kind, p, src, ctx, res, progress)
            return res
        with st.Spool() as spool:
            try:
                _validate(engine, src, ctx, spool, res, progress)
            except ReadError as exc:
                res.log.add(exc.error)
                return res
            if res.log.n_errors and not opts.skip_bad_rows:
                return res
            if opts.dry_run:
                return res
            if spool.rows == 0 and res.rejected == 0 and res.skipped == 0:
                res.log.add(RowError(None, "file", "", _("the file has no data rows")))
                return res
            _write(engine, kind, p, ctx, spool, res, progress)
    return res


def _import_streaming(engine: Engine, kind: str, path: Path, src: Source, ctx: _Context, res: ImportResult,
                      progress: Progress | None) -> None:
    """PostGIS bulk load (≥ ``BULK_MIN_ROWS`` sites): the same validation, but each validated batch is
    COPYed by a writer thread into the still-uncommitted import transaction while the next batch is
    validated, so the database's process loads while Python validates (two cores busy, not one).

    The guarantees are those of the validate-then-write path: one transaction; the first bad row
    stops the loading (validation goes on to report every row) and the transaction is rolled back, so
    nothing is ever visible or committed and the tables' contents are unchanged (tests check the
    checksums). ``--dry-run`` never gets here.
    """
    with engine.connect() as wconn:
        trans = wconn.begin()
        sink = st.SiteStream(wconn, ctx.fields, expected=src.n_rows or 0)
        try:
            try:
                _validate(engine, src, ctx, sink, res, progress)
            except ReadError as exc:
                res.log.add(exc.error)
            if (res.log.n_errors and not ctx.opts.skip_bad_rows) or sink.rows == 0:
                sink.abort()
                trans.rollback()
                if sink.rows == 0 and not res.log.n_errors and not res.skipped:
                    res.log.add(RowError(None, "file", "", _("the file has no data rows")))
                return
            if progress:
                progress("write", 0, None)
            res.inserted, res.updated = sink.finish()
            _finish_write(wconn, kind, path, ctx, res)
            trans.commit()
            res.committed = True
        except BaseException:
            sink.abort()
            if trans.is_active:
                trans.rollback()
            raise


def _prepare(engine: Engine, kind: str, src: Source, opts: ImportOptions, res: ImportResult) -> _Context:
    """Resolve columns, CRS and coordinate mode; load operators and admin units (read-only)."""
    cmap = _columns(kind, src, opts, res)
    have = set(cmap.field_of.values())
    with engine.connect() as conn:
        # an admin import brings boundaries (perhaps of a new vintage, larger than the stored one): the
        # registry's extent of the province and all its former parts judges them, not the stored outline
        prov = (registry_area(opts.province, opts.as_of) if kind == "admin"
                else province_area(conn, opts.province, opts.as_of))
    mode = _placement(kind, have, src)
    crs = _crs(mode, src, opts, prov.name, res)
    res.crs = crs.label
    with engine.connect() as conn:
        ops = conn.execute(select(m.Operator.code, m.Operator.name, m.Operator.short_name)).all()
        admin = ig.load_admin_index(conn, opts.as_of)
        district_units = unit_choices(conn, "district") if kind in ("zones", "routes", "cables") else []
        model = st.MODELS.get(kind, m.Site)
        table_empty = conn.execute(select(model.__table__.c.id).limit(1)).first() is None
    lookup = ik.operator_lookup([(o.code, o.name, o.short_name) for o in ops])
    codes = sorted(o.code for o in ops)
    if opts.operator:
        opts.operator = _known_operator(opts.operator, lookup, codes)
    if admin.empty and kind != "admin":
        res.notes.append(_("no administrative units in the database: commune/district left empty (import "
                           "admin units first: btsplan import admin FILE)"))
    else:
        res.notes.append(_("spatial join with {vintage}", vintage=admin.vintage))
    fields = set(have) - set(ig_positions())
    if "mount" in fields:
        fields.add("structure")  # read from the placement text too ("cột tự đứng trên mái")
    if opts.operator:
        fields.add("operator")
    ctx = _Context(kind, opts, prov, crs, cmap, mode, lookup, codes, admin, fields=fields, table_empty=table_empty)
    if kind in ("routes", "cables", "zones") and not admin.empty and "district_code" not in have:
        ctx.districts_metric = admin.districts_metric(opts.metric_crs)
    ctx.district_units = district_units
    return ctx


def _columns(kind: str, src: Source, opts: ImportOptions, res: ImportResult) -> ColumnMap:
    """The file's columns mapped to fields; every required field present, or which are missing and
    what they are usually called."""
    cmap = resolve(src.columns, kind, opts.mapping, kml=src.fmt in ("kml", "kmz"))
    res.notes += cmap.notes
    asked = {norm(c) for c, f in (opts.mapping or {}).items() if f in ("", "-", "ignore")}
    kml_fields = set(KML_STANDARD) if src.fmt in ("kml", "kmz") else set()  # GDAL's own, not the user's
    for col in [str(c) for c in src.columns if str(c) in cmap.ignored or str(c) in cmap.unused]:
        if col not in kml_fields or norm(col) in asked:
            res.ignored_columns.append(why_ignored(kind, col, asked=norm(col) in asked))
    for item in res.ignored_columns:
        res.notes.append(_("column {column!r} {message}", column=item['column'], message=item['message']))
    have = set(cmap.field_of.values())
    required = [f for f, r in ik.RULES[kind].items() if r.required]
    if kind == "sites" and not opts.operator:
        required.append("operator")
    if kind == "admin" and "name" not in have and src.fmt in ("kml", "kmz"):
        required.remove("name")
    missing = [f for f in required if f not in have]
    if missing:
        aliases = fields_of(kind)
        hint = "; ".join(f"{f} (e.g. {', '.join(repr(a) for a in aliases[f][:3])})" for f in missing)
        raise ReadError(_("missing column(s): {hint}; columns in the file: {columns}",
                          hint=hint, columns=', '.join(src.columns)),
                        field=missing[0])
    return cmap


def _placement(kind: str, have: set[str], src: Source) -> str:
    """How rows are placed: lon/lat, survey X/Y, easting/northing columns, or the file's geometry."""
    if kind in ("sites", "zones"):
        for mode, pair in (("lonlat", {"lon", "lat"}), ("survey", {"survey_x", "survey_y"}),
                           ("en", {"easting", "northing"})):
            if pair <= have:
                return mode
    if src.has_geometry:
        return "geometry"
    raise ReadError(_("no position: the file needs lon/lat columns (Kinh độ/Vĩ độ), X/Y columns (Tọa độ X/Y) "
                      "or geometry{value}", value=' (a GIS file or a WKT column)' if kind != 'sites' else ''),
                    field="geometry")


def _crs(mode: str, src: Source, opts: ImportOptions, province_name: str, res: ImportResult) -> ResolvedCRS:
    """The CRS of the positions: ``--crs``, else the file's own, else what the columns imply."""
    file_crs = None
    if mode == "geometry":
        try:
            file_crs = resolve_file_crs(src.crs)
        except Exception:  # noqa: BLE001
            raise ReadError(_("the file's CRS (.prj) cannot be understood: {value}",
                              value=str(src.crs)[:80]), field="crs") from None
    if opts.crs:
        try:
            crs = parse_crs(opts.crs, opts.province)
        except ValueError as exc:
            raise ReadError(str(exc), field="--crs", value=opts.crs) from None
        if file_crs is not None and file_crs.srs != crs.srs:
            res.notes.append(_("--crs {label} overrides the file's own CRS {label2}",
                               label=crs.label, label2=file_crs.label))
    elif file_crs is not None:
        crs = file_crs
    elif mode == "lonlat" or src.fmt in ("kml", "kmz", "geojson"):
        crs = parse_crs("EPSG:4326")
        if mode == "lonlat":
            res.notes.append(_("lon/lat read as WGS84 (EPSG:4326); pass --crs VN-2000 for VN-2000 degrees"))
    elif mode in ("survey", "en"):
        crs = parse_crs(f"VN-2000 {province_name}", opts.province)
        res.notes.append(_("no --crs given: X/Y read in the province's VN-2000 TM-3 zone, {label}",
                           label=crs.label))
    else:
        raise ReadError(_("the file declares no CRS (no .prj): pass --crs, e.g. --crs 'VN-2000 Hải Phòng' or "
                          "--crs WGS84"), field="crs")
    if mode == "lonlat" and not crs.geographic:
        raise ReadError(_("--crs {label} is in metres but the file has lon/lat columns (degrees): drop --crs "
                          "or map the columns to X/Y with --map",
                          label=crs.label), field="--crs", value=opts.crs or "")
    return crs


def _known_operator(given: str, lookup: dict[str, str], codes: list[str]) -> str:
    """The code of ``--operator`` (given by code, name or short name, accents optional)."""
    code = lookup.get(fold(given)) or lookup.get(given.lower())
    if code is None:
        raise ReadError(_("--operator {given!r} is not a known operator (known: {value})",
                          given=given, value=', '.join(codes) or 'none'),
                        field="--operator", value=given)
    return code


def ig_positions() -> tuple[str, ...]:
    return ("lon", "lat", "survey_x", "survey_y", "easting", "northing")


def _validate(engine: Engine, src: Source, ctx: _Context, spool: Any, res: ImportResult,
              progress: Progress | None) -> None:
    seen = SeenKeys()
    total = src.n_rows
    with engine.connect() as conn:
        for batch in src.batches(ctx.opts.batch_size):
            res.rows += len(batch.rows)
            if ctx.opts.max_rows is not None and res.rows > ctx.opts.max_rows:
                raise ReadError(_("the file has more than {max_rows:,} rows (BTSPLAN_MAX_IMPORT_ROWS)",
                                  max_rows=ctx.opts.max_rows),
                                field="file")
            if ctx.kind == "sites":
                frame, bad = _sites_batch(batch, ctx, res.log)
            else:
                frame, bad = _features_batch(batch, ctx, res.log)
            skipped = res.skipped
            frame, bad = _keys(conn, ctx, frame, bad, batch.rows, seen, res)
            res.rejected += int(bad.sum())
            good = frame[~bad]
            res.valid += len(good) + res.skipped - skipped
            if not res.log.n_errors or ctx.opts.skip_bad_rows:  # a doomed import writes no more
                spool.add(good)
            if progress:
                progress("validate", len(batch.rows), total)
    if res.rows == 0:
        raise ReadError(_("the file has a header but no data rows"), field="file")
    if ctx.convention is not None:
        res.convention = ctx.convention.note
        res.notes.append(ctx.convention.note)


# --------------------------------------------------------------------------------------------
# sites
# --------------------------------------------------------------------------------------------

def _short_rows(batch: Batch, ctx: _Context, log: ErrorLog) -> np.ndarray:
    if batch.short is None or not batch.short.any():
        return np.zeros(len(batch.rows), dtype=bool)
    ik.add_errors(log, batch.rows, batch.short, batch.frame.columns[-1], None,
                  _("the row has fewer values than the header: truncated file or a missing delimiter"))
    return batch.short


def _place_points(batch: Batch, ctx: _Context, log: ErrorLog, parsed_bad: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, bad) in WGS84 for point rows, per the context's coordinate mode."""
    from geodata.io import import_values as iv

    rows = batch.rows
    col = ctx.cmap.column_of
    n = len(rows)
    bad = np.zeros(n, dtype=bool)
    assert ctx.crs is not None
    if ctx.mode == "geometry":
        geoms, errs, warns = ig.check_geometries(ctx.kind, batch.geometry if batch.geometry is not None
                                                 else np.full(n, None, dtype=object), ctx.crs, ctx.prov)
        bad |= _log_problems(log, rows, errs)
        _log_problems(log, rows, warns, "warning")
        pts = np.where(bad, None, geoms)
        is_pt = shapely.get_type_id(pts) == 0
        lon = np.where(is_pt, shapely.get_x(np.where(is_pt, pts, None)), np.nan)
        lat = np.where(is_pt, shapely.get_y(np.where(is_pt, pts, None)), np.nan)
        return lon, lat, bad
    if ctx.mode == "lonlat":
        names = (col["lon"], col["lat"])
        x, hx, bx = iv.coordinates(batch.frame[names[0]])
        y, hy, by = iv.coordinates(batch.frame[names[1]])
        ik.add_errors(log, rows, bx, "lon", batch.frame[names[0]], _("not a longitude (decimal degrees or "
                                                                     "106°41'2\"E)"))
        ik.add_errors(log, rows, by, "lat", batch.frame[names[1]], _("not a latitude (decimal degrees or "
                                                                     "20°51'36\"N)"))
        miss = ~(hx & hy) & ~bx & ~by
        ik.add_errors(log, rows, miss, "lon" if not hx.all() else "lat", None, _("position missing (lon/lat)"))
        bad |= bx | by | miss
        ok = hx & hy & ~bad
        pos = ig.check_lonlat(x, y, ok, ctx.crs, ctx.prov, names=("lon", "lat"))
    else:
        a, b = ("survey_x", "survey_y") if ctx.mode == "survey" else ("easting", "northing")
        xa, ha, ba = iv.numbers(batch.frame[col[a]])
        xb, hb, bb = iv.numbers(batch.frame[col[b]])
        ik.add_errors(log, rows, ba, a, batch.frame[col[a]], _("not a number (metres)"))
        ik.add_errors(log, rows, bb, b, batch.frame[col[b]], _("not a number (metres)"))
        miss = ~(ha & hb) & ~ba & ~bb
        ik.add_errors(log, rows, miss, a, None, _("position missing ({a}/{b})", a=a, b=b))
        bad |= ba | bb | miss
        ok = ha & hb & ~bad
        if ctx.mode == "survey":
            if ctx.convention is None:
                ctx.convention = ig.survey_convention(xa, xb, ok)
            north, east = (xa, xb) if ctx.convention.north_first else (xb, xa)
            hint = "X/Y swapped (in VN-2000 tables X is the northing, about 2,300,000 m here)" \
                if ctx.convention.north_first else "X/Y swapped"
            fx, fy = batch.frame[col[a]], batch.frame[col[b]]

            def shown(idx: np.ndarray) -> list[str]:
                return [f"X={fx.iloc[i]}, Y={fy.iloc[i]}" for i in idx]

            pos = ig.check_metric(east, north, ok, ctx.crs, ctx.prov, names=("survey_x", "survey_y"), swap_hint=hint,
                                  shown=shown)
        else:
            pos = ig.check_metric(xa, xb, ok, ctx.crs, ctx.prov, names=("easting", "northing"),
                                  swap_hint="easting/northing swapped")
    bad |= _log_problems(log, rows, pos.problems)
    return pos.lon, pos.lat, bad


def _log_problems(log: ErrorLog, rows: np.ndarray, probs: ig.Problems, severity: str = "error") -> np.ndarray:
    bad = np.zeros(len(rows), dtype=bool)
    for mask, fld, msg, shown in probs:
        ik.add_errors(log, rows, mask & ~bad if severity == "error" else mask, fld, shown, msg, severity)
        bad |= mask
    return bad


def _assign_units(ctx: _Context, lon: np.ndarray, lat: np.ndarray, ok: np.ndarray, rows: np.ndarray,
                  log: ErrorLog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(lon)
    if ctx.admin.empty:
        return np.full(n, None, dtype=object), np.full(n, None, dtype=object), np.zeros(n, bool)
    commune, district, inside = ctx.admin.assign(np.where(ok, lon, np.nan), np.where(ok, lat, np.nan))
    outside = ok & ~inside
    ik.add_errors(log, rows, outside, "lon", ig._fmt(lon, lat),
                  _("not inside any administrative unit (in the sea or a river, or outside the province)"))
    return commune, district, outside


def _sites_batch(batch: Batch, ctx: _Context, log: ErrorLog) -> tuple[pd.DataFrame, np.ndarray]:
    rows = batch.rows
    n = len(rows)
    vals, bad = ik.parse_fields("sites", batch.frame, ctx.cmap.column_of, rows, log)
    bad |= _short_rows(batch, ctx, log)
    # operators: names or codes as written → codes
    if "operator" in vals:
        written = vals["operator"]
        codes, unknown = ik.resolve_operator(written, ctx.operators)
        if ctx.opts.operator:
            codes = np.where(pd.isna(written), ctx.opts.operator, codes)
            unknown &= ~pd.isna(written)
        else:
            miss = pd.isna(written)
            ik.add_errors(log, rows, miss & ~bad, "operator", None, _("required value is missing"))
            bad |= miss
        ik.add_errors(log, rows, unknown, "operator", written,
                      _("unknown operator (known: {value})",
                        value=', '.join(ctx.operator_codes) or _('none: load operators first')))
        bad |= unknown
    else:
        codes = np.full(n, ctx.opts.operator, dtype=object)
    if "shared_by" in vals:
        shared = vals["shared_by"]
        out_shared = np.full(n, None, dtype=object)
        for i in np.flatnonzero(pd.notna(shared)):
            resolved = [ctx.operators.get(fold(v)) for v in shared[i]]
            if any(r is None for r in resolved):
                ik.add_errors(log, rows[i:i + 1], np.ones(1, bool), "shared_by", np.array([", ".join(shared[i])]),
                              _("unknown operator in the list"))
                bad[i] = True
            else:
                out_shared[i] = list(resolved)
        vals["shared_by"] = out_shared
    lon, lat, pbad = _place_points(batch, ctx, log, bad)
    bad |= pbad
    ok = ~bad & np.isfinite(lon) & np.isfinite(lat)
    commune, district, outside = _assign_units(ctx, lon, lat, ok, rows, log)
    bad |= outside
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    good = ~bad
    if good.any():
        x[good], y[good] = ig.metric_xy(lon[good], lat[good], ctx.opts.metric_crs)
    def col(v: Any) -> Any:  # object columns stay object (pandas would convert text to Arrow, then back)
        return pd.Series(v, dtype=object, copy=False) if getattr(v, "dtype", None) == object else v

    frame = pd.DataFrame({c: col(vals.get(c, np.full(n, None, dtype=object))) for c in st.SITE_IMPORT_COLUMNS
                          if c not in ("operator", "commune_code", "district_code", "x_m", "y_m")})
    frame["operator"] = col(np.asarray(codes, dtype=object))
    if "status" not in vals:
        frame["status"] = ik.DEFAULTS["sites"]["status"]
    else:
        frame["status"] = frame["status"].where(frame["status"].notna(), ik.DEFAULTS["sites"]["status"])
    frame["commune_code"] = col(commune)
    frame["district_code"] = col(district)
    frame["x_m"] = np.round(x, 3)
    frame["y_m"] = np.round(y, 3)
    frame["lon"] = lon
    frame["lat"] = lat
    frame["_row"] = rows
    return frame, bad


# --------------------------------------------------------------------------------------------
# admin units, zones, routes, cables
# --------------------------------------------------------------------------------------------

def _admin_level(vals: dict[str, Any], ctx: _Context, n: int) -> np.ndarray:
    level = np.full(n, None, dtype=object)
    if "level" in vals:
        level = vals["level"].copy()
    need = pd.isna(level)
    if need.any() and ctx.opts.level:
        level[need] = ctx.opts.level
    need = pd.isna(level)
    if need.any() and "unit_type" in vals:
        t = pd.Series(vals["unit_type"], dtype=object)
        guess = t.map(lambda v: None if v is None or v != v else ik.LEVEL_WORDS.get(fold(str(v)))).to_numpy()
        level[need] = guess[need]
    need = pd.isna(level)
    if need.any():
        code_col = ctx.cmap.column_of.get("code", "")
        by_col = {"level1_id": "province", "level2_id": "district", "level3_id": "commune"}.get(norm(code_col))
        if by_col:
            level[need] = by_col
    return level


def _cable_methods(frame: pd.DataFrame, rows: np.ndarray, ctx: _Context, log: ErrorLog,
                   bad: np.ndarray) -> np.ndarray:
    """Fill ``method`` from ``--method`` where the file gives none; rows still without one are errors.

    Progress is reported split into chỉnh trang and hạ ngầm, so guessing a method would put kilometres
    in the wrong column of the department's report without anyone noticing."""
    n = len(rows)
    method = frame["method"].to_numpy(dtype=object) if "method" in frame else np.full(n, None, dtype=object)
    if ctx.opts.method:
        method = np.where(pd.isna(method), ctx.opts.method, method)
    miss = pd.isna(method)
    ik.add_errors(log, rows, miss & ~bad, "method", None,
                  _("cable method missing: chinh_trang (chỉnh trang), ha_ngam (hạ ngầm) or "
                    "chinh_trang_ha_ngam (both); add a 'method' column or pass --method"))
    frame["method"] = pd.Series(method, index=frame.index, dtype=object)
    return miss


def _features_batch(batch: Batch, ctx: _Context, log: ErrorLog) -> tuple[pd.DataFrame, np.ndarray]:
    kind = ctx.kind
    rows = batch.rows
    n = len(rows)
    vals, bad = ik.parse_fields(kind, batch.frame, ctx.cmap.column_of, rows, log)
    bad |= _short_rows(batch, ctx, log)
    assert ctx.crs is not None
    frame = pd.DataFrame({k: v for k, v in vals.items()})
    for k, v in ik.DEFAULTS[kind].items():
        frame[k] = frame[k].where(frame[k].notna(), v) if k in frame else v
    if kind == "cables":
        bad |= _cable_methods(frame, rows, ctx, log, bad)
    if ctx.mode == "geometry":
        geoms, errs, warns = ig.check_geometries(kind, batch.geometry if batch.geometry is not None
                                                 else np.full(n, None, dtype=object), ctx.crs, ctx.prov)
        bad |= _log_problems(log, rows, errs)
        _log_problems(log, rows, warns, "warning")
    else:  # point zones from coordinate columns
        lon, lat, pbad = _place_points(batch, ctx, log, bad)
        bad |= pbad
        geoms = np.where(bad, None, shapely.points(np.nan_to_num(lon), np.nan_to_num(lat)))
    if kind == "admin":
        geoms = np.array([g if g is None or g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
                          for g in geoms], dtype=object)
        level = _admin_level(vals, ctx, n)
        miss = pd.isna(level) & ~bad
        ik.add_errors(log, rows, miss, "level", None, _("administrative level unknown: add a 'level' column "
                                                        "(province/district/commune) or pass --level"))
        bad |= miss
        frame["level"] = level
        ut = frame["unit_type"] if "unit_type" in frame else pd.Series([None] * n, dtype=object)
        if "urban" not in frame:
            frame["urban"] = [bool(v) and fold(str(v)) in ik.URBAN_TYPES for v in ut]
        else:
            frame["urban"] = frame["urban"].where(frame["urban"].notna(), False)
        frame["valid_from"] = frame["valid_from"].where(frame["valid_from"].notna(),
                                                        ctx.opts.valid_from or dt.date(1900, 1, 1)) \
            if "valid_from" in frame else ctx.opts.valid_from or dt.date(1900, 1, 1)
        if "valid_to" not in frame:
            frame["valid_to"] = ctx.opts.valid_to
        elif ctx.opts.valid_to:
            frame["valid_to"] = frame["valid_to"].where(frame["valid_to"].notna(), ctx.opts.valid_to)
    if kind == "zones":
        is_pt = shapely.get_type_id(geoms) == 0
        radius = frame["radius_m"].to_numpy(dtype=float, na_value=np.nan) if "radius_m" in frame else np.full(n, np.nan)
        need = is_pt & ~np.isfinite(radius) & ~bad
        ik.add_errors(log, rows, need, "radius_m", None, _("a point zone needs radius_m (metres)"))
        bad |= need
    ok = ~bad & pd.notna(geoms)
    if kind in ("zones", "routes", "cables") and ctx.districts_metric is not None and ok.any():
        from planning.cables import majority_unit

        gm = _to_metric(geoms[ok], ctx.opts.metric_crs)
        if kind == "zones":
            c = shapely.point_on_surface(geoms[ok])
            _c, dcode, _d = ctx.admin.assign(shapely.get_x(c), shapely.get_y(c))
            got = dcode
        else:
            got = np.array(majority_unit(list(gm), ctx.districts_metric), dtype=object)
        d = np.full(n, None, dtype=object)
        d[ok] = got
        frame["district_code"] = d
    elif ctx.district_units and "district_code" in frame:
        frame["district_code"] = _district_codes(frame["district_code"].to_numpy(dtype=object), ctx.district_units)
    if kind == "cables" and ok.any():
        length = np.full(n, np.nan)
        length[ok] = np.round(shapely.length(_to_metric(geoms[ok], ctx.opts.metric_crs)), 2)
        frame["length_m"] = length
        if "operators" in frame:
            resolved = np.full(n, None, dtype=object)
            for i in np.flatnonzero(pd.notna(frame["operators"].to_numpy(dtype=object)) & ok):
                codes = [ctx.operators.get(fold(v)) for v in frame["operators"].iloc[i]]
                if any(c is None for c in codes):
                    ik.add_errors(log, rows[i:i + 1], np.ones(1, bool), "operators",
                                  np.array([", ".join(frame["operators"].iloc[i])]), _("unknown operator in "
                                                                                       "the list"))
                    bad[i] = True
                else:
                    resolved[i] = codes
            frame["operators"] = resolved
    wkt = np.full(n, None, dtype=object)
    good = ~bad & pd.notna(geoms)
    if good.any():
        wkt[good] = ["SRID=4326;" + w for w in shapely.to_wkt(geoms[good], rounding_precision=10, trim=True)]
    frame["geom"] = wkt
    frame["_row"] = rows
    return frame, bad


def _district_codes(values: np.ndarray, units: list[tuple[str, str]]) -> np.ndarray:
    """A district column given by name ('Lê Chân', 'Quận Lê Chân') → the codes, by the rule every unit
    filter uses (:func:`planning.units.match_units`); a value naming no district, or several, stays as written."""
    memo: dict[str, Any] = {}
    out = values.copy()
    for i, v in enumerate(values.tolist()):
        if isinstance(v, str):
            if v not in memo:
                hits = match_units(v, units)
                memo[v] = hits[0] if len(hits) == 1 else v
            out[i] = memo[v]
    return out


def _to_metric(geoms: np.ndarray, metric_crs: str) -> np.ndarray:
    from geodata.crs import transformer

    t = transformer("EPSG:4326", metric_crs)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


# --------------------------------------------------------------------------------------------
# keys: duplicates in the file, conflicts with the database
# --------------------------------------------------------------------------------------------

def _key_strings(frame: pd.DataFrame, key: tuple[str, ...]) -> np.ndarray:
    parts = [frame[k].astype(object).where(frame[k].notna(), "").astype(str).to_numpy() if k in frame
             else np.full(len(frame), "", dtype=object) for k in key]
    if len(parts) == 1:
        return parts[0].astype(object)
    return np.array(["\x1f".join(t) for t in zip(*parts, strict=True)], dtype=object)


def _keys(conn: Connection, ctx: _Context, frame: pd.DataFrame, bad: np.ndarray, rows: np.ndarray, seen: SeenKeys,
          res: ImportResult) -> tuple[pd.DataFrame, np.ndarray]:
    kind = ctx.kind
    key = ik.KEYS[kind]
    keys = _key_strings(frame, key)
    label = key[0] if len(key) == 1 else "/".join(key)
    dup, first = seen.check(keys, rows, ~bad)
    if dup.any():
        idx = np.flatnonzero(dup)
        room = max(res.log.keep - len(res.log.errors), 0)
        for i in idx[:room]:
            res.log.add(RowError(int(rows[i]), key[0], str(frame[key[0]].iloc[i]),
                                 _("duplicate {label} in the file (first on row {value})",
                                   label=label, value=int(first[i]))))
        if len(idx) > room:  # counted, not kept (bounded memory)
            res.log.n_errors += len(idx) - room
            res.log.by_field[key[0]] += len(idx) - room
        bad = bad | dup
    frame = frame.copy()
    frame["_action"] = "insert"
    frame["_id"] = None
    ok = ~bad
    if ok.any() and not ctx.table_empty:
        model = st.MODELS.get(kind, m.Site)
        t = model.__table__
        extra = [k for k in key[1:]]
        found = st.existing(conn, t, key[0], list(frame.loc[ok, key[0]].astype(str)), extra)
        if found:
            stored = {"\x1f".join("" if v is None else str(v) for v in r[1:]): r[0] for r in found}
            ids = np.array([stored.get(k) for k in keys], dtype=object)
            conflict = ok & pd.notna(ids)
            if conflict.any():
                if ctx.opts.on_conflict == "error":
                    ik.add_errors(res.log, rows, conflict, key[0], frame[key[0]],
                                  _("{label} already in the database (use --on-conflict skip or update)",
                                    label=label))
                    bad = bad | conflict
                elif ctx.opts.on_conflict == "skip":
                    res.skipped += int(conflict.sum())
                    frame.loc[conflict, "_action"] = "skip"
                else:
                    frame.loc[conflict, "_action"] = "update"
                    frame.loc[conflict, "_id"] = ids[conflict]
    keep = frame["_action"].to_numpy() != "skip"
    return frame[keep], bad[keep]


# --------------------------------------------------------------------------------------------
# pass 2: one transaction
# --------------------------------------------------------------------------------------------

def _write(engine: Engine, kind: str, path: Path, ctx: _Context, spool: st.Spool, res: ImportResult,
           progress: Progress | None) -> None:
    def step(k: int) -> None:
        if progress:
            progress("write", k, spool.rows)

    changes = None
    with engine.begin() as conn:
        if kind == "sites":
            res.inserted, res.updated = st.write_sites(conn, spool, ctx.fields, step)
            if spool.rows <= CHANGED_CODES_MAX:  # the planning context re-reads just these masts
                changes = {"sites": [c for chunk in spool for c in chunk["code"].tolist()]}
        else:
            res.inserted, res.updated = st.write_features(conn, kind, spool, ctx.fields, step)
        _finish_write(conn, kind, path, ctx, res, changes)
    res.committed = True


#: an import of at most this many sites records their codes with the data version (the planning
#: context then updates those masts alone); a larger one counts as changing every site
CHANGED_CODES_MAX = 100_000
#: what an import of each kind changes, for the planning context (see geodata.store.meta)
_CHANGES = {"sites": {"sites": "all"}, "routes": {"routes": True}, "zones": {"zones": True},
            "cables": {"cables": True}, "admin": {"units": True}}


def _finish_write(conn: Connection, kind: str, path: Path, ctx: _Context, res: ImportResult,
                  changes: dict[str, Any] | None = None) -> None:
    """Inside the import transaction: new data version (tile caches, with what changed) and one
    audit entry."""
    bump_data_version(conn, changes if changes is not None else _CHANGES.get(kind))
    audit.record(conn, ctx.opts.actor, "import", kind, path.name, after={
            **res.summary(), "committed": True, "sha256": file_sha256(path), "notes": res.notes[:20],
            "options": {"crs": ctx.opts.crs, "operator": ctx.opts.operator, "on_conflict": ctx.opts.on_conflict,
                        "skip_bad_rows": ctx.opts.skip_bad_rows, "sheet": ctx.opts.sheet,
                        "map": ctx.opts.mapping or None}})
