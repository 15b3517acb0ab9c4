"""The planner's browser workspace: ``/workspace/plans`` (the queue of firms' dossiers), one dossier
with its items on the map, the version history and item-level decisions.

Every page needs a signed-in staff session (``app.web.require_staff``); an API key is refused here.
Decisions go through :func:`geodata.work.plans.decide`, the function behind
``POST /plans/{id}/decision``, so the rules (reasons, item decisions, the optimistic lock on
``lock_version``) are the API's own; a stale form gets the conflict explained, never a silent
overwrite.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app import charts
from app.plan_report import cached_render
from app.web import render, require_staff
from geodata.errors import Conflict, InvalidField
from geodata.store import staff
from geodata.store.db import transaction
from geodata.store.meta import data_version
from geodata.work import appraisal as gapp
from geodata.work import monitoring as gmonitoring
from geodata.work import plan_queue
from geodata.work import plans as gp
from geodata.work import programmes as gprogrammes
from planning import i18n, labels
from planning.findings import localise_messages
from planning.vocab import PLAN_STATUSES

router = APIRouter(prefix="/workspace", include_in_schema=False)
Planner = Annotated[staff.StaffPrincipal, Depends(require_staff("planner", "admin"))]
Deciding = Annotated[staff.StaffPrincipal, Depends(require_staff("planner"))]
AnyStaff = Annotated[staff.StaffPrincipal, Depends(require_staff(*staff.STAFF_ROLES))]


def _day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/")
def home(request: Request, who: AnyStaff) -> Response:
    """The staff member's start page: the sections their role opens."""
    if who.role in ("planner", "admin"):
        return RedirectResponse("/workspace/plans", status_code=303)
    if who.role == "inspector":  # the inspector's phone opens straight on the campaigns
        return RedirectResponse("/workspace/inspections", status_code=303)
    return render(request, "workspace/home.html", {}, who=who)


