"""The cable officer's browser workspace: ``/workspace/cables``, the street sections of the tidy-up and
undergrounding plan on the map coloured by status, one section's panel (attributes, dated history, a
status form), and progress by administrative unit and by method (chỉnh trang / hạ ngầm).

Reads are open to every signed-in staff member (the API's reads are public); a status change needs a
planner or admin session, as ``PATCH /cables/segments/{ref}`` needs a planner or admin key. The change
goes through :func:`geodata.work.cables.set_status` — the API's own function — so the transition
rules, the dated history, the audit entry (actor: the signed-in staff member) and the optimistic lock
on the section's ``version`` are the API's; a form drawn from an older version is answered 409 with
the section's current state and a plain explanation, never a silent overwrite. Progress comes from
:func:`geodata.work.cables.progress`, the function behind ``GET /cables/progress``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import geopandas as gpd
import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import Engine, func, select

from app import charts
from app.web import render, require_staff
from geodata.errors import Conflict, InvalidField, StaleVersion
from geodata.store import models as m
from geodata.store import staff
from geodata.work import cables as gc
from planning import i18n, labels
from planning.cables import TransitionError, allowed_next
from planning.i18n import N_
from planning.vocab import CABLE_METHODS, SEGMENT_STATUSES

router = APIRouter(prefix="/workspace/cables", include_in_schema=False)
Reader = Annotated[staff.StaffPrincipal, Depends(require_staff(*staff.STAFF_ROLES))]
Officer = Annotated[staff.StaffPrincipal, Depends(require_staff("planner", "admin"))]

#: Map and legend colours per status (the legend repeats them in words: colour is never the only cue).
STATUS_COLOURS = {"planned": "#8a8f96", "in_progress": "#c26a00", "done": "#1e6b32"}
UNIT_LEVELS = ("commune", "district")
#: Short names of the methods for the chart's label column (the table beside it gives the full ones).
METHOD_SHORT = {"chinh_trang": N_("Tidy-up"), "ha_ngam": N_("Undergrounding"),
                "chinh_trang_ha_ngam": N_("Tidy-up and undergrounding")}
#: The form's choice that moves a finished section back to work: an explicit reopening, as the API's
#: ``reopen: true``.
REOPEN = "reopen"


@dataclass(frozen=True)
class CableFilter:
    """What the page shows: sections in one unit (by its code at ``level``), of one method, in one status."""

    level: str
    unit: str | None
    method: str | None
    status: str | None

    def query(self) -> str:
        parts = [f"by={self.level}"] + [f"{k}={v}" for k, v in (("unit", self.unit), ("method", self.method),
                                                                 ("status", self.status)) if v]
        return "&".join(parts)


def default_level(engine: Engine) -> str:
    """Communes when the data has them (the units in force since 1 July 2025), else districts."""
    with engine.connect() as conn:
        has_communes = conn.execute(select(func.count()).select_from(m.AdminUnit)
                                    .where(m.AdminUnit.level == "commune")).scalar()
    return "commune" if has_communes else "district"


def _filter(engine: Engine, by: str | None, unit: str | None, method: str | None, status: str | None) -> CableFilter:
    return CableFilter(by if by in UNIT_LEVELS else default_level(engine), (unit or "").strip() or None,
                       method if method in CABLE_METHODS else None, status if status in SEGMENT_STATUSES else None)


def status_label(status: str) -> str:
    return str(labels.label("status", status, labels.SEGMENT_STATUS))


def method_label(method: str | None) -> str:
    return str(labels.label("method", method, labels.CABLE_METHOD)) if method else "—"


def _units(engine: Engine, level: str, metric_crs: str) -> gpd.GeoDataFrame:
    with engine.connect() as conn:
        units, _ = gc.load_admin_units(conn, level, dt.date.today(), metric_crs)
    return units


def sections(engine: Engine, metric_crs: str, where: CableFilter) -> gpd.GeoDataFrame:
    """The sections the filter selects, in the metric CRS. A unit selects the sections that cross it
    (drawn in the units in force today, so a post-reform commune finds its streets whatever unit code
    the section was imported with)."""
    segs = gc.load_segments(engine, metric_crs)
    if where.method:
        segs = segs[segs["method"] == where.method]
    if where.status:
        segs = segs[segs["status"] == where.status]
    if where.unit:
        units = _units(engine, where.level, metric_crs)
        shape = units[units["code"] == where.unit]
        if shape.empty:
            return segs.iloc[0:0]
        area = shapely.union_all(shape.geometry.values)
        segs = segs[segs.geometry.intersects(area)]
    return segs


def progress_view(engine: Engine, metric_crs: str, level: str) -> dict[str, Any]:
    """Progress by unit and by method, as ``GET /cables/progress`` computes it, with its two charts."""
    by_unit = gc.progress(engine, metric_crs, by=level)
    by_method = gc.progress(engine, metric_crs, by="method")
    for row in by_method["rows"]:
        row["label"] = method_label(row["method"])
        row["short"] = str(labels.label("method", row["method"], METHOD_SHORT))
    series = [charts.Series("done_km", i18n.gettext("done"), STATUS_COLOURS["done"]),
              charts.Series("in_progress_km", i18n.gettext("in progress"), STATUS_COLOURS["in_progress"]),
              charts.Series("planned_km", i18n.gettext("not started"), STATUS_COLOURS["planned"])]
    unit_title = i18n.gettext("Kilometres by commune") if level == "commune" else \
        i18n.gettext("Kilometres by district")
    return {
        "by_unit": by_unit, "by_method": by_method, "level": level,
        "unit_chart": charts.stacked_bars(unit_title, by_unit["rows"], level, series, number=float),
        "method_chart": charts.stacked_bars(i18n.gettext("Kilometres by method"), by_method["rows"], "short",
                                            series, number=float),
    }


def _page_context(request: Request, where: CableFilter) -> dict[str, Any]:
    engine, settings = request.app.state.engine, request.app.state.settings
    segs = sections(engine, settings.metric_crs, where)
    units = _units(engine, where.level, settings.metric_crs)
    rows = [{"code": r["code"], "street": r["street"], "status": r["status"], "method": r["method"],
             "length_m": round(float(r.geometry.length)), "from_desc": r["from_desc"], "to_desc": r["to_desc"]}
            for _, r in segs.sort_values(["street", "code"]).iterrows()]
    return {"where": where, "rows": rows, "units": list(zip(units["code"], units["name"], strict=True)),
            "methods": CABLE_METHODS, "statuses": SEGMENT_STATUSES, "levels": UNIT_LEVELS,
            "status_label": status_label, "method_label": method_label, "colours": STATUS_COLOURS,
            **progress_view(engine, settings.metric_crs, where.level)}


@router.get("")
def cables_page(request: Request, who: Reader,
                by: Annotated[str | None, Query(max_length=20)] = None,
                unit: Annotated[str | None, Query(max_length=20)] = None,
                method: Annotated[str | None, Query(max_length=30)] = None,
                status: Annotated[str | None, Query(max_length=20)] = None,
                segment: Annotated[str | None, Query(max_length=50)] = None) -> Response:
    """The map, the filters, the list of sections and the progress charts; ``segment`` opens its panel
    (the page works without script: the list's links lead here)."""
    where = _filter(request.app.state.engine, by, unit, method, status)
    context = _page_context(request, where)
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "cable-results":
        return render(request, "workspace/_cable_results.html", context, who=who)
    if segment:
        context.update(_panel_context(request, segment, who))
    return render(request, "workspace/cables.html", context, who=who)


@router.get("/progress")
def progress_partial(request: Request, who: Reader,
                     by: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    """The progress section alone: htmx reloads it after a status change."""
    engine, settings = request.app.state.engine, request.app.state.settings
    level = by if by in UNIT_LEVELS else default_level(engine)
    return render(request, "workspace/_cable_progress.html", progress_view(engine, settings.metric_crs, level),
                  who=who)


@router.get("/segments.geojson")
def segments_geojson(request: Request, who: Reader,
                     by: Annotated[str | None, Query(max_length=20)] = None,
                     unit: Annotated[str | None, Query(max_length=20)] = None,
                     method: Annotated[str | None, Query(max_length=30)] = None,
                     status: Annotated[str | None, Query(max_length=20)] = None) -> JSONResponse:
    """The filtered sections for the map (WGS84), each with its code, street, status and method."""
    engine, settings = request.app.state.engine, request.app.state.settings
    segs = sections(engine, settings.metric_crs, _filter(engine, by, unit, method, status)).to_crs("EPSG:4326")
    features = [{"type": "Feature", "geometry": shapely.geometry.mapping(r.geometry),
                 "properties": {"code": r["code"], "street": r["street"], "status": r["status"],
                                "method": r["method"], "label": f"{r['street']} ({status_label(r['status'])})"}}
                for _, r in segs.iterrows() if r.geometry is not None]
    return JSONResponse({"type": "FeatureCollection", "features": features}, headers={"Cache-Control": "no-store"})


def _panel_context(request: Request, ref: str, who: staff.StaffPrincipal) -> dict[str, Any]:
    engine, settings = request.app.state.engine, request.app.state.settings
    seg = gc.segment_dict(engine, ref, settings.metric_crs)
    hist = gc.history(engine, seg["id"])
    choices = [(REOPEN if seg["status"] == "done" and nxt == "in_progress" else nxt) for nxt in
               allowed_next(seg["status"])]
    return {"segment": seg, "history": list(reversed(hist["history"])), "choices": choices,
            "may_change": who.role in ("planner", "admin"), "today": dt.date.today().isoformat(),
            "status_label": status_label, "method_label": method_label, "colours": STATUS_COLOURS}


@router.get("/segments/{ref}")
def segment_panel(request: Request, ref: str, who: Reader) -> Response:
    """One section's panel: an htmx partial, or the whole page with the panel open."""
    if request.headers.get("hx-request"):
        return render(request, "workspace/_segment_panel.html", _panel_context(request, ref, who), who=who)
    return RedirectResponse(f"/workspace/cables?segment={ref}#segment-panel", status_code=303)


def _explain(refused: Exception) -> str:
    """The refusal in the reader's language: the common cases have catalog sentences."""
    if isinstance(refused, StaleVersion):
        return i18n.gettext("This section was changed by someone else after you opened it (it is now at version "
                            "{version}). Its current state is shown below: check it and submit again.",
                            version=refused.current_version)
    if isinstance(refused, TransitionError):
        current = refused.members.get("current_status")
        allowed = ", ".join(status_label(s) for s in refused.members.get("allowed_next", [])) or "—"
        return i18n.gettext("This change is not allowed from the status {current}; allowed next: {allowed}.",
                            current=status_label(str(current)), allowed=allowed)
    if isinstance(refused, InvalidField | Conflict) and refused.field == "date":
        return i18n.gettext("Check the date: it cannot be in the future or before the section's last change. "
                            "({detail})", detail=refused.detail)
    return str(refused)


@router.post("/segments/{ref}/status")
async def change_status(request: Request, ref: str, who: Officer) -> Response:
    """The status form: the new status (or ``reopen``), the date and a note, and the ``version`` the
    panel was drawn from. Success answers the fresh panel (htmx; an ``HX-Trigger`` makes the map and
    the progress reload) or a redirect to it; a refusal answers the panel with the reason (409 for a
    stale version or a move the workflow forbids, 400 for bad input)."""
    form = await request.form()
    choice = str(form.get("status", ""))
    reopen = choice == REOPEN
    status = "in_progress" if reopen else choice
    note = str(form.get("note", "")).strip()[:2000] or None
    raw_version = str(form.get("version", ""))
    raw_date = str(form.get("date", "")).strip()
    engine = request.app.state.engine
    try:
        if not raw_version.isdigit() or len(raw_version) > 9:
            raise gc.CableError("the form has no valid version; reload the section", "version")
        try:
            on = dt.date.fromisoformat(raw_date) if raw_date else None
        except ValueError:
            raise gc.CableError(f"{raw_date!r} is not a date (YYYY-MM-DD)", "date") from None
        gc.set_status(engine, ref, status, actor=who.actor, on=on, note=note, reopen=reopen,
                      expected_version=int(raw_version))
    except (Conflict, InvalidField) as refused:
        context = _panel_context(request, ref, who)
        context.update(error=_explain(refused), note=note or "", picked=choice)
        code = 409 if isinstance(refused, Conflict) else 400
        if request.headers.get("hx-request"):
            return render(request, "workspace/_segment_panel.html", context, status_code=code, who=who)
        page = _page_context(request, _filter(engine, None, None, None, None))
        return render(request, "workspace/cables.html", {**page, **context}, status_code=code, who=who)
    if request.headers.get("hx-request"):
        context = _panel_context(request, ref, who)
        context["done"] = i18n.gettext("Status changed to {status}.", status=status_label(status))
        response = render(request, "workspace/_segment_panel.html", context, who=who)
        response.headers["HX-Trigger"] = "cables-changed"
        return response
    return RedirectResponse(f"/workspace/cables?segment={ref}#segment-panel", status_code=303)
