"""One proposed site against everything: class with reasons, A1 zones/routes, spacing, sharing.

``POST /checks/site`` and the appraisal of firms' plans call :func:`check_site` once per mast, so
it must answer in well under the 20 ms budget against a million existing sites. Everything that
does not depend on the proposed site — A1 pieces in their grid, existing masts in theirs, the
communes in an STRtree — lives in a :class:`PlanningContext`, built once from the data and kept
by the caller under the data version it was built from (``meta['data_version']``): a write
anywhere bumps the version and the next request rebuilds.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely

from planning.classify import classify_one, mismatch_finding, normalise_class, open_inputs, rule_sources
from planning.findings import to_record
from planning.geometry import WGS84, crs_string, project_xy, to_crs
from planning.rules import CLASSIFIER_FIELDS, RulePack
from planning.spacing import SiteIndex, build_site_index, scope_masks, spacing_finding, spacing_matches
from planning.units import frame_in_force
from planning.vocab import SEVERITY_RANK, UNKNOWN_CLASS
from planning.zoning import A1Targets, a1_records, build_a1_targets, subject_classes


@dataclass(frozen=True)
class UnitIndex:
    """Communes valid on a date (metric CRS) with their district, for "where is this point"."""

    code: np.ndarray
    name: np.ndarray
    district_code: np.ndarray
    district_name: np.ndarray
    urban: np.ndarray
    polys: np.ndarray
    tree: shapely.STRtree

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Commune index per point (first by code when on a shared edge), −1 outside."""
        out = np.full(np.size(x), -1, dtype=np.int64)
        if self.code.size == 0:
            return out
        pi, ui = self.tree.query(shapely.points(x, y), predicate="intersects")
        order = np.lexsort((ui, pi))
        pi, ui = pi[order], ui[order]
        first = np.r_[True, pi[1:] != pi[:-1]] if pi.size else np.empty(0, dtype=bool)
        out[pi[first]] = ui[first]
        return out


def build_unit_index(units: Any | None, metric_crs: str, as_of: dt.date | None = None) -> UnitIndex:
    if units is None or len(units) == 0:
        e = np.empty(0, dtype=object)
        return UnitIndex(e, e, e, e, np.empty(0), e, shapely.STRtree([]))
    valid = frame_in_force(units, as_of or dt.date.today())  # after the 2025 reform: the last versions
    com = valid[valid["level"] == "commune"].sort_values("code", kind="stable")
    dis = valid[valid["level"] == "district"]
    dnames = dict(zip(dis["code"], dis["name"], strict=True))
    polys = to_crs(np.asarray(com.geometry.values, dtype=object), crs_string(com.crs), metric_crs)
    parent = com["parent_code"].to_numpy(dtype=object)
    urban = com["urban"].to_numpy(dtype=float) if "urban" in com else np.full(len(com), np.nan)
    return UnitIndex(com["code"].to_numpy(dtype=object), com["name"].to_numpy(dtype=object), parent,
                     np.array([dnames.get(p, p) for p in parent.tolist()], dtype=object), urban, polys,
                     shapely.STRtree(polys))


@dataclass
class PlanningContext:
    """Everything a single-site check needs, prepared once per data version."""

    pack: RulePack
    metric_crs: str
    a1: A1Targets
    sites: SiteIndex
    units: UnitIndex
    unit_names: dict[str, str]
    data_version: int | None = None
    built_at: float = field(default_factory=time.time)
    build_seconds: float = 0.0


def build_context(sites: pd.DataFrame, routes: Any | None, zones: Any | None, units: Any | None,
                  pack: RulePack, *, metric_crs: str, data_version: int | None = None,
                  as_of: dt.date | None = None) -> PlanningContext:
    """Prepare the indexes (A1 pieces, existing masts, communes) from data already in memory."""
    t0 = time.perf_counter()
    a1 = build_a1_targets(routes, zones, pack, metric_crs)
    idx = build_site_index(sites, pack, metric_crs=metric_crs)
    ui = build_unit_index(units, metric_crs, as_of)
    names: dict[str, str] = {}
    if units is not None and len(units):
        for c, n in zip(units["code"].tolist(), units["name"].tolist(), strict=True):
            names.setdefault(c, n)
        names.update(zip(ui.code.tolist(), ui.name.tolist(), strict=True))
    return PlanningContext(pack, metric_crs, a1, idx, ui, names, data_version,
                           build_seconds=time.perf_counter() - t0)


def _to_float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


@dataclass(frozen=True)
class _Subject:
    """The proposed site as the steps of :func:`check_site` read it: where, what class, whose."""

    lon: float
    lat: float
    x: np.ndarray  # metric, one element
    y: np.ndarray
    properties: Mapping[str, Any]
    derived: str
    declared: str | None
    code: Any
    operator: Any
    #: district/commune codes and names of the commune under the point (None outside every commune)
    where: dict[str, Any]
    urban: float  # 1.0, 0.0, or NaN when unknown

    @property
    def mismatch(self) -> bool:
        return self.declared is not None and self.derived != UNKNOWN_CLASS and self.declared != self.derived


def _position(ctx: PlanningContext, lon: float | None, lat: float | None, x_m: float | None,
              y_m: float | None) -> tuple[float, float, float, float]:
    """(lon, lat, x_m, y_m) from whichever pair was given."""
    if x_m is None or y_m is None:
        if lon is None or lat is None:
            raise ValueError("give lon/lat (WGS84) or x_m/y_m (metric)")
        xs, ys = project_xy([lon], [lat], WGS84, ctx.metric_crs)
        x_m, y_m = float(xs[0]), float(ys[0])
    if lon is None or lat is None:
        lo, la = project_xy([x_m], [y_m], ctx.metric_crs, WGS84)
        lon, lat = float(lo[0]), float(la[0])
    return lon, lat, x_m, y_m


