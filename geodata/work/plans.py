"""Plan submissions in the database: create (idempotent), edit drafts, submit, review, decide, apply.

The review workflow is a small state machine::

    draft ──submit──► submitted ──review──► under_review ──decide──► approved | returned | rejected
      ▲                                                                  │
      └────────────── (firm edits a returned plan and submits again: version + 1) ◄──┘

Every transition writes a :class:`PlanEvent` (with the frozen items of that version and the diff to
the previous frozen version) and an audit row, in the same transaction as the change. Concurrent
transitions are caught by optimistic locking on ``plan_submissions.lock_version`` (SQLAlchemy's
``version_id_col``): the loser's ``UPDATE … WHERE lock_version = n`` matches nothing and raises
:class:`PlanConflict` (a :class:`~geodata.errors.Conflict`) instead of silently overwriting the winner's decision.

Approved items become data: new sites (status ``planned``), changed or removed sites, sharing
tenants, and planned cable segments — each with its own audit row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import shape
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from geodata.errors import Conflict, InvalidField, NotFound
from geodata.store import audit
from geodata.store.meta import bump_data_version
from geodata.store.models import (
    SRID,
    AdminUnit,
    CableSegment,
    PlanEvent,
    PlanSubmission,
    Site,
    utcnow,
)
from planning.appraisal import redact_for_operator
from planning.geometry import project_xy
from planning.plan_items import ItemError, diff_versions, item_key
from planning.units import rows_in_force
from planning.vocab import DECISIONS_NEEDING_REASON, ITEM_DECISIONS
from planning.i18n import N_, _

PENDING = ("submitted", "under_review")
EDITABLE = ("draft", "returned")
FINAL = ("approved", "rejected")
DECISIONS = {"approve": "approved", "return": "returned", "reject": "rejected"}


class PlanConflict(Conflict):
    """The plan is not in a state that allows this (wrong status, stale ``lock_version``, a lost race,
    an Idempotency-Key reused with another body): reload it and decide again."""


def body_hash(body: Any) -> str:
    """Hash of the canonical JSON body: the same content with other spacing/key order is the same body."""
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# checks that need the database
# --------------------------------------------------------------------------------------------

def check_against_sites(session: Session, operator: str, features: Sequence[Mapping[str, Any]]) -> list[ItemError]:
    """Site codes must exist and belong to the right firm; new codes must be free."""
    codes = {f["properties"].get("site_code") for f in features} | {f["properties"].get("code") for f in features}
    codes.discard(None)
    known = {r.code: r for r in session.execute(
        select(Site.code, Site.operator, Site.status).where(Site.code.in_(codes))).all()} if codes else {}
    errs: list[ItemError] = []
    for i, f in enumerate(features):
        p = f["properties"]
        kind = p["item"]
        if kind == "new_site" and p.get("code") in known:
            errs.append(ItemError(i, "properties.code", _("site code {code!r} already exists; choose a new "
                                                          "code", code=p['code'])))
        if kind in ("change_site", "remove_site", "share_site"):
            site = known.get(p["site_code"])
            if site is None:
                errs.append(ItemError(i, "properties.site_code", _("no site with code {site_code!r}",
                                                                   site_code=p['site_code'])))
            elif site.status == "removed":
                errs.append(ItemError(i, "properties.site_code", _("site {site_code!r} has been removed",
                                                                   site_code=p['site_code'])))
            elif kind != "share_site" and site.operator != operator:
                errs.append(ItemError(i, "properties.site_code",
                                      _("site {site_code!r} belongs to another operator; a firm may change "
                                        "or remove only its own sites (use share_site to share it)",
                                        site_code=p['site_code'])))
            elif kind == "share_site" and site.operator == operator:
                errs.append(ItemError(i, "properties.site_code",
                                      _("site {site_code!r} is already {operator}'s own site; share_site is "
                                        "for another firm's mast",
                                        site_code=p['site_code'], operator=operator)))
    return errs


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

def get_plan(session: Session, plan_id: int, operator: str | None = None, *, for_update: bool = False
             ) -> PlanSubmission:
    """The plan, or :class:`NotFound` — also when it belongs to another firm (so ids reveal nothing)."""
    q = select(PlanSubmission).where(PlanSubmission.id == plan_id)
    if operator is not None:
        q = q.where(PlanSubmission.operator == operator)
    plan = session.execute(q).scalar_one_or_none()
    if plan is None:
        raise NotFound(_("no plan {plan_id}", plan_id=plan_id))
    return plan


def list_plans(session: Session, operator: str | None = None, status: str | None = None,
               limit: int = 100, offset: int = 0) -> tuple[list[PlanSubmission], int]:
    q = select(PlanSubmission)
    if operator:
        q = q.where(PlanSubmission.operator == operator)
    if status:
        q = q.where(PlanSubmission.status == status)
    total = session.execute(select(func.count()).select_from(q.subquery())).scalar() or 0
    rows = session.execute(q.order_by(PlanSubmission.id.desc()).limit(limit).offset(offset)).scalars().all()
    return list(rows), int(total)


def events(session: Session, plan_id: int) -> list[PlanEvent]:
    return list(session.execute(select(PlanEvent).where(PlanEvent.plan_id == plan_id)
                                .order_by(PlanEvent.id)).scalars())


def frozen_versions(session: Session, plan_id: int) -> list[PlanEvent]:
    return [e for e in events(session, plan_id) if e.to_status == "submitted"]


def features_of(plan: PlanSubmission) -> list[dict[str, Any]]:
    return list((plan.items or {}).get("features", []))


#: Transitions only the department makes (review and decisions): a firm reading its plan's history
#: sees :data:`DEPARTMENT_ACTOR` for them, never the staff key's name.
STAFF_TRANSITIONS = ("under_review", "approved", "returned", "rejected")
DEPARTMENT_ACTOR = "Sở Khoa học và Công nghệ (cán bộ thẩm định)"


def summary(plan: PlanSubmission, staff: bool = True) -> dict[str, Any]:
    """The plan's headline; a firm (``staff=False``) gets the counts of its redacted report."""
    report = plan.report or {}
    if report and not staff:
        report = redact_for_operator(report)
    return {
        "id": plan.id, "operator": plan.operator, "title": plan.title, "status": plan.status,
        "version": plan.version, "lock_version": plan.lock_version,
        "created_at": plan.created_at.isoformat() if plan.created_at else None,
        "updated_at": plan.updated_at.isoformat() if plan.updated_at else None,
        "item_count": len(features_of(plan)),
        "report_summary": report.get("summary"),
    }


