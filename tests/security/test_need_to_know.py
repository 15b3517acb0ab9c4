"""Need to know: a firm learns *that* its item meets another firm's pending plan, and which rule,
never where that plan's mast or cable lies, whose it is, its id, or what it does to a site.

The attack (issue 18): a grid of probe masts in a draft, read back through the live preview, then a
few more around a hit, trilaterated a rival's unpublished mast to 0.2 m. Here the rival's secret is
moved inside its disclosure cell between two rounds of the same probes: every answer the probing
firm gets (report JSON, HTML and XLSX, plan JSON) must stay exactly the same, so no set of probes can
place it better than one cell. The department still sees every distance, firm and plan.
"""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import Engine

from geodata.store.db import transaction
from geodata.store.keys import create_key
from geodata.store.models import Operator
from geodata.work.plans import DEPARTMENT_ACTOR
from planning.appraisal import (
    CROSS_PLAN_RULES,
    AppraisalContext,
    PendingItem,
    appraise,
    disclosure_cell_m,
    redact_for_operator,
)
from planning.geometry import project_xy
from tests.app.plan_helpers import client, collection, feature, make_keys, new_site

CRS = "EPSG:9210"
RADIUS = 100.0
CELL = disclosure_cell_m(RADIUS)
RIVAL, RIVAL_PLAN, RIVAL_CODE = "ZQX", 987654321, "ZQX-SECRET"
_x0, _y0 = (float(v[0]) for v in project_xy([106.73], [20.83], "EPSG:4326", CRS))
#: the centre of one disclosure cell in Hải Phòng; the rival's secret moves inside this cell
CX, CY = (math.floor(_x0 / CELL) + 0.5) * CELL, (math.floor(_y0 / CELL) + 0.5) * CELL
S1, S2 = (CX - 37.0, CY - 21.0), (CX + 41.0, CY + 33.0)
LEAKY_KEYS = {"distance_m", "other_plan_id", "other_operator", "other_item", "lon", "lat", "tenants"}


def lonlat(x: float, y: float) -> list[float]:
    lon, lat = project_xy([x], [y], CRS, "EPSG:4326")
    return [float(lon[0]), float(lat[0])]


def _mast(x: float, y: float, code: str) -> dict[str, Any]:
    return feature("new_site", lonlat(x, y), code=code, mount="ground", mast_height_m=30.0)


def _cable(x: float, y: float, length: float, street: str = "Lạch Tray") -> dict[str, Any]:
    return feature("cable_route", [lonlat(x, y), lonlat(x + length, y)], "LineString", street=street, method="ha_ngam")


def _ctx(*pending: dict[str, Any], sites: dict[str, Any] | None = None) -> AppraisalContext:
    return AppraisalContext(
        metric_crs=CRS, check_site=lambda _p, _lon, _lat: {"derived_class": "A2b", "reasons": [], "findings": []},
        sites=sites or {}, pending=[PendingItem(RIVAL_PLAN, RIVAL, i, f) for i, f in enumerate(pending)],
        conflict_radius_m=RADIUS, spacing_source="QĐ 26/2018")


def _firm_view(features: list[dict[str, Any]], ctx: AppraisalContext) -> dict[str, Any]:
    out = redact_for_operator(appraise(features, "VTL", ctx))
    out.pop("generated_at")
    return out


def _cross_plan(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in item["findings"] if f["rule"] in CROSS_PLAN_RULES]


def _numbers(text: str) -> set[str]:
    """Every decimal in ``text`` cut to 6 places (a position in any view: JSON, page or workbook)."""
    return {f"{float(m):.6f}" for m in re.findall(r"-?\d+\.\d+", text)}


def _assert_no_leak(text: str, view: dict[str, Any] | None = None) -> None:
    assert RIVAL not in text and str(RIVAL_PLAN) not in text
    for x, y in (S1, S2):
        lon, lat = lonlat(x, y)
        assert not {f"{v:.6f}" for v in (lon, lat)} & _numbers(text)
    for it in (view or {}).get("items", []):
        for f in _cross_plan(it):
            # no number but the public spacing and the firm's own site code
            said = f["message"].replace(f"{RADIUS:.0f} m", "").replace(str(it.get("site_code")), "")
            assert not LEAKY_KEYS & f.keys() and not re.search(r"\d", said), f


