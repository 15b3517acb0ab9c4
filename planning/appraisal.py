"""The automatic appraisal report (báo cáo kết quả thẩm định) of a firm's plan submission.

For every item: the derived mast class with its reasons and the A1-zone/route and spacing findings
(from the same :func:`planning.checks.check_site` that answers ``POST /checks/site`` — one classifier,
passed in as ``check_site``), plus what only a *plan* can have: conflicts with other firms' pending
plans, new masts of the same plan too close to each other, items outside the province, removal of a
mast other firms share, sharing a mast that is full. A summary counts findings by severity.

Need to know: the department's report names the other plan, firm, item and distance of every
cross-plan finding. The firm is shown :func:`redact_for_operator`'s version, built from what
:func:`appraise` stores beside each item (``operator_findings``): the rule and a fixed message, decided
on :data:`DISCLOSURE_CELL_M` grid cells rather than exact distances, so that no number of drafts can
place another firm's pending mast or cable more precisely than one cell (docs/security.md).

Pure: features (WGS84 GeoJSON dicts) and context in, a JSON-ready dict out. Distances are measured in
the metric CRS, never in degrees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from planning.geometry import project_xy, to_crs
from planning.i18n import msg_ref, render
from planning.labels import ITEM_KIND
from planning.plan_items import item_key
from planning.vocab import SEVERITIES
#: check_site(properties, lon, lat) → {"derived_class", "reasons", "findings", "colocation_candidates"}
SiteChecker = Callable[[Mapping[str, Any], float, float], Mapping[str, Any]]
#: Two cable routes closer than this share a street (info: coordinate the trench/brackets).
SHARED_TRENCH_M = 15.0
#: Findings about other firms' pending plans: the department sees them in full, a firm only as
#: :func:`redact_for_operator` tells them.
CROSS_PLAN_RULES = ("plan.pending_conflict", "plan.pending_same_site", "plan.shared_trench")
#: Side of the grid cells (metric CRS) on which a firm is told about other firms' pending masts and
#: cables; at least the conflict radius, so every real conflict is told (see :func:`_told_rules`).
DISCLOSURE_CELL_M = 100.0
_SITE_ATTRS = ("mount", "structure", "mast_height_m", "building_height_m", "reach_m", "camouflaged", "declared_class",
               "tech", "transmitters", "name")


@dataclass(frozen=True)
class PendingItem:
    """An item of another firm's submitted or under-review plan."""

    plan_id: int
    operator: str
    index: int
    feature: Mapping[str, Any]


@dataclass
class AppraisalContext:
    metric_crs: str
    check_site: SiteChecker
    #: existing sites referenced by change/remove/share items: code → record with lon, lat, operator,
    #: status, shared_by, max_tenants, derived_class and the classifier fields
    sites: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: the province (WGS84); ``None`` skips the outside-province check
    province: BaseGeometry | None = None
    province_name: str | None = None
    pending: Sequence[PendingItem] = ()
    #: masts of different firms' pending plans closer than this conflict (the pack's minimum spacing,
    #: urban communes; non-urban ones use ``conflict_radius_rural_m`` where given)
    conflict_radius_m: float = 100.0
    conflict_radius_rural_m: float | None = None
    #: whether a position (lon, lat) lies in an urban commune (None: not known); without it, or where
    #: it is not known, a mast is held to the larger of the two distances
    urban_at: Callable[[float, float], bool | None] | None = None
    spacing_source: str | None = None
    rule_pack: Mapping[str, Any] = field(default_factory=dict)


