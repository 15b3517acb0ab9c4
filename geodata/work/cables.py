"""Cable tracker storage: read segments and admin units as GeoDataFrames, change statuses safely,
record complaints, answer relocation and lease questions.

Every write is one transaction that also keeps the dated status history, an audit-log entry and the
data version (tile caches key on it), so a failed or rejected change leaves nothing behind. Status
changes use optimistic locking (``CableSegment.version``): a caller that read version 3 cannot
overwrite someone else's version 4 — it gets :class:`StaleVersion` and must re-read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from shapely import Point
from sqlalchemy import Connection, Engine, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from geodata.errors import Conflict, InvalidField, NotFound, StaleVersion
from geodata.store import audit
from geodata.store import models as m
from geodata.store.area import province_area
from geodata.io.writers import tabular
from geodata.store.db import session_factory, transaction
from geodata.store.meta import bump_data_version
from geodata.store.units import units_in_force
from planning import cables as pc
from planning.geometry import to_crs
from planning.vocab import COMPLAINT_STATUSES
from planning.i18n import _

#: Complaints are linked to the nearest cable segment when one lies within this distance.
COMPLAINT_LINK_M = 50.0


SEGMENT_COLUMNS = (
    m.CableSegment.id, m.CableSegment.code, m.CableSegment.street, m.CableSegment.from_desc,
    m.CableSegment.to_desc, m.CableSegment.district_code, m.CableSegment.commune_code, m.CableSegment.length_m,
    m.CableSegment.plan_ref, m.CableSegment.target_year, m.CableSegment.method, m.CableSegment.operators,
    m.CableSegment.status, m.CableSegment.status_changed_on, m.CableSegment.version,
)


class CableError(InvalidField):
    """Bad input for a cable operation; ``field`` names the offending field."""


class StateConflict(Conflict):
    """Well-formed input that contradicts the stored state (e.g. a date before the last change)."""


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

def _geoms(values: Sequence[Any]) -> Any:
    return shapely.from_wkb([bytes(v) if v is not None else None for v in values])


def load_segments(conn: Connection | Engine, metric_crs: str, *, plan: str | None = None,
                  ids: Sequence[int] | None = None, where: Any = None) -> gpd.GeoDataFrame:
    """Cable segments indexed by id, geometry reprojected to ``metric_crs`` (lengths in metres)."""
    stmt = select(*SEGMENT_COLUMNS, func.ST_AsBinary(m.CableSegment.geom).label("wkb")).order_by(m.CableSegment.id)
    if plan is not None:
        stmt = stmt.where(m.CableSegment.plan_ref == plan)
    if ids is not None:
        stmt = stmt.where(m.CableSegment.id.in_(list(ids)))
    if where is not None:
        stmt = stmt.where(where)
    rows = _run(conn, stmt)
    cols = [c.key for c in SEGMENT_COLUMNS]
    df = pd.DataFrame([tuple(r)[:-1] for r in rows], columns=cols)
    gdf = gpd.GeoDataFrame(df, geometry=_geoms([r[-1] for r in rows]), crs="EPSG:4326")
    return gdf.set_index("id", drop=False).rename_axis(None).to_crs(metric_crs)


def load_history(conn: Connection | Engine, segment_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Status changes as a table (``order`` = recording order, for same-day ties)."""
    h = m.CableStatusChange
    stmt = select(h.segment_id, h.from_status, h.to_status, h.changed_on, h.id.label("order"))
    if segment_ids is not None:
        stmt = stmt.where(h.segment_id.in_(list(segment_ids)))
    rows = _run(conn, stmt.order_by(h.segment_id, h.changed_on, h.id))
    return pd.DataFrame([tuple(r) for r in rows], columns=["segment_id", "from_status", "to_status", "changed_on",
                                                            "order"])


