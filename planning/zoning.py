"""The flagship check: masts of a class an area's policy forbids, on its routes and in its zones.

Which classes a policy forbids is the rule pack's (``zoning.policies``, each with its source): an
A1-only route or zone keeps out every A2 class, an ``a2a_allowed`` one keeps out A2b and A2c. A site
whose class cannot be decided, inside an area that forbids a class it could have, gets a warning
that names the missing inputs instead of silence.

A route is a street centreline with a corridor half-width ``corridor_m``; a zone is a polygon (plus
an optional ``buffer_m``) or a point with ``radius_m``. Instead of buffering every route and zone
and intersecting polygons, the A1-only features are cut into short straight pieces (a point zone is
a zero-length piece whose reach is its radius) and registered in a grid once
(:class:`A1Targets`); each site then looks up the pieces in its own grid cell and the exact
point-to-segment distances are computed for those candidates only, all in whole-array numpy. The
same prepared targets answer one proposed site in microseconds (``POST /checks/site``).

Output: one finding per (site, route) and per (site, zone), with the distance in metres (0 inside
a polygon zone), never one per piece.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import shapely

from planning.classify import classify_sites, normalise_class, open_inputs
from planning.findings import empty_findings, finalise, no_gc, unit_label
from planning.geometry import BoxGrid, crs_string, line_segments, metric_xy, point_segment_distance, to_crs
from planning.i18n import msg_ref, render
from planning.rules import CLASSIFIER_FIELDS, RulePack
from planning.vocab import MAST_CLASSES, UNKNOWN_CLASS

#: distances are compared with this slack so a site exactly on the corridor edge counts (float noise)
TOLERANCE_M = 1e-6
CHECK = "a1-routes"


@dataclass(frozen=True)
class A1Targets:
    """A1-only routes and zones prepared for candidate search; build once, query many times."""

    targets: pd.DataFrame  # one row per route/zone: kind, name, rule, legal_source, reach_m, ...
    ax: np.ndarray
    ay: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    seg_reach: np.ndarray
    seg_target: np.ndarray
    polys: np.ndarray  # polygon parts (shapely), metric CRS
    poly_reach: np.ndarray
    poly_target: np.ndarray
    grid: BoxGrid

    @property
    def n_pieces(self) -> int:
        return int(self.ax.size)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled without its grid, which is rebuilt where it is unpickled. The grid (every piece's
        box in each cell it touches) is about 70 % of the bytes — 35 of 50 MB for 20,000 national A1
        routes — and Dask sends the targets to every worker: rebuilding costs a worker a fraction
        of a second, shipping it cost each worker the transfer and the driver the serialisation."""
        state = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "grid"}
        return (_targets_from_state, (state, self.grid.cell))

    @cached_property
    def records(self) -> list[dict[str, Any]]:
        """The targets as plain dicts (single-site checks read a few of them per request)."""
        return self.targets.to_dict("records")

    def match(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point index, target index, distance m) for every target within reach of a point;
        one row per (point, target), with the smallest distance over the target's pieces."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        pi, bi = self.grid.candidates(x, y)
        nseg = self.n_pieces
        seg = bi < nseg
        ps, bs = pi[seg], bi[seg]
        d = point_segment_distance(x[ps], y[ps], self.ax[bs], self.ay[bs], self.bx[bs], self.by[bs])
        ok = d <= self.seg_reach[bs] + TOLERANCE_M
        site = [ps[ok]]
        tgt = [self.seg_target[bs[ok]]]
        dist = [d[ok]]
        if (~seg).any():
            pp, bp = pi[~seg], bi[~seg] - nseg
            dp = shapely.distance(self.polys[bp], shapely.points(x[pp], y[pp]))
            okp = dp <= self.poly_reach[bp] + TOLERANCE_M
            site.append(pp[okp])
            tgt.append(self.poly_target[bp[okp]])
            dist.append(dp[okp])
        s = np.concatenate(site)
        t = np.concatenate(tgt)
        dd = np.concatenate(dist)
        if s.size == 0:
            return s, t, dd
        # one row per (site, target): the nearest piece decides the distance
        order = np.lexsort((dd, t, s))
        s, t, dd = s[order], t[order], dd[order]
        first = np.ones(s.size, dtype=bool)
        first[1:] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
        return s[first], t[first], dd[first]


