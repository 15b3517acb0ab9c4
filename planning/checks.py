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

from planning.aggregate import units_valid_on
from planning.classify import classify_one, normalise_class
from planning.geometry import WGS84, crs_string, project_xy, to_crs
from planning.rules import RulePack
from planning.spacing import SiteIndex, build_site_index, spacing_matches
from planning.zoning import A1Targets, a1_records, build_a1_targets

MISMATCH_RULE = "class.mismatch"


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
    valid = units_valid_on(units, as_of or dt.date.today())
    if not (valid["level"] == "commune").any():  # all versions ended (e.g. after the 2025 reform): latest
        latest = units[units["level"] == "commune"]["valid_from"].max()
        valid = units[units["valid_from"] == latest] if pd.notna(latest) else units
        valid = pd.concat([valid, units[units["level"] == "district"]])
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


def check_site(ctx: PlanningContext, properties: Mapping[str, Any], lon: float | None = None,
               lat: float | None = None, *, x_m: float | None = None, y_m: float | None = None,
               ) -> dict[str, Any]:
    """Check one proposed site (WGS84 ``lon``/``lat``, or metric ``x_m``/``y_m``).

    ``properties`` are the site fields of docs/architecture.md, "Field names" (``mount``,
    ``mast_height_m``, …,
    ``declared_class``, ``code``, ``operator``); an existing site with the same ``code`` is left out
    of its own spacing check (a change to a mast is not too close to itself). Answers
    ``{"derived_class", "declared_class", "class_mismatch", "ambiguous", "reasons", "findings",
    "colocation_candidates", "location", "rule_pack", "data_version"}``.
    """
    pack = ctx.pack
    if x_m is None or y_m is None:
        if lon is None or lat is None:
            raise ValueError("give lon/lat (WGS84) or x_m/y_m (metric)")
        xs, ys = project_xy([lon], [lat], WGS84, ctx.metric_crs)
        x_m, y_m = float(xs[0]), float(ys[0])
    if lon is None or lat is None:
        lo, la = project_xy([x_m], [y_m], ctx.metric_crs, WGS84)
        lon, lat = float(lo[0]), float(la[0])
    x = np.array([x_m], dtype=float)
    y = np.array([y_m], dtype=float)
    derived, reasons, ambiguous = classify_one(properties, pack)
    declared = normalise_class([properties.get("declared_class")])[0]
    code = properties.get("code") or properties.get("site_code")
    operator = properties.get("operator")

    u = int(ctx.units.locate(x, y)[0])
    ccode = ctx.units.code[u] if u >= 0 else None
    dcode = ctx.units.district_code[u] if u >= 0 else None
    urban = float(ctx.units.urban[u]) if u >= 0 and not np.isnan(ctx.units.urban[u]) else float("nan")
    where = {"district_code": dcode, "commune_code": ccode,
             "district": ctx.units.district_name[u] if u >= 0 else None,
             "commune": ctx.units.name[u] if u >= 0 else None}
    findings: list[dict[str, Any]] = []

    # A1-only routes and zones
    wanted = set(pack.zoning.subject_classes)
    if derived in wanted or (pack.zoning.use_declared_class and declared in wanted):
        si, ti, dist = ctx.a1.match(x, y)
        if si.size:
            findings += a1_records(ctx.a1, ti, dist, pack, derived=derived, declared=declared, code=code,
                                   operator=operator, district=where["district"], commune=where["commune"])

    # spacing and sharing
    res = spacing_matches(ctx.sites, x, y, np.array([derived], dtype=object),
                          np.array([_to_float(properties.get("mast_height_m"))]), np.array([urban]), pack,
                          exclude_codes=np.array([code], dtype=object))
    if res.within_count[0] > 0:
        sp = pack.spacing
        first = res.nearest[0][0]
        kind = {1.0: "an urban", 0.0: "a non-urban"}.get(urban, "an unclassified")
        amb = pack.ambiguity_text(sp.ambiguity)
        findings.append({
            "check": "spacing", "rule": sp.rule, "severity": sp.severity, "site_code": code,
            "operator": operator, "distance_m": first["distance_m"], **{k: where[k] for k in ("district", "commune")},
            "legal_source": pack.citation(sp.source), "other_site_code": first["site_code"],
            "message": (f"{first['distance_m']:.1f} m from existing mast {first['site_code']} ({first['operator']}, "
                        f"{first['derived_class']}); minimum {res.min_distance_m[0]:g} m in {kind} commune: "
                        f"share an existing mast or move ({int(res.within_count[0])} mast(s) closer)"),
            "details": {"min_distance_m": float(res.min_distance_m[0]), "spacing_rule": res.rule[0],
                        "urban": None if np.isnan(urban) else bool(urban), "within_count": int(res.within_count[0]),
                        "nearest": res.nearest[0], "status": sp.status,
                        **({"note": res.note[0]} if res.note[0] else {}), **({"ambiguity": amb} if amb else {})},
        })

    # declared class against the rules
    if declared is not None and derived != "unknown" and declared != derived:
        findings.append({
            "check": "class-mismatch", "rule": MISMATCH_RULE, "severity": "warning", "site_code": code,
            "operator": operator, "distance_m": None, **{k: where[k] for k in ("district", "commune")},
            "legal_source": next((r["source"] for r in reasons if r.get("result") == "decides" and "source" in r),
                                 None),
            "message": f"declared {declared}, but the rules give {derived}",
        })
    findings.sort(key=lambda f: ({"violation": 0, "warning": 1, "info": 2}.get(f["severity"], 9),
                                 f.get("distance_m") or 0.0))
    return {
        "derived_class": derived, "declared_class": declared,
        "class_mismatch": bool(declared is not None and derived != "unknown" and declared != derived),
        "ambiguous": ambiguous, "reasons": reasons,
        "findings": findings, "colocation_candidates": res.candidates[0],
        "location": {"lon": round(float(lon), 7), "lat": round(float(lat), 7), "x_m": round(x_m, 3),
                     "y_m": round(y_m, 3), **where, "urban": None if np.isnan(urban) else bool(urban)},
        "rule_pack": {"id": pack.id, "version": pack.version},
        "data_version": ctx.data_version,
    }


__all__ = ["PlanningContext", "UnitIndex", "build_context", "build_unit_index", "check_site"]
