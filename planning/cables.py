"""Cable tidy-up and undergrounding: status rules, district splitting and length-weighted progress.

Pure functions: GeoDataFrames (geometry already in the province's metric CRS) and plain tables in,
results out. The department reports this programme in kilometres (Kế hoạch 18/KH-BCĐ, 85/KH-BCĐ),
so every figure here is weighted by length, never by segment count, and lengths are measured in the
metric CRS (never degrees).

Two rules shape the numbers:

* **Splitting.** A street section may run across a district boundary. For per-district figures it
  is cut by the district polygons, and whatever the polygons do not account for (a part outside
  every district, or the hair-thin gaps and overlaps that digitised boundaries always have) is
  reconciled so that the parts of each segment add up to its length *exactly*: overlaps are scaled
  down, residues up to ``SLIVER_M`` go to the segment's largest part, longer residues become an
  explicit "outside any district" part. Per-district kilometres therefore always add up to the total.
* **Status as of a date.** Progress ``as_of`` a past date is rebuilt from the dated status history,
  so a report for 31/12/2019 shows what was true then, not what is true now.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning.errors import Conflict
from planning.vocab import CABLE_METHODS, SEGMENT_STATUSES
from planning.i18n import N_, _

Grouping = Literal["district", "commune", "method", "plan", "operator"]
#: Ways progress is broken down: by administrative unit first, the department's usual report; by method
#: (chỉnh trang / hạ ngầm / both) as the plans count it.
GROUPINGS: tuple[Grouping, ...] = get_args(Grouping)

#: Residues of boundary splitting up to this length (metres) are digitising noise, not "outside".
SLIVER_M = 0.05
#: Label of the part of a segment lying outside every district polygon.
OUTSIDE_NAME = "Ngoài ranh giới hành chính (outside any district)"
NO_PLAN = "(không thuộc kế hoạch / no plan)"
NO_OPERATOR = "(chưa rõ doanh nghiệp / unknown operator)"
_OUTSIDE = "\x00outside"  # group key for the outside part (pandas groupby drops None keys)


# --------------------------------------------------------------------------------------------
# status transitions
# --------------------------------------------------------------------------------------------

class TransitionError(Conflict, ValueError):
    """A status change that the programme's workflow does not allow; the message says why, and the
    members say where the segment stands and where it may go, so a client can offer the right choice."""

    title = N_("Illegal status transition")

    def __init__(self, message: str, *, current: str | None = None, requested: str | None = None) -> None:
        moves = {"allowed_next": allowed_next(current)} if current in SEGMENT_STATUSES else {}
        super().__init__(message, "status", current_status=current, **moves)
        self.current, self.requested = current, requested


#: The forward path of a street section: planned → in_progress → done.
FORWARD: dict[str, str] = {"planned": "in_progress", "in_progress": "done"}


def check_transition(current: str, requested: str, *, reopen: bool = False) -> None:
    """Raise :class:`TransitionError` unless ``current → requested`` is allowed.

    Allowed: planned → in_progress, in_progress → done, and done → in_progress only when the caller
    says ``reopen`` explicitly (work that was accepted but has to be redone: a reopening is a
    deliberate act that must be visible in the history, never a slip of the status field).
    Everything else — unknown statuses, skipping a step, going back to ``planned``, a "change" to
    the same status — is rejected, so the history stays a clean, monotone story.
    """
    if requested not in SEGMENT_STATUSES:
        raise TransitionError(
            _("unknown status {requested!r}; expected one of {segment_statuses}",
              requested=requested, segment_statuses=', '.join(SEGMENT_STATUSES)),
            current=current, requested=requested,
        )
    if current not in SEGMENT_STATUSES:
        raise TransitionError(_("the segment has an unknown current status {current!r}",
                                current=current), current=current,
                              requested=requested)
    if requested == current:
        raise TransitionError(_("the segment is already {current!r}",
                                current=current), current=current, requested=requested)
    if current == "done" and requested == "planned":
        raise TransitionError(_("a 'done' segment cannot go back to 'planned'; reopen it to 'in_progress' "
                                "instead"),
                              current=current, requested=requested)
    if current == "done" and requested == "in_progress":
        if not reopen:
            raise TransitionError(_("the segment is 'done'; reopening it (done → in_progress) needs an "
                                    "explicit reopen"),
                                  current=current, requested=requested)
        return
    if reopen:
        raise TransitionError(_("reopen only applies to done → in_progress, not {current} → {requested}",
                                current=current, requested=requested),
                              current=current, requested=requested)
    if FORWARD.get(current) == requested:
        return
    if current == "planned" and requested == "done":
        raise TransitionError(_("a 'planned' segment must be set 'in_progress' before 'done'"),
                              current=current, requested=requested)
    raise TransitionError(_("{current} → {requested} is not allowed (allowed: planned → in_progress → done)",
                            current=current, requested=requested),
                          current=current, requested=requested)


def allowed_next(current: str) -> list[str]:
    """Statuses reachable from ``current`` (``in_progress`` from ``done`` needs a reopen)."""
    out = [FORWARD[current]] if current in FORWARD else []
    return out + (["in_progress"] if current == "done" else [])


def status_as_of(segments: pd.DataFrame, history: pd.DataFrame, as_of: dt.date | None) -> pd.Series:
    """Each segment's status on ``as_of`` (end of day), rebuilt from the dated history.

    ``segments``: indexed by segment id with a ``status`` column (the current status).
    ``history``: columns ``segment_id``, ``from_status``, ``to_status``, ``changed_on`` and an
    ``order`` column (recording order; ties on the same day keep it). Rules: the last change on or
    before ``as_of`` wins; a segment whose first recorded change is later had that change's
    ``from_status``; a segment with no history at all (e.g. imported as already done) keeps its
    current status. ``as_of=None`` means now.
    """
    current = segments["status"].astype(object)
    if as_of is None or history.empty:
        return current.copy()
    h = history[history["segment_id"].isin(segments.index)].sort_values(["segment_id", "changed_on", "order"])
    if h.empty:
        return current.copy()
    changed = pd.to_datetime(h["changed_on"]).dt.date
    before = h[changed <= as_of]
    after = h[changed > as_of]
    out = current.copy()
    first_after = after.groupby("segment_id").head(1).set_index("segment_id")["from_status"]
    out.loc[first_after.index] = first_after.fillna("planned").to_numpy()
    last_before = before.groupby("segment_id").tail(1).set_index("segment_id")["to_status"]
    out.loc[last_before.index] = last_before.to_numpy()
    return out


def is_overdue(status: pd.Series, target_year: pd.Series, as_of: dt.date) -> pd.Series:
    """Overdue = the target year has ended before ``as_of`` and the section is not done."""
    ty = pd.to_numeric(target_year, errors="coerce")
    return (status != "done") & ty.notna() & (ty < as_of.year)


# --------------------------------------------------------------------------------------------
# splitting by administrative units
# --------------------------------------------------------------------------------------------

def split_by_units(lines: gpd.GeoSeries | Sequence[Any], units: gpd.GeoDataFrame, *, key: str = "code",
                   sliver_m: float = SLIVER_M) -> pd.DataFrame:
    """Cut each line by the unit polygons; the parts of every line add up to its length exactly.

    Returns one row per (line, unit) with columns ``line`` (the position of the line in ``lines``),
    ``unit`` (the unit's ``key`` value, ``None`` for the part outside every unit) and ``length_m``.
    Both inputs must be in the same metric CRS. Reconciliation (see the module docstring): when
    overlapping units claim more than the line's length the parts are scaled down to it; a residue
    of at most ``sliver_m`` joins the line's largest part; a longer residue is reported as ``None``.
    """
    geoms = np.asarray(lines.values if isinstance(lines, gpd.GeoSeries) else lines, dtype=object)
    n = len(geoms)
    lengths = shapely.length(geoms) if n else np.zeros(0)
    ugeoms = np.asarray(units.geometry.values, dtype=object)
    ukeys = units[key].to_numpy(dtype=object)
    work, owner = _simple_pieces(geoms)
    if len(work) and len(ugeoms):
        tree = shapely.STRtree(ugeoms)
        wi, ui = tree.query(work, predicate="intersects")
        # most sections lie wholly inside one district: a prepared containment test spares the
        # (far costlier) intersection for them, which is then computed for the crossing pairs only
        shapely.prepare(ugeoms)
        inside = shapely.contains_properly(ugeoms[ui], work[wi])
        plen = shapely.length(work[wi])
        cut = ~inside
        plen[cut] = shapely.length(shapely.intersection(work[wi[cut]], ugeoms[ui[cut]]))
    else:
        wi = ui = np.zeros(0, dtype=int)
        plen = np.zeros(0)
    keep = plen > 0
    parts = pd.DataFrame({"line": owner[wi[keep]], "unit": ukeys[ui[keep]], "length_m": plen[keep]})
    # several polygons of one unit (or a unit listed twice) count once per unit and line
    parts = parts.groupby(["line", "unit"], sort=False, as_index=False)["length_m"].sum()

    return _reconcile(parts, np.nan_to_num(lengths), sliver_m)


def _reconcile(parts: pd.DataFrame, lengths: np.ndarray, sliver_m: float) -> pd.DataFrame:
    """Make each line's parts add up to its length (vectorised; see :func:`split_by_units`)."""
    n = len(lengths)
    line = parts["line"].to_numpy(dtype=int)
    unit = parts["unit"].to_numpy(dtype=object)
    plen = parts["length_m"].to_numpy(dtype=float, copy=True)
    claimed = np.bincount(line, plen, minlength=n)
    # overlapping polygons: scale the claims down to the real length
    scale = np.divide(lengths, claimed, out=np.ones(n), where=claimed > lengths)
    plen *= scale[line]
    big = np.full(n, -1)
    if len(line):
        order = np.lexsort((-plen, line))
        first = order[np.r_[True, line[order][1:] != line[order][:-1]]]
        big[line[first]] = first
    has = big >= 0
    # hair-thin parts along a shared boundary are digitising noise: fold them into the line's largest part
    tiny = plen < sliver_m
    tiny[big[has]] = False
    fold = np.bincount(line[tiny], plen[tiny], minlength=n)
    plen[tiny] = 0.0
    plen[big[has]] += fold[has]
    residue = lengths - np.bincount(line, plen, minlength=n)
    outside = np.where(has, residue, lengths)
    to_outside = (has & (residue > sliver_m)) | (~has & (lengths > 0))
    absorb = has & ~to_outside
    plen[big[absorb]] += residue[absorb]
    # the parts must sum to the length to the last bit: the largest part absorbs the rounding
    plen[big[absorb]] += (lengths - np.bincount(line, plen, minlength=n))[absorb]
    keep = plen > 0.0
    out_lines = np.flatnonzero(to_outside)
    res = pd.DataFrame({
        "line": np.concatenate([line[keep], out_lines]),
        # object dtype keeps ``None`` as None (pandas would otherwise infer a string dtype with NaN)
        "unit": pd.Series(np.concatenate([unit[keep], np.full(len(out_lines), None, dtype=object)]), dtype=object),
        "length_m": np.concatenate([plen[keep], outside[out_lines]]),
    })
    return res.sort_values("line", kind="stable").reset_index(drop=True)


def _simple_pieces(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geometries to intersect, and the line each belongs to.

    A line that doubles back over itself (or a multi-line whose parts overlap) is not *simple*:
    intersecting it with a polygon would dissolve the overlap and lose length. Such lines are cut
    into their straight edges first, so every metre of the stated length is accounted for.
    """
    simple = shapely.is_simple(geoms) if len(geoms) else np.zeros(0, dtype=bool)
    if simple.all():
        return geoms, np.arange(len(geoms))
    work: list[Any] = []
    owner: list[int] = []
    for i, g in enumerate(geoms):
        if g is None or simple[i]:
            work.append(g)
            owner.append(i)
            continue
        for part in shapely.get_parts(g):
            xy = shapely.get_coordinates(part)
            for k in range(len(xy) - 1):
                if (xy[k] != xy[k + 1]).any():
                    work.append(shapely.LineString(xy[k:k + 2]))
                    owner.append(i)
    return np.asarray(work, dtype=object), np.asarray(owner, dtype=int)


def majority_unit(lines: gpd.GeoSeries | Sequence[Any], units: gpd.GeoDataFrame, *, key: str = "code") -> list[Any]:
    """The unit holding the longest part of each line (``None`` if the line lies outside them all).

    This is how a segment's ``district_code``/``commune_code`` attribute is derived by spatial join.
    """
    parts = split_by_units(lines, units, key=key)
    n = len(lines)
    out: list[Any] = [None] * n
    inside = parts[parts["unit"].notna()]
    if not inside.empty:
        best = inside.sort_values(["line", "length_m"], ascending=[True, False]).groupby("line").head(1)
        for line, unit in zip(best["line"], best["unit"], strict=True):
            out[int(line)] = unit
    return out


def length_within(lines: gpd.GeoSeries, area: Any) -> np.ndarray:
    """Length (metres) of each line inside ``area`` (same metric CRS)."""
    if len(lines) == 0:
        return np.zeros(0)
    return shapely.length(shapely.intersection(np.asarray(lines.values, dtype=object), area))


def nearest_line(point: Any, lines: gpd.GeoSeries, max_distance_m: float) -> tuple[int, float] | None:
    """Position and distance of the line nearest to ``point`` if within ``max_distance_m``, else None."""
    if len(lines) == 0:
        return None
    d = shapely.distance(np.asarray(lines.values, dtype=object), point)
    i = int(np.argmin(d))
    return (i, float(d[i])) if d[i] <= max_distance_m else None


# --------------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------------

@dataclass
class ProgressRow:
    """Exact metres of one group (district, plan or operator)."""

    key: Any
    name: str
    total_m: float = 0.0
    done_m: float = 0.0
    in_progress_m: float = 0.0
    planned_m: float = 0.0
    overdue_m: float = 0.0
    segments: int = 0
    #: distinct street names: the plans count work in streets next to kilometres ("11 tuyến … Lê Chân")
    streets: set[str] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, status: str, length: float, overdue: bool, street: Any = None) -> None:
        if isinstance(street, str) and street.strip():
            self.streets.add(street.strip())
        self.total_m += length
        setattr(self, f"{status}_m", getattr(self, f"{status}_m") + length)
        if overdue:
            self.overdue_m += length


@dataclass
class Progress:
    """Length-weighted progress; ``rows`` exact, :meth:`to_dict` rounded so that figures add up."""

    by: str
    as_of: dt.date
    plan: str | None
    rows: list[ProgressRow]
    totals: ProgressRow
    #: rows may overlap (a segment carries several operators' cables) — then totals ≠ Σ rows
    rows_overlap: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape (docs/architecture.md, "Machine-readable outputs"), rounded to whole
        metres without breaking sums.

        Kilometres carry 3 decimals (metre resolution). Rounding uses the largest-remainder rule
        twice: row totals are apportioned so they add up to the rounded grand total (when rows do
        not overlap), and each row's done/in-progress/planned are apportioned to add up to its
        total; percentages (one decimal) add up to 100.0 in every non-empty row.
        """
        if self.rows_overlap:
            row_totals = [round(r.total_m) for r in self.rows]
        else:
            row_totals = apportion([r.total_m for r in self.rows], round(self.totals.total_m))
        out_rows = [_row_dict(self.by, r, t) for r, t in zip(self.rows, row_totals, strict=True)]
        if self.rows_overlap:
            totals = _row_dict(self.by, self.totals, round(self.totals.total_m))
        else:  # the totals row is the column sums of the rounded rows: everything adds up
            totals = _sum_rows(out_rows)
            totals["segments"] = self.totals.segments  # a segment split across districts counts once
        totals["streets"] = len(self.totals.streets)  # a street in two districts is one street of the plan
        totals.pop(self.by, None)
        for k in ("name", "code", f"{self.by}_code"):
            totals.pop(k, None)
        return {
            "by": self.by,
            "as_of": self.as_of.isoformat(),
            "plan": self.plan,
            "rows": out_rows,
            "totals": totals,
            **self.meta,
        }


def apportion(values: Sequence[float], total: int) -> list[int]:
    """Round non-negative ``values`` to integers that add up to ``total`` (largest remainder)."""
    if not values:
        return []
    floors = [math.floor(v) for v in values]
    short = total - sum(floors)
    order = sorted(range(len(values)), key=lambda i: (values[i] - floors[i], values[i]), reverse=True)
    if short >= 0:
        for i in order[:short]:
            floors[i] += 1
    else:  # can only happen when the values do not sum to ~total; take from the largest values
        for i in sorted(range(len(values)), key=lambda i: values[i], reverse=True)[: -short]:
            floors[i] = max(0, floors[i] - 1)
    return floors


def _row_dict(by: str, r: ProgressRow, total_m: int) -> dict[str, Any]:
    done, prog, plan = apportion([r.done_m, r.in_progress_m, r.planned_m], total_m)
    overdue = min(round(r.overdue_m), total_m - done)
    pct = _percentages(done, prog, plan)
    d: dict[str, Any] = {by: r.name if by in UNIT_LEVELS else r.key}
    if by in UNIT_LEVELS:
        d[f"{by}_code"] = r.key
    d.update({
        "total_km": _km(total_m), "done_km": _km(done), "in_progress_km": _km(prog), "planned_km": _km(plan),
        "done_pct": pct[0], "in_progress_pct": pct[1], "planned_pct": pct[2], "overdue_km": _km(overdue),
        "segments": r.segments, "streets": len(r.streets),
    })
    d.update(r.extra)
    return d


def _sum_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    metres = {k: sum(round(r[k] * 1000) for r in rows) for k in ("total_km", "done_km", "in_progress_km",
                                                                   "planned_km", "overdue_km")}
    pct = _percentages(metres["done_km"], metres["in_progress_km"], metres["planned_km"])
    return {
        "total_km": _km(metres["total_km"]), "done_km": _km(metres["done_km"]),
        "in_progress_km": _km(metres["in_progress_km"]), "planned_km": _km(metres["planned_km"]),
        "done_pct": pct[0], "in_progress_pct": pct[1], "planned_pct": pct[2],
        "overdue_km": _km(metres["overdue_km"]), "segments": sum(r["segments"] for r in rows),
    }


def _km(metres: int) -> float:
    return round(metres / 1000.0, 3)


def _percentages(done: int, prog: int, plan: int) -> tuple[float, float, float]:
    total = done + prog + plan
    if total <= 0:
        return (0.0, 0.0, 0.0)
    tenths = apportion([1000.0 * v / total for v in (done, prog, plan)], 1000)
    return (tenths[0] / 10, tenths[1] / 10, tenths[2] / 10)


@dataclass(frozen=True)
class _Measured:
    """The segments being reported with, per segment, the status on the day, overdue or not, and length."""

    segs: gpd.GeoDataFrame
    status: pd.Series
    overdue: pd.Series
    lengths: np.ndarray


def _by_unit(m: _Measured, totals: ProgressRow, districts: gpd.GeoDataFrame | None,
             plans: pd.DataFrame | None) -> tuple[list[ProgressRow], bool]:
    """Segments cut at unit (district or commune) boundaries: each part counts where it lies (outside
    ones last); a street crossing a boundary is a street of both units."""
    if districts is None:
        raise ValueError("per-unit progress needs the unit polygons")
    names = dict(zip(districts["code"], districts["name"], strict=True))
    parts = split_by_units(m.segs.geometry, districts)
    idx = parts["line"].to_numpy(dtype=int)
    frame = pd.DataFrame({"unit": parts["unit"].map(lambda u: _OUTSIDE if u is None else u),
                          "status": m.status.to_numpy(dtype=object)[idx],
                          "overdue": m.overdue.to_numpy(dtype=bool)[idx],
                          "length": parts["length_m"].to_numpy(dtype=float), "line": idx,
                          "street": _streets(m.segs).to_numpy(dtype=object)[idx]})
    rows: dict[Any, ProgressRow] = {}
    for key, g in frame.groupby("unit", sort=False):
        unit = None if key == _OUTSIDE else key
        row = rows[unit] = ProgressRow(key=unit, name=OUTSIDE_NAME if unit is None else names.get(unit, str(unit)))
        for st_name, length in g.groupby("status")["length"].sum().items():
            setattr(row, f"{st_name}_m", float(length))
        row.total_m = float(g["length"].sum())
        row.overdue_m = float(g.loc[g["overdue"], "length"].sum())
        row.segments = int(g["line"].nunique())
        row.streets = {s.strip() for s in g["street"] if isinstance(s, str) and s.strip()}
    order = [d for d in districts["code"] if d in rows] + ([None] if None in rows else [])
    return [rows[k] for k in order], False


def _by_plan(m: _Measured, totals: ProgressRow, districts: gpd.GeoDataFrame | None,
             plans: pd.DataFrame | None) -> tuple[list[ProgressRow], bool]:
    """One row per plan (labelled from ``plans``), in the order the plans were issued."""
    info = {} if plans is None else {r["ref"]: r for r in plans.to_dict("records")}
    rows: dict[Any, ProgressRow] = {}
    for ref, s, ln, od, st in zip(m.segs["plan_ref"], m.status, m.lengths, m.overdue, _streets(m.segs),
                                  strict=True):
        k = ref if isinstance(ref, str) and ref else None
        row = rows.get(k)
        if row is None:
            meta = info.get(k, {})
            extra = {"title": meta.get("title"), "issued_on": _iso(meta.get("issued_on"))} if k else {}
            row = rows[k] = ProgressRow(key=k if k else NO_PLAN, name=k or NO_PLAN, extra=extra)
        row.add(s, float(ln), bool(od), st)
        row.segments += 1
    order = sorted(rows, key=lambda k: (k is None, str(_plan_sort_key(k, info))))
    return [rows[k] for k in order], False


def _by_operator(m: _Measured, totals: ProgressRow, districts: gpd.GeoDataFrame | None,
                 plans: pd.DataFrame | None) -> tuple[list[ProgressRow], bool]:
    """One row per operator on the segments; a shared segment counts for each (rows overlap)."""
    rows: dict[Any, ProgressRow] = {}
    for ops, s, ln, od, st in zip(m.segs["operators"], m.status, m.lengths, m.overdue, _streets(m.segs),
                                  strict=True):
        for code in sorted(set(_as_list(ops))) or [None]:
            row = rows.get(code)
            if row is None:
                row = rows[code] = ProgressRow(key=code if code else NO_OPERATOR, name=code or NO_OPERATOR)
            row.add(s, float(ln), bool(od), st)
            row.segments += 1
    for row in rows.values():  # the operator's share of the tracked network
        row.extra["share_pct"] = round(100.0 * row.total_m / totals.total_m, 1) if totals.total_m else 0.0
    order = sorted(rows, key=lambda k: (k is None, -rows[k].total_m, str(k)))
    return [rows[k] for k in order], True


def _by_method(m: _Measured, totals: ProgressRow, districts: gpd.GeoDataFrame | None,
               plans: pd.DataFrame | None) -> tuple[list[ProgressRow], bool]:
    """One row per method (chỉnh trang, hạ ngầm, both), in the vocabulary's order; each segment has one."""
    rows: dict[Any, ProgressRow] = {}
    for meth, s, ln, od, st in zip(m.segs["method"], m.status, m.lengths, m.overdue, _streets(m.segs), strict=True):
        row = rows.get(meth)
        if row is None:
            row = rows[meth] = ProgressRow(key=meth, name=str(meth))
        row.add(s, float(ln), bool(od), st)
        row.segments += 1
    unknown = sorted(set(rows) - set(CABLE_METHODS), key=str)
    if unknown:
        raise ValueError(f"segments carry unknown methods: {', '.join(map(str, unknown))}")
    return [rows[k] for k in CABLE_METHODS if k in rows], False


#: Levels whose rows are administrative units cut from polygons (name and ``<level>_code`` in the JSON).
UNIT_LEVELS = ("district", "commune")
_GROUPERS = {"district": _by_unit, "commune": _by_unit, "method": _by_method, "plan": _by_plan,
             "operator": _by_operator}


def _measure(segments: gpd.GeoDataFrame, plan: str | None, history: pd.DataFrame | None,
             as_of: dt.date) -> _Measured:
    if segments.crs is not None and not segments.crs.is_projected:
        raise ValueError("cable segments must be in a projected (metric) CRS to measure lengths")
    segs = segments if plan is None else segments[segments["plan_ref"] == plan]
    status = status_as_of(segs, history if history is not None else _empty_history(), as_of)
    unknown = sorted(set(status) - set(SEGMENT_STATUSES))
    if unknown:
        raise ValueError(f"segments carry unknown statuses: {', '.join(map(str, unknown))}")
    return _Measured(segs, status, is_overdue(status, segs["target_year"], as_of),
                     segs.geometry.length.to_numpy(dtype=float))


def compute_progress(
    segments: gpd.GeoDataFrame,
    *,
    by: Grouping = "district",
    as_of: dt.date,
    history: pd.DataFrame | None = None,
    districts: gpd.GeoDataFrame | None = None,
    plans: pd.DataFrame | None = None,
    plan: str | None = None,
) -> Progress:
    """Length-weighted progress of cable segments grouped by district, commune, method, plan or operator;
    every row also counts its streets (distinct ``street`` names), as the plans report them.

    ``segments``: indexed by segment id, geometry in a metric CRS, columns ``status``,
    ``target_year``, ``plan_ref``, ``operators`` (list of codes), ``method`` and ``street``. ``history``:
    see :func:`status_as_of` (optional; without it the current status is used). ``districts``: the unit
    polygons of the grouping level in the same CRS with ``code`` and ``name`` (districts for
    ``by="district"``, communes for ``by="commune"``; required for those two). ``plans``: optional
    ``ref``/``title``/``issued_on`` to label plan rows. ``plan`` keeps only that plan's segments.
    """
    if by not in GROUPINGS:
        raise ValueError(f"cannot group cable progress by {by!r}; use one of {', '.join(GROUPINGS)}")
    m = _measure(segments, plan, history, as_of)
    totals = ProgressRow(key=None, name="total")
    for s, ln, od, st in zip(m.status, m.lengths, m.overdue, _streets(m.segs), strict=True):
        totals.add(s, float(ln), bool(od), st)
    totals.segments = len(m.segs)
    rows, overlap = _GROUPERS[by](m, totals, districts, plans)
    return Progress(by=by, as_of=as_of, plan=plan, rows=rows, totals=totals, rows_overlap=overlap)


def _plan_sort_key(ref: str | None, info: dict[str, Any]) -> Any:
    issued = info.get(ref, {}).get("issued_on") if ref else None
    return f"{_iso(issued) or '9999'}|{ref}"


def _iso(d: Any) -> str | None:
    if d is None or (isinstance(d, float) and math.isnan(d)):
        return None
    return d.isoformat() if hasattr(d, "isoformat") else str(d)


def _as_list(v: Any) -> list[str]:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return []
    if isinstance(v, str):
        return [p.strip() for p in v.replace(";", ",").split(",") if p.strip()]
    if isinstance(v, Iterable):
        return [str(x) for x in v if x]
    return [str(v)]


def _streets(segs: pd.DataFrame) -> pd.Series:
    """Each segment's street name (``None`` where the table has none)."""
    return segs["street"] if "street" in segs else pd.Series([None] * len(segs), index=segs.index, dtype=object)


def _empty_history() -> pd.DataFrame:
    return pd.DataFrame({"segment_id": [], "from_status": [], "to_status": [], "changed_on": [], "order": []})
