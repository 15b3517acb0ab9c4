"""Spacing and sharing: a new mast too close to existing masts must share one of them or move.

The minimum distance comes from the rule pack (urban vs non-urban commune, optionally per class and
mast height, e.g. Quảng Nam's table); closer existing masts make one finding per new mast naming
the nearest masts, and masts with free capacity nearby are listed as co-location candidates.
Existing masts are hashed once into a :class:`planning.geometry.PointGrid` (:class:`SiteIndex`),
reused for every batch or single-site query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

from planning.classify import classify_sites
from planning.findings import empty_findings, finalise, unit_label
from planning.geometry import WGS84, PointGrid, metric_xy, to_crs
from planning.i18n import msg_ref, render
from planning.labels import SITE_STATUS
from planning.rules import RulePack
from planning.vocab import UNKNOWN_CLASS

CHECK = "spacing"


def _col(frame: pd.DataFrame, name: str, default: Any = None) -> np.ndarray:
    if name in frame:
        return frame[name].to_numpy()
    return np.full(len(frame), default, dtype=object)


def _tenants(shared_by: Any, operator: Any) -> int:
    """Other operators already on a mast (``shared_by`` lists them; the owner is not a tenant)."""
    if isinstance(shared_by, list | tuple | np.ndarray):
        return len([t for t in shared_by if t and t != operator])
    return 0


@dataclass(frozen=True)
class SiteIndex:
    """Existing masts as arrays plus a grid over their metric coordinates."""

    code: np.ndarray
    operator: np.ndarray
    derived_class: np.ndarray
    mount: np.ndarray
    free_slots: np.ndarray  # max_tenants − 1 − tenants; −1 when the capacity is unknown
    x: np.ndarray
    y: np.ndarray
    grid: PointGrid
    #: order of the codes, so masts at exactly the same distance are listed by code whatever order
    #: they were indexed in (a partition plus its halo must list them as the whole set does)
    code_rank: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.code.size)


def build_site_index(sites: pd.DataFrame, pack: RulePack, *, metric_crs: str,
                     cell_m: float | None = None) -> SiteIndex:
    """Index the masts that count as existing (``pack.spacing.existing_statuses``, default built).

    Free capacity comes from a ``free_slots`` column when given, else from ``max_tenants`` and
    ``shared_by`` (the tenants besides the owner).
    """
    status = _col(sites, "status", "built")
    keep = np.isin(status, np.array(pack.spacing.existing_statuses, dtype=object))
    s = sites[keep]
    x, y = metric_xy(s, metric_crs) if len(s) else (np.empty(0), np.empty(0))
    derived = _col(s, "derived_class").astype(object)
    todo = pd.isna(pd.Series(derived, dtype=object)).to_numpy()
    if todo.any():
        derived = derived.copy()
        derived[todo] = classify_sites(s[todo], pack, reasons="none")["derived_class"].to_numpy()
    ops = _col(s, "operator")
    if "free_slots" in s:  # computed by the caller (e.g. in SQL for a million masts)
        free = pd.to_numeric(s["free_slots"], errors="coerce").fillna(-1).to_numpy(dtype=np.int64)
    else:
        cap = pd.to_numeric(pd.Series(_col(s, "max_tenants"), dtype=object), errors="coerce").to_numpy(dtype=float)
        tenants = np.array([_tenants(v, o) for v, o in zip(_col(s, "shared_by").tolist(), ops.tolist(),
                                                           strict=True)], dtype=float) if len(s) else np.empty(0)
        free = np.where(np.isnan(cap), -1, cap - 1 - tenants).astype(np.int64)
    cell = cell_m or max(25.0, pack.spacing.max_distance_m / 4)
    codes = _col(s, "code").astype(object)
    rank = np.argsort(np.argsort(np.array(["" if c is None else str(c) for c in codes.tolist()]), kind="stable"),
                      kind="stable") if codes.size else np.empty(0, dtype=np.int64)
    return SiteIndex(codes, ops.astype(object), derived, _col(s, "mount").astype(object),
                     free, x, y, PointGrid(x, y, cell), rank)


def scope_masks(pack: RulePack, x: np.ndarray, y: np.ndarray, metric_crs: str, district_code: Any = None,
                commune_code: Any = None) -> dict[str, np.ndarray]:
    """Spacing-rule id → which subjects lie in the rule's area (its units — a site's district or
    commune code — or its polygon), for the rules of the pack that have one. The period of a rule
    is applied when the pack is read for a day (:meth:`planning.rules.RulePack.on`)."""
    out: dict[str, np.ndarray] = {}
    n = np.size(x)
    for r in pack.spacing.rules:
        if r.where is None or not r.where.spatial:
            continue
        inside = np.zeros(n, dtype=bool)
        if r.where.units:
            units = np.array(r.where.units, dtype=object)
            for codes in (district_code, commune_code):
                if codes is not None:
                    inside |= np.isin(np.asarray(codes, dtype=object), units)
        if r.where.polygon is not None and n:
            poly = to_crs([shapely.from_wkt(r.where.polygon)], WGS84, metric_crs)[0]
            inside |= shapely.contains_xy(poly, np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        out[r.id] = inside
    return out


def min_distance(pack: RulePack, classes: np.ndarray, mast_height: np.ndarray, urban: np.ndarray,
                 inside: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(minimum distance m, spacing-rule id, note) per subject; ``urban`` may be NaN (unknown).

    Only the classes the pack's source covers (``spacing.classes``: bulky masts) have a minimum
    distance; a site of unknown class is held to it and told why. A rule with an area applies to the
    subjects ``inside`` it (:func:`scope_masks`); without ``inside`` such a rule applies to none.
    Unknown urban/non-urban takes the larger distance (the stricter reading) and says so; a rule
    without a non-urban value uses its urban value and says so.
    """
    sp = pack.spacing
    n = classes.size
    dist = np.full(n, np.nan)
    rule = np.full(n, None, dtype=object)
    note = np.full(n, None, dtype=object)
    unknown = classes == UNKNOWN_CLASS
    done = ~(np.isin(classes, np.array(sp.classes, dtype=object)) | unknown)  # A1 masts: no minimum distance
    h = np.asarray(mast_height, dtype=float)
    urban = np.asarray(urban, dtype=float)
    for r in (*sp.rules, sp.default):
        m = ~done
        if r.where is not None and r.where.spatial:
            m &= (inside or {}).get(r.id, np.zeros(n, dtype=bool))
        if r.classes is not None:
            m &= np.isin(classes, np.array(r.classes, dtype=object))
        with np.errstate(invalid="ignore"):
            if r.min_mast_height_m is not None:
                m &= h > r.min_mast_height_m
            if r.max_mast_height_m is not None:
                m &= h <= r.max_mast_height_m
        rural = r.rural_m if r.rural_m is not None else r.urban_m
        d = np.where(urban == 1, r.urban_m, np.where(urban == 0, rural, max(r.urban_m, rural)))
        dist[m] = d[m]
        rule[m] = r.id
        if r.rural_m is None:
            note[m & (urban != 1)] = f"{r.id}: no non-urban distance in the pack; the urban one is used"
        note[m & np.isnan(urban)] = "urban/non-urban unknown: the larger distance is used"
        note[m & unknown] = "class unknown: held to the distance of a bulky mast"
        done |= m
    return dist, rule, note


