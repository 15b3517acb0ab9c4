"""Inspection campaigns (đợt kiểm tra): selected sites, per-site results, photos, findings from violations.

A campaign fixes its site list when it is created (e.g. 93 BTS sites of 3 firms), so later changes
to the site table do not silently change what inspectors were sent to check. A ``violation`` result
raises a finding (check ``inspection``) on the site, which then shows on the map and in exports.
Photos are stored on disk under ``settings.upload_dir`` with their SHA-256; the content type is
checked against the file's own magic bytes, not just the client's claim.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from geodata.errors import Conflict, InvalidField, NotFound, UnsupportedType
from geodata.store import audit, idempotency
from geodata.store.idempotency import Answer
from geodata.store.meta import bump_data_version
from geodata.store.models import Finding, Inspection, InspectionCampaign, Site, utcnow
from geodata.store.repository import unit_names
from geodata.store.units import unit_choices
from planning.units import match_units
from planning.vocab import INSPECTION_CHECK, INSPECTION_RESULTS
from planning.i18n import _

#: content type → file extension, for the image formats phones and cameras produce
PHOTO_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
PHOTO_TYPE_TITLE = "Unsupported photo type"


def _unit_codes(session: Session, level: str, values: list[str]) -> list[str]:
    """Codes of the units the campaign filter names, by code or by name like every unit filter
    (a value naming nothing is kept, so it selects nothing rather than everything)."""
    units = unit_choices(session, level)
    return sorted({c for v in values for c in match_units(v, units) or [v]})


def select_sites(session: Session, flt: dict[str, Any]) -> list[str]:
    """Site codes matching a campaign filter (operators, districts, communes, classes, statuses, codes)."""
    q = select(Site.code).where(Site.status.in_(flt.get("status") or ["built"]))
    if flt.get("operator"):
        q = q.where(Site.operator.in_(flt["operator"]))
    if flt.get("district"):
        q = q.where(Site.district_code.in_(_unit_codes(session, "district", flt["district"])))
    if flt.get("commune"):
        q = q.where(Site.commune_code.in_(_unit_codes(session, "commune", flt["commune"])))
    classes = flt.get("derived_class") or flt.get("mast_class")  # campaigns stored before the rename
    if classes:
        q = q.where(func.coalesce(Site.derived_class, Site.declared_class).in_(classes))
    if flt.get("codes"):
        q = q.where(Site.code.in_(flt["codes"]))
    codes = list(session.execute(q.order_by(Site.code)).scalars())
    if flt.get("max_sites"):
        codes = codes[: int(flt["max_sites"])]
    return codes


def create_campaign(session: Session, actor: str, name: str, start_on: dt.date, end_on: dt.date | None,
                    flt: dict[str, Any]) -> InspectionCampaign:
    if end_on is not None and end_on < start_on:
        raise InvalidField(_("end_on is before start_on"), "end_on")
    if session.execute(select(InspectionCampaign.id).where(InspectionCampaign.name == name)).first():
        raise Conflict(_("a campaign named {name!r} already exists", name=name), "name")
    codes = select_sites(session, flt)
    if not codes:
        raise InvalidField(_("the filter selects no site"), "filter")
    camp = InspectionCampaign(name=name, start_on=start_on, end_on=end_on, site_filter=flt, site_codes=codes)
    session.add(camp)
    session.flush()
    audit.record(session, actor, "create", "inspection_campaign", camp.id, None,
                 {"name": name, "start_on": start_on, "end_on": end_on, "filter": flt, "sites": len(codes)})
    return camp


def get_campaign(session: Session, campaign_id: int) -> InspectionCampaign:
    camp = session.get(InspectionCampaign, campaign_id)
    if camp is None:
        raise NotFound(_("no inspection campaign {campaign_id}", campaign_id=campaign_id))
    return camp


def list_campaigns(session: Session) -> list[InspectionCampaign]:
    """Every campaign, oldest first."""
    return list(session.execute(select(InspectionCampaign).order_by(InspectionCampaign.id)).scalars())


def get_inspection(session: Session, inspection_id: int) -> Inspection:
    ins = session.get(Inspection, inspection_id)
    if ins is None:
        raise NotFound(_("no inspection {inspection_id}", inspection_id=inspection_id))
    return ins


def photo_file(session: Session, inspection_id: int, n: int, upload_dir: Path) -> tuple[Path, str]:
    """(path, content type) of an inspection's ``n``-th photo (1-based); an unknown inspection reads
    as one without that photo."""
    ins = session.get(Inspection, inspection_id)
    photos = (ins.photos or []) if ins else []
    if not 1 <= n <= len(photos):
        raise NotFound(_("inspection {inspection_id} has no photo {n}", inspection_id=inspection_id, n=n))
    path = upload_dir / photos[n - 1]["path"]
    if not path.is_file():
        raise NotFound(_("the photo file is missing from the upload directory"))
    return path, photos[n - 1]["content_type"]


def campaign_summary(session: Session, camp: InspectionCampaign) -> dict[str, Any]:
    results = session.execute(select(Inspection.result, func.count()).where(Inspection.campaign_id == camp.id)
                              .group_by(Inspection.result)).all()
    counts = dict(results)
    inspected = session.execute(select(func.count(func.distinct(Inspection.site_code)))
                                .where(Inspection.campaign_id == camp.id)).scalar() or 0
    ops = sorted(set(session.execute(select(Site.operator).where(Site.code.in_(camp.site_codes or []))).scalars()))
    return {"id": camp.id, "name": camp.name, "start_on": camp.start_on.isoformat(),
            "end_on": camp.end_on.isoformat() if camp.end_on else None, "filter": camp.site_filter,
            "sites": len(camp.site_codes or []), "operators": ops, "inspected": int(inspected),
            "conforms": int(counts.get("conforms", 0)), "violations": int(counts.get("violation", 0))}


def campaign_sites(session: Session, camp: InspectionCampaign) -> list[dict[str, Any]]:
    """The inspectors' list: one row per site with position, class, address and the latest result."""
    codes = camp.site_codes or []
    sites = {s.code: s for s in session.execute(select(Site).where(Site.code.in_(codes))).scalars()}
    names = unit_names(session.connection())
    latest: dict[str, Inspection] = {}
    for ins in session.execute(select(Inspection).where(Inspection.campaign_id == camp.id)
                               .order_by(Inspection.id)).scalars():
        latest[ins.site_code] = ins
    rows = []
    for code in codes:
        s = sites.get(code)
        ins = latest.get(code)
        p = to_shape(s.geom) if s is not None else None
        rows.append({
            "code": code, "operator": s.operator if s else None, "name": s.name if s else None,
            "address": s.address if s else None,
            "district": names.get(s.district_code) if s and s.district_code else None,
            "commune": names.get(s.commune_code) if s and s.commune_code else None,
            "mount": s.mount if s else None, "mast_height_m": s.mast_height_m if s else None,
            "declared_class": s.declared_class if s else None, "derived_class": s.derived_class if s else None,
            "lat": round(p.y, 7) if p else None, "lon": round(p.x, 7) if p else None,
            "result": ins.result if ins else None, "inspected_on": ins.inspected_on.isoformat() if ins else None,
            "inspection_id": ins.id if ins else None,
        })
    return rows