def _finding(rule: str, severity: str, message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A finding with its sentence rendered now and kept as ``msg`` (:func:`planning.i18n.msg_ref`), so
    the report frozen at submission reads in the language of whoever opens it
    (:func:`planning.findings.localise_messages`)."""
    return {"rule": rule, "severity": severity, "message": render(message), "msg": message,
            **{k: v for k, v in extra.items() if v is not None}}


def _point_of(feature: Mapping[str, Any], sites: Mapping[str, Mapping[str, Any]]) -> tuple[float, float] | None:
    """Where an item stands: its own point, else the position of the site it refers to."""
    g = feature.get("geometry")
    if g and g.get("type") == "Point":
        return float(g["coordinates"][0]), float(g["coordinates"][1])
    site = sites.get(feature["properties"].get("site_code") or "")
    if site and site.get("lon") is not None:
        return float(site["lon"]), float(site["lat"])
    return None


def _is_mast(feature: Mapping[str, Any]) -> bool:
    """Items that put a mast at a position (new mast, or an existing mast moved/rebuilt)."""
    return feature["properties"]["item"] in ("new_site", "change_site")


def _metric(points: Sequence[tuple[float, float] | None], crs: str) -> np.ndarray:
    out = np.full((len(points), 2), np.nan)
    idx = [i for i, p in enumerate(points) if p is not None]
    if idx:
        x, y = project_xy([points[i][0] for i in idx], [points[i][1] for i in idx], "EPSG:4326", crs)  # type: ignore[index]
        out[idx, 0], out[idx, 1] = x, y
    return out


@dataclass(frozen=True)
class _Plan:
    """One plan version laid out for the appraisal steps: each item's position (WGS84 and metric) and
    cable line (metric), and the same for the other firms' pending items."""

    features: Sequence[Mapping[str, Any]]
    operator: str
    ctx: AppraisalContext
    points: list[tuple[float, float] | None]
    xy: np.ndarray
    lines: dict[int, BaseGeometry]
    pend_xy: np.ndarray
    pend_lines: dict[int, BaseGeometry]
    #: each item's minimum distance to other masts (urban or non-urban commune)
    radius: np.ndarray

    @classmethod
    def lay_out(cls, features: Sequence[Mapping[str, Any]], operator: str, ctx: AppraisalContext) -> _Plan:
        points = [_point_of(f, ctx.sites) for f in features]
        pend_pts = [_point_of(p.feature, ctx.sites) if _is_mast(p.feature) else None for p in ctx.pending]
        return cls(features, operator, ctx, points, _metric(points, ctx.metric_crs),
                   _cable_lines(features, ctx.metric_crs), _metric(pend_pts, ctx.metric_crs),
                   _cable_lines([p.feature for p in ctx.pending], ctx.metric_crs), _radii(points, ctx))

    def site(self, i: int) -> Mapping[str, Any] | None:
        """The existing site item ``i`` refers to (``site_code``), if known."""
        return self.ctx.sites.get(self.features[i]["properties"].get("site_code") or "")


def _cable_lines(features: Sequence[Mapping[str, Any]], crs: str) -> dict[int, BaseGeometry]:
    return {i: to_crs([shape(f["geometry"])], "EPSG:4326", crs)[0]
            for i, f in enumerate(features) if f["properties"]["item"] == "cable_route"}


# --------------------------------------------------------------------------------------------
# one function per item kind: fills the item's entry, returns its own findings
# --------------------------------------------------------------------------------------------

ItemAppraiser = Callable[[_Plan, int, dict[str, Any]], list[dict[str, Any]]]


def _appraise_mast(plan: _Plan, i: int, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """A new or changed mast: the single-site check (class, A1, spacing) at its position."""
    pos = plan.points[i]
    if pos is None:
        return []
    p = plan.features[i]["properties"]
    site = plan.site(i)
    attrs = {k: site.get(k) for k in _SITE_ATTRS if site and site.get(k) is not None} if site else {}
    attrs.update({k: p[k] for k in _SITE_ATTRS if k in p})
    attrs.update({"code": p.get("code") or p.get("site_code"), "operator": plan.operator})
    checked = plan.ctx.check_site(attrs, pos[0], pos[1])
    entry["declared_class"] = attrs.get("declared_class")
    entry["derived_class"] = checked.get("derived_class")
    loc = checked.get("location") or {}
    for k in ("district", "commune"):
        if loc.get(k):
            entry[k] = loc[k]
    entry["reasons"] = list(checked.get("reasons", []))
    own = p.get("site_code")
    entry["colocation_candidates"] = [c for c in checked.get("colocation_candidates", [])
                                      if c.get("site_code") != own]
    return [dict(x) for x in checked.get("findings", []) if not own or x.get("other_site_code") != own]


def _appraise_share(plan: _Plan, i: int, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Sharing an existing mast: already shared by this firm, full, or fine."""
    site = plan.site(i)
    if site is None:
        return []
    code = plan.features[i]["properties"]["site_code"]
    entry["host_operator"] = site.get("operator")
    entry["derived_class"] = site.get("derived_class")
    tenants = [t for t in (site.get("shared_by") or []) if t != site.get("operator")]
    cap = site.get("max_tenants")
    if plan.operator in tenants:
        return [_finding("plan.share_existing", "info", msg_ref("{operator} already shares site {code}",
                                                                 operator=plan.operator, code=code))]
    if cap is not None and 1 + len(tenants) >= int(cap):
        return [_finding("plan.share_capacity", "warning",
                         msg_ref("site {code} already carries {n} operator(s), its capacity is {cap}", code=code,
                                 n=1 + len(tenants), cap=cap),
                         tenants=1 + len(tenants), max_tenants=cap)]
    cls = site.get("derived_class")
    return [_finding("plan.share", "info",
                     msg_ref("shares {operator}'s mast {code} ({mast_class})", operator=site.get("operator"), code=code,
                             mast_class=cls) if cls else
                     msg_ref("shares {operator}'s mast {code}", operator=site.get("operator"), code=code))]


def _appraise_removal(plan: _Plan, i: int, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Removing a mast other firms still hang equipment on."""
    site = plan.site(i)
    if site is None:
        return []
    entry["derived_class"] = site.get("derived_class")
    others = [t for t in (site.get("shared_by") or []) if t not in (plan.operator, site.get("operator"))]
    if not others:
        return []
    return [_finding("plan.remove_shared", "warning",
                     msg_ref("site {code} is shared by {tenants}; their equipment must be moved before the mast is "
                             "removed", code=plan.features[i]["properties"]["site_code"], tenants=", ".join(others)),
                     tenants=others)]


def _appraise_cable(plan: _Plan, i: int, entry: dict[str, Any]) -> list[dict[str, Any]]:
    entry["length_m"] = round(float(plan.lines[i].length), 2)
    entry["method"] = plan.features[i]["properties"].get("method")
    return []


ITEM_APPRAISERS: dict[str, ItemAppraiser] = {
    "new_site": _appraise_mast, "change_site": _appraise_mast, "share_site": _appraise_share,
    "remove_site": _appraise_removal, "cable_route": _appraise_cable,
}


# --------------------------------------------------------------------------------------------
# cross-item rules: each looks at the whole plan (and the pending ones), yields (item, finding)
# --------------------------------------------------------------------------------------------

Found = Iterator[tuple[int, dict[str, Any]]]
OUTSIDE_RULE = "plan.outside_province"


def _outside_province(plan: _Plan) -> Found:
    prov = plan.ctx.province
    if prov is None:
        return
    for i, f in enumerate(plan.features):
        pos = plan.points[i]
        geom = shape(f["geometry"]) if f.get("geometry") else (shapely.Point(pos) if pos else None)
        if geom is not None and not prov.covers(geom):
            province = plan.ctx.province_name or msg_ref("the province")
            yield i, _finding(OUTSIDE_RULE, "violation", msg_ref(
                "the item lies partly outside {province}; the department appraises only items within its "
                "province", province=province) if prov.intersects(geom) else msg_ref(
                "the item lies outside {province}; the department appraises only items within its province", province=province))


def _pending_conflicts(plan: _Plan) -> Found:
    """Masts closer than the minimum spacing to a mast of another firm's pending plan."""
    ctx = plan.ctx
    if not len(ctx.pending):
        return
    for i, f in enumerate(plan.features):
        if not _is_mast(f) or np.isnan(plan.xy[i, 0]):
            continue
        code = f["properties"].get("site_code")
        d = np.hypot(plan.pend_xy[:, 0] - plan.xy[i, 0], plan.pend_xy[:, 1] - plan.xy[i, 1])
        for j in np.flatnonzero(d < plan.radius[i]):
            other = ctx.pending[j]
            other_code = other.feature["properties"].get("site_code")
            if other_code and other_code == code:
                continue
            yield i, _finding(
                "plan.pending_conflict", "warning",
                msg_ref("{distance:.0f} m from a mast in another firm's pending plan (minimum spacing {minimum:.0f} m): "
                        "agree on one shared mast", distance=float(d[j]), minimum=float(plan.radius[i])),
                distance_m=round(float(d[j]), 1), other_plan_id=other.plan_id, other_operator=other.operator,
                other_item=other.index, legal_source=ctx.spacing_source)


def _pending_same_site(plan: _Plan) -> Found:
    """An existing site that another firm's pending plan also changes, removes or shares (two shares agree)."""
    for i, f in enumerate(plan.features):
        p = f["properties"]
        kind = p["item"]
        if kind not in ("change_site", "remove_site", "share_site"):
            continue
        for other in plan.ctx.pending:
            op = other.feature["properties"]
            if op.get("site_code") == p["site_code"] and not (kind == op["item"] == "share_site"):
                action = ITEM_KIND.get(op["item"])
                yield i, _finding(
                    "plan.pending_same_site", "warning",
                    msg_ref("site {code} is also the subject of another firm's pending plan ({action})",
                            code=p["site_code"], action=msg_ref(action) if action else op["item"]),
                    other_plan_id=other.plan_id, other_operator=other.operator, other_item=other.index)


def _shared_trenches(plan: _Plan) -> Found:
    """Cable routes running along another firm's pending route: one trench or bracket set."""
    for i, line in plan.lines.items():
        for j, pending in plan.pend_lines.items():
            dist = float(line.distance(pending))
            if dist < SHARED_TRENCH_M:
                other = plan.ctx.pending[j]
                yield i, _finding(
                    "plan.shared_trench", "info",
                    msg_ref("another firm's pending cable route runs within {distance:.0f} m: coordinate one trench "
                            "or bracket set", distance=dist), distance_m=round(dist, 1), other_plan_id=other.plan_id,
                    other_operator=other.operator, other_item=other.index)


def _internal_spacing(plan: _Plan) -> Found:
    """Masts of this same plan too close to each other (both get the finding)."""
    ctx = plan.ctx
    mast_idx = [i for i, f in enumerate(plan.features) if _is_mast(f) and not np.isnan(plan.xy[i, 0])]
    if len(mast_idx) < 2:
        return
    pts = plan.xy[mast_idx]
    tree = shapely.STRtree(shapely.points(pts))
    left, right = tree.query(shapely.points(pts), predicate="dwithin", distance=max_conflict_radius_m(ctx))
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        if a >= b:
            continue
        ia, ib = mast_idx[a], mast_idx[b]
        dist = float(np.hypot(*(pts[a] - pts[b])))
        minimum = float(max(plan.radius[ia], plan.radius[ib]))
        if dist > minimum:
            continue
        for me, other in ((ia, ib), (ib, ia)):
            yield me, _finding(
                "plan.internal_spacing", "warning",
                msg_ref("{distance:.0f} m from item {other} of the same plan (minimum spacing {minimum:.0f} m)",
                        distance=dist, other=other, minimum=minimum),
                distance_m=round(dist, 1), other_item=other, legal_source=ctx.spacing_source)


#: Applied in this order; an item lists its own findings first, then each rule's.
CROSS_ITEM_RULES: tuple[Callable[[_Plan], Found], ...] = (
    _outside_province, _pending_conflicts, _pending_same_site, _shared_trenches, _internal_spacing,
)


# --------------------------------------------------------------------------------------------
# what a firm is told about other firms' pending plans (the operator view of CROSS_PLAN_RULES)
# --------------------------------------------------------------------------------------------

Cell = tuple[int, int]


def _cell(x: float, y: float, size: float) -> Cell:
    return int(np.floor(x / size)), int(np.floor(y / size))


def _around(cells: Iterable[Cell]) -> set[Cell]:
    """The cells and their eight neighbours: two points closer than one cell side are always in
    neighbouring cells, so testing the neighbourhood misses no real conflict."""
    return {(cx + dx, cy + dy) for cx, cy in cells for dx in (-1, 0, 1) for dy in (-1, 0, 1)}


def _line_cells(line: BaseGeometry, size: float) -> set[Cell]:
    """Cells of the line's vertices once pieces are at most ``size / 2`` long: every point of the line
    is then within ``size / 4`` of a vertex, so two lines closer than ``size / 2`` get neighbouring cells."""
    return {_cell(x, y, size) for x, y in shapely.get_coordinates(shapely.segmentize(line, size / 2))}


def max_conflict_radius_m(ctx: AppraisalContext) -> float:
    return max(ctx.conflict_radius_m, ctx.conflict_radius_rural_m or 0.0)


def _radii(points: Sequence[tuple[float, float] | None], ctx: AppraisalContext) -> np.ndarray:
    """Each item's minimum distance to other firms' masts: the pack's urban or non-urban distance by
    the commune it stands in, the larger one where that is not known (no fixed 100 m)."""
    rural = ctx.conflict_radius_rural_m if ctx.conflict_radius_rural_m is not None else ctx.conflict_radius_m
    out = np.full(len(points), max(ctx.conflict_radius_m, rural))
    if ctx.urban_at is None:
        return out
    for i, p in enumerate(points):
        urban = ctx.urban_at(p[0], p[1]) if p is not None else None
        if urban is not None:
            out[i] = ctx.conflict_radius_m if urban else rural
    return out


def disclosure_cell_m(conflict_radius_m: float) -> float:
    """One grid for masts and cables: wide enough for the conflict radius and for two trench distances."""
    return max(conflict_radius_m, DISCLOSURE_CELL_M, 2 * SHARED_TRENCH_M)


def _told_rules(plan: _Plan) -> list[set[str]]:
    """For each item, the cross-plan rules its firm is told about.

    Each answer depends only on which grid cells the item and the pending items occupy (and on the
    public site codes), never on exact distances: a firm probing with many drafts learns at most that
    another firm has a pending mast or cable in some cell, not where in it. The test is wider than
    the department's, never narrower: every exact conflict is told."""
    size = disclosure_cell_m(max_conflict_radius_m(plan.ctx))
    told: list[set[str]] = [set() for _ in plan.features]
    mast_codes: dict[Cell, set[str | None]] = {}
    for j, p in enumerate(plan.ctx.pending):
        if not np.isnan(plan.pend_xy[j, 0]):
            for c in _around([_cell(*plan.pend_xy[j], size)]):
                mast_codes.setdefault(c, set()).add(p.feature["properties"].get("site_code"))
    near_cables = _around(c for line in plan.pend_lines.values() for c in _line_cells(line, size))
    pending_sites = {p.feature["properties"].get("site_code") for p in plan.ctx.pending} - {None}
    for i, f in enumerate(plan.features):
        p = f["properties"]
        own = p.get("site_code")
        if _is_mast(f) and not np.isnan(plan.xy[i, 0]):
            codes = mast_codes.get(_cell(*plan.xy[i], size), set())
            if any(c is None or c != own for c in codes):
                told[i].add("plan.pending_conflict")
        if p["item"] in ("change_site", "remove_site", "share_site") and own in pending_sites:
            told[i].add("plan.pending_same_site")
        if i in plan.lines and _line_cells(plan.lines[i], size) & near_cables:
            told[i].add("plan.shared_trench")
    return told


def told_finding(rule: str, entry: Mapping[str, Any], radius_m: float, legal_source: str | None
                 ) -> dict[str, Any]:
    """The finding a firm sees for a cross-plan rule: the rule, its severity and a fixed message —
    no distance, position, firm, plan id or the other plan's action."""
    if rule == "plan.pending_conflict":
        return _finding(rule, "warning", msg_ref(
            "another firm's pending plan has a mast near this position; the department checks the minimum spacing "
            "({minimum:.0f} m) between the two: agree on one shared mast", minimum=radius_m), legal_source=legal_source)
    if rule == "plan.pending_same_site":
        return _finding(rule, "warning", msg_ref(
            "site {code} is also the subject of another firm's pending plan; the department reconciles the two "
            "before deciding", code=entry.get("site_code")))
    return _finding(rule, "info", msg_ref("another firm's pending cable route runs near this route: coordinate one "
                                          "trench or bracket set"))


def _entry(plan: _Plan, i: int) -> dict[str, Any]:
    f = plan.features[i]
    p = f["properties"]
    entry: dict[str, Any] = {"index": i, "key": item_key(i, f), "item": p["item"]}
    for k in ("code", "site_code", "street", "ref"):
        if p.get(k):
            entry[k] = p[k]
    pos = plan.points[i]
    if pos is not None:
        entry["lon"], entry["lat"] = round(pos[0], 7), round(pos[1], 7)
    return entry


def appraise(features: Sequence[Mapping[str, Any]], operator: str, ctx: AppraisalContext) -> dict[str, Any]:
    """The full report for one plan version: each item appraised by its kind's function
    (:data:`ITEM_APPRAISERS`), then the rules across items (:data:`CROSS_ITEM_RULES`)."""
    plan = _Plan.lay_out(features, operator, ctx)
    items = [_entry(plan, i) for i in range(len(features))]
    found: list[list[dict[str, Any]]] = []
    for i, entry in enumerate(items):
        appraiser = ITEM_APPRAISERS.get(entry["item"])
        found.append(appraiser(plan, i, entry) if appraiser else [])
    for rule in CROSS_ITEM_RULES:
        for i, finding in rule(plan):
            found[i].append(finding)
    for entry, own, told, radius in zip(items, found, _told_rules(plan), plan.radius.tolist(), strict=True):
        if any(f["rule"] == OUTSIDE_RULE for f in own):
            entry["outside_province"] = True
        entry["findings"] = own
        if told:
            entry["operator_findings"] = [told_finding(r, entry, radius, ctx.spacing_source)
                                          for r in CROSS_PLAN_RULES if r in told]
    return {
        "operator": operator,
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "metric_crs": ctx.metric_crs,
        "rule_pack": dict(ctx.rule_pack),
        "conflict_radius_m": ctx.conflict_radius_m,
        "conflict_radius_rural_m": ctx.conflict_radius_rural_m,
        "disclosure_cell_m": disclosure_cell_m(max_conflict_radius_m(ctx)),
        "items": items,
        "summary": summarise(items),
    }


def summarise(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts by severity, by item kind and by derived class; items with violations."""
    by_sev = {s: 0 for s in SEVERITIES}
    by_rule: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    classes: dict[str, int] = {}
    with_violation = 0
    for it in items:
        by_kind[it["item"]] = by_kind.get(it["item"], 0) + 1
        if it.get("derived_class") and it["item"] in ("new_site", "change_site"):
            classes[it["derived_class"]] = classes.get(it["derived_class"], 0) + 1
        sev = [f.get("severity", "info") for f in it.get("findings", [])]
        for f in it.get("findings", []):
            by_rule[f["rule"]] = by_rule.get(f["rule"], 0) + 1
        for s in sev:
            by_sev[s] = by_sev.get(s, 0) + 1
        with_violation += "violation" in sev
    return {
        "items": len(items),
        "by_severity": by_sev,
        "by_rule": dict(sorted(by_rule.items())),
        "by_item": by_kind,
        "derived_classes": dict(sorted(classes.items())),
        "items_with_violations": with_violation,
        "outside_province": sum(1 for it in items if it.get("outside_province")),
        "conflicts": by_rule.get("plan.pending_conflict", 0) + by_rule.get("plan.pending_same_site", 0),
    }


def redact_for_operator(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report as the firm may read it: its own findings in full, and for other firms' pending plans
    only the ``operator_findings`` :func:`appraise` decided on grid cells; the summary is recounted so
    that no count reveals an exact conflict either. Reports stored before ``disclosure_cell_m``
    existed are told from their exact findings, stripped to the same fixed messages."""
    cell_based = "disclosure_cell_m" in report
    items = []
    for it in report.get("items", []):
        findings = it.get("findings", [])
        if cell_based:
            told = list(it.get("operator_findings", []))
        else:
            exact = {f["rule"]: f for f in findings if f.get("rule") in CROSS_PLAN_RULES}
            radius = float(report.get("conflict_radius_m") or 0)
            told = [told_finding(r, it, radius, exact[r].get("legal_source")) for r in CROSS_PLAN_RULES if r in exact]
        own = [f for f in findings if f.get("rule") not in CROSS_PLAN_RULES]
        items.append({**{k: v for k, v in it.items() if k != "operator_findings"}, "findings": own + told})
    return {**report, "items": items, "summary": summarise(items)}
