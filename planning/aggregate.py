"""Site counts by district or commune × mast class: the familiar provincial table.

Rows are the administrative units valid on ``as_of`` (units are versioned: the 2025 reform
abolished districts and merged provinces), columns A1a, A1b, A2a, A2b, A2c, unknown, total, and a
last line of totals with shares (%). A site counts in the unit that contains it on that date — by
geometry, not by a stored code that may belong to an older version of the units — and a site
exactly on a shared boundary counts once (in the first unit by code).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely

from planning.geometry import crs_string, project_xy
from planning.i18n import _
from planning.units import Merge, in_force, old_unit_fates
from planning.vocab import DERIVED_CLASSES, MAST_CLASSES, UNKNOWN_CLASS

LEVELS = ("district", "commune")


def units_valid_on(units: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Versions of the units in force on ``as_of`` (``valid_from ≤ as_of ≤ valid_to``, open end allowed)."""
    vf = pd.to_datetime(units.get("valid_from"), errors="coerce").dt.date if "valid_from" in units else None
    vt = pd.to_datetime(units.get("valid_to"), errors="coerce").dt.date if "valid_to" in units else None
    ok = np.ones(len(units), dtype=bool)
    if vf is not None:
        ok &= np.array([(v is None or pd.isna(v) or v <= as_of) for v in vf], dtype=bool)
    if vt is not None:
        ok &= np.array([(v is None or pd.isna(v) or as_of <= v) for v in vt], dtype=bool)
    return units[ok]