@dataclass(frozen=True)
class SpacingResult:
    """Per subject: nearest existing masts within the minimum distance, and co-location candidates."""

    min_distance_m: np.ndarray
    rule: np.ndarray
    note: np.ndarray
    nearest: list[list[dict[str, Any]]]
    candidates: list[list[dict[str, Any]]]
    within_count: np.ndarray


def spacing_matches(index: SiteIndex, x: np.ndarray, y: np.ndarray, classes: np.ndarray,
                    mast_height: np.ndarray, urban: np.ndarray, pack: RulePack, *,
                    exclude_codes: np.ndarray | None = None, inside: dict[str, np.ndarray] | None = None,
                    chunk: int = 512) -> SpacingResult:
    """Existing masts near each subject point (vectorised, in chunks so memory stays bounded);
    ``inside``: the subjects in each area-scoped rule (:func:`scope_masks`)."""
    n = x.size
    dmin, rule, note = min_distance(pack, classes, mast_height, urban, inside)
    factor = pack.spacing.colocation_radius_factor
    radius = np.nan_to_num(dmin * max(1.0, factor), nan=0.0)
    k = pack.spacing.max_nearest
    nearest: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    cands: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    count = np.zeros(n, dtype=np.int64)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        q, p, d = index.grid.within(x[lo:hi], y[lo:hi], radius[lo:hi])
        q = q + lo
        if exclude_codes is not None and q.size:
            keep = index.code[p] != exclude_codes[q]
            q, p, d = q[keep], p[keep], d[keep]
        if q.size == 0:
            continue
        order = np.lexsort((d, q)) if index.code_rank is None else np.lexsort((index.code_rank[p], d, q))
        q, p, d = q[order], p[order], d[order]
        inside = d <= dmin[q] + 1e-6
        np.add.at(count, q[inside], 1)
        starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
        ends = np.r_[starts[1:], q.size]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            qi = int(q[s])
            seg = slice(s, e)
            pin, din = p[seg], d[seg]
            ins = inside[seg]
            nearest[qi] = [_mast(index, int(j), float(dd)) for j, dd in zip(pin[ins][:k], din[ins][:k], strict=True)]
            ok = (din <= dmin[qi] * factor + 1e-6) & (index.free_slots[pin] > 0)
            cands[qi] = [{**_mast(index, int(j), float(dd)), "free_slots": int(index.free_slots[j])}
                         for j, dd in zip(pin[ok][:k], din[ok][:k], strict=True)]
    return SpacingResult(dmin, rule, note, nearest, cands, count)