def campaign_detail(session: Session, campaign_id: int) -> dict[str, Any]:
    """One campaign: its summary and the inspectors' site list."""
    camp = get_campaign(session, campaign_id)
    return {**campaign_summary(session, camp), "site_list": campaign_sites(session, camp)}


def record_result(session: Session, actor: str, camp: InspectionCampaign, site_code: str, result: str,
                  notes: str | None, inspected_on: dt.date, inspector: str | None) -> Inspection:
    if site_code not in (camp.site_codes or []):
        raise NotFound(_("site {site_code!r} is not in campaign {name!r}",
                         site_code=site_code, name=camp.name), "site_code")
    if result not in INSPECTION_RESULTS:
        raise InvalidField(_("result must be one of {inspection_results}",
                             inspection_results=', '.join(INSPECTION_RESULTS)), "result")
    if result == "violation" and not (notes or "").strip():
        raise InvalidField(_("a violation needs notes saying what is wrong"), "notes")
    if inspected_on < camp.start_on or (camp.end_on and inspected_on > camp.end_on):
        raise InvalidField(_("inspected_on {inspected_on} is outside the campaign's dates",
                             inspected_on=inspected_on), "inspected_on")
    ins = Inspection(campaign_id=camp.id, site_code=site_code, result=result, notes=notes,
                     inspected_on=inspected_on, inspector=inspector or actor, photos=[])
    session.add(ins)
    session.flush()
    audit.record(session, actor, "inspect", "site", site_code, None,
                 {"inspection_id": ins.id, "campaign_id": camp.id, "result": result, "notes": notes,
                  "inspected_on": inspected_on})
    if result == "violation":
        site = session.execute(select(Site).where(Site.code == site_code)).scalar_one()
        names = unit_names(session.connection())
        f = Finding(check=INSPECTION_CHECK, rule="inspection.violation", severity="violation", site_code=site_code,
                    operator=site.operator, district=names.get(site.district_code or ""),
                    commune=names.get(site.commune_code or ""), district_code=site.district_code,
                    commune_code=site.commune_code, message=notes,
                    details={"campaign_id": camp.id, "campaign": camp.name, "inspection_id": ins.id,
                             "inspected_on": inspected_on.isoformat()},
                    geom=site.geom, created_at=utcnow())
        session.add(f)
        session.flush()
        audit.record(session, actor, "create", "finding", f.id, None,
                     {"check": INSPECTION_CHECK, "site_code": site_code, "inspection_id": ins.id})
        bump_data_version(session, {"inspections": True})
    return ins


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes really are (JPEG, PNG, WebP), or ``None``."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def add_photo(session: Session, actor: str, inspection_id: int, data: bytes, content_type: str,
              filename: str | None, upload_dir: Path) -> dict[str, Any]:
    ins = get_inspection(session, inspection_id)
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared not in PHOTO_TYPES:
        raise UnsupportedType(_("photos must be {photo_types}; got {value}",
                                photo_types=', '.join(PHOTO_TYPES), value=declared or _("no type")), "file",
                              title=PHOTO_TYPE_TITLE)
    real = sniff_image(data)
    if real != declared:
        raise UnsupportedType(_("the file is not a {declared} image (its content is {value})",
                                declared=declared, value=real or _("not an image")),
                              "file", title=PHOTO_TYPE_TITLE)
    digest = hashlib.sha256(data).hexdigest()
    rel = Path("inspections") / str(inspection_id) / f"{digest[:24]}.{PHOTO_TYPES[declared]}"
    path = upload_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    photo = {"n": len(ins.photos or []) + 1, "path": rel.as_posix(), "sha256": digest, "content_type": declared,
             "bytes": len(data), "filename": (filename or "")[:200] or None, "uploaded_at": utcnow().isoformat()}
    ins.photos = [*(ins.photos or []), photo]
    session.flush()
    audit.record(session, actor, "photo", "inspection", inspection_id, None,
                 {k: v for k, v in photo.items() if k != "path"})
    return photo