def load_admin_units(conn: Connection | Engine, level: str, as_of: dt.date,
                     metric_crs: str) -> tuple[gpd.GeoDataFrame, dt.date]:
    """Admin units of ``level`` valid on ``as_of`` (columns code, name; metric geometry).

    Units are versioned because Vietnam abolished the district level on 1/7/2025. When no unit of
    ``level`` is valid on ``as_of`` (a district report asked for after the reform), the last
    version that existed before ``as_of`` is used (:func:`planning.units.in_force`) — the
    departments keep reporting the cable programme by its old districts — and the returned date
    says which version that was.
    """
    a = m.AdminUnit
    cols = (a.code, a.name, func.ST_AsBinary(a.geom))
    if isinstance(conn, Engine):
        with conn.connect() as c:
            rows, effective = units_in_force(c, level, as_of, *cols)
    else:
        rows, effective = units_in_force(conn, level, as_of, *cols)
    gdf = gpd.GeoDataFrame({"code": [r[0] for r in rows], "name": [r[1] for r in rows]},
                           geometry=_geoms([r[2] for r in rows]), crs="EPSG:4326")
    return gdf.to_crs(metric_crs), effective


def _run(conn: Connection | Engine, stmt: Any) -> list[Any]:
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return list(c.execute(stmt).all())
    return list(conn.execute(stmt).all())


# --------------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------------

def plan_refs(conn: Connection | Engine) -> list[str]:
    refs = {r[0] for r in _run(conn, select(m.CablePlan.ref))}
    refs |= {r[0] for r in _run(conn, select(m.CableSegment.plan_ref).distinct()) if r[0]}
    return sorted(refs)


def progress(engine: Engine, metric_crs: str, *, by: str = "district", as_of: dt.date | None = None,
             plan: str | None = None) -> dict[str, Any]:
    """Length-weighted progress in the JSON shape of docs/architecture.md, "Machine-readable outputs" (see
    :mod:`planning.cables`)."""
    if by not in pc.GROUPINGS:
        raise CableError(_("cannot group by {by!r}; use one of {groupings}",
                           by=by, groupings=', '.join(pc.GROUPINGS)), "by")
    as_of = as_of or dt.date.today()
    with engine.connect() as conn:
        if plan is not None and plan not in plan_refs(conn):
            raise NotFound(_("unknown plan {plan!r}; known plans: {value}",
                             plan=plan, value=', '.join(plan_refs(conn)) or _("none")))
        segs = load_segments(conn, metric_crs, plan=plan)
        history = load_history(conn)
        plans = pd.DataFrame([tuple(r) for r in conn.execute(
            select(m.CablePlan.ref, m.CablePlan.title, m.CablePlan.issued_on)).all()],
            columns=["ref", "title", "issued_on"])
        units = None
        effective: dt.date | None = None
        if by in pc.UNIT_LEVELS:
            units, effective = load_admin_units(conn, by, as_of, metric_crs)
    result = pc.compute_progress(segs, by=by, as_of=as_of, history=history, districts=units,  # type: ignore[arg-type]
                                 plans=plans, plan=plan)
    out = result.to_dict()
    if by in pc.UNIT_LEVELS:
        out[f"{by}s_as_of"] = effective.isoformat() if effective else None
    out["unit"] = "km"
    out["metric_crs"] = metric_crs
    return out


PROGRESS_FIELDS = ("total_km", "done_km", "in_progress_km", "planned_km", "done_pct", "in_progress_pct",
                   "planned_pct", "overdue_km", "segments", "streets")


def progress_csv(data: dict[str, Any], *, bom: bool = False) -> str:
    """The progress report as CSV: one line per group, then a total line (same figures as the JSON).

    ``bom`` prefixes a UTF-8 byte-order mark so Excel shows Vietnamese names (for downloads).
    """
    by = data["by"]
    head = [by, f"{by}_code"] if by in pc.UNIT_LEVELS else [by]
    rows = [[*(r.get(k) for k in head), *(r[k] for k in PROGRESS_FIELDS)] for r in data["rows"]]
    rows.append(["Tổng cộng (total)", *([""] * (len(head) - 1)), *(data["totals"][k] for k in PROGRESS_FIELDS)])
    return tabular.csv_text([*head, *PROGRESS_FIELDS], rows, bom=bom)


# --------------------------------------------------------------------------------------------
# status changes
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StatusChange:
    segment_id: int
    code: str
    from_status: str
    to_status: str
    changed_on: dt.date
    actor: str
    note: str | None
    version: int


