"""The planning checks of a stored database on Dask: ``btsplan check … --engine dask``.

The database is cut into Hilbert partitions (:mod:`planning.partitions`) from a histogram of the
stored metric coordinates (a ``GROUP BY`` in the database, so the driver never holds the sites);
each Dask worker reads its own partitions — and the cells around each, for the spacing halo —
with box queries through the spatial index, and keeps the sites of the cells it asked for. The
rules run in :mod:`planning.distributed`, which calls the single-process functions;
the findings are stored exactly as the single-process path stores them.
"""

from __future__ import annotations

import glob
import json
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, text

from geodata.store import repository as repo
from geodata.store.units import unit_mapping_frame
from planning.distributed import BatchResult, from_partitions, partition_count, run_batch
from planning.findings import empty_findings, finalise
from planning.geometry import WGS84, same_crs, to_crs
from planning.partitions import HilbertPartitions, grid_for, hilbert_partitions
from planning.rules import RulePack
from planning.vocab import LIVE_SITE_STATUSES
from planning.zoning import build_a1_targets

#: the fields any check or the classifier reads from a site
FIELDS = ["code", "operator", "mount", "structure", "mast_height_m", "building_height_m", "reach_m", "camouflaged",
          "declared_class", "derived_class", "shared_by", "max_tenants", "status", "district_code", "commune_code"]
#: sites per partition the plan aims at: a few hundred MB in a worker with the check's arrays
SITES_PER_PARTITION = 250_000
#: finest cell of the partition grid; partitions are runs of whole cells
MIN_CELL_M = 500.0


@dataclass(frozen=True)
class DaskRun:
    """What the run did, for the CLI to report."""

    findings: pd.DataFrame
    partitions: int
    sites: int


def plan_partitions(engine: Engine, *, metric_crs: str, npartitions: int | None = None,
                    min_partitions: int = 2, cell_m: float = MIN_CELL_M, workers: int | None = None,
                    ) -> HilbertPartitions:
    """Hilbert partitions of the stored sites in ``metric_crs`` (the histogram is computed in the
    database when the stored coordinates are in that CRS, else from the projected positions).
    With ``workers`` (and no ``npartitions``) the count is a whole number of waves of that many
    workers (:func:`planning.distributed.partition_count`)."""
    stored = repo.sites_metric_crs(engine)
    with engine.connect() as conn:
        # a site stored without metric coordinates (written by SQL, or before they were kept) is read
        # with coordinates projected from its point (repository.load_sites): the histogram must see it too
        unprojected = conn.execute(text("SELECT count(*) FROM sites WHERE x_m IS NULL OR y_m IS NULL")).scalar()
    if same_crs(stored, metric_crs) and not unprojected:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT min(x_m), min(y_m), max(x_m), max(y_m), count(*) FROM sites "
                                    "WHERE x_m IS NOT NULL AND y_m IS NOT NULL")).one()
            if row[4] == 0:
                return _empty_plan(cell_m, metric_crs)
            bounds = (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
            x0, y0, ncols, nrows, cell = grid_for(bounds, _cell_for(bounds, cell_m))
            # (x - x0) / cell ≥ 0 here, so truncation is floor, on both backends
            rows = conn.execute(text(
                "SELECT CAST((x_m - :x0) / :c AS INTEGER) AS cx, CAST((y_m - :y0) / :c AS INTEGER) AS cy, count(*) "
                "FROM sites WHERE x_m IS NOT NULL AND y_m IS NOT NULL GROUP BY 1, 2"),
                {"x0": x0, "y0": y0, "c": cell}).all()
        counts = np.zeros(ncols * nrows, dtype=np.int64)
        for cx, cy, n in rows:
            counts[min(int(cy), nrows - 1) * ncols + min(int(cx), ncols - 1)] += int(n)
        total = int(row[4])
    else:  # coordinates stored in another CRS, or missing: project the positions (one thin read)
        pts = repo.load_sites(engine, metric_crs=metric_crs, columns=[])
        x, y = pts["x_m"].to_numpy(dtype=float), pts["y_m"].to_numpy(dtype=float)
        if x.size == 0:
            return _empty_plan(cell_m, metric_crs)
        bounds = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))
        x0, y0, ncols, nrows, cell = grid_for(bounds, _cell_for(bounds, cell_m))
        from planning.partitions import cell_histogram

        counts = cell_histogram(x, y, x0, y0, ncols, nrows, cell)
        total = int(x.size)
    if npartitions:
        n = npartitions
    elif workers:
        n = max(min_partitions, partition_count(total, workers, per_partition=SITES_PER_PARTITION))
    else:
        n = max(min_partitions, math.ceil(total / SITES_PER_PARTITION))
    return hilbert_partitions(counts, x0=x0, y0=y0, ncols=ncols, nrows=nrows, cell_m=cell, npartitions=n,
                              crs=metric_crs)


