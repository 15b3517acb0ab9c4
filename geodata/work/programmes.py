"""Mast-conversion and environment-friendly-BTS programmes and their progress.

Hải Phòng's Kế hoạch 153/KH-UBND (22/6/2018) converts existing bulky A2a masts into non-bulky A1 masts
(2018–2020); the seeds pilot environment-friendly BTS combined with multi-purpose information points
(Viettel, MobiFone). A programme fixes its target list when created — from a site filter, or from
the flagship check ("A2a masts on A1-only routes/zones", computed by the spatial core at that
moment) — and then tracks each site's status (pending → converted, or piloted for eco-BTS), the date,
and for pilots what the pole integrates (information screen, lighting, camera, Wi-Fi).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata.errors import Conflict, InvalidField, NotFound
from geodata.store import audit
from geodata.store.models import AdminUnit, Programme, ProgrammeSite, Site
from planning.vocab import ECO_INTEGRATIONS, PROGRAMME_KINDS, PROGRAMME_SITE_STATUSES
from planning.i18n import _

DONE = ("converted", "piloted")
PRESET_A2A_ON_A1 = "a2a_on_a1"


def a2a_on_a1_codes(engine: Any, settings: Any) -> list[str]:
    """Target list of a 153/KH-UBND-style conversion: A2a masts on A1-only routes/zones, checked now."""
    from geodata.work.appraisal import a2a_on_a1_codes as codes

    return codes(engine, settings)


def create_programme(session: Session, actor: str, name: str, kind: str, legal_ref: str | None,
                     deadline: dt.date | None, target_filter: dict[str, Any], codes: list[str]) -> Programme:
    """Store a programme with its target sites (``codes`` already selected by the caller)."""
    if kind not in PROGRAMME_KINDS:
        raise InvalidField(_("kind must be one of {programme_kinds}",
                             programme_kinds=', '.join(PROGRAMME_KINDS)), "kind")
    if session.execute(select(Programme.id).where(Programme.name == name)).first():
        raise Conflict(_("a programme named {name!r} already exists", name=name), "name")
    prog = Programme(name=name, kind=kind, legal_ref=legal_ref, deadline=deadline, target_filter=target_filter)
    session.add(prog)
    session.flush()
    session.add_all([ProgrammeSite(programme_id=prog.id, site_code=c, status="pending") for c in sorted(set(codes))])
    session.flush()
    audit.record(session, actor, "create", "programme", prog.id, None,
                 {"name": name, "kind": kind, "legal_ref": legal_ref, "deadline": deadline,
                  "target_filter": target_filter, "sites": len(set(codes))})
    return prog


def get_programme(session: Session, ref: int | str) -> Programme:
    """By id, or by exact name (the CLI accepts either)."""
    prog = None
    if isinstance(ref, int) or str(ref).isdigit():
        prog = session.get(Programme, int(ref))
    if prog is None:
        prog = session.execute(select(Programme).where(Programme.name == str(ref))).scalar_one_or_none()
    if prog is None:
        raise NotFound(_("no programme {ref!r}", ref=ref))
    return prog


def list_programmes(session: Session, kind: str | None = None) -> list[Programme]:
    """Every programme (of one kind: conversion or eco_bts, when given), oldest first."""
    stmt = select(Programme).order_by(Programme.id)
    if kind is not None:
        stmt = stmt.where(Programme.kind == kind)
    return list(session.execute(stmt).scalars())


def programme_dict(session: Session, prog: Programme) -> dict[str, Any]:
    n = len(session.execute(select(ProgrammeSite.id).where(ProgrammeSite.programme_id == prog.id)).all())
    return {"id": prog.id, "name": prog.name, "kind": prog.kind, "legal_ref": prog.legal_ref,
            "deadline": prog.deadline.isoformat() if prog.deadline else None, "target_filter": prog.target_filter,
            "sites": n}


def set_site_status(session: Session, actor: str, prog: Programme, site_code: str, status: str,
                    done_on: dt.date | None, integrates: list[str] | None, operator: str | None = None
                    ) -> ProgrammeSite:
    """Record a site's progress; ``operator`` limits a firm to its own sites (others are not found)."""
    ps = session.execute(select(ProgrammeSite).where(ProgrammeSite.programme_id == prog.id,
                                                     ProgrammeSite.site_code == site_code)).scalar_one_or_none()
    owner = session.execute(select(Site.operator).where(Site.code == site_code)).scalar_one_or_none()
    if operator is not None and owner != operator:
        raise NotFound(_("site {site_code!r} is not in programme {name!r}",
                         site_code=site_code, name=prog.name), "site_code")
    if ps is None:
        # the department may add any site; a firm may add its own sites as eco-BTS pilots
        if owner is not None and (operator is None or prog.kind == "eco_bts"):
            ps = ProgrammeSite(programme_id=prog.id, site_code=site_code, status="pending")
            session.add(ps)
        else:
            raise NotFound(_("site {site_code!r} is not in programme {name!r}",
                             site_code=site_code, name=prog.name), "site_code")
    if status not in PROGRAMME_SITE_STATUSES:
        raise InvalidField(_("status must be one of {programme_site_statuses}",
                             programme_site_statuses=', '.join(PROGRAMME_SITE_STATUSES)), "status")
    if status == "piloted" and prog.kind != "eco_bts":
        raise InvalidField(_("only eco-BTS programmes have piloted sites"), "status")
    if status == "converted" and prog.kind != "conversion":
        raise InvalidField(_("only conversion programmes have converted sites"), "status")
    if status in DONE and done_on is None:
        raise InvalidField(_("a {status} site needs done_on (the date it was done)",
                             status=status), "done_on")
    bad = [i for i in integrates or [] if i not in ECO_INTEGRATIONS]
    if bad:
        raise InvalidField(_("integrates: unknown {bad}; use {eco_integrations}",
                             bad=', '.join(bad), eco_integrations=', '.join(ECO_INTEGRATIONS)), "integrates")
    before = {"status": ps.status, "done_on": ps.done_on, "integrates": ps.integrates}
    ps.status = status
    ps.done_on = done_on if status in DONE else None
    if integrates is not None:
        ps.integrates = integrates
    session.flush()
    audit.record(session, actor, "progress", "programme_site", f"{prog.id}:{site_code}", before,
                 {"status": ps.status, "done_on": ps.done_on, "integrates": ps.integrates})
    return ps