def find_segment(session: Session, ref: int | str) -> m.CableSegment:
    """A segment by numeric id or by code (``CAP-305-001``)."""
    seg: m.CableSegment | None = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit() and len(ref) < 10):
        seg = session.get(m.CableSegment, int(ref))
    if seg is None and isinstance(ref, str):
        seg = session.execute(select(m.CableSegment).where(m.CableSegment.code == ref.strip())).scalar_one_or_none()
    if seg is None:
        raise NotFound(_("no cable segment {ref!r} (give its id or code, e.g. CAP-305-001)", ref=ref))
    return seg


def set_status(engine: Engine, ref: int | str, status: str, *, actor: str, on: dt.date | None = None,
               note: str | None = None, reopen: bool = False, expected_version: int | None = None,
               today: dt.date | None = None) -> StatusChange:
    """Change a segment's status in one transaction: history row, audit entry, data version.

    Rejected (nothing written): unknown or illegal transitions (:class:`planning.cables.TransitionError`),
    a date in the future or before the segment's previous change (:class:`CableError`), a stale
    ``expected_version`` or a concurrent writer (:class:`StaleVersion`), an unknown segment.
    """
    today = today or dt.date.today()
    on = on or today
    actor = (actor or "").strip()[:100]  # the width of the history and audit columns
    if not actor:
        raise CableError(_("an actor (who made the change) is required"), "actor")
    try:
        with transaction(engine) as s:
            seg = find_segment(s, ref)
            if expected_version is not None and seg.version != expected_version:
                raise StaleVersion(
                    _("segment {code} is at version {version}, not {expected_version}: it was changed by "
                      "someone else; reload it and try again",
                      code=seg.code, version=seg.version, expected_version=expected_version), seg.version)
            if on > today:
                raise CableError(_("the change date {value} is in the future", value=on.isoformat()), "date")
            pc.check_transition(seg.status, status, reopen=reopen)
            last = max((h.changed_on for h in seg.history), default=None)
            if last is not None and on < last:
                raise StateConflict(_("the change date {value} is before the segment's previous change "
                                      "({value2})", value=on.isoformat(), value2=last.isoformat()), "date")
            before = {"status": seg.status, "status_changed_on": _iso(seg.status_changed_on), "version": seg.version}
            previous = seg.status
            seg.status = status
            seg.status_changed_on = on
            seg.history.append(m.CableStatusChange(from_status=previous, to_status=status, changed_on=on, actor=actor,
                                                   note=note, recorded_at=m.utcnow()))
            s.flush()
            after = {"status": seg.status, "status_changed_on": on.isoformat(), "version": seg.version,
                     "note": note, "reopen": reopen}
            audit.record(s, actor, "reopen" if reopen else "set_status", "cable_segment", seg.code, before, after)
            bump_data_version(s.connection(), {"cables": True})
            return StatusChange(seg.id, seg.code, previous, status, on, actor, note, seg.version)
    except StaleDataError:
        with engine.connect() as conn:
            current = conn.execute(select(m.CableSegment.version).where(
                or_(m.CableSegment.code == str(ref), m.CableSegment.id == _int_or(ref, -1)))).scalar()
        raise StaleVersion(_("segment {ref} was changed by someone else meanwhile; reload it and try again",
                             ref=ref),
                           current) from None


def _int_or(v: Any, default: int) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def history(engine: Engine, ref: int | str) -> dict[str, Any]:
    """A segment's current state and every status change, oldest first."""
    with session_factory(engine)() as s:
        seg = find_segment(s, ref)
        return {
            "id": seg.id, "code": seg.code, "street": seg.street, "status": seg.status, "version": seg.version,
            "allowed_next": pc.allowed_next(seg.status),
            "history": [{"from_status": h.from_status, "to_status": h.to_status, "changed_on": h.changed_on.isoformat(),
                         "recorded_at": h.recorded_at.isoformat(timespec="seconds") + "Z", "actor": h.actor,
                         "note": h.note} for h in seg.history],
        }


def segment_dict(engine: Engine, ref: int | str, metric_crs: str) -> dict[str, Any]:
    """One segment as plain JSON-ready data (length measured in the metric CRS)."""
    with engine.connect() as conn:
        with Session(conn) as s:
            seg_id = find_segment(s, ref).id
        gdf = load_segments(conn, metric_crs, ids=[seg_id])
    row = gdf.iloc[0]
    return _segment_record(row)