def detail(session: Session, plan: PlanSubmission, staff: bool = True) -> dict[str, Any]:
    """Items, decisions and history; a firm (``staff=False``) sees the department, not its staff's keys."""
    items = dict(plan.items or {})
    return {
        **summary(plan, staff),
        "items": {"type": "FeatureCollection", "features": features_of(plan)},
        "decisions": items.get("decisions"),
        "applied": items.get("applied"),
        "history": [
            {"at": e.at.isoformat(), "version": e.version, "from_status": e.from_status, "to_status": e.to_status,
             "actor": e.actor if staff or e.to_status not in STAFF_TRANSITIONS else DEPARTMENT_ACTOR,
             "reason": e.reason, "diff": e.diff}
            for e in events(session, plan.id)
        ],
    }


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

def _event(session: Session, plan: PlanSubmission, from_status: str | None, to_status: str, actor: str,
           reason: str | None = None, items: Any = None, diff: Any = None) -> None:
    session.add(PlanEvent(plan_id=plan.id, version=plan.version, from_status=from_status, to_status=to_status,
                          actor=actor, reason=reason, items=items, diff=diff, at=utcnow()))
    audit.record(session, actor, to_status if from_status else "create", "plan", plan.id,
                 None if from_status is None else {"status": from_status, "version": plan.version},
                 {"status": to_status, "version": plan.version, "reason": reason, "diff": diff})


def _flush(session: Session, plan_id: int) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise PlanConflict(_("plan {plan_id} was changed by someone else at the same time; reload it and "
                             "retry", plan_id=plan_id)) from None