def inspection_dict(ins: Inspection) -> dict[str, Any]:
    return {"id": ins.id, "campaign_id": ins.campaign_id, "site_code": ins.site_code, "result": ins.result,
            "notes": ins.notes, "inspected_on": ins.inspected_on.isoformat(), "inspector": ins.inspector,
            "photos": [{k: v for k, v in p.items() if k != "path"} for p in (ins.photos or [])]}


def record_result_once(engine: Engine, actor: str, inspector: str | None, campaign_id: int, site_code: str,
                       result: str, notes: str | None, inspected_on: dt.date, key: str | None) -> Answer:
    """:func:`record_result` at most once per (actor, key): the API and the inspector's offline queue
    both send a key, and a replay gets the first answer (201, the same inspection) back."""
    body = {"site_code": site_code, "result": result, "notes": notes, "inspected_on": inspected_on.isoformat()}

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        camp = get_campaign(session, campaign_id)
        return 201, inspection_dict(record_result(session, actor, camp, site_code, result, notes, inspected_on,
                                                  inspector))

    return idempotency.run_once(engine, actor, key, f"inspection.result campaign {campaign_id}", body, work)


def add_photo_once(engine: Engine, actor: str, inspection_id: int, data: bytes, content_type: str,
                   filename: str | None, upload_dir: Path, key: str | None) -> Answer:
    """:func:`add_photo` at most once per (actor, key): a photo sent again after a lost answer is not
    stored twice. The request is identified by the photo's bytes (SHA-256) and type, not its file name."""
    body = {"sha256": hashlib.sha256(data).hexdigest(), "content_type": (content_type or "").split(";")[0].lower()}

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        photo = add_photo(session, actor, inspection_id, data, content_type, filename, upload_dir)
        return 201, {k: v for k, v in photo.items() if k != "path"}

    return idempotency.run_once(engine, actor, key, f"inspection.photo {inspection_id}", body, work)