def _segment_record(row: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": int(row["id"]), "code": row["code"], "street": row["street"], "from_desc": row["from_desc"],
        "to_desc": row["to_desc"], "district_code": row["district_code"], "commune_code": row["commune_code"],
        "length_m": round(float(row.geometry.length), 2), "plan_ref": row["plan_ref"],
        "target_year": None if pd.isna(row["target_year"]) else int(row["target_year"]), "method": row["method"],
        "operators": list(row["operators"] or []), "status": row["status"],
        "status_changed_on": _iso(row["status_changed_on"]), "version": int(row["version"]), **extra,
    }


def _iso(d: Any) -> str | None:
    if d is None or (isinstance(d, float) and pd.isna(d)):
        return None
    return d.isoformat()


# --------------------------------------------------------------------------------------------
# relocation projects, leases
# --------------------------------------------------------------------------------------------

def find_project(conn: Connection, name: str) -> tuple[Any, Any]:
    """A relocation project by exact name, else by case-insensitive unique substring."""
    rp = m.RelocationProject
    cols = (rp.id, rp.name, rp.deadline, rp.description, func.ST_AsBinary(rp.geom))
    rows = conn.execute(select(*cols).where(rp.name == name)).all()
    if not rows:
        needle = name.strip().casefold()
        rows = [r for r in conn.execute(select(*cols)).all() if needle and needle in r[1].casefold()]
    if len(rows) != 1:
        known = [r[0] for r in conn.execute(select(rp.name).order_by(rp.name)).all()]
        listed = ", ".join(known) or _("none")
        raise NotFound(_("no relocation project matches {name!r}; known projects: {known}", name=name, known=listed)
                       if not rows else
                       _("more than one relocation project matches {name!r}; known projects: {known}", name=name,
                         known=listed))
    r = rows[0]
    return r, shapely.from_wkb(bytes(r[4]))


def affected_segments(engine: Engine, project: str, metric_crs: str) -> dict[str, Any]:
    """Segments intersecting a relocation project's area, with the length lying inside it."""
    with engine.connect() as conn:
        proj, area = find_project(conn, project)
        hit = func.ST_Intersects(m.CableSegment.geom, func.ST_GeomFromText(area.wkt, 4326))
        segs = load_segments(conn, metric_crs, where=hit)
    area_m = to_crs([area], "EPSG:4326", metric_crs)[0]
    inside = pc.length_within(segs.geometry, area_m)
    records = [_segment_record(row, length_in_area_m=round(float(v), 2))
               for (_, row), v in zip(segs.iterrows(), inside, strict=True) if v > 0]
    deadline = proj[2]
    return {
        "project": {"id": proj[0], "name": proj[1], "deadline": _iso(deadline), "description": proj[3],
                    "area_m2": round(float(area_m.area), 1)},
        "segments": records,
        "count": len(records),
        "length_in_area_km": round(sum(r["length_in_area_m"] for r in records) / 1000.0, 3),
        "not_done": sum(1 for r in records if r["status"] != "done"),
    }


def projects(engine: Engine) -> list[dict[str, Any]]:
    """Relocation projects with their deadline (the area is served by the map and ``affected``)."""
    rp = m.RelocationProject
    with engine.connect() as conn:
        rows = conn.execute(select(rp.id, rp.name, rp.deadline, rp.description).order_by(rp.name)).all()
    return [{"id": r[0], "name": r[1], "deadline": _iso(r[2]), "description": r[3]} for r in rows]