def _expect(plan: PlanSubmission, lock_version: int | None) -> None:
    if lock_version is not None and lock_version != plan.lock_version:
        raise PlanConflict(_("plan {id} is at lock_version {lock_version}, not {lock_version2}; it was "
                             "changed since you read it",
                             id=plan.id, lock_version=plan.lock_version,
                             lock_version2=lock_version), lock_version=plan.lock_version)


@dataclass
class Created:
    plan: PlanSubmission
    created: bool


def by_idempotency_key(session: Session, operator: str, key: str) -> PlanSubmission | None:
    """The firm's plan created with this Idempotency-Key, if any: a retried request replays it."""
    return session.execute(select(PlanSubmission).where(
        PlanSubmission.operator == operator, PlanSubmission.idempotency_key == key)).scalar_one_or_none()


def create_plan(session: Session, operator: str, actor: str, body: Mapping[str, Any],
                features: list[dict[str, Any]], idempotency_key: str | None) -> Created:
    """Store a new draft; with an idempotency key, a replay of the same body returns the first plan."""
    digest = body_hash(body)
    if idempotency_key:
        existing = by_idempotency_key(session, operator, idempotency_key)
        if existing is not None:
            if existing.body_hash != digest:
                raise PlanConflict(_("Idempotency-Key {idempotency_key!r} was already used with a different "
                                     "body (plan {id}); use a new key for a new plan",
                                     idempotency_key=idempotency_key, id=existing.id), plan_id=existing.id)
            return Created(existing, False)
    title = body.get("title") if isinstance(body.get("title"), str) else None
    plan = PlanSubmission(operator=operator, title=(title or "").strip()[:300] or None, status="draft", version=1,
                          items={"type": "FeatureCollection", "features": features},
                          idempotency_key=idempotency_key, body_hash=digest)
    session.add(plan)
    # a concurrent request with the same key may insert first: the unique constraint then raises
    # IntegrityError at commit/flush, and the caller retries once, which finds that plan (a replay)
    session.flush()
    _event(session, plan, None, "draft", actor)
    return Created(plan, True)


def update_draft(session: Session, plan: PlanSubmission, actor: str, body: Mapping[str, Any],
                 features: list[dict[str, Any]], lock_version: int | None) -> PlanSubmission:
    """Replace the items of a draft (or of a returned plan, before it is submitted again)."""
    _expect(plan, lock_version)
    if plan.status not in EDITABLE:
        raise PlanConflict(_("plan {id} is {status}; only draft or returned plans can be edited",
                             id=plan.id, status=plan.status))
    before = features_of(plan)
    plan.items = {**(plan.items or {}), "type": "FeatureCollection", "features": features}
    if isinstance(body.get("title"), str):
        plan.title = body["title"].strip()[:300] or plan.title
    plan.updated_at = utcnow()
    _flush(session, plan.id)
    audit.record(session, actor, "edit", "plan", plan.id, {"status": plan.status, "version": plan.version},
                 {"status": plan.status, "version": plan.version, "diff": diff_versions(before, features)})
    return plan


def submit(session: Session, plan: PlanSubmission, actor: str, report: dict[str, Any],
           lock_version: int | None = None) -> PlanSubmission:
    """Freeze the current items as a version, attach the appraisal report, and move to ``submitted``."""
    _expect(plan, lock_version)
    if plan.status not in EDITABLE:
        raise PlanConflict(_("plan {id} is {status}; only draft or returned plans can be submitted",
                             id=plan.id, status=plan.status))
    previous = frozen_versions(session, plan.id)
    from_status = plan.status
    if previous:
        plan.version = previous[-1].version + 1
    feats = features_of(plan)
    plan.status = "submitted"
    plan.report = report
    items = dict(plan.items or {})
    items.pop("decisions", None)
    plan.items = items
    plan.updated_at = utcnow()
    _flush(session, plan.id)
    diff = diff_versions(previous[-1].items["features"] if previous else None, feats)
    _event(session, plan, from_status, "submitted", actor, None,
           {"type": "FeatureCollection", "features": feats}, diff)
    return plan