def progress(session: Session, prog: Programme, by: str = "district", as_of: dt.date | None = None,
             operator: str | None = None) -> dict[str, Any]:
    """Progress rows by district or operator: total, done (converted/piloted), pending, overdue, done_pct."""
    if by not in ("district", "operator"):
        raise InvalidField(_("by must be district or operator"), "by")
    as_of = as_of or dt.date.today()
    q = (select(ProgrammeSite.site_code, ProgrammeSite.status, ProgrammeSite.done_on, ProgrammeSite.integrates,
                Site.operator, Site.district_code)
         .join(Site, Site.code == ProgrammeSite.site_code, isouter=True)
         .where(ProgrammeSite.programme_id == prog.id))
    if operator:
        q = q.where(Site.operator == operator)
    rows = session.execute(q).all()
    names = dict(session.execute(select(AdminUnit.code, AdminUnit.name).where(AdminUnit.level == "district")).all())
    overdue_day = prog.deadline is not None and as_of > prog.deadline
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        key = (r.district_code if by == "district" else r.operator) or ""
        g = groups.setdefault(key, {by: key or None, **({"district_name": names.get(key)} if by == "district" else {}),
                                    "total": 0, "done": 0, "pending": 0, "dropped": 0, "overdue": 0,
                                    "late_done": 0, "integrates": {}})
        g["total"] += 1
        if r.status in DONE:
            g["done"] += 1
            if prog.deadline and r.done_on and r.done_on > prog.deadline:
                g["late_done"] += 1
            for i in r.integrates or []:
                g["integrates"][i] = g["integrates"].get(i, 0) + 1
        elif r.status == "dropped":
            g["dropped"] += 1
        else:
            g["pending"] += 1
            g["overdue"] += int(overdue_day)
    out_rows = [groups[k] for k in sorted(groups)]
    for g in out_rows:
        active = g["total"] - g["dropped"]
        g["done_pct"] = round(100.0 * g["done"] / active, 1) if active else 0.0
    totals = {k: sum(g[k] for g in out_rows) for k in ("total", "done", "pending", "dropped", "overdue", "late_done")}
    active = totals["total"] - totals["dropped"]
    totals["done_pct"] = round(100.0 * totals["done"] / active, 1) if active else 0.0
    return {"programme": programme_dict(session, prog), "by": by, "as_of": as_of.isoformat(), "rows": out_rows,
            "totals": totals}


def programme_sites(session: Session, prog: Programme, operator: str | None = None) -> list[dict[str, Any]]:
    q = (select(ProgrammeSite, Site.operator, Site.district_code)
         .join(Site, Site.code == ProgrammeSite.site_code, isouter=True)
         .where(ProgrammeSite.programme_id == prog.id).order_by(ProgrammeSite.site_code))
    if operator:
        q = q.where(Site.operator == operator)
    return [{"site_code": ps.site_code, "operator": op, "district": d, "status": ps.status,
             "done_on": ps.done_on.isoformat() if ps.done_on else None, "integrates": ps.integrates or []}
            for ps, op, d in session.execute(q).all()]


def programme_detail(session: Session, ref: int | str, operator: str | None = None) -> dict[str, Any]:
    """One programme with its site list (an operator sees only its own sites)."""
    prog = get_programme(session, ref)
    return {**programme_dict(session, prog), "site_list": programme_sites(session, prog, operator)}