def leases(engine: Engine, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """Underground-duct leases with the agreed price (VND per metre per month) and whether active."""
    as_of = as_of or dt.date.today()
    with engine.connect() as conn:
        dl = m.DuctLease
        res = conn.execute(select(dl.id, dl.duct_owner, dl.operators, dl.price_vnd_per_m_month, dl.start_on,
                                  dl.end_on, dl.note).order_by(dl.id)).all()
    return [{"id": r[0], "duct_owner": r[1], "operators": list(r[2] or []), "price_vnd_per_m_month": r[3],
             "start_on": _iso(r[4]), "end_on": _iso(r[5]), "note": r[6],
             "active": (r[4] is None or r[4] <= as_of) and (r[5] is None or r[5] >= as_of)} for r in res]


# --------------------------------------------------------------------------------------------
# complaints
# --------------------------------------------------------------------------------------------

def add_complaint(engine: Engine, *, lon: float, lat: float, text: str, actor: str, metric_crs: str,
                  province: str, reported_on: dt.date | None = None, reporter: str | None = None,
                  today: dt.date | None = None) -> dict[str, Any]:
    """Record a citizen complaint at a WGS84 point inside the province, linked to the nearest
    segment within :data:`COMPLAINT_LINK_M` metres (measured in the metric CRS)."""
    today = today or dt.date.today()
    reported_on = reported_on or today
    text = (text or "").strip()
    if not text:
        raise CableError(_("the complaint text is empty"), "text")
    if reported_on > today:
        raise CableError(_("reported_on {value} is in the future",
                           value=reported_on.isoformat()), "reported_on")
    area = province_area(engine, province, reported_on)
    swapped = " " + _("(longitude and latitude swapped?)") if area.contains(lat, lon) else ""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise CableError(_("({lon}, {lat}) is not a WGS84 longitude/latitude{swapped}",
                           lon=lon, lat=lat, swapped=swapped), "geometry")
    pt = Point(lon, lat)
    pt_m = to_crs([pt], "EPSG:4326", metric_crs)[0]
    with transaction(engine) as s:
        conn = s.connection()
        if not area.contains(lon, lat):
            raise CableError(_("the point ({lon:.6f}, {lat:.6f}) is outside {name}{swapped}",
                               lon=lon, lat=lat, name=area.name, swapped=swapped), "geometry")
        # candidates in a small box (degrees, generous), exact distance in metres
        d = 0.002
        box = shapely.box(lon - d, lat - d, lon + d, lat + d)
        near = load_segments(conn, metric_crs, where=func.ST_Intersects(
            m.CableSegment.geom, func.ST_GeomFromText(box.wkt, 4326)))
        hit = pc.nearest_line(pt_m, near.geometry, COMPLAINT_LINK_M)
        segment_id = int(near.index[hit[0]]) if hit else None
        districts, _units = load_admin_units(conn, "district", reported_on, metric_crs)
        district = next((c for c, g in zip(districts["code"], districts.geometry, strict=True) if g.covers(pt_m)), None)
        c = m.Complaint(text=text, reported_on=reported_on, status="open", reporter=reporter, segment_id=segment_id,
                        district_code=district, geom=f"SRID=4326;POINT({lon:.8f} {lat:.8f})")
        s.add(c)
        s.flush()
        out = {"id": c.id, "text": text, "reported_on": reported_on.isoformat(), "status": "open", "reporter": reporter,
               "segment_id": segment_id, "segment_code": str(near.loc[segment_id, "code"]) if hit else None,
               "distance_m": round(hit[1], 1) if hit else None, "district_code": district, "lon": lon, "lat": lat}
        audit.record(s, actor, "create", "complaint", str(c.id), None, out)
        bump_data_version(conn, {"cables": True})
    return out


def complaints(engine: Engine, status: str | None = None, complaint_id: int | None = None) -> list[dict[str, Any]]:
    """Complaints (newest first) with their linked segment's code and WGS84 position."""
    if status is not None and status not in COMPLAINT_STATUSES:
        raise CableError(_("unknown complaint status {status!r}; expected one of {complaint_statuses}",
                           status=status, complaint_statuses=', '.join(COMPLAINT_STATUSES)),
                         "status")
    c, seg = m.Complaint, m.CableSegment
    stmt = (select(c.id, c.text, c.reported_on, c.status, c.reporter, c.segment_id, seg.code, c.district_code,
                   func.ST_X(c.geom), func.ST_Y(c.geom))
            .outerjoin(seg, seg.id == c.segment_id).order_by(c.reported_on.desc(), c.id.desc()))
    if status:
        stmt = stmt.where(c.status == status)
    if complaint_id is not None:
        stmt = stmt.where(c.id == complaint_id)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [{"id": r[0], "text": r[1], "reported_on": _iso(r[2]), "status": r[3], "reporter": r[4],
             "segment_id": r[5], "segment_code": r[6], "district_code": r[7], "lon": r[8], "lat": r[9]}
            for r in rows]