@router.get("/plans")
def plans_queue(request: Request, who: Planner,
                operator: Annotated[str | None, Query(max_length=20)] = None,
                status: Annotated[str | None, Query(max_length=20)] = None,
                since: Annotated[str | None, Query(max_length=10)] = None,
                until: Annotated[str | None, Query(max_length=10)] = None,
                unit: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    where = plan_queue.QueueFilter(operator or None, status if status in PLAN_STATUSES else None,
                                   _day(since), _day(until), (unit or "").strip() or None)
    with transaction(request.app.state.engine) as session:
        rows, counts = plan_queue.queue(session, where)
        operators = plan_queue.operators_with_plans(session)
    template = "workspace/plans_rows.html" if request.headers.get("hx-request") else "workspace/plans.html"
    return render(request, template, {"rows": rows, "counts": counts, "where": where, "operators": operators,
                                      "statuses": PLAN_STATUSES, "status_label": _status_label,
                                      "severity_label": _severity_label}, who=who)


def _status_label(status: str) -> str:
    return str(labels.label("status", status, labels.PLAN_STATUS))


def _severity_label(severity: str) -> str:
    return str(labels.label("severity", severity))


def _item_label(kind: str) -> str:
    return str(labels.label("item", kind, labels.ITEM_KIND))


def _dossier(request: Request, plan_id: int) -> dict[str, Any]:
    with transaction(request.app.state.engine) as session:
        plan = gp.get_plan(session, plan_id)
        out = gp.detail(session, plan)
        report = localise_messages(plan.report) if plan.report else None
    decisions = {d["index"]: d for d in (out.get("decisions") or [])}
    entries = {e["index"]: e for e in (report or {}).get("items", [])}
    items = []
    for i, feature in enumerate(out["items"]["features"]):
        items.append({"index": i, "properties": feature.get("properties", {}), "entry": entries.get(i, {}),
                      "decision": decisions.get(i)})
    return {"plan": out, "report": report, "items": items, "pending": out["status"] in gp.PENDING,
            "status_label": _status_label, "severity_label": _severity_label, "item_label": _item_label}


@router.get("/plans/{plan_id}")
def dossier(request: Request, plan_id: int, who: Planner) -> Response:
    return render(request, "workspace/plan.html", _dossier(request, plan_id), who=who)


@router.get("/plans/{plan_id}/items.geojson")
def dossier_items(request: Request, plan_id: int, who: Planner) -> JSONResponse:
    """The dossier's items for its map, each with its index and worst finding."""
    with transaction(request.app.state.engine) as session:
        plan = gp.get_plan(session, plan_id)
        features = gp.features_of(plan)
        entries = {e["index"]: e for e in (plan.report or {}).get("items", [])}
    out = []
    for i, f in enumerate(features):
        severities = [x.get("severity") for x in entries.get(i, {}).get("findings", [])]
        worst = next((s for s in ("violation", "warning", "info") if s in severities), "ok")
        out.append({"type": "Feature", "geometry": f.get("geometry"),
                    "properties": {"index": i, "item": f.get("properties", {}).get("item"), "severity": worst}})
    return JSONResponse({"type": "FeatureCollection", "features": out}, headers={"Cache-Control": "no-store"})


@router.post("/plans/{plan_id}/decision")
async def decide(request: Request, plan_id: int, who: Deciding) -> Response:
    """The decision form: the plan's decision and reason, one choice per item, and the ``lock_version``
    the page was drawn from (a plan changed since is a conflict, shown on the page)."""
    form = await request.form()
    decision = str(form.get("decision", ""))
    reason = str(form.get("reason", "")).strip() or None
    try:
        lock_version = int(str(form.get("lock_version", "")))
    except ValueError:
        lock_version = -1
    item_decisions = []
    for key, value in form.multi_items():
        if key.startswith("item_decision_") and value in ("approve", "reject"):
            index = int(key.removeprefix("item_decision_")) if key.removeprefix("item_decision_").isdigit() else -1
            item_reason = str(form.get(f"item_reason_{index}", "")).strip() or None
            item_decisions.append(gp.ItemDecision(index, str(value), item_reason))
    settings = request.app.state.settings
    try:
        with transaction(request.app.state.engine) as session:
            plan = gp.get_plan(session, plan_id)
            gp.decide(session, plan, who.actor, decision, reason, item_decisions, lock_version, settings.metric_crs)
    except (Conflict, InvalidField) as refused:
        context = _dossier(request, plan_id)
        context["error"] = str(refused)
        return render(request, "workspace/plan.html", context, status_code=409 if isinstance(refused, Conflict)
                      else 400, who=who)
    return RedirectResponse(f"/workspace/plans/{plan_id}", status_code=303)


REPORT_FORMATS = ("html", "docx", "pdf", "xlsx")


@router.get("/plans/{plan_id}/report")
def dossier_report(request: Request, plan_id: int, who: Planner,
                   format: Annotated[str, Query(max_length=8)] = "html") -> Response:
    """The appraisal report as ``GET /plans/{id}/report`` gives it to a staff key (same cache, same
    content): the frozen report of a submitted version, a live preview of a draft."""
    fmt = format if format in REPORT_FORMATS else "html"
    engine, settings = request.app.state.engine, request.app.state.settings
    with transaction(engine) as session:
        plan = gp.get_plan(session, plan_id)
        stored, operator, features = plan.report, plan.operator, gp.features_of(plan)
        title, status, version = plan.title, plan.status, plan.version
        preview = stored is None or status in gp.EDITABLE
        key = (plan_id, plan.lock_version, data_version(session.connection()),
               gp.pending_fingerprint(session, plan_id, operator) if preview else None, True, i18n.get_language())

    def build() -> dict[str, Any]:
        base = {**gapp.build_report(engine, settings, plan_id, operator, features), "preview": True} \
            if preview else stored
        return {**localise_messages(base), "plan_id": plan_id, "title": title, "status": status, "version": version}

    out = cached_render(request.app.state, key, build, fmt)
    headers = {"Cache-Control": "no-store"}
    if fmt != "html":
        headers["Content-Disposition"] = f'attachment; filename="plan-{plan_id}-v{version}-appraisal.{fmt}"'
    return Response(out.body, media_type=out.media_type, headers=headers)


@router.get("/monitoring")
def monitoring_page(request: Request, who: Planner) -> Response:
    """Planned vs built vs overdue masts by district, and each programme's progress, as charts and tables."""
    engine, settings = request.app.state.engine, request.app.state.settings
    impl = gmonitoring.implementation(engine, radius_m=settings.built_match_m)
    by_district: dict[str, dict[str, Any]] = {}
    unit = impl["by"]  # communes since 2025-07-01, districts before (geodata.store.dated_units)
    for r in impl["rows"]:
        label = r.get(f"{unit}_name") or r.get(unit)
        d = by_district.setdefault(label or "", {"district": label, "planned": 0, "realised": 0, "overdue": 0})
        for k in ("planned", "realised", "overdue"):
            d[k] += int(r.get(k) or 0)
    rows = [{**d, "waiting": max(d["planned"] - d["realised"] - d["overdue"], 0)} for d in by_district.values()]
    impl_chart = charts.stacked_bars(i18n.gettext("Planned masts by district") if unit == "district" else
                                     i18n.gettext("Planned masts by commune, ward or special zone"), rows, "district", [
        charts.Series("realised", i18n.gettext("built"), "#1e6b32"),
        charts.Series("waiting", i18n.gettext("not yet due"), "#4a90d9"),
        charts.Series("overdue", i18n.gettext("overdue"), "#b3141a")])
    progress = []
    with transaction(engine) as session:
        for prog in gprogrammes.list_programmes(session):
            p = gprogrammes.progress(session, prog)
            chart = charts.stacked_bars(p["programme"]["name"], p["rows"], "district_name", [
                charts.Series("done", i18n.gettext("done"), "#1e6b32"),
                charts.Series("pending", i18n.gettext("pending"), "#4a90d9"),
                charts.Series("dropped", i18n.gettext("dropped"), "#8a8f96")])
            progress.append({"progress": p, "chart": chart})
    return render(request, "workspace/monitoring.html", {"impl": impl, "rows": rows, "impl_chart": impl_chart,
                                                          "progress": progress}, who=who)