def start_review(session: Session, plan: PlanSubmission, actor: str, lock_version: int | None = None
                 ) -> PlanSubmission:
    _expect(plan, lock_version)
    if plan.status != "submitted":
        raise PlanConflict(_("plan {id} is {status}; only a submitted plan can be taken under review",
                             id=plan.id, status=plan.status))
    plan.status = "under_review"
    plan.updated_at = utcnow()
    _flush(session, plan.id)
    _event(session, plan, "submitted", "under_review", actor)
    return plan


@dataclass(frozen=True)
class ItemDecision:
    index: int
    decision: str  # approve | reject
    reason: str | None = None


def decide(session: Session, plan: PlanSubmission, actor: str, decision: str, reason: str | None,
           item_decisions: Sequence[ItemDecision], lock_version: int | None, metric_crs: str) -> PlanSubmission:
    """A planner's decision; approving applies the approved items to sites and segments."""
    _expect(plan, lock_version)
    if decision not in DECISIONS:
        raise InvalidField(_("must be one of {decisions}",
                             decisions=', '.join(DECISIONS)), "decision", title=N_("Invalid decision"))
    if plan.status not in PENDING:
        raise PlanConflict(_("plan {id} is {status}; only submitted or under-review plans can be decided",
                             id=plan.id, status=plan.status))
    if decision in DECISIONS_NEEDING_REASON and not (reason or "").strip():
        raise InvalidField(_("a {decision} decision needs a reason",
                             decision=decision), "reason", title=N_("Reason required"))
    feats = features_of(plan)
    per_item: dict[int, ItemDecision] = {}
    for d in item_decisions:
        if not 0 <= d.index < len(feats):
            raise InvalidField(_("no item with index {index} (the plan has {n_feats})",
                                 index=d.index, n_feats=len(feats)), "items",
                               title=N_("Invalid item decision"))
        if d.decision not in ITEM_DECISIONS:
            raise InvalidField(_("the decision on items[{index}] must be approve or reject",
                                 index=d.index), "items",
                               title=N_("Invalid item decision"))
        if d.decision == "reject" and not (d.reason or "").strip():
            raise InvalidField(_("rejecting items[{index}] needs a reason",
                                 index=d.index), "items", title=N_("Reason required"))
        per_item[d.index] = d
    if decision == "approve" and per_item and all(d.decision == "reject" for d in per_item.values()) \
            and len(per_item) == len(feats):
        raise InvalidField(_("every item is rejected; decide 'reject' for the plan instead"), "decision",
                           title=N_("Nothing to approve"))
    from_status = plan.status
    if from_status == "submitted":
        plan.status = "under_review"
        _flush(session, plan.id)
        _event(session, plan, "submitted", "under_review", actor)
    to_status = DECISIONS[decision]
    plan.status = to_status
    plan.updated_at = utcnow()
    item_out = []
    for i, f in enumerate(feats):
        d = per_item.get(i)
        item_dec = (d.decision if d else ("approve" if decision == "approve" else None))
        item_out.append({"index": i, "key": item_key(i, f), "decision": item_dec,
                         "reason": d.reason if d else None})
    items = dict(plan.items or {})
    items["decisions"] = item_out
    plan.items = items
    _flush(session, plan.id)  # the optimistic lock is taken here, before any site is written
    if to_status == "approved":
        approved = [i for i, d in enumerate(item_out) if d["decision"] == "approve"]
        applied = apply_items(session, plan, approved, actor, metric_crs)
        items = dict(plan.items)
        items["applied"] = applied
        plan.items = items
        _flush(session, plan.id)
        sites = [a["id"] for a in applied if a.get("entity") == "site"]
        others = {a.get("entity") for a in applied} - {"site"}
        # masts by code (the planning context updates just those); cable segments do not touch it
        changes = {"sites": sites, **({"cables": True} if others else {})} if others <= {"cable_segment"} else None
        bump_data_version(session, changes)
    _event(session, plan, "under_review", to_status, actor, reason,
           None, {"items": [d for d in item_out if d["decision"] or d["reason"]]})
    return plan