# --------------------------------------------------------------------------------------------
# the appraisal itself (pure)
# --------------------------------------------------------------------------------------------

def test_probing_masts_cannot_tell_two_secrets_in_one_cell_apart() -> None:
    grid = [(CX + dx, CY + dy) for dx in range(-290, 300, 20) for dy in range(-290, 300, 20)]
    probes = [_mast(x, y, f"PRB-{i}") for i, (x, y) in enumerate(grid)]
    views = [_firm_view(probes, _ctx(_mast(*s, RIVAL_CODE))) for s in (S1, S2)]
    text = json.dumps(views[0], ensure_ascii=False)
    assert text == json.dumps(views[1], ensure_ascii=False)
    _assert_no_leak(text, views[0])
    told = {it["code"]: _cross_plan(it) for it in views[0]["items"]}
    within = [f"PRB-{i}" for i, xy in enumerate(grid) if math.dist(xy, S1) < RADIUS]
    assert len(within) > 20
    # every real conflict is told, and told the same words whatever the distance
    assert {json.dumps(told[c]) for c in within} == {json.dumps(told[within[0]])}
    assert [f["rule"] for f in told[within[0]]] == ["plan.pending_conflict"]
    # the department sees the exact distance and whose plan it is
    staff = appraise(probes, "VTL", _ctx(_mast(*S1, RIVAL_CODE)))
    exact = [f for it in staff["items"] for f in it["findings"] if f["rule"] == "plan.pending_conflict"]
    assert {f["other_operator"] for f in exact} == {RIVAL} and all(f["distance_m"] < RADIUS for f in exact)
    assert views[0]["summary"]["conflicts"] > staff["summary"]["conflicts"]  # counts follow the cells too


def test_probing_cable_routes_cannot_tell_two_secret_routes_apart() -> None:
    start = CX - 143.0
    worlds = [_cable(start, CY - 20.0, 400.0, "Secret"), _cable(start, CY + 25.0, 400.0, "Secret")]
    probes = [_cable(CX + dx, CY + dy, 60.0) for dx in range(-300, 301, 60) for dy in range(-200, 201, 10)]
    views = [_firm_view(probes, _ctx(w)) for w in worlds]
    text = json.dumps(views[0], ensure_ascii=False)
    assert text == json.dumps(views[1], ensure_ascii=False) and "Secret" not in text
    _assert_no_leak(text, views[0])
    staff = appraise(probes, "VTL", _ctx(worlds[0]))
    near = [i for i, it in enumerate(staff["items"]) if any(f["rule"] == "plan.shared_trench" for f in it["findings"])]
    assert near and all(f.get("distance_m") is not None for i in near for f in staff["items"][i]["findings"]
                        if f["rule"] == "plan.shared_trench")
    told = [_cross_plan(views[0]["items"][i]) for i in near]
    # a finding also carries its message reference (issue 16: rendered in the reader's language); it names no route
    assert told[0][0].get("msg", {}).get("params", {}) == {}
    assert {json.dumps(t) for t in told} == {json.dumps([{"rule": "plan.shared_trench", "severity": "info",
                                                          "message": told[0][0]["message"],
                                                          **({"msg": told[0][0]["msg"]} if "msg" in told[0][0] else {})}])}


def test_same_site_never_says_what_the_rival_plan_does() -> None:
    site = {"code": "EX-9", "operator": "MBF", "status": "built", "lon": lonlat(CX, CY)[0], "lat": lonlat(CX, CY)[1],
            "shared_by": [], "max_tenants": 3, "derived_class": "A2b"}
    mine = [feature("share_site", None, site_code="EX-9"), feature("remove_site", None, site_code="EX-9")]
    for kind in ("share_site", "remove_site"):
        probe = [f for f in mine if f["properties"]["item"] == kind]
        views = [_firm_view(probe, _ctx(feature(theirs, None, site_code="EX-9"), sites={"EX-9": site}))
                 for theirs in ("remove_site", "share_site", "change_site")]
        texts = {json.dumps(v, ensure_ascii=False) for v in views}
        assert len(texts) == 1, kind
        text = texts.pop()
        assert "remove" not in text.replace("remove_site", "") and "change_site" not in text
        assert [f["rule"] for f in _cross_plan(views[0]["items"][0])] == ["plan.pending_same_site"]
        _assert_no_leak(text, views[0])