def _cell_for(bounds: tuple[float, float, float, float], cell_m: float) -> float:
    span = max(bounds[2] - bounds[0], bounds[3] - bounds[1])
    return max(cell_m, span / 512)  # at most 512 cells a side: a small histogram, fine partitions


def _empty_plan(cell_m: float, crs: str) -> HilbertPartitions:
    """One partition of one cell: a database without sites still runs (and finds nothing)."""
    return hilbert_partitions(np.zeros(1, dtype=np.int64), x0=0.0, y0=0.0, ncols=1, nrows=1, cell_m=cell_m,
                              npartitions=1, crs=crs)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _worker_engine(url: str) -> Engine:
    """One engine per database and worker process (tasks of a worker share its pool)."""
    with _engines_lock:
        if url not in _engines:
            from geodata.store.db import make_engine

            _engines[url] = make_engine(url)
        return _engines[url]


class SiteReader:
    """Reads the sites partition ``i`` owns (``reader(i)``) and the sites of any cells
    (``reader.read_cells(cells)``, for halos); pickled to the workers, which open the database
    themselves (the URL must be reachable from them: a PostGIS server, or a SpatiaLite file on a
    shared disk). Reads go through the spatial index by lon/lat boxes; ownership is then decided
    on the metric coordinates, so a site is never in two partitions."""

    def __init__(self, url: str, plan: HilbertPartitions, metric_crs: str, fields: Sequence[str] = FIELDS) -> None:
        self.url, self.plan, self.metric_crs = url, plan, metric_crs
        self.fields = list(fields)

    def _read(self, boxes: list[tuple[float, float, float, float]]) -> Any:
        return repo.load_sites(_worker_engine(self.url), metric_crs=self.metric_crs, columns=self.fields,
                               lonlat_boxes=[self._lonlat(b) for b in boxes])

    def __call__(self, i: int) -> Any:
        """The partition's own cells, as boxes hugging them (a Hilbert run's bounding box can hold
        much of its neighbours)."""
        return self.read_cells(self.plan.cells(i))

    def read_cells(self, cells: np.ndarray) -> Any:
        """The sites in ``cells``, read as one box per run of adjacent cells in a grid row."""
        cells = np.unique(np.asarray(cells, dtype=np.int64))
        if cells.size == 0:
            return self._read([]).iloc[:0]
        p = self.plan
        row, col = np.divmod(cells, p.ncols)
        brk = np.flatnonzero((np.diff(row) != 0) | (np.diff(col) != 1)) + 1
        starts, ends = np.r_[0, brk], np.r_[brk, cells.size] - 1
        boxes = [(p.x0 + col[a] * p.cell_m, p.y0 + row[a] * p.cell_m, p.x0 + (col[b] + 1) * p.cell_m,
                  p.y0 + (row[a] + 1) * p.cell_m) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        sites = self._read(boxes)
        keep = np.isin(p.cell_of(sites["x_m"].to_numpy(dtype=float), sites["y_m"].to_numpy(dtype=float)), cells)
        return sites[keep].reset_index(drop=True)

    def _lonlat(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A metric box as a lon/lat box that surely contains it (densified edges, 5 m margin)."""
        if not all(math.isfinite(v) for v in box):
            return (-180.0, -90.0, 180.0, 90.0)
        poly = shapely.segmentize(shapely.box(*box).buffer(5.0, join_style="mitre"), 200.0)
        return tuple(float(v) for v in shapely.bounds(to_crs([poly], self.metric_crs, WGS84)[0]))  # type: ignore[return-value]


class ParquetSink:
    """Writes each partition's findings of each check, on the worker that made them, to
    ``<directory>/<check>/part-<i>.parquet`` (the ``sink`` of :func:`planning.distributed.run_batch`);
    :func:`read_parquet_findings` reads the checks back for one bulk load into the store. The
    directory must be reachable from every worker (a local cluster, or a shared disk). ``details``
    (a dict per finding) is kept as JSON text: Parquet would turn it into a struct whose fields
    differ from rule to rule (and the keys keep their order, as reports print them)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = str(directory)

    def __call__(self, partition: int, check: str, findings: pd.DataFrame) -> int:
        if len(findings) == 0:
            return 0
        folder = os.path.join(self.directory, check)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"part-{partition:06d}.parquet")
        frame = findings.reset_index(drop=True)
        if "details" in frame:
            frame = frame.assign(details=[None if d is None else json.dumps(d, ensure_ascii=False)
                                          for d in frame["details"].tolist()])
        frame.to_parquet(path + ".tmp", index=False)  # a retried task never leaves half a file behind
        os.replace(path + ".tmp", path)
        return len(frame)


def read_parquet_findings(directory: str | Path, checks: Sequence[str]) -> pd.DataFrame:
    """The findings a :class:`ParquetSink` wrote for ``checks``, in report order."""
    paths = sorted(p for c in checks for p in glob.glob(os.path.join(str(directory), c, "part-*.parquet")))
    frames = [f for f in (pd.read_parquet(p) for p in paths) if len(f)]
    if not frames:
        return empty_findings()
    out = pd.concat(frames, ignore_index=True)
    if "details" in out:
        out["details"] = [None if d is None else json.loads(d) for d in out["details"].tolist()]
    return finalise(out)


def _a1_targets_from_db(url: str, pack: RulePack, metric_crs: str) -> Any:
    """The prepared A1-only routes and zones of the database at ``url`` (run on a worker)."""
    with _worker_engine(url).connect() as conn:
        return build_a1_targets(repo.load_routes(conn), repo.load_zones(conn), pack, metric_crs)


def site_frame(engine: Engine, plan: HilbertPartitions, *, metric_crs: str) -> tuple[Any, SiteReader]:
    """The stored sites as a lazily read, spatially partitioned ``dask_geopandas.GeoDataFrame``,
    and the reader behind it (which also reads halo cells)."""
    reader = SiteReader(engine.url.render_as_string(hide_password=False), plan, metric_crs)
    return from_partitions(reader, plan, reader.read_cells(np.empty(0, dtype=np.int64))), reader


def site_counts_dask(engine: Engine, pack: RulePack, *, metric_crs: str, by: str = "district",
                     as_of: Any = None, statuses: Sequence[str] = LIVE_SITE_STATUSES,
                     npartitions: int | None = None, min_partitions: int = 2, workers: int | None = None,
                     ) -> tuple[Any, int]:
    """:func:`geodata.work.checks.stored_site_counts` on Dask: (counts, partitions) — the same units
    of the date asked and, by commune, the same unit mapping (new communes without polygons, partial
    merges not placed)."""
    plan = plan_partitions(engine, metric_crs=metric_crs, npartitions=npartitions, min_partitions=min_partitions,
                           workers=workers)
    ddf, _ = site_frame(engine, plan, metric_crs=metric_crs)
    result = run_batch(ddf, pack, metric_crs=metric_crs, checks=(),
                       units=repo.load_admin_units(engine), by=by, as_of=as_of, count_statuses=statuses, plan=plan,
                       mapping=unit_mapping_frame(engine) if by == "commune" else None)
    return result.counts, result.partitions


def run_checks_dask(engine: Engine, pack: RulePack, which: Sequence[str], *, metric_crs: str, store: bool = True,
                    classes: Sequence[str] | None = None, npartitions: int | None = None,
                    min_partitions: int = 2, workers: int | None = None, spool: str | Path | None = None,
                    ) -> DaskRun:
    """The checks of :func:`geodata.work.checks.run_checks` on the active Dask client (or scheduler);
    stores each check's findings the same way (one transaction per check).

    ``spool``: a directory every worker can write — each partition's findings are written there as
    Parquet by the worker that made them (:class:`ParquetSink`) and read back by check for the one
    bulk load, instead of travelling to the driver as Python objects one partition at a time."""
    plan = plan_partitions(engine, metric_crs=metric_crs, npartitions=npartitions, min_partitions=min_partitions,
                           workers=workers)
    ddf, source = site_frame(engine, plan, metric_crs=metric_crs)
    # the A1 targets are read and prepared by a worker, beside the partitions' reads, not by the
    # driver before the graph starts (serial time every worker would wait for)
    targets = (dask.delayed(_a1_targets_from_db)(source.url, pack, metric_crs) if "a1-routes" in which
               else None)
    result: BatchResult = run_batch(
        ddf, pack, metric_crs=metric_crs, checks=tuple(which), targets=targets,
        classes=tuple(classes) if classes else None, urban_by_commune=repo.urban_by_commune(engine),
        unit_names=repo.unit_names(engine), plan=plan, halo_source=source,
        sink=ParquetSink(spool) if spool is not None else None)
    frames = []
    for check in which:
        if spool is not None:
            f = read_parquet_findings(spool, [check])
        else:
            f = result.findings[result.findings["check"] == check].reset_index(drop=True) if len(result.findings) \
                else empty_findings()
        if store:
            repo.replace_findings(engine, [check], f, metric_crs=metric_crs)
        frames.append(f)
    frames = [f for f in frames if len(f)]
    out = finalise(pd.concat(frames, ignore_index=True)) if frames else empty_findings()
    return DaskRun(out, plan.npartitions, int(plan.counts.sum()))