# --------------------------------------------------------------------------------------------
# approved items → data
# --------------------------------------------------------------------------------------------

_SITE_ATTRS = ("name", "address", "mount", "structure", "mast_height_m", "building_height_m", "reach_m", "camouflaged",
               "declared_class", "tech", "transmitters")


def _site_record(site: Site) -> dict[str, Any]:
    rec = {k: getattr(site, k) for k in ("code", "operator", "status", "x_m", "y_m", "derived_class",
                                         "shared_by", "target_date", "commune_code", "district_code", *_SITE_ATTRS)}
    if site.geom is not None:
        p = to_shape(site.geom)
        rec["lon"], rec["lat"] = round(p.x, 7), round(p.y, 7)
    return rec


def _admin_codes(session: Session, lon: float, lat: float) -> tuple[str | None, str | None]:
    """(commune, district) codes of the point, from the versions in force today (else the last ones)."""
    pt = func.ST_GeomFromText(f"POINT({lon!r} {lat!r})", SRID)
    rows = session.execute(select(AdminUnit.code, AdminUnit.level, AdminUnit.parent_code, AdminUnit.valid_from,
                                  AdminUnit.valid_to).where(AdminUnit.level.in_(("commune", "district")),
                                                            func.ST_Contains(AdminUnit.geom, pt))).all()
    today = dt.date.today()
    commune = next(iter(rows_in_force([r for r in rows if r.level == "commune"], today)[0]), None)
    district = next((r.code for r in rows_in_force([r for r in rows if r.level == "district"], today)[0]), None)
    return (commune.code if commune else None), (district or (commune.parent_code if commune else None))


def _place(session: Session, site: Site, lon: float, lat: float, metric_crs: str) -> None:
    x, y = project_xy([lon], [lat], "EPSG:4326", metric_crs)
    site.geom = from_shape(shape({"type": "Point", "coordinates": [lon, lat]}), srid=SRID)
    site.x_m, site.y_m = float(x[0]), float(y[0])
    site.commune_code, site.district_code = _admin_codes(session, lon, lat)


def apply_items(session: Session, plan: PlanSubmission, indices: Sequence[int], actor: str, metric_crs: str
                ) -> list[dict[str, Any]]:
    """Turn approved items into planned sites/segments (and changes, removals, sharing)."""
    feats = features_of(plan)
    derived = {it["index"]: it.get("derived_class") for it in (plan.report or {}).get("items", [])}
    reasons = {it["index"]: it.get("reasons") for it in (plan.report or {}).get("items", [])}
    out: list[dict[str, Any]] = []
    for i in indices:
        p = feats[i]["properties"]
        g = feats[i].get("geometry")
        kind = p["item"]
        target = dt.date.fromisoformat(p["target_date"]) if p.get("target_date") else None
        if kind == "new_site":
            code = p.get("code") or f"{plan.operator}-P{plan.id}-{i + 1}"
            if session.execute(select(Site.id).where(Site.code == code)).first():
                raise PlanConflict(_("items[{i}]: site code {code!r} was taken after this plan was "
                                     "submitted; return the plan so the firm can choose another code",
                                     i=i, code=code))
            site = Site(code=code, operator=plan.operator, status="planned", target_date=target,
                        derived_class=derived.get(i), reasons=reasons.get(i),
                        **{k: p[k] for k in _SITE_ATTRS if k in p})
            _place(session, site, *g["coordinates"], metric_crs)
            session.add(site)
            session.flush()
            audit.record(session, actor, "create", "site", code, None, {**_site_record(site), "plan_id": plan.id})
            out.append({"index": i, "entity": "site", "id": code, "action": "created"})
        elif kind in ("change_site", "remove_site", "share_site"):
            site = session.execute(select(Site).where(Site.code == p["site_code"])).scalar_one_or_none()
            if site is None or site.status == "removed":
                raise PlanConflict(_("items[{i}]: site {site_code!r} no longer exists",
                                     i=i, site_code=p['site_code']))
            before = _site_record(site)
            if kind == "change_site":
                for k in _SITE_ATTRS:
                    if k in p:
                        setattr(site, k, p[k])
                if i in derived and derived[i]:
                    site.derived_class, site.reasons = derived[i], reasons.get(i)
                if target:
                    site.target_date = target
                if g is not None:
                    _place(session, site, *g["coordinates"], metric_crs)
                action = "changed"
            elif kind == "remove_site":
                site.status = "removed"
                action = "removed"
            else:
                tenants = list(site.shared_by or [])
                if plan.operator not in tenants:
                    tenants.append(plan.operator)
                site.shared_by = tenants
                action = "shared"
            site.updated_at = utcnow()
            session.flush()
            audit.record(session, actor, action, "site", site.code, before, {**_site_record(site), "plan_id": plan.id})
            out.append({"index": i, "entity": "site", "id": site.code, "action": action})
        elif kind == "cable_route":
            out.append(_apply_cable(session, plan, i, p, g, actor, metric_crs))
    return out