def _col(frame: pd.DataFrame, name: str, default: Any = None) -> np.ndarray:
    if name in frame:
        return frame[name].to_numpy()
    return np.full(len(frame), default, dtype=object)


def _num(frame: pd.DataFrame, name: str, default: float) -> np.ndarray:
    v = pd.to_numeric(pd.Series(_col(frame, name), dtype=object), errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(v), default, v)


def _metric_geoms(frame: Any, metric_crs: str) -> np.ndarray:
    geoms = np.asarray(frame.geometry.values, dtype=object)
    if frame.crs is None:
        raise ValueError("routes and zones need a CRS")
    return to_crs(geoms, crs_string(frame.crs), metric_crs)


def _frame(cols: dict[str, Any], n: int) -> pd.DataFrame:
    """A frame whose text columns stay Python objects (pandas would convert them to Arrow strings)."""
    out = {}
    for k, v in cols.items():
        arr = np.asarray(v) if not np.isscalar(v) and v is not None else np.full(n, v, dtype=object)
        out[k] = pd.Series(arr, dtype=float if arr.dtype.kind == "f" else object)
    return pd.DataFrame(out)


def _fill(values: np.ndarray, default: str) -> np.ndarray:
    v = np.asarray(values, dtype=object).copy()
    v[pd.isna(pd.Series(v, dtype=object)).to_numpy()] = default
    return v


#: (geometries in the metric CRS, reach in metres, target index) of the pieces of some targets
_Pieces = tuple[np.ndarray, np.ndarray, np.ndarray]
_TARGET_COLUMNS = ["kind", "shape", "id", "name", "zone_kind", "policy", "rule", "reach_m", "default_reach",
                   "district_code", "legal_source"]


def _checked_policies(pack: RulePack) -> np.ndarray:
    """The policies of the pack that keep some class out (``any`` keeps none, so is not checked)."""
    return np.array([p.policy for p in pack.zoning.policies], dtype=object)


def _per_policy(policy: np.ndarray, pack: RulePack, attr: str) -> np.ndarray:
    table = {p.policy: getattr(p, attr) for p in pack.zoning.policies}
    return np.array([table[p] for p in policy.tolist()], dtype=object)


def _fill_per_policy(values: np.ndarray, policy: np.ndarray, pack: RulePack) -> np.ndarray:
    """A route's or zone's own legal source, else the source of its policy's rule."""
    own = _fill(values, "")
    cite = {p.policy: pack.citation(p.source) for p in pack.zoning.policies}
    return np.array([o if o else cite[p] for o, p in zip(own.tolist(), policy.tolist(), strict=True)], dtype=object)


def _route_targets(routes: Any, pack: RulePack, metric_crs: str) -> tuple[pd.DataFrame, _Pieces] | None:
    """A1-only routes: one target each, the centreline with its corridor as pieces."""
    policy = np.asarray(_col(routes, "policy"), dtype=object)
    r = routes[np.isin(policy, _checked_policies(pack))]
    if not len(r):
        return None
    z = pack.zoning
    corridor = _num(r, "corridor_m", z.default_corridor_m)
    pol = np.asarray(_col(r, "policy"), dtype=object)
    frame = _frame({
        "kind": "route", "shape": "line", "id": _col(r, "id"), "name": _col(r, "name"), "zone_kind": None,
        "policy": pol, "rule": _per_policy(pol, pack, "route_rule"), "reach_m": corridor,
        "default_reach": pd.isna(pd.Series(_col(r, "corridor_m"), dtype=object)).to_numpy(),
        "district_code": _col(r, "district_code"),
        "legal_source": _fill_per_policy(_col(r, "legal_source"), pol, pack),
    }, len(r))
    return frame, (_metric_geoms(r, metric_crs), corridor, np.arange(len(r)))