def test_reports_stored_before_the_cells_are_stripped_too() -> None:
    staff = appraise([_mast(CX, CY, "OLD-1"), _cable(CX - 30, CY + 5, 60.0)], "VTL",
                     _ctx(_mast(*S1, RIVAL_CODE), _cable(CX - 30, CY, 60.0)))
    legacy = {**staff, "items": [{k: v for k, v in it.items() if k != "operator_findings"} for it in staff["items"]]}
    del legacy["disclosure_cell_m"]
    view = redact_for_operator(legacy)
    assert [f["rule"] for it in view["items"] for f in _cross_plan(it)] == ["plan.pending_conflict",
                                                                            "plan.shared_trench"]
    _assert_no_leak(json.dumps(view, ensure_ascii=False), view)


# --------------------------------------------------------------------------------------------
# over HTTP: every view a firm gets, both backends
# --------------------------------------------------------------------------------------------

def _rival_key(engine: Engine) -> str:
    with transaction(engine) as s:
        s.add(Operator(code=RIVAL, name="Rival Telecom"))
        s.flush()
        return create_key(s, "operator", RIVAL, name="Rival Telecom").secret


def _every_view(c: Any, pid: int, h: dict[str, str]) -> tuple[dict[str, Any], str, list[list[Any]], str]:
    """The firm's report as JSON, HTML and workbook (generation time blanked) and its plan JSON."""
    rep = c.get(f"/plans/{pid}/report", headers=h)
    assert rep.status_code == 200, rep.text
    report = rep.json()
    stamp = report.pop("generated_at")
    html = c.get(f"/plans/{pid}/report?format=html", headers=h).text.replace(stamp, "")
    wb = load_workbook(io.BytesIO(c.get(f"/plans/{pid}/report?format=xlsx", headers=h).content))
    cells = [[("" if v == stamp else v) for v in row] for ws in wb for row in ws.iter_rows(values_only=True)]
    return report, html, cells, c.get(f"/plans/{pid}", headers=h).text


def test_trilateration_through_every_view_fails(demo_db: Engine) -> None:
    c = client(demo_db, expensive_read_burst=10_000, write_burst=10_000)
    k = make_keys(demo_db)
    rival = {"Authorization": f"Bearer {_rival_key(demo_db)}"}
    firm = k.h("vtl")
    probes = [new_site(*lonlat(CX + dx, CY + dy), code=f"PRB-{dx}-{dy}")
              for dx in range(-225, 240, 40) for dy in range(-225, 240, 40)]
    mine = c.post("/plans", json=collection(*probes, title="probe"), headers=firm).json()["id"]

    theirs = c.post("/plans", json=collection(new_site(*lonlat(*S1), code=RIVAL_CODE), title="Secret tower"),
                    headers=rival).json()["id"]
    assert c.post(f"/plans/{theirs}/submit", headers=rival).status_code == 200
    first = _every_view(c, mine, firm)
    # the department sees it all
    staff = c.get(f"/plans/{mine}/report", headers=k.h("planner")).json()
    exact = [f for it in staff["items"] for f in it["findings"] if f["rule"] == "plan.pending_conflict"]
    assert exact and all(f["other_operator"] == RIVAL and f["other_plan_id"] == theirs and f["distance_m"] < RADIUS
                         for f in exact)

    # the rival's mast moves to the other corner of its cell: the firm's every view stays the same
    r = c.post(f"/plans/{theirs}/decision", json={"decision": "return", "reason": "move it"}, headers=k.h("planner"))
    assert r.status_code == 200, r.text
    assert c.put(f"/plans/{theirs}", json=collection(new_site(*lonlat(*S2), code=RIVAL_CODE), title="Secret tower"),
                 headers=rival).status_code == 200
    assert c.post(f"/plans/{theirs}/submit", headers=rival).status_code == 200
    second = _every_view(c, mine, firm)
    assert first == second
    report, html, cells, plan_json = first
    told = [it["code"] for it in report["items"] if _cross_plan(it)]
    assert len(told) >= 4 and all(_cross_plan(it)[0]["rule"] == "plan.pending_conflict"
                                  for it in report["items"] if it["code"] in told)
    for text in (json.dumps(report, ensure_ascii=False), html, json.dumps(cells, default=str, ensure_ascii=False),
                 plan_json):
        assert "Secret tower" not in text and "other_plan_id" not in text and RIVAL_CODE not in text
        _assert_no_leak(text, report)

    # once submitted, the firm's headline counts what it was told, not the exact conflicts
    assert c.post(f"/plans/{mine}/submit", headers=firm).status_code == 200
    frozen = c.get(f"/plans/{mine}/report", headers=firm).json()
    assert [_cross_plan(it) for it in frozen["items"]] == [_cross_plan(it) for it in report["items"]]
    firm_counts = c.get(f"/plans/{mine}", headers=firm).json()["report_summary"]
    staff_counts = c.get(f"/plans/{mine}", headers=k.h("planner")).json()["report_summary"]
    listed = c.get("/plans", headers=firm).json()["plans"]
    assert firm_counts == frozen["summary"] == next(p["report_summary"] for p in listed if p["id"] == mine)
    assert firm_counts["by_rule"]["plan.pending_conflict"] == len(told)
    assert staff_counts["by_rule"]["plan.pending_conflict"] < len(told)