def _apply_cable(session: Session, plan: PlanSubmission, i: int, p: Mapping[str, Any], g: Mapping[str, Any],
                 actor: str, metric_crs: str) -> dict[str, Any]:
    from planning.geometry import to_crs

    geom = shape(g)
    length = float(to_crs([geom], "EPSG:4326", metric_crs)[0].length)
    code = f"P{plan.id}-{plan.operator}-{i + 1}"
    mid = geom.interpolate(0.5, normalized=True)
    commune, district = _admin_codes(session, mid.x, mid.y)
    seg = CableSegment(code=code, street=p["street"], from_desc=p.get("from_desc"), to_desc=p.get("to_desc"),
                       district_code=p.get("district") or district, commune_code=commune, length_m=round(length, 2),
                       plan_ref=f"plan-{plan.id}", target_year=p.get("target_year"), method=p.get("method", "ha_ngam"),
                       operators=[plan.operator], status="planned", geom=from_shape(geom, srid=SRID))
    session.add(seg)
    session.flush()
    audit.record(session, actor, "create", "cable_segment", code, None,
                 {"code": code, "street": seg.street, "district_code": seg.district_code, "length_m": seg.length_m,
                  "method": seg.method, "target_year": seg.target_year, "operators": seg.operators,
                  "status": seg.status, "plan_id": plan.id})
    return {"index": i, "entity": "cable_segment", "id": code, "action": "created"}


# --------------------------------------------------------------------------------------------
# other firms' pending items (for conflicts in the appraisal)
# --------------------------------------------------------------------------------------------

def _pending_query(exclude_plan_id: int | None, exclude_operator: str | None) -> Select[Any]:
    q = select(PlanSubmission).where(PlanSubmission.status.in_(PENDING))
    if exclude_plan_id is not None:
        q = q.where(PlanSubmission.id != exclude_plan_id)
    if exclude_operator is not None:
        q = q.where(PlanSubmission.operator != exclude_operator)
    return q


def pending_fingerprint(session: Session, exclude_plan_id: int | None, exclude_operator: str | None) -> str:
    """Changes whenever the set of :func:`pending_items` may change (a plan submitted, decided or
    edited bumps its ``lock_version``): a cached live preview keys on it, since submitting a plan
    changes no map data and so leaves the data version alone."""
    q = _pending_query(exclude_plan_id, exclude_operator).with_only_columns(
        PlanSubmission.id, PlanSubmission.lock_version).order_by(PlanSubmission.id)
    return hashlib.sha256(json.dumps([list(r) for r in session.execute(q)]).encode()).hexdigest()


def pending_items(session: Session, exclude_plan_id: int | None, exclude_operator: str | None
                  ) -> list[dict[str, Any]]:
    """Items of other firms' submitted/under-review plans: the conflicts a new plan must be told about."""
    out = []
    for plan in session.execute(_pending_query(exclude_plan_id, exclude_operator)).scalars():
        for i, f in enumerate(features_of(plan)):
            out.append({"plan_id": plan.id, "operator": plan.operator, "index": i, "feature": f})
    return out