def _zone_targets(zones: Any, pack: RulePack, metric_crs: str, first: int,
                  ) -> tuple[pd.DataFrame, _Pieces, _Pieces] | None:
    """A1-only zones (target indexes from ``first``): points (radius) and lines (buffer) become
    pieces, polygons stay areas (buffer) matched by containment and distance."""
    zz = zones[np.isin(np.asarray(_col(zones, "policy", "a1_only"), dtype=object), _checked_policies(pack))]
    if not len(zz):
        return None
    pol = np.asarray(_col(zz, "policy", "a1_only"), dtype=object)
    geoms = _metric_geoms(zz, metric_crs)
    radius = _num(zz, "radius_m", 0.0)
    buffer = _num(zz, "buffer_m", 0.0)
    ids = np.arange(first, first + len(zz))
    parts, owner = shapely.get_parts(geoms, return_index=True)
    dim = shapely.get_dimensions(parts)
    reach_part = np.where(dim == 0, radius[owner], 0.0) + buffer[owner]
    gdim = shapely.get_dimensions(geoms)
    frame = _frame({
        "kind": "zone", "shape": np.where(gdim == 0, "point", np.where(gdim == 1, "line", "area")),
        "id": _col(zz, "id"), "name": _col(zz, "name"), "zone_kind": _col(zz, "kind"), "policy": pol,
        "rule": _per_policy(pol, pack, "zone_rule"), "reach_m": radius + buffer, "default_reach": False,
        "district_code": _col(zz, "district_code"),
        "legal_source": _fill_per_policy(_col(zz, "legal_source"), pol, pack),
    }, len(zz))
    lin = dim < 2
    return (frame, (parts[lin], reach_part[lin], ids[owner[lin]]),
            (parts[~lin], reach_part[~lin], ids[owner[~lin]]))


def _cat(arrays: list[np.ndarray], dtype: Any = float) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype) if arrays else np.empty(0, dtype=dtype)


def _segments(pieces: list[_Pieces], cell_m: float) -> tuple[np.ndarray, ...]:
    """Lines cut into pieces about a grid cell long, points as zero-length pieces:
    (ax, ay, bx, by, reach, target)."""
    ax, ay, bx, by, sr, st = ([] for _ in range(6))
    for geoms, reach, ids in pieces:
        s = line_segments(geoms, max_len=cell_m)
        pts = shapely.get_type_id(geoms) == 0
        if pts.any():
            c = shapely.get_coordinates(geoms[pts])
            idx = np.flatnonzero(pts)
            ax.append(c[:, 0]); ay.append(c[:, 1]); bx.append(c[:, 0]); by.append(c[:, 1])  # noqa: E702
            sr.append(reach[idx]); st.append(ids[idx])  # noqa: E702
        ax.append(s.ax); ay.append(s.ay); bx.append(s.bx); by.append(s.by)  # noqa: E702
        sr.append(reach[s.owner]); st.append(ids[s.owner])  # noqa: E702
    return _cat(ax), _cat(ay), _cat(bx), _cat(by), _cat(sr), _cat(st, np.int64)


def _grid(ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, reach: np.ndarray, polys: np.ndarray,
          poly_reach: np.ndarray, cell_m: float) -> BoxGrid:
    """Every piece's box, widened by its reach (and a little), hashed into a grid."""
    pad = TOLERANCE_M * 10
    box = [np.minimum(ax, bx) - reach - pad, np.minimum(ay, by) - reach - pad,
           np.maximum(ax, bx) + reach + pad, np.maximum(ay, by) + reach + pad]
    if polys.size:
        b = shapely.bounds(polys)
        widened = [b[:, 0] - poly_reach - pad, b[:, 1] - poly_reach - pad,
                   b[:, 2] + poly_reach + pad, b[:, 3] + poly_reach + pad]
        box = [np.concatenate([s, w]) for s, w in zip(box, widened, strict=True)]
    return BoxGrid(*box, cell=cell_m)