def locate(x: np.ndarray, y: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Index of the first polygon covering each point (boundary included), −1 when none.

    One pass per polygon over the points inside its bounding box (vectorised GEOS), assigning only
    points not yet assigned: a point on a shared edge goes to the first polygon, exactly once.
    """
    out = np.full(x.size, -1, dtype=np.int64)
    if x.size == 0:
        return out
    bounds = shapely.bounds(polygons)
    for i, poly in enumerate(polygons):
        if poly is None or shapely.is_empty(poly):
            continue
        minx, miny, maxx, maxy = bounds[i]
        cand = np.flatnonzero((out < 0) & (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))
        if cand.size == 0:
            continue
        shapely.prepare(poly)
        hit = shapely.intersects_xy(poly, x[cand], y[cand])
        out[cand[hit]] = i
    return out


@dataclass
class SiteCounts:
    """The table: ``rows`` (one per unit, plus 'outside' when some sites lie in no unit), totals, shares."""

    by: list[str]
    as_of: dt.date
    rows: pd.DataFrame
    totals: dict[str, int] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)
    note: str | None = None
    not_placed: int = 0  #: sites in partially merged old units of a unit without polygons

    def to_json(self) -> dict[str, Any]:
        """The stable JSON of docs/architecture.md, "Machine-readable outputs": ``{"by", "as_of", "rows",
        "totals", "shares"}``."""
        rows = []
        for r in self.rows.to_dict("records"):
            rows.append({k: (None if isinstance(v, float) and np.isnan(v) else
                             (int(v) if isinstance(v, np.integer) else v)) for k, v in r.items()})
        out = {"by": self.by, "as_of": self.as_of.isoformat(), "rows": rows, "totals": self.totals,
               "shares": self.shares}
        if self.note:
            out["note"] = self.note
        if self.not_placed:
            out["not_placed"] = self.not_placed
        return out


@dataclass(frozen=True)
class CountingUnits:
    """The rows of the table: the units of level ``by`` valid on ``as_of``, sorted by code."""

    by: str
    as_of: dt.date
    note: str | None
    level: Any  # GeoDataFrame of the units of that level
    district_names: dict[str, str]
    columns: tuple[str, ...] = DERIVED_CLASSES


def counting_units(units: pd.DataFrame, *, by: str = "district", as_of: dt.date | None = None,
                   mapping: pd.DataFrame | None = None) -> CountingUnits:
    """Pick the units to count in. Without ``as_of`` the date is today — or, when no unit of that
    level is valid today (all stored versions ended, e.g. districts after the 2025 reform), the
    last day of the latest version, said in ``note``."""
    if by not in LEVELS:
        raise ValueError(f"by must be one of {', '.join(LEVELS)}, got {by!r}")
    note = None
    if as_of is None:
        as_of = dt.date.today()
        lv = units[units["level"] == by] if len(units) else units
        none = [None] * len(lv)
        _, last = in_force(list(lv.get("valid_from", none)), list(lv.get("valid_to", none)), as_of)
        if last < as_of:
            note = (f"no {by} is valid on {as_of.isoformat()}; counted on {last.isoformat()}, "
                    f"the last day of the latest {by} units")
            as_of = last
    valid = units_valid_on(units, as_of)
    level = valid[valid["level"] == by].sort_values("code", kind="stable")
    if by == "commune" and mapping is not None and len(mapping):
        level = with_mapped_units(level, units, mapping, as_of)
    districts = valid[valid["level"] == "district"]
    return CountingUnits(by, as_of, note, level, dict(zip(districts["code"], districts["name"], strict=True)))


def with_mapped_units(level: Any, units: pd.DataFrame, mapping: pd.DataFrame, as_of: dt.date) -> Any:
    """The communes of ``as_of`` plus those a unit mapping names but no polygon of that day draws.

    Units are often known by code and name before anyone publishes their polygons (Hải Phòng's 114
    units of 2025-07-01). Such a unit is drawn as the union of the old units that went *wholly* into
    it, so every site in them is counted there; a partially merged old unit is one row of its own
    (``placement`` = ``partial``) whose sites are "not placed", never guessed. Units with polygons
    come first, so with real new polygons loaded placement is exact and the mapping is not used.
    """
    mp = mapping.copy()
    mp["effective_on"] = pd.to_datetime(mp["effective_on"]).dt.date
    mp = mp[(mp["effective_on"] <= as_of) & (mp["new_level"] == "commune")]
    if not len(mp):
        return level
    day = max(mp["effective_on"])
    mp = mp[mp["effective_on"] == day]
    drawn = set(level["code"])
    missing = mp[~mp["new_code"].isin(drawn)]
    if not len(missing):
        return level
    merges = [Merge(r.old_code, r.old_name, r.new_code, r.new_name, r.kind) for r in mp.itertuples()]
    whole, split = old_unit_fates(merges)
    before = units_valid_on(units, day - dt.timedelta(days=1))
    old = before[before["level"] == "commune"].drop_duplicates("code")
    old_geom = dict(zip(old["code"], old.geometry, strict=True))
    gname = level.geometry.name
    recs: list[dict[str, Any]] = []
    for code, grp in missing.groupby("new_code", sort=True):
        parts = [old_geom[o] for o, n in whole.items() if n == code and o in old_geom]
        first = grp.iloc[0]
        recs.append({"code": code, "name": first["new_name"], "level": "commune", "parent_code": first["new_parent_code"],
                     "placement": "derived", gname: shapely.union_all(parts) if parts else None})
    missing_codes = set(missing["new_code"])
    for o, news in sorted(split.items()):
        if o in old_geom and missing_codes.intersection(news):
            name = str(mp.loc[mp["old_code"] == o, "old_name"].iloc[0])
            recs.append({"code": o, "name": name, "level": "commune", "parent_code": None, "placement": "partial",
                         gname: old_geom[o]})
    extra = type(level)(pd.DataFrame(recs), geometry=gname, crs=level.crs or units.crs)
    base = level.assign(placement="exact")
    return type(level)(pd.concat([base, extra], ignore_index=True), geometry=gname, crs=extra.crs)


def count_matrix(sites: pd.DataFrame, level: Any, *, class_column: str = "derived_class") -> np.ndarray:
    """Sites per (unit of ``level``, class): shape (units + 1, classes), the last row counting the
    sites outside every unit. Matrices of disjoint sets of sites add up, which is how the
    distributed engine counts a country partition by partition."""
    # points in the units' CRS: the stored polygons are the truth for "which unit contains it"
    geoms = np.asarray(sites.geometry.values, dtype=object) if len(sites) else np.empty(0, dtype=object)
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    if len(sites) and sites.crs is not None and level.crs is not None and sites.crs != level.crs:
        x, y = project_xy(x, y, crs_string(sites.crs), crs_string(level.crs))
    polys = np.asarray(level.geometry.values, dtype=object)
    where = locate(np.asarray(x, dtype=float), np.asarray(y, dtype=float), polys)
    cls = pd.Series(sites[class_column] if class_column in sites else [None] * len(sites), dtype=object)
    cls = cls.where(cls.isin(MAST_CLASSES), UNKNOWN_CLASS).to_numpy(dtype=object)
    n_units = len(level)
    counts = np.zeros((n_units + 1, len(DERIVED_CLASSES)), dtype=np.int64)
    ci = pd.Categorical(cls, categories=list(DERIVED_CLASSES)).codes
    np.add.at(counts, (np.where(where < 0, n_units, where), ci), 1)
    return counts


def counts_table(counts: np.ndarray, units: CountingUnits) -> SiteCounts:
    """The table with totals and shares from a count matrix (see :func:`count_matrix`)."""
    by, level, dnames = units.by, units.level, units.district_names
    n_units = len(level)
    codes = level["code"].tolist()
    names = level["name"].tolist()
    placement = level["placement"].tolist() if "placement" in level else ["exact"] * n_units
    recs: list[dict[str, Any]] = []
    for i in range(n_units + 1):
        if i == n_units and counts[i].sum() == 0:
            continue
        rec: dict[str, Any] = {}
        if by == "district":
            rec["district_code"] = codes[i] if i < n_units else None
            rec["district"] = names[i] if i < n_units else "(outside every district)"
        elif i < n_units and placement[i] == "partial":
            rec["district_code"] = rec["district"] = rec["commune_code"] = None
            rec["commune"] = _("not placed (partial merge of {unit})", unit=names[i])
            rec["partial_merge_of"] = codes[i]
        else:
            # after the 2025 reform a commune's parent is the province: no district to name
            parent = level["parent_code"].iloc[i] if i < n_units else None
            rec["district_code"] = parent if parent in dnames else None
            rec["district"] = dnames.get(parent) if parent else None
            rec["commune_code"] = codes[i] if i < n_units else None
            rec["commune"] = names[i] if i < n_units else "(outside every commune)"
        rec.update({c: int(v) for c, v in zip(DERIVED_CLASSES, counts[i], strict=True)})
        rec["total"] = int(counts[i].sum())
        recs.append(rec)
    rows = pd.DataFrame(recs)
    if by == "commune" and len(rows):
        rows = rows.sort_values(["district_code", "commune_code"], kind="stable", na_position="last",
                                ).reset_index(drop=True)
    totals = {c: int(v) for c, v in zip(DERIVED_CLASSES, counts.sum(axis=0), strict=True)}
    totals["total"] = int(counts.sum())
    shares = {c: (round(100.0 * totals[c] / totals["total"], 2) if totals["total"] else 0.0) for c in DERIVED_CLASSES}
    not_placed = int(sum(counts[i].sum() for i in range(n_units) if placement[i] == "partial"))
    return SiteCounts([by, "type"], units.as_of, rows, totals, shares, units.note, not_placed)


def site_counts(sites: pd.DataFrame, units: pd.DataFrame, *, by: str = "district", as_of: dt.date | None = None,
                class_column: str = "derived_class", mapping: pd.DataFrame | None = None) -> SiteCounts:
    """Count sites per unit × class.

    ``sites``: GeoDataFrame of points (any CRS) with ``class_column``; ``units``: GeoDataFrame with
    ``code``, ``name``, ``level``, ``parent_code``, ``valid_from``, ``valid_to``. ``by``:
    ``district`` or ``commune`` (rows then also name the commune's district). Without ``as_of``
    the date is today (see :func:`counting_units`). ``mapping``: a unit mapping (old → new, see
    :func:`with_mapped_units`) for new communes that have no polygons yet.
    """
    setup = counting_units(units, by=by, as_of=as_of, mapping=mapping)
    return counts_table(count_matrix(sites, setup.level, class_column=class_column), setup)