def _mast(index: SiteIndex, j: int, d: float) -> dict[str, Any]:
    return {"site_code": index.code[j], "operator": index.operator[j], "derived_class": index.derived_class[j],
            "mount": index.mount[j], "distance_m": round(d, 2)}


def _urban_of(subjects: pd.DataFrame, urban_by_commune: dict[str, bool] | None) -> np.ndarray:
    if "urban" in subjects:
        u = pd.Series(subjects["urban"], dtype=object)
        return u.map(lambda v: np.nan if v is None or (isinstance(v, float) and np.isnan(v)) else float(bool(v))
                     ).to_numpy(dtype=float)
    codes = _col(subjects, "commune_code")
    lookup = urban_by_commune or {}
    return np.array([float(lookup[c]) if c in lookup else np.nan for c in codes.tolist()], dtype=float)


def spacing_findings(sites: pd.DataFrame, pack: RulePack, *, metric_crs: str,
                     subjects: pd.DataFrame | None = None, index: SiteIndex | None = None,
                     urban_by_commune: dict[str, bool] | None = None,
                     unit_names: dict[str, str] | None = None) -> pd.DataFrame:
    """"Must share or move" findings for new masts (``subjects``; default: the sites whose status is
    one of ``pack.spacing.subject_statuses``, i.e. planned) against the existing masts of ``sites``.

    Urban or not comes from a ``urban`` column of the subjects, else from ``commune_code`` through
    ``urban_by_commune``. Each finding names the nearest mast (``other_site_code``, ``distance_m``)
    and lists up to ``pack.spacing.max_nearest`` nearest masts and co-location candidates in
    ``details``.
    """
    if index is None:
        index = build_site_index(sites, pack, metric_crs=metric_crs)
    if subjects is None:
        status = _col(sites, "status", "built")
        subjects = sites[np.isin(status, np.array(pack.spacing.subject_statuses, dtype=object))]
    if len(subjects) == 0 or len(index) == 0:
        return empty_findings()
    x, y = metric_xy(subjects, metric_crs)
    derived = _col(subjects, "derived_class").astype(object)
    todo = pd.isna(pd.Series(derived, dtype=object)).to_numpy()
    if todo.any():
        derived = derived.copy()
        derived[todo] = classify_sites(subjects[todo], pack, reasons="none")["derived_class"].to_numpy()
    height = pd.to_numeric(pd.Series(_col(subjects, "mast_height_m"), dtype=object), errors="coerce").to_numpy(float)
    urban = _urban_of(subjects, urban_by_commune)
    codes = _col(subjects, "code").astype(object)
    inside = scope_masks(pack, x, y, metric_crs, _col(subjects, "district_code"), _col(subjects, "commune_code"))
    res = spacing_matches(index, x, y, derived, height, urban, pack, exclude_codes=codes, inside=inside)
    hit = np.flatnonzero(res.within_count > 0)
    if hit.size == 0:
        return empty_findings()
    ops = _col(subjects, "operator")
    status = _col(subjects, "status", "planned")
    dcode = _col(subjects, "district_code")
    ccode = _col(subjects, "commune_code")
    rows = [spacing_finding(res, i, pack, code=codes[i], operator=ops[i], status=status[i], derived=derived[i],
                            urban=float(urban[i]), district_code=dcode[i], commune_code=ccode[i],
                            x_m=float(x[i]), y_m=float(y[i]))
            for i in hit.tolist()]
    out = pd.DataFrame(rows)
    out["district"] = unit_label(out["district_code"], unit_names)
    out["commune"] = unit_label(out["commune_code"], unit_names)
    return finalise(out)