def _targets_from_state(state: dict[str, Any], cell_m: float) -> A1Targets:
    """The targets of :meth:`A1Targets.__reduce__`: the same grid, rebuilt from the pieces."""
    polys = state["polys"]
    if polys.size:
        shapely.prepare(polys)  # preparation does not survive pickling
    grid = _grid(state["ax"], state["ay"], state["bx"], state["by"], state["seg_reach"], polys, state["poly_reach"],
                 cell_m)
    return A1Targets(**state, grid=grid)


def build_a1_targets(routes: Any | None, zones: Any | None, pack: RulePack, metric_crs: str,
                     cell_m: float | None = None) -> A1Targets:
    """Prepare the A1-only routes (``policy == 'a1_only'``) and zones of GeoDataFrames in any CRS."""
    rows: list[pd.DataFrame] = []
    lines: list[_Pieces] = []
    areas: list[_Pieces] = []
    found = _route_targets(routes, pack, metric_crs) if routes is not None and len(routes) else None
    if found:
        rows.append(found[0])
        lines.append(found[1])
    zoned = _zone_targets(zones, pack, metric_crs, sum(map(len, rows))) if zones is not None and len(zones) else None
    if zoned:
        rows.append(zoned[0])
        lines += [zoned[1]] if zoned[1][0].size else []
        areas += [zoned[2]] if zoned[2][0].size else []
    targets = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=_TARGET_COLUMNS)
    reach_all = _cat([p[1] for p in lines + areas])
    if cell_m is None:
        # pieces about as long as a grid cell, cells about twice the typical reach: few cells per
        # piece and few pieces per cell
        cell_m = float(np.clip(2.0 * np.median(reach_all), 20.0, 2000.0)) if reach_all.size else 100.0
    ax, ay, bx, by, sr, st = _segments(lines, cell_m)
    polys = np.concatenate([p[0] for p in areas]) if areas else np.empty(0, dtype=object)
    pr, pt = _cat([p[1] for p in areas]), _cat([p[2] for p in areas], np.int64)
    if polys.size:
        shapely.prepare(polys)
    return A1Targets(targets, ax, ay, bx, by, sr, st, polys, pr, pt, _grid(ax, ay, bx, by, sr, polys, pr, cell_m))