def _subject(ctx: PlanningContext, properties: Mapping[str, Any], lon: float, lat: float, x_m: float,
             y_m: float, derived: str) -> _Subject:
    x = np.array([x_m], dtype=float)
    y = np.array([y_m], dtype=float)
    u = int(ctx.units.locate(x, y)[0])
    inside = u >= 0
    where = {"district_code": ctx.units.district_code[u] if inside else None,
             "commune_code": ctx.units.code[u] if inside else None,
             "district": ctx.units.district_name[u] if inside else None,
             "commune": ctx.units.name[u] if inside else None}
    urban = float(ctx.units.urban[u]) if inside and not np.isnan(ctx.units.urban[u]) else float("nan")
    return _Subject(lon, lat, x, y, properties, derived, normalise_class([properties.get("declared_class")])[0],
                    properties.get("code") or properties.get("site_code"), properties.get("operator"), where,
                    urban)


def _a1_findings(ctx: PlanningContext, s: _Subject) -> list[dict[str, Any]]:
    """Routes and zones whose policy keeps out the mast's class (declared class counts where the pack
    says), or that a mast of unknown class may break ("cannot confirm, missing: …")."""
    wanted = set(subject_classes(ctx.pack))
    if not (s.derived in wanted or s.derived == UNKNOWN_CLASS
            or (ctx.pack.zoning.use_declared_class and s.declared in wanted)):
        return []
    si, ti, dist = ctx.a1.match(s.x, s.y)
    if not si.size:
        return []
    opened = open_inputs({f: np.array([s.properties.get(f)], dtype=object) for f in CLASSIFIER_FIELDS},
                         ctx.pack)[0] if s.derived == UNKNOWN_CLASS else None
    return a1_records(ctx.a1, ti, dist, ctx.pack, derived=s.derived, declared=s.declared, code=s.code,
                      operator=s.operator, district=s.where["district"], commune=s.where["commune"],
                      open_inputs=opened)


def _spacing(ctx: PlanningContext, s: _Subject) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(spacing findings, co-location candidates); the site's own code is not too close to itself."""
    inside = scope_masks(ctx.pack, s.x, s.y, ctx.metric_crs, [s.where["district_code"]], [s.where["commune_code"]])
    res = spacing_matches(ctx.sites, s.x, s.y, np.array([s.derived], dtype=object),
                          np.array([_to_float(s.properties.get("mast_height_m"))]), np.array([s.urban]), ctx.pack,
                          exclude_codes=np.array([s.code], dtype=object), inside=inside)
    found = []
    if res.within_count[0] > 0:
        found.append(to_record(spacing_finding(  # a proposed mast is a planned one
            res, 0, ctx.pack, code=s.code, operator=s.operator, status="planned",
            derived=s.derived, urban=s.urban, x_m=float(s.x[0]), y_m=float(s.y[0]), **s.where)))
    return found, res.candidates[0]


def _mismatch(ctx: PlanningContext, s: _Subject, reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The declared class against the rules."""
    if not s.mismatch:
        return []
    rule = next((r.get("rule") for r in reasons if r.get("result") == "decides"), None)
    return [to_record(mismatch_finding(
        code=s.code, operator=s.operator, declared=s.declared, derived=s.derived, class_rule=rule,
        legal_source=rule_sources(ctx.pack).get(rule), x_m=float(s.x[0]), y_m=float(s.y[0]), **s.where))]


def check_site(ctx: PlanningContext, properties: Mapping[str, Any], lon: float | None = None,
               lat: float | None = None, *, x_m: float | None = None, y_m: float | None = None,
               ) -> dict[str, Any]:
    """Check one proposed site (WGS84 ``lon``/``lat``, or metric ``x_m``/``y_m``).

    ``properties`` are the site fields of docs/architecture.md, "Field names" (``mount``,
    ``mast_height_m``, …, ``declared_class``, ``code``, ``operator``); an existing site with the same
    ``code`` is left out of its own spacing check (a change to a mast is not too close to itself).
    Every finding is built by the same function as the batch check's (:func:`planning.zoning.a1_records`,
    :func:`planning.spacing.spacing_finding`, :func:`planning.classify.mismatch_finding`). Answers
    ``{"derived_class", "declared_class", "class_mismatch", "ambiguous", "reasons", "findings",
    "colocation_candidates", "location", "rule_pack", "data_version"}``.
    """
    lon, lat, x_m, y_m = _position(ctx, lon, lat, x_m, y_m)
    derived, reasons, ambiguous = classify_one(properties, ctx.pack)
    s = _subject(ctx, properties, lon, lat, x_m, y_m, derived)
    spacing, candidates = _spacing(ctx, s)
    findings = _a1_findings(ctx, s) + spacing + _mismatch(ctx, s, reasons)
    findings.sort(key=lambda f: (SEVERITY_RANK.get(f["severity"], 9), f.get("distance_m") or 0.0))
    return {
        "derived_class": derived, "declared_class": s.declared, "class_mismatch": s.mismatch,
        "ambiguous": ambiguous, "reasons": reasons, "findings": findings, "colocation_candidates": candidates,
        "location": {"lon": round(float(lon), 7), "lat": round(float(lat), 7), "x_m": round(x_m, 3),
                     "y_m": round(y_m, 3), **s.where, "urban": None if np.isnan(s.urban) else bool(s.urban)},
        "rule_pack": {"id": ctx.pack.id, "version": ctx.pack.version},
        "data_version": ctx.data_version,
    }


__all__ = ["PlanningContext", "UnitIndex", "build_context", "build_unit_index", "check_site"]
