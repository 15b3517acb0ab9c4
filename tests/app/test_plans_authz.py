"""Authorization matrix: every plans-workflow endpoint × role × own/other firm → expected status.

Callers: anonymous, admin, planner, inspector, an operator key of the firm that owns the resource
(``own``) and one of another firm (``other``). Each call gets a fresh resource, so a successful call
never changes what the next caller sees; forbidden calls must not change anything either (checked
by re-reading the plan after the denied callers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geodata.work import inspections as gi
from geodata.work import plans as gp
from geodata.work import programmes as gpr
from geodata.store.db import transaction
from planning.plan_items import parse_plan
from tests.app.plan_helpers import Keys, a_site, client, collection, make_keys, new_site

CALLERS = ("anon", "admin", "planner", "inspector", "own", "other")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Row:
    name: str
    setup: Callable[[Engine], dict[str, Any]]  # → format values for the path/body
    method: str
    path: str
    expect: dict[str, int]  # caller → status
    body: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    files: bool = False


def _plan(engine: Engine, status: str = "draft", operator: str = "VTL") -> dict[str, Any]:
    feats = parse_plan(collection(new_site())).features
    with transaction(engine) as s:
        plan = gp.create_plan(s, operator, "test", {}, feats, None).plan
        if status in ("submitted", "under_review"):
            gp.submit(s, plan, "test", {"items": [], "summary": {}})
        if status == "under_review":
            gp.start_review(s, plan, "test")
        return {"id": plan.id}


def _campaign(engine: Engine) -> dict[str, Any]:
    with transaction(engine) as s:
        camp = gi.create_campaign(s, "test", f"Đợt kiểm tra {dt.datetime.now().timestamp()}", dt.date(2026, 1, 1),
                                  dt.date(2026, 12, 31), {"operator": ["VTL", "MBF"], "max_sites": 5})
        ins = gi.record_result(s, "test", camp, camp.site_codes[0], "conforms", None, dt.date(2026, 2, 1), None)
        return {"id": camp.id, "site": camp.site_codes[1], "ins": ins.id}


def _programme(engine: Engine) -> dict[str, Any]:
    own = a_site(engine, "VTL")
    with transaction(engine) as s:
        prog = gpr.create_programme(s, "test", f"Chương trình {dt.datetime.now().timestamp()}", "conversion",
                                    "153/KH-UBND", dt.date(2020, 12, 31), {}, [own])
        return {"id": prog.id, "site": own}


def _none(_e: Engine) -> dict[str, Any]:
    return {}


ALL_OK = {c: 200 for c in CALLERS if c != "anon"} | {"anon": 401}
STAFF_ONLY = {"anon": 401, "admin": 200, "planner": 200, "inspector": 200, "own": 403, "other": 403}
FIRM_OWN = {"anon": 401, "admin": 403, "planner": 403, "inspector": 403, "own": 200, "other": 404}
READ_PLAN = {"anon": 401, "admin": 200, "planner": 200, "inspector": 200, "own": 200, "other": 404}
PLANNER = {"anon": 401, "admin": 403, "planner": 200, "inspector": 403, "own": 403, "other": 403}

MATRIX = [
    Row("create plan", _none, "POST", "/plans",
        {"anon": 401, "admin": 403, "planner": 403, "inspector": 403, "own": 201, "other": 201},
        body=lambda v: collection(new_site())),
    Row("list plans", _none, "GET", "/plans", ALL_OK),
    Row("read plan", _plan, "GET", "/plans/{id}", READ_PLAN),
    Row("edit draft", _plan, "PUT", "/plans/{id}", FIRM_OWN, body=lambda v: collection(new_site(mast_height_m=20))),
    Row("submit", _plan, "POST", "/plans/{id}/submit", FIRM_OWN),
    Row("report", lambda e: _plan(e, "submitted"), "GET", "/plans/{id}/report", READ_PLAN),
    Row("report html", lambda e: _plan(e, "submitted"), "GET", "/plans/{id}/report?format=html", READ_PLAN),
    Row("review", lambda e: _plan(e, "submitted"), "POST", "/plans/{id}/review", PLANNER),
    Row("decide", lambda e: _plan(e, "under_review"), "POST", "/plans/{id}/decision", PLANNER,
        body=lambda v: {"decision": "return", "reason": "Bổ sung hồ sơ"}),
    Row("monitoring", _none, "GET", "/monitoring/implementation", ALL_OK),
    Row("monitoring other firm", _none, "GET", "/monitoring/implementation?operator=MBF",
        {"anon": 401, "admin": 200, "planner": 200, "inspector": 200, "own": 403, "other": 200}),
    Row("create campaign", _none, "POST", "/inspections/campaigns",
        {"anon": 401, "admin": 201, "planner": 201, "inspector": 201, "own": 403, "other": 403},
        body=lambda v: {"name": f"Đợt {dt.datetime.now().timestamp()}", "start_on": "2026-01-01",
                        "filter": {"operator": ["VTL"], "max_sites": 3}}),
    Row("list campaigns", _campaign, "GET", "/inspections/campaigns", STAFF_ONLY),
    Row("read campaign", _campaign, "GET", "/inspections/campaigns/{id}", STAFF_ONLY),
    Row("campaign xlsx", _campaign, "GET", "/inspections/campaigns/{id}/sites?format=xlsx", STAFF_ONLY),
    Row("record result", _campaign, "POST", "/inspections/campaigns/{id}/results",
        {"anon": 401, "admin": 403, "planner": 201, "inspector": 201, "own": 403, "other": 403},
        body=lambda v: {"site_code": v["site"], "result": "conforms", "inspected_on": "2026-03-01"}),
    Row("read inspection", _campaign, "GET", "/inspections/{ins}", STAFF_ONLY),
    Row("upload photo", _campaign, "POST", "/inspections/{ins}/photos",
        {"anon": 401, "admin": 403, "planner": 201, "inspector": 201, "own": 403, "other": 403}, files=True),
    Row("create programme", _none, "POST", "/programmes",
        {"anon": 401, "admin": 201, "planner": 201, "inspector": 403, "own": 403, "other": 403},
        body=lambda v: {"name": f"P {dt.datetime.now().timestamp()}", "kind": "eco_bts"}),
    Row("list programmes", _programme, "GET", "/programmes", ALL_OK),
    Row("read programme", _programme, "GET", "/programmes/{id}", ALL_OK),
    Row("programme progress", _programme, "GET", "/programmes/{id}/progress", ALL_OK),
    Row("report programme site", _programme, "PUT", "/programmes/{id}/sites/{site}",
        {"anon": 401, "admin": 200, "planner": 200, "inspector": 403, "own": 200, "other": 404},
        body=lambda v: {"status": "converted", "done_on": "2020-06-30"}),
    Row("audit", _none, "GET", "/audit", {"anon": 401, "admin": 200, "planner": 403, "inspector": 403,
                                          "own": 403, "other": 403}),
    Row("audit verify", _none, "GET", "/audit/verify", {"anon": 401, "admin": 200, "planner": 403, "inspector": 403,
                                                        "own": 403, "other": 403}),
    Row("audit update", _none, "PUT", "/audit", {c: 405 for c in CALLERS}, body=lambda v: {}),
    Row("audit delete", _none, "DELETE", "/audit", {c: 405 for c in CALLERS}),
    Row("audit patch one", _none, "PATCH", "/audit/1", {c: 404 for c in CALLERS}, body=lambda v: {}),
]


def _headers(keys: Keys, caller: str) -> dict[str, str]:
    who = {"own": "vtl", "other": "mbf"}.get(caller, caller)
    return {} if caller == "anon" else keys.h(who)


def _call(c: TestClient, row: Row, values: dict[str, Any], headers: dict[str, str]) -> int:
    path = row.path.format(**values)
    kw: dict[str, Any] = {"headers": headers}
    if row.body is not None:
        kw["json"] = row.body(values)
    if row.files:
        kw["files"] = {"file": ("mast.png", PNG, "image/png")}
    return c.request(row.method, path, **kw).status_code


def test_authorization_matrix(demo_db: Engine, tmp_path: Any) -> None:
    c = client(demo_db, upload_dir=str(tmp_path), write_burst=10_000)
    keys = make_keys(demo_db)
    got: dict[tuple[str, str], int] = {}
    for row in MATRIX:
        for caller in CALLERS:
            values = row.setup(demo_db)
            got[(row.name, caller)] = _call(c, row, values, _headers(keys, caller))
    wrong = {k: (v, next(r for r in MATRIX if r.name == k[0]).expect[k[1]]) for k, v in got.items()
             if v != next(r for r in MATRIX if r.name == k[0]).expect[k[1]]}
    assert not wrong, "\n".join(f"{n} as {who}: got {g}, expected {e}" for (n, who), (g, e) in wrong.items())


def test_denied_callers_change_nothing(demo_db: Engine) -> None:
    c = client(demo_db, write_burst=10_000)
    keys = make_keys(demo_db)
    v = _plan(demo_db, "under_review")
    before = c.get(f"/plans/{v['id']}", headers=keys.h("planner")).json()
    for caller in ("anon", "admin", "inspector", "own", "other"):
        h = _headers(keys, caller)
        c.post(f"/plans/{v['id']}/decision", json={"decision": "approve"}, headers=h)
        c.put(f"/plans/{v['id']}", json=collection(new_site()), headers=h)
        c.post(f"/plans/{v['id']}/submit", headers=h)
    after = c.get(f"/plans/{v['id']}", headers=keys.h("planner")).json()
    assert after == before


def test_guessing_ids_reveals_nothing(demo_db: Engine) -> None:
    """Another firm's plan and a plan that does not exist answer the same 404."""
    c = client(demo_db)
    keys = make_keys(demo_db)
    v = _plan(demo_db, "submitted")
    for path in ("/plans/{}", "/plans/{}/report"):
        a = c.get(path.format(v["id"]), headers=keys.h("mbf"))
        b = c.get(path.format(v["id"] + 999), headers=keys.h("mbf"))
        assert a.status_code == b.status_code == 404
        assert {k: x for k, x in a.json().items() if k not in ("detail", "instance")} == \
               {k: x for k, x in b.json().items() if k not in ("detail", "instance")}