def subject_mask(sites: pd.DataFrame, pack: RulePack, classes: tuple[str, ...] | None = None,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which sites the check looks at: (mask, derived class, declared class).

    Subjects: sites whose derived class (the ``derived_class`` column where filled, else classified
    here) is one some policy forbids (or the ``classes`` override) or is ``unknown``; the declared
    class counts too when the pack says so. Removed masts are never subjects. A boolean ``subject``
    column, where not null, is taken as already decided (the database filtered those rows by class)
    and their classes are left None. Which area forbids which class is decided per match
    (:func:`verdict`).
    """
    n = len(sites)
    wanted = np.array([*subject_classes(pack, classes), UNKNOWN_CLASS], dtype=object)
    derived = np.full(n, None, dtype=object)
    declared = np.full(n, None, dtype=object)
    mask = np.zeros(n, dtype=bool)
    if "subject" in sites:
        subj = sites["subject"].to_numpy(dtype=object)
        todo = pd.isna(pd.Series(subj, dtype=object)).to_numpy()
        mask[~todo] = subj[~todo].astype(bool)
    else:
        todo = np.ones(n, dtype=bool)
    if todo.any():
        part = sites[todo] if not todo.all() else sites
        d = _col(part, "derived_class").astype(object)
        miss = pd.isna(pd.Series(d, dtype=object)).to_numpy()
        if miss.any():
            d = d.copy()
            d[miss] = classify_sites(part[miss], pack, reasons="none")["derived_class"].to_numpy()
        dc = normalise_class(_col(part, "declared_class"))
        m = np.isin(d, wanted)
        if pack.zoning.use_declared_class:
            m |= np.isin(dc, wanted[:-1])
        m &= _col(part, "status", "built") != "removed"
        mask[todo], derived[todo], declared[todo] = m, d, dc
    return mask, derived, declared


def a1_matches(sites: pd.DataFrame, pack: RulePack, *, metric_crs: str, targets: A1Targets,
               classes: tuple[str, ...] | None = None) -> pd.DataFrame:
    """(site_pos, target, distance_m, derived_class, declared_class, x_m, y_m) for every subject site
    within reach of an A1-only route or zone; ``site_pos`` is the row position in ``sites``.

    ``sites`` needs only ``x_m``/``y_m`` (or a point geometry) and the class columns — or a
    ``subject`` flag — so callers holding a million rows can pass the thin columns and fetch names
    (and classes) for the matches alone.
    """
    cols = ["site_pos", "target", "distance_m", "derived_class", "declared_class", "x_m", "y_m"]
    if len(sites) == 0 or len(targets.targets) == 0:
        return pd.DataFrame(columns=cols)
    mask, derived, declared = subject_mask(sites, pack, classes)
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return pd.DataFrame(columns=cols)
    x, y = metric_xy(sites.iloc[idx] if idx.size < len(sites) else sites, metric_crs)
    si, ti, dist = targets.match(x, y)
    rows = idx[si]
    return pd.DataFrame({"site_pos": rows, "target": ti, "distance_m": dist,
                         "derived_class": pd.Series(derived[rows], dtype=object),
                         "declared_class": pd.Series(declared[rows], dtype=object), "x_m": x[si], "y_m": y[si]})


def forbidden_classes(pack: RulePack, policy: str, classes: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The classes an area of ``policy`` keeps out: the pack's list, or — with the ``classes``
    override (``btsplan check a1-routes --classes``) — the override in A1-only areas and the pack's
    list narrowed to the override elsewhere."""
    rule = pack.zoning.policy(policy)
    own = rule.forbidden if rule is not None else ()
    if classes is None:
        return tuple(own)
    if policy == "a1_only":
        return tuple(classes)
    return tuple(c for c in own if c in classes)


def subject_classes(pack: RulePack, classes: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Every class some policy keeps out (what the database pre-selects), in the circular's order."""
    out = {c for p in pack.zoning.policies for c in forbidden_classes(pack, p.policy, classes)}
    return tuple(c for c in MAST_CLASSES if c in out)


@dataclass(frozen=True)
class Verdict:
    """What one site near one area amounts to: a ``violation`` of the class it has (``mast_class``),
    or ``unconfirmed`` (class unknown, and the missing inputs could give a forbidden class)."""

    kind: str  # "violation" | "unconfirmed"
    mast_class: str
    missing: tuple[str, ...] = ()


def verdict(pack: RulePack, policy: str, derived: Any, declared: Any, *, open_inputs: Any = None,
            classes: tuple[str, ...] | None = None) -> Verdict | None:
    """The finding (if any) a site of ``derived``/``declared`` class gets in an area of ``policy``.

    ``open_inputs``: for an ``unknown`` site, (missing inputs, classes they could still give), from
    :func:`planning.classify.open_inputs`; without it every class counts as possible.
    """
    forbidden = forbidden_classes(pack, policy, classes)
    if derived in forbidden:
        return Verdict("violation", derived)
    if pack.zoning.use_declared_class and declared in forbidden:
        return Verdict("violation", declared)
    if derived != UNKNOWN_CLASS or not forbidden:
        return None
    missing, possible = open_inputs if open_inputs is not None else ((), MAST_CLASSES)
    if possible and not set(possible) & set(forbidden):
        return None
    return Verdict("unconfirmed", UNKNOWN_CLASS, tuple(missing))


def _obj(values: Any) -> pd.Series:
    """Text columns stay plain Python objects (no per-value conversion to Arrow strings)."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def _open(site_rows: pd.DataFrame, derived: np.ndarray, pack: RulePack) -> list[Any]:
    """(missing, possible) of the unknown-class rows (None for the others), from their fields."""
    out: list[Any] = [None] * len(derived)
    unknown = np.flatnonzero(derived == UNKNOWN_CLASS)
    if unknown.size and any(f in site_rows for f in CLASSIFIER_FIELDS):
        for i, v in zip(unknown.tolist(), open_inputs(site_rows.iloc[unknown], pack), strict=True):
            out[i] = v
    return out


def _status_extra(pack: RulePack, policy: str, default_reach: bool) -> dict[str, Any]:
    """``status``/``ambiguity`` of a finding: the least certain of the zoning, its policy's rule and
    (for a route with the default corridor) the corridor width, with the texts that explain it."""
    z = pack.zoning
    rule = z.policy(policy)
    parts = [(z.status, z.ambiguity)]
    if rule is not None:
        parts.append((rule.status, rule.ambiguity))
    if default_reach:
        parts.append((z.corridor_status, z.corridor_ambiguity))
    rank = {"confirmed": 0, "usage": 1, "provisional": 2}
    status = max((p[0] for p in parts), key=rank.__getitem__)
    texts = [t for t in dict.fromkeys(pack.ambiguity_text(a) for _, a in parts if a) if t]
    extra: dict[str, Any] = {}
    if status != "confirmed":
        extra["status"] = status
    if texts:
        extra["ambiguity"] = " ".join(texts)
    if rule is not None and rule.quote:
        extra["quote"] = rule.quote
    return extra


def a1_report(matches: pd.DataFrame, site_rows: pd.DataFrame, targets: A1Targets, pack: RulePack, *,
              unit_names: dict[str, str] | None = None, classes: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Turn matches into findings. ``site_rows`` is aligned with ``matches`` (one row each) and holds
    ``code``, ``operator``, ``district_code``, ``commune_code`` (and ``derived_class`` /
    ``declared_class`` for matches that do not carry them, and the classifier fields so an
    unknown-class site can be told what is missing). Each match is judged by its area's policy
    (:func:`verdict`); matches that break no rule give nothing."""
    with no_gc():
        return _a1_report(matches, site_rows, targets, pack, unit_names, classes)


def _a1_report(matches: pd.DataFrame, site_rows: pd.DataFrame, targets: A1Targets, pack: RulePack,
               unit_names: dict[str, str] | None, classes: tuple[str, ...] | None) -> pd.DataFrame:
    if len(matches) == 0:
        return empty_findings()
    t = targets.targets
    ti = matches["target"].to_numpy(dtype=np.int64)
    dcls = matches["derived_class"].to_numpy(dtype=object)
    decl = matches["declared_class"].to_numpy(dtype=object)
    if "derived_class" in site_rows:
        fill = pd.isna(pd.Series(dcls, dtype=object)).to_numpy()
        dcls = np.where(fill, site_rows["derived_class"].to_numpy(dtype=object), dcls)
        decl = np.where(fill, normalise_class(site_rows["declared_class"].to_numpy(dtype=object)), decl)
    policy = t["policy"].to_numpy(dtype=object)[ti]
    opened = _open(site_rows, dcls, pack)
    verdicts = [verdict(pack, p, a, b, open_inputs=o, classes=classes)
                for p, a, b, o in zip(policy.tolist(), dcls.tolist(), decl.tolist(), opened, strict=True)]
    keep = np.array([v is not None for v in verdicts], dtype=bool)
    if not keep.any():
        return empty_findings()
    ks = np.flatnonzero(keep)
    verdicts = [verdicts[i] for i in ks.tolist()]
    ti, dcls, decl, policy = ti[ks], dcls[ks], decl[ks], policy[ks]
    rows = site_rows.iloc[ks]
    kind = t["kind"].to_numpy(dtype=object)[ti]
    name = t["name"].to_numpy(dtype=object)[ti]
    reach = t["reach_m"].to_numpy(dtype=float)[ti]
    shape = t["shape"].to_numpy(dtype=object)[ti]
    default_reach = t["default_reach"].to_numpy(dtype=bool)[ti]
    rule = t["rule"].to_numpy(dtype=object)[ti]
    dist = matches["distance_m"].to_numpy(dtype=float)[ks]
    code = _col(rows, "code")
    is_route = kind == "route"
    refs = [_message(v, de, sc, d, k, n, r, sh, forbidden_classes(pack, p, classes))
           for v, de, sc, d, k, n, r, sh, p in zip(verdicts, decl.tolist(), code.tolist(), dist.tolist(),
                                                   kind.tolist(), name.tolist(), reach.tolist(), shape.tolist(),
                                                   policy.tolist(), strict=True)]
    tid = [None if v != v else v for v in t["id"].to_numpy(dtype=object)[ti].tolist()]  # NaN -> None
    zk = t["zone_kind"].to_numpy(dtype=object)[ti].tolist()
    tdc = t["district_code"].to_numpy(dtype=object)[ti].tolist()
    extras = {(p, dr): _status_extra(pack, p, bool(dr)) for p, dr in set(zip(policy.tolist(), default_reach.tolist(),
                                                                            strict=True))}
    details = [{"derived_class": a, "declared_class": b, "target_id": c, "reach_m": r, "zone_kind": z,
                "target_district_code": q, "policy": p, **_verdict_details(v), **extras[(p, bool(dr))], "msg": m}
               for a, b, c, r, z, q, p, dr, v, m in zip(dcls.tolist(), decl.tolist(), tid, reach.tolist(), zk, tdc,
                                                        policy.tolist(), default_reach.tolist(), verdicts, refs,
                                                        strict=True)]
    msg = [render(m) for m in refs]
    severity = [pack.zoning.severity if v.kind == "violation" else pack.zoning.unknown_severity for v in verdicts]
    rule = np.array([r if v.kind == "violation" else f"{r}.unconfirmed" for r, v in zip(rule.tolist(), verdicts,
                                                                                       strict=True)], dtype=object)
    dcode = _col(rows, "district_code")
    ccode = _col(rows, "commune_code")
    out = pd.DataFrame({
        "check": CHECK, "rule": _obj(rule), "severity": _obj(severity),
        "site_code": _obj(code), "operator": _obj(_col(rows, "operator")),
        "zone": _obj(np.where(is_route, None, name)), "route": _obj(np.where(is_route, name, None)),
        "other_site_code": _obj(np.full(len(ti), None)), "distance_m": dist,
        "district": _obj(unit_label(dcode, unit_names)), "commune": _obj(unit_label(ccode, unit_names)),
        "district_code": _obj(dcode), "commune_code": _obj(ccode),
        "legal_source": _obj(t["legal_source"].to_numpy(dtype=object)[ti]), "message": _obj(msg),
        "details": _obj(details),
        "x_m": matches["x_m"].to_numpy(dtype=float)[ks], "y_m": matches["y_m"].to_numpy(dtype=float)[ks],
    })
    return finalise(out)


def _verdict_details(v: Verdict) -> dict[str, Any]:
    return {"verdict": v.kind, **({"missing": list(v.missing)} if v.kind == "unconfirmed" else {})}


def a1_records(targets: A1Targets, target: np.ndarray, distance: np.ndarray, pack: RulePack, *,
               derived: Any, declared: Any, code: Any, operator: Any, district: Any, commune: Any,
               open_inputs: Any = None) -> list[dict[str, Any]]:
    """Findings of ONE site as the JSON objects of docs/architecture.md, "Machine-readable outputs",
    without building DataFrames (the single-site check answers in microseconds; see
    :func:`planning.findings.to_records`). Judged per area by :func:`verdict`, like the batch."""
    out = []
    for ti, d in sorted(zip(np.asarray(target).tolist(), np.asarray(distance).tolist(), strict=True),
                        key=lambda p: p[1]):
        row = targets.records[ti]
        v = verdict(pack, row["policy"], derived, declared, open_inputs=open_inputs)
        if v is None:
            continue
        kind, name, reach = row["kind"], row["name"], float(row["reach_m"])
        tid = row["id"]
        out.append({
            "check": CHECK, "rule": row["rule"] if v.kind == "violation" else f"{row['rule']}.unconfirmed",
            "severity": pack.zoning.severity if v.kind == "violation" else pack.zoning.unknown_severity,
            "site_code": code, "operator": operator, kind: name, "distance_m": round(float(d), 2),
            "district": district, "commune": commune, "legal_source": row["legal_source"],
            "message": render(ref := _message(v, declared, code, float(d), kind, name, reach, row["shape"],
                                              forbidden_classes(pack, row["policy"]))),
            "details": {"derived_class": derived, "declared_class": declared,
                        "target_id": None if tid is None or tid != tid else (int(tid) if isinstance(tid, int | np.integer)
                                                                             else tid),
                        "reach_m": reach, "zone_kind": row["zone_kind"], "target_district_code": row["district_code"],
                        "policy": row["policy"], **_verdict_details(v),
                        **_status_extra(pack, row["policy"], bool(row["default_reach"])), "msg": ref},
        })
    return out


def a1_findings(sites: pd.DataFrame, routes: Any | None, zones: Any | None, pack: RulePack, *,
                metric_crs: str, targets: A1Targets | None = None, classes: tuple[str, ...] | None = None,
                unit_names: dict[str, str] | None = None) -> pd.DataFrame:
    """Findings of masts of a class their area's policy forbids (columns of
    :data:`planning.findings.FINDING_COLUMNS`).

    ``sites``: DataFrame with ``x_m``/``y_m`` (metric) or a point geometry, and ``code``,
    ``operator``, ``derived_class``, ``declared_class``, ``status``, ``district_code``,
    ``commune_code`` and the classifier fields where known. ``routes``/``zones``: GeoDataFrames in
    any CRS (rows whose ``policy`` the pack checks), or pass prepared ``targets`` to reuse them.
    ``classes``: the override of :func:`forbidden_classes`. ``unit_names``: unit code → name.
    """
    if targets is None:
        targets = build_a1_targets(routes, zones, pack, metric_crs)
    m = a1_matches(sites, pack, metric_crs=metric_crs, targets=targets, classes=classes)
    return a1_report(m, sites.iloc[m["site_pos"].to_numpy(dtype=np.int64)], targets, pack, unit_names=unit_names,
                     classes=classes)


def _allowed(forbidden: tuple[str, ...]) -> str:
    """The classes an area admits, as the plans name them ("A1", "A1, A2a")."""
    ok = [c for c in MAST_CLASSES if c not in forbidden]
    if "A1a" in ok and "A1b" in ok:
        ok = ["A1", *[c for c in ok if not c.startswith("A1")]]
    return ", ".join(ok)


def _message(v: Verdict, declared: Any, code: Any, d: float, kind: str, name: str, reach: float, shape: str,
             forbidden: tuple[str, ...]) -> dict[str, Any]:
    """The finding's sentence as a :func:`planning.i18n.msg_ref` (stored in ``details["msg"]``,
    rendered in the reader's language); no field is ever printed as "None"."""
    dist = round(d, 1)
    if kind == "route":
        where = msg_ref("{distance:.1f} m from the centreline of route {name} (corridor {corridor:g} m)",
                        distance=dist, name=name, corridor=reach)
    elif shape == "point":
        where = msg_ref("{distance:.1f} m from the centre of zone {name} (radius {radius:g} m)", distance=dist,
                        name=name, radius=reach)
    elif d <= TOLERANCE_M:
        where = msg_ref("inside zone {name}", name=name)
    else:
        where = msg_ref("{distance:.1f} m from zone {name} (buffer {buffer:g} m)", distance=dist, name=name,
                        buffer=reach)
    allowed = _allowed(forbidden)
    if v.kind == "violation":
        cls: Any = v.mast_class if declared in (None, v.mast_class) else msg_ref(
            "{mast_class} (declared {declared})", mast_class=v.mast_class, declared=declared)
        mast = (msg_ref("{mast_class} mast {code}", mast_class=cls, code=code) if code
                else msg_ref("{mast_class} mast", mast_class=cls))
        return msg_ref("{mast} is {where}, where only {allowed} masts may be installed", mast=mast, where=where,
                       allowed=allowed)
    mast = msg_ref("Mast {code}", code=code) if code else msg_ref("The mast")
    missing: Any = ", ".join(v.missing) if v.missing else msg_ref("a placement the rules know (building, ground or structure)")
    return msg_ref("{mast} is {where}, where only {allowed} masts may be installed; its class cannot be "
                   "confirmed, missing: {missing}", mast=mast, where=where, allowed=allowed, missing=missing)