def test_share_preview_does_not_say_the_rival_removes_the_site(demo_db: Engine) -> None:
    from tests.app.plan_helpers import a_site

    c, k = client(demo_db, expensive_read_burst=10_000), make_keys(demo_db)
    target = a_site(demo_db, "MBF")
    removal = c.post("/plans", json=collection(feature("remove_site", None, site_code=target)), headers=k.h("mbf"))
    assert c.post(f"/plans/{removal.json()['id']}/submit", headers=k.h("mbf")).status_code == 200
    mine = c.post("/plans", json=collection(feature("share_site", None, site_code=target)), headers=k.h("vtl")).json()
    report = c.get(f"/plans/{mine['id']}/report", headers=k.h("vtl")).json()
    assert [f["rule"] for f in _cross_plan(report["items"][0])] == ["plan.pending_same_site"]
    html = c.get(f"/plans/{mine['id']}/report?format=html", headers=k.h("vtl")).text
    for text in (json.dumps(report, ensure_ascii=False), html):
        assert "remove" not in text.lower() and "dỡ bỏ" not in text.lower() and "other_plan_id" not in text
    staff = c.get(f"/plans/{mine['id']}/report", headers=k.h("planner")).json()
    # the department is told what the rival plans, in words since messages are translated (issue 16)
    assert "site removal" in json.dumps(staff) and staff["items"][0]["findings"]


def test_history_names_the_department_not_staff_keys(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    pid = c.post("/plans", json=collection(new_site(code="HIS-1")), headers=k.h("vtl")).json()["id"]
    assert c.post(f"/plans/{pid}/submit", headers=k.h("vtl")).status_code == 200
    assert c.post(f"/plans/{pid}/review", headers=k.h("planner")).status_code == 200
    assert c.post(f"/plans/{pid}/decision", json={"decision": "return", "reason": "dời cột"},
                  headers=k.h("planner2")).status_code == 200
    firm = c.get(f"/plans/{pid}", headers=k.h("vtl"))
    actors = [(e["to_status"], e["actor"]) for e in firm.json()["history"]]
    assert [a for s, a in actors if s in ("under_review", "returned")] == [DEPARTMENT_ACTOR] * 2
    assert all(a.startswith("Viettel Hải Phòng (key ") for s, a in actors if s in ("draft", "submitted"))
    assert "Chuyên viên" not in firm.text and "(key" not in firm.text.replace('Viettel Hải Phòng (key', '')
    for staff in ("planner", "admin", "inspector"):
        full = [e["actor"] for e in c.get(f"/plans/{pid}", headers=k.h(staff)).json()["history"]]
        assert full[2].startswith("Chuyên viên Lan (key ") and full[3].startswith("Chuyên viên Minh (key ")
