"""The planning checks on a spatially partitioned ``dask_geopandas.GeoDataFrame``.

The rules are not re-implemented here: every partition runs the very functions of the
single-process path (:func:`planning.classify.classify_sites`, :func:`planning.zoning.a1_findings`,
:func:`planning.spacing.spacing_findings`, :func:`planning.aggregate.count_matrix`), so the two
engines give the same findings by construction; this module only decides what each partition
sees.

- Classification and the A1 check look at one site at a time: each partition runs alone. The
  A1-only routes and zones are the small side of that join (a country's A1 routes are some
  hundred thousand pieces, a few MB), prepared once and broadcast to every worker, so a site
  sees every route and zone whatever its partition.
- Spacing compares sites with sites. Each partition gets a *halo*: the existing masts of the
  cells around it, as far as the largest search distance (minimum spacing × co-location factor).
  Partitions own their sites (every site is in exactly one), so a finding is made once, by the
  subject's partition, and no pair across a partition edge is missed.
- Counts by unit are sums of per-partition count matrices.

All of it is one task graph. Where the partitions come from a source that can also read any cells
(the database, the benchmark's synthetic country, a frame in memory), each partition reads its own
halo, no task waits for a neighbour, and each partition's findings leave the worker as soon as they
are ready: a worker's memory is bounded by the partitions in flight, not by the country. Such a
partition is then one task from its read to its findings and counts (:func:`_whole_partition`), so
a partition never travels between workers; only its findings (or the rows a sink wrote) and its
count matrix leave the worker.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dask
import numpy as np
from dask.delayed import Delayed
import pandas as pd
import shapely

from planning.aggregate import SiteCounts, count_matrix, counts_table, counting_units
from planning.classify import classify_sites
from planning.findings import empty_findings, finalise
from planning.geometry import crs_string, to_crs
from planning.partitions import HilbertPartitions
from planning.rules import RulePack
from planning.spacing import spacing_findings as _spacing
from planning.zoning import A1Targets
from planning.vocab import CHECK_NAMES
from planning.zoning import a1_findings as _a1

#: metres added to every halo: float noise in box corners must never drop a neighbour
HALO_PAD_M = 1.0


#: partitions each worker gets at least: with one partition per worker a slow one idles the rest at
#: the end; with a few, the scheduler hands the stragglers' share to whoever is free
PARTITIONS_PER_WORKER = 2


@dataclass(frozen=True)
class BatchResult:
    """What a batch made. With a sink the findings stayed on the workers (``findings`` is empty) and
    ``written`` says how many rows of each check the sink took; otherwise ``written`` is None."""

    findings: pd.DataFrame
    counts: SiteCounts | None
    partitions: int
    written: dict[str, int] | None = None


def partition_count(n_sites: int, workers: int, *, per_partition: int, per_worker: int = PARTITIONS_PER_WORKER,
                    ) -> int:
    """Partitions for ``n_sites`` on ``workers``: a whole number of waves (a multiple of the worker
    count), each partition at most ``per_partition`` sites and each worker at least ``per_worker``
    partitions. The first round cut 10M sites into 40 partitions for 16 workers: 2.5 waves, so the
    last half-wave ran on 8 workers while 8 idled."""
    w = max(1, int(workers))
    waves = max(per_worker, -(-max(0, int(n_sites)) // (per_partition * w)))
    return w * waves


FindingsSink = Callable[[int, str, pd.DataFrame], int]
"""``sink(partition, check, findings) -> rows written``: run on the worker that made the findings
(pickled to it), so findings never travel to the driver. See
:class:`geodata.work.distributed.ParquetSink`."""


def dask_options() -> dict[str, Any]:
    """Dask settings for the checks: partitions keep the exact dtypes their reader made (no
    conversion of text columns to Arrow strings), so each partition is the frame the
    single-process functions expect."""
    return {"dataframe.convert-string": False}


@contextmanager
def dask_client(scheduler: str | None = None, *, workers: int = 2, memory_limit: str = "4GiB",
                threads_per_worker: int = 1, connect_timeout: str = "10s") -> Iterator[Any]:
    """A ``dask.distributed`` client: to ``scheduler`` (``tcp://host:8786``) when given, else to a
    ``LocalCluster`` of ``workers`` processes started for the run and closed after it.

    One thread per worker: the checks are numpy/GEOS code holding the GIL in places, and
    processes keep each worker's memory separately bounded by ``memory_limit``.
    """
    from distributed import Client, LocalCluster

    with dask.config.set(dask_options()):
        if scheduler:
            with Client(scheduler, timeout=connect_timeout) as client:
                yield client
            return
        with LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, memory_limit=memory_limit,
                          processes=True, dashboard_address=None, silence_logs=40) as cluster, \
                Client(cluster) as client:
            yield client


# --------------------------------------------------------------------------------------------
# building the partitioned frame
# --------------------------------------------------------------------------------------------

def from_partitions(load: Callable[[int], Any], plan: HilbertPartitions, meta: Any) -> Any:
    """A ``dask_geopandas.GeoDataFrame`` whose partition ``i`` is ``load(i)`` — the sites owned by
    partition ``i`` of ``plan`` — read lazily where the task runs (a worker), never all at once.
    ``spatial_partitions`` are the plan's boxes, in the frame's CRS."""
    import dask.dataframe as dd
    import dask_geopandas
    import geopandas as gpd

    with dask.config.set(dask_options()):
        ddf = dd.from_map(load, list(range(plan.npartitions)), meta=meta, enforce_metadata=False)
    if not isinstance(ddf, dask_geopandas.GeoDataFrame):
        ddf = dask_geopandas.from_dask_dataframe(ddf, geometry=meta.geometry.name)
    boxes = shapely.box(plan.boxes[:, 0], plan.boxes[:, 1], plan.boxes[:, 2], plan.boxes[:, 3])
    dst = crs_string(meta.crs) if meta.crs is not None else plan.crs
    ddf.spatial_partitions = gpd.GeoSeries(to_crs(shapely.segmentize(boxes, 1000.0), plan.crs, dst), crs=dst)
    _LOADERS[ddf._name] = load
    return ddf


#: the loader behind each frame :func:`from_partitions` made, by the frame's name. :func:`run_batch`
#: sends such a loader to the workers once and gives each partition's task a reference to it; the
#: frame's own graph gives every partition's task a pickled copy of the loader (with the plan and
#: the source's state: megabytes each), which the scheduler, in the driver's process, serialises
#: and sends partition by partition — driver time that grows with the partition count.
_LOADERS: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def _load_partition(load: Callable[[int], Any], i: int) -> Any:
    return load(i)


class FrameSource:
    """Partitions (``source(i)``) and halo cells (``source.read_cells(cells)``) of a frame already in
    memory — the in-memory counterpart of the database and synthetic sources."""

    def __init__(self, frame: Any, plan: HilbertPartitions) -> None:
        self.cell = plan.cell_of(frame["x_m"].to_numpy(dtype=float), frame["y_m"].to_numpy(dtype=float))
        owner = plan.owner[self.cell]
        self.frame = frame
        self.parts = {int(i): frame[owner == i] for i in np.unique(owner)}
        self.empty = frame.iloc[:0]

    def __call__(self, i: int) -> Any:
        return self.parts.get(i, self.empty)

    def read_cells(self, cells: np.ndarray) -> Any:
        return self.frame[np.isin(self.cell, cells)]


def partition_frame(frame: Any, plan: HilbertPartitions) -> Any:
    """Spread a GeoDataFrame (with ``x_m``/``y_m`` in ``plan.crs``) over the plan's partitions."""
    return from_partitions(FrameSource(frame, plan), plan, frame.iloc[:0])


# --------------------------------------------------------------------------------------------
# partition boxes and halos
# --------------------------------------------------------------------------------------------

def partition_boxes(ddf: Any, metric_crs: str) -> np.ndarray:
    """(npartitions, 4) box of each partition in ``metric_crs``, from ``ddf.spatial_partitions``
    (computed when unknown: one pass over the data). Boxes given in another CRS are densified
    before reprojection so their curved edges are followed, and padded by :data:`HALO_PAD_M`."""
    if ddf.spatial_partitions is None:
        ddf.calculate_spatial_partitions()
    sp = ddf.spatial_partitions
    geoms = np.asarray(sp.values, dtype=object)
    src = crs_string(sp.crs) if sp.crs is not None else metric_crs
    if src != crs_string(metric_crs):
        geoms = to_crs(shapely.segmentize(geoms, 0.005), src, metric_crs)  # 0.005° ≈ 500 m pieces
    b = shapely.bounds(geoms)
    b[:, :2] -= HALO_PAD_M
    b[:, 2:] += HALO_PAD_M
    return b


def halo_distance(pack: RulePack) -> float:
    """How far a spacing subject looks: the largest minimum distance, widened by the co-location
    factor (candidates are listed up to that radius)."""
    return pack.spacing.max_distance_m * max(1.0, pack.spacing.colocation_radius_factor) + HALO_PAD_M


def neighbours(boxes: np.ndarray, halo_m: float) -> list[np.ndarray]:
    """For each partition, the other partitions whose box comes within ``halo_m`` of its box."""
    b = np.asarray(boxes, dtype=float)
    out = []
    for i in range(b.shape[0]):
        near = ((b[:, 0] <= b[i, 2] + halo_m) & (b[:, 2] >= b[i, 0] - halo_m)
                & (b[:, 1] <= b[i, 3] + halo_m) & (b[:, 3] >= b[i, 1] - halo_m))
        near[i] = False
        out.append(np.flatnonzero(near))
    return out


def _status_in(frame: pd.DataFrame, statuses: Sequence[str]) -> np.ndarray:
    """Rows whose ``status`` is one of ``statuses`` (a frame without statuses is all built)."""
    status = frame["status"].to_numpy(dtype=object) if "status" in frame else np.full(len(frame), "built", dtype=object)
    return np.isin(status, np.array(list(statuses), dtype=object))


def _existing_near(part: pd.DataFrame, wanted: dict[int, Any], halo_m: float, statuses: Sequence[str],
                   plan: HilbertPartitions | None = None) -> dict[int, pd.DataFrame]:
    """For each neighbour ``i``, the existing masts of this partition it needs: those in the cells
    ``wanted[i]`` (with a plan), or within ``halo_m`` of the box ``wanted[i]`` (without). One task
    per partition, run where the partition is: only these thin slices travel between workers."""
    x = part["x_m"].to_numpy(dtype=float)
    y = part["y_m"].to_numpy(dtype=float)
    existing = _status_in(part, statuses)
    cell = plan.cell_of(x, y) if plan is not None else None
    out = {}
    for i, want in wanted.items():
        if cell is not None:
            keep = existing & np.isin(cell, want)
        else:
            keep = existing & (x >= want[0] - halo_m) & (x <= want[2] + halo_m) & (y >= want[1] - halo_m) \
                & (y <= want[3] + halo_m)
        out[i] = part[keep]
    return out


def _halo_from_source(source: Any, cells: np.ndarray, statuses: Sequence[str]) -> pd.DataFrame:
    """The existing masts of the cells around a partition, read from the partitions' source."""
    frame = source.read_cells(cells)
    return frame[_status_in(frame, statuses)]


def _slice(bands: dict[int, pd.DataFrame], i: int) -> pd.DataFrame:
    return bands[i]


# --------------------------------------------------------------------------------------------
# per-partition work: the single-process functions, unchanged
# --------------------------------------------------------------------------------------------

def with_classes(part: pd.DataFrame, pack: RulePack) -> pd.DataFrame:
    """The partition with ``derived_class`` filled where missing (stored classes are kept)."""
    if len(part) == 0:
        return part.assign(derived_class=pd.Series(dtype=object)) if "derived_class" not in part else part
    derived = (part["derived_class"].to_numpy(dtype=object).copy() if "derived_class" in part
               else np.full(len(part), None, dtype=object))
    todo = pd.isna(pd.Series(derived, dtype=object)).to_numpy()
    if todo.any():
        derived[todo] = classify_sites(part[todo], pack, reasons="none")["derived_class"].to_numpy()
    out = part.copy()
    out["derived_class"] = pd.Series(derived, index=part.index, dtype=object)
    return out


def _a1_part(part: pd.DataFrame, targets: A1Targets, pack: RulePack, metric_crs: str,
             classes: tuple[str, ...] | None, unit_names: dict[str, str] | None) -> pd.DataFrame:
    if len(part) == 0 or len(targets.targets) == 0:
        return empty_findings()
    return _a1(part, None, None, pack, metric_crs=metric_crs, targets=targets, classes=classes,
               unit_names=unit_names)


def _spacing_part(part: pd.DataFrame, halos: list[pd.DataFrame], pack: RulePack, metric_crs: str,
                  urban_by_commune: dict[str, bool] | None, unit_names: dict[str, str] | None) -> pd.DataFrame:
    subjects = part[_status_in(part, pack.spacing.subject_statuses)]
    if len(subjects) == 0:
        return empty_findings()
    existing = [h for h in halos if len(h)]
    sites = pd.concat([part, *existing], ignore_index=True) if existing else part
    return _spacing(sites, pack, metric_crs=metric_crs, subjects=subjects, urban_by_commune=urban_by_commune,
                    unit_names=unit_names)


def _counts_part(part: pd.DataFrame, units: Any, class_column: str, statuses: Sequence[str] | None) -> np.ndarray:
    if statuses is not None and "status" in part:
        part = part[_status_in(part, statuses)]
    return count_matrix(part, units, class_column=class_column)


# --------------------------------------------------------------------------------------------
# the batch run
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _PartitionJob:
    """What every whole-partition task shares (sent once per worker inside the graph's one node)."""

    pack: RulePack
    metric_crs: str
    checks: tuple[str, ...]
    classes: tuple[str, ...] | None
    plan: HilbertPartitions | None
    halo_m: float
    existing: tuple[str, ...]
    count_statuses: tuple[str, ...] | None


def _whole_partition(job: _PartitionJob, load: Callable[[int], Any], i: int, targets: Any, names: Any, urban: Any,
                     halo_source: Any, sink: FindingsSink | None, level: Any,
                     ) -> tuple[dict[str, Any], np.ndarray | None]:
    """Partition ``i`` from its read to its findings and counts, in one task: the very steps of the
    task-per-step graph (read, classify, A1 check, halo read, spacing, counts, sink), run where the
    partition was read. Split into tasks, the scheduler moved partitions (30 MB per 250,000 masts)
    to whichever worker was free first — 2 GB between two workers for 10M masts, serialised and
    read back on the same cores that compute; one task per partition moves only its results.
    Returns ({check: findings, or rows the sink wrote}, count matrix or None)."""
    part = with_classes(load(i), job.pack)
    made: dict[str, pd.DataFrame] = {}
    if "a1-routes" in job.checks:
        made["a1-routes"] = _a1_part(part, targets, job.pack, job.metric_crs, job.classes, names)
    if "spacing" in job.checks and job.plan is not None:
        halo = _halo_from_source(halo_source, job.plan.halo_cells(i, job.halo_m), job.existing)
        made["spacing"] = _spacing_part(part, [halo], job.pack, job.metric_crs, urban, names)
    out: dict[str, Any] = {c: int(sink(i, c, f)) for c, f in made.items()} if sink is not None else made
    counts = _counts_part(part, level, "derived_class", job.count_statuses) if level is not None else None
    return out, counts


def _sink_part(sink: FindingsSink, partition: int, check: str, findings: pd.DataFrame) -> dict[str, int]:
    return {check: int(sink(partition, check, findings))}


def _add(a: Any, b: Any) -> Any:
    return a + b


def tree_sum(items: list[Any], zero: Any) -> Any:
    """The sum of delayed ``items`` as a binary tree of additions: depth log2(n), and each addition
    runs on a worker next to its inputs instead of one task waiting for every partition."""
    level = list(items)
    if not level:
        return dask.delayed(zero)
    while len(level) > 1:
        level = [dask.delayed(_add)(level[k], level[k + 1]) if k + 1 < len(level) else level[k]
                 for k in range(0, len(level), 2)]
    return level[0]


def _gather(tasks: list[Any], count_task: Any) -> tuple[list[Any], Any]:
    """Compute the findings tasks and the count; on a distributed cluster each partition's
    findings are fetched as soon as they are ready and released on the worker, so a worker's
    memory holds the partitions in flight, not every result of the run."""
    try:
        from distributed import as_completed, get_client

        client = get_client()
    except (ImportError, ValueError):
        return dask.compute(tasks, count_task)  # type: ignore[return-value]
    futures = client.compute([*tasks, *([count_task] if count_task is not None else [])])  # one graph
    where = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    for future, value in as_completed(futures, with_results=True):
        results[where[future.key]] = value
        future.release()
    return (results[:-1], results[-1]) if count_task is not None else (results, None)


def _spacing_tasks(ddf: Any, parts: list[Any], pack: RulePack, metric_crs: str, plan: HilbertPartitions | None,
                   halo_source: Any, boxes: np.ndarray | None, urban: Any, names: Any,
                   shared_source: Any = None) -> list[Any]:
    """One spacing task per partition, fed its halo one of three ways (see :func:`run_batch`).
    ``shared_source``: ``halo_source`` already sent to the workers (it is often the partitions' loader)."""
    halo = halo_distance(pack)
    existing = tuple(pack.spacing.existing_statuses)
    if plan is not None and halo_source is not None:
        src = shared_source if shared_source is not None else _shared(halo_source)
        return [dask.delayed(_spacing_part)(p, [dask.delayed(_halo_from_source)(src, plan.halo_cells(i, halo), existing)],
                                            pack, metric_crs, urban, names) for i, p in enumerate(parts)]
    wanted: list[dict[int, Any]] = [{} for _ in parts]  # j → {i: what partition i needs from j}
    grid = None
    if plan is not None:  # the plan's cells next to each partition
        for i in range(len(parts)):
            cells = plan.halo_cells(i, halo)
            owners = plan.owner[cells]
            for j in np.unique(owners).tolist():
                wanted[j][i] = cells[owners == j]
        grid = _shared(plan)
    else:  # boxes around the partitions
        b = boxes if boxes is not None else partition_boxes(ddf, metric_crs)
        for i, near in enumerate(neighbours(b, halo)):
            for j in near.tolist():
                wanted[j][i] = b[i]
    bands = [dask.delayed(_existing_near)(parts[j], wanted[j], halo, existing, grid) if wanted[j] else None
             for j in range(len(parts))]
    return [dask.delayed(_spacing_part)(p, [dask.delayed(_slice)(bands[j], i) for j in range(len(parts))
                                            if i in wanted[j]], pack, metric_crs, urban, names)
            for i, p in enumerate(parts)]


def _shared(value: Any) -> Any:
    """A value every task of the run reads (A1 targets, units, names, the partitions' loader): on a
    distributed cluster it is sent to every worker once, ahead of the graph; otherwise it is one
    node of the graph. Broadcast, although the driver then sends it once per worker: held by one
    worker only, it draws every task that reads it to that worker (data locality), and the
    partitions those tasks make then travel to the idle workers (measured: 224 MB moved between
    two workers for 1M sites, one worker idle a third of the run)."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return dask.delayed(value, pure=True, traverse=False)
    # in a list: a dict given to scatter would be scattered value by value, keyed by its own keys
    return client.scatter([value], broadcast=True, hash=False)[0]


def run_batch(ddf: Any, pack: RulePack, *, metric_crs: str, checks: Sequence[str] = CHECK_NAMES,
              targets: A1Targets | Delayed | None = None, classes: tuple[str, ...] | None = None,
              urban_by_commune: dict[str, bool] | None = None, unit_names: dict[str, str] | None = None,
              units: Any = None, by: str = "district", as_of: dt.date | None = None,
              count_statuses: Sequence[str] | None = None, plan: HilbertPartitions | None = None,
              halo_source: Any = None, boxes: np.ndarray | None = None, sink: FindingsSink | None = None,
              mapping: pd.DataFrame | None = None) -> BatchResult:
    """Classify (where no class is stored), run ``checks`` and, when ``units`` are given, count
    sites by ``by`` × class — over every partition of ``ddf``, in one graph.

    ``ddf``: a dask(-geopandas) frame whose partitions are sites with ``x_m``/``y_m`` in
    ``metric_crs`` and the fields the checks read (code, operator, status, classes, heights,
    district/commune codes). ``targets``: the prepared A1-only routes and zones (required for
    ``a1-routes``), or a ``dask.delayed`` that prepares them. The spacing halo comes, from best to most general:

    - with ``plan`` (the Hilbert plan the partitions follow) and ``halo_source`` (an object whose
      ``read_cells(cells)`` reads any cells' sites, e.g. the loader given to
      :func:`from_partitions`): each partition reads the cells around it itself;
    - with ``plan`` alone: those cells are sliced from the neighbouring partitions (a partition then
      stays in memory until its neighbours have run);
    - otherwise from ``boxes`` (the partitions' metric boxes) or ``ddf.spatial_partitions``, for a
      frame partitioned by someone else — any partitioning is correct, a spatial one keeps halos
      small.

    ``count_statuses``: count only sites with these statuses (default all). ``units``/``by``/``as_of``/
    ``mapping`` pick the rows exactly as :func:`planning.aggregate.site_counts` does — the units valid
    on ``as_of``, new communes without polygons drawn from their full merges, partially merged old units
    counted as "not placed" — so both engines give the same table on any date. ``sink``: each partition's
    findings are handed to it on the worker (e.g. :class:`geodata.work.distributed.ParquetSink`) and only their row counts
    come back, so the driver never holds the country's findings. Runs on the current Dask scheduler —
    a ``distributed`` client when one is active.
    """
    unknown = [c for c in checks if c not in CHECK_NAMES]
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECK_NAMES)}")
    if "a1-routes" in checks and targets is None:
        raise ValueError("the a1-routes check needs the prepared A1 targets")
    load = _LOADERS.get(getattr(ddf, "_name", ""))
    if load is not None and ("spacing" not in checks or (plan is not None and halo_source is not None)):
        return _run_whole_partitions(load, ddf.npartitions, pack, metric_crs=metric_crs, checks=tuple(checks),
                                     targets=targets, classes=classes, urban_by_commune=urban_by_commune,
                                     unit_names=unit_names, units=units, by=by, as_of=as_of,
                                     count_statuses=count_statuses, plan=plan, halo_source=halo_source, sink=sink,
                                     mapping=mapping)
    with dask.config.set(dask_options()):
        shared_load = _shared(load) if load is not None else None
        raw = ([dask.delayed(_load_partition)(shared_load, i) for i in range(ddf.npartitions)]
               if load is not None else ddf.to_delayed())
        parts = [dask.delayed(with_classes)(p, pack) for p in raw]
        findings: list[Any] = []
        labels: list[tuple[int, str]] = []
        names = _shared(unit_names) if checks else None
        if "a1-routes" in checks:
            # prepared targets are sent to every worker; a delayed build runs on a worker, beside the
            # partitions' reads and classification, instead of on the driver before the graph starts
            t = targets if isinstance(targets, Delayed) else _shared(targets)
            findings += [dask.delayed(_a1_part)(p, t, pack, metric_crs, classes, names) for p in parts]
            labels += [(i, "a1-routes") for i in range(len(parts))]
        if "spacing" in checks:
            findings += _spacing_tasks(ddf, parts, pack, metric_crs, plan, halo_source, boxes,
                                       _shared(urban_by_commune), names,
                                       shared_load if halo_source is load and load is not None else None)
            labels += [(i, "spacing") for i in range(len(parts))]
        if sink is not None:
            shared_sink = _shared(sink)
            findings = [dask.delayed(_sink_part)(shared_sink, i, c, f) for (i, c), f in zip(labels, findings, strict=True)]
        count_task = None
        setup = None
        if units is not None:
            setup = counting_units(units, by=by, as_of=as_of, mapping=mapping)
            level = _shared(setup.level)
            mats = [dask.delayed(_counts_part)(p, level, "derived_class", count_statuses) for p in parts]
            count_task = tree_sum(mats, np.zeros((len(setup.level) + 1, len(setup.columns)), dtype=np.int64))
        results, matrix = _gather(findings, count_task)
    counts = counts_table(matrix, setup) if setup is not None else None
    if sink is not None:
        written = {c: 0 for c in checks}
        for r in results:
            for c, n in r.items():
                written[c] += n
        return BatchResult(empty_findings(), counts, len(parts), written)
    frames = [f for f in results if len(f)]
    out = finalise(pd.concat(frames, ignore_index=True)) if frames else empty_findings()
    return BatchResult(out, counts, len(parts))


def _run_whole_partitions(load: Callable[[int], Any], npartitions: int, pack: RulePack, *, metric_crs: str,
                          checks: tuple[str, ...], targets: Any, classes: tuple[str, ...] | None,
                          urban_by_commune: dict[str, bool] | None, unit_names: dict[str, str] | None,
                          units: Any, by: str, as_of: dt.date | None, count_statuses: Sequence[str] | None,
                          plan: HilbertPartitions | None, halo_source: Any, sink: FindingsSink | None,
                          mapping: pd.DataFrame | None) -> BatchResult:
    """:func:`run_batch` for a frame of :func:`from_partitions` whose partitions read their own halo:
    one task per partition (:func:`_whole_partition`), the shared values sent once per worker, the
    count matrices (a few kB each) summed as they arrive. The same findings, in the same order, and
    the same counts as the task-per-step graph."""
    with dask.config.set(dask_options()):
        setup = counting_units(units, by=by, as_of=as_of, mapping=mapping) if units is not None else None
        job = _PartitionJob(pack, metric_crs, checks, classes, plan, halo_distance(pack),
                            tuple(pack.spacing.existing_statuses), tuple(count_statuses) if count_statuses else None)
        shared_load = _shared(load)
        src = shared_load if halo_source is None or halo_source is load else _shared(halo_source)
        t = None
        if "a1-routes" in checks:
            t = targets if isinstance(targets, Delayed) else _shared(targets)
        names = _shared(unit_names) if checks else None
        urban = _shared(urban_by_commune) if "spacing" in checks else None
        level = _shared(setup.level) if setup is not None else None
        shared_sink = _shared(sink) if sink is not None else None
        shared_job = _shared(job)
        tasks = [dask.delayed(_whole_partition)(shared_job, shared_load, i, t, names, urban, src, shared_sink, level)
                 for i in range(npartitions)]
        results, _ = _gather(tasks, None)
    counts = None
    if setup is not None:
        matrix = np.zeros((len(setup.level) + 1, len(setup.columns)), dtype=np.int64)
        for _, m in results:
            matrix += m
        counts = counts_table(matrix, setup)
    if sink is not None:
        written = {c: 0 for c in checks}
        for made, _ in results:
            for c, n in made.items():
                written[c] += n
        return BatchResult(empty_findings(), counts, npartitions, written)
    # the order of the task-per-step graph: every partition's A1 findings, then every partition's spacing
    frames = [made[c] for c in ("a1-routes", "spacing") for made, _ in results if c in made and len(made[c])]
    out = finalise(pd.concat(frames, ignore_index=True)) if frames else empty_findings()
    return BatchResult(out, counts, npartitions)