def spacing_finding(res: SpacingResult, i: int, pack: RulePack, *, code: Any, operator: Any, status: Any,
                    derived: Any, urban: float, district_code: Any, commune_code: Any, x_m: float, y_m: float,
                    district: Any = None, commune: Any = None) -> dict[str, Any]:
    """The "must share or move" finding of subject ``i`` of ``res`` (which has a mast within the
    minimum distance), as a row of :data:`planning.findings.FINDING_COLUMNS`.

    The one builder of this finding: the batch check (:func:`spacing_findings`) and the single-site
    check (:func:`planning.checks.check_site`) both call it, so a proposed mast gets the same message
    and ``details`` from ``POST /checks/site`` as from ``btsplan check spacing``.
    """
    sp = pack.spacing
    amb = pack.ambiguity_text(sp.ambiguity)
    near = res.nearest[i]
    first = near[0]
    where = {1.0: msg_ref("in an urban commune"), 0.0: msg_ref("in a non-urban commune")}.get(
        urban, msg_ref("in a commune not classed urban or not"))
    ref = msg_ref("{status} {derived} mast {code} is {distance:.1f} m from existing mast {other} ({operator}, "
                  "{other_class}); minimum {minimum:g} m {where}: share an existing mast or move "
                  "({closer} mast(s) closer)",
                  status=msg_ref(SITE_STATUS[status]) if status in SITE_STATUS else status, derived=derived,
                  code=code if code is not None else msg_ref("(proposed, no code yet)"),
                  distance=first["distance_m"], other=first["site_code"], operator=first["operator"],
                  other_class=first["derived_class"], minimum=float(res.min_distance_m[i]), where=where,
                  closer=int(res.within_count[i]))
    return {
        "check": CHECK, "rule": sp.rule, "severity": sp.severity, "site_code": code, "operator": operator,
        "other_site_code": first["site_code"], "distance_m": first["distance_m"],
        "district_code": district_code, "commune_code": commune_code, "district": district, "commune": commune,
        "legal_source": pack.citation(sp.source),
        "message": render(ref),
        "details": {"msg": ref, "min_distance_m": float(res.min_distance_m[i]), "spacing_rule": res.rule[i],
                    "urban": None if np.isnan(urban) else bool(urban),
                    "within_count": int(res.within_count[i]), "nearest": near,
                    "colocation_candidates": res.candidates[i], "status": sp.status,
                    **({"note": res.note[i]} if res.note[i] else {}),
                    **({"ambiguity": amb} if amb else {})},
        "x_m": x_m, "y_m": y_m,
    }
