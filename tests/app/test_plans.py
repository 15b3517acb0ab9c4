"""Plan submissions: validation, idempotency, size limits, firm isolation, workflow, report, audit."""

from __future__ import annotations

import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select, text

from geodata.store import audit
from geodata.store.db import transaction
from geodata.store.models import AuditLog, CableSegment, PlanEvent, PlanSubmission
from tests.app.plan_helpers import (
    a_site,
    client,
    collection,
    feature,
    make_keys,
    new_site,
    planted,
    site_row,
)


def _count(engine: Engine, model: type) -> int:
    with transaction(engine) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar() or 0)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------

def test_invalid_feature_rejects_whole_submission(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    body = collection(
        new_site(code="OK-1"),
        new_site(code="BAD-1", mast_height_m="forty"),
        feature("cable_route", [[106.68, 20.85], [106.69, 20.86]], "LineString", street="Lạch Tray"),
    )
    r = c.post("/plans", json=body, headers=k.h("vtl"))
    assert r.status_code == 422, r.text
    p = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert p["errors"][0]["feature"] == 1 and p["errors"][0]["field"] == "properties.mast_height_m"
    assert "features[1].properties.mast_height_m" in p["detail"]
    assert _count(demo_db, PlanSubmission) == 0


@pytest.mark.parametrize(("feat", "index_field"), [
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [20.85, 106.68]},
      "properties": {"item": "new_site", "mount": "ground", "mast_height_m": 30}}, "geometry"),
    ({"type": "Feature", "geometry": None, "properties": {"item": "new_site", "mount": "ground",
                                                         "mast_height_m": 30}}, "geometry"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.68, 20.85]},
      "properties": {"item": "new_site", "mount": "building", "mast_height_m": 3}}, "properties.building_height_m"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.68, 20.85]},
      "properties": {"item": "new_site", "mount": "roof", "mast_height_m": 3}}, "properties.mount"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.68, 20.85]},
      "properties": {"item": "new_site", "mount": "ground", "mast_height": 3}}, "properties.mast_height"),
    ({"type": "Feature", "geometry": None, "properties": {"item": "move_site"}}, "properties.item"),
    ({"type": "Feature", "geometry": None, "properties": {"item": "remove_site"}}, "properties.site_code"),
    ({"type": "Feature", "geometry": None, "properties": {"item": "remove_site", "site_code": "NOPE-1"}},
     "properties.site_code"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.68, 20.85]},
      "properties": {"item": "cable_route", "street": "Lạch Tray", "method": "ha_ngam"}}, "geometry"),
])
def test_each_invalid_feature_names_index_and_field(demo_db: Engine, feat: dict, index_field: str) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    r = c.post("/plans", json=collection(new_site(code="FINE-1"), feat), headers=k.h("vtl"))
    assert r.status_code == 422, r.text
    errs = r.json()["errors"]
    assert any(e["feature"] == 1 and e["field"] == index_field for e in errs), errs
    assert _count(demo_db, PlanSubmission) == 0


def test_swapped_coordinates_get_a_hint(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    r = c.post("/plans", json=collection(new_site(20.8561, 106.6822)), headers=k.h("vtl"))
    assert r.status_code == 422 and "swapped" in r.json()["detail"]


def test_firm_cannot_change_another_firms_site(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    other = a_site(demo_db, "MBF")
    r = c.post("/plans", json=collection(feature("remove_site", None, site_code=other)), headers=k.h("vtl"))
    assert r.status_code == 422 and "another operator" in r.json()["detail"]
    own = a_site(demo_db, "VTL")
    r = c.post("/plans", json=collection(feature("share_site", None, site_code=own)), headers=k.h("vtl"))
    assert r.status_code == 422 and "own site" in r.json()["detail"]


def test_bad_json_and_media_type(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    h = {**k.h("vtl"), "Content-Type": "application/json"}
    assert c.post("/plans", content=b"{not json", headers=h).status_code == 400
    assert c.post("/plans", content=b'{"type": NaN}', headers=h).status_code == 400
    assert c.post("/plans", content=b"x", headers={**k.h("vtl"), "Content-Type": "text/plain"}).status_code == 415
    assert c.post("/plans", json={"type": "Feature"}, headers=k.h("vtl")).status_code == 422
    assert c.post("/plans", json=collection(), headers=k.h("vtl")).status_code == 422


# --------------------------------------------------------------------------------------------
# idempotency and limits
# --------------------------------------------------------------------------------------------

def test_idempotency_key(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    body = collection(new_site(code="IDEM-1"))
    h = {**k.h("vtl"), "Idempotency-Key": "dossier-2026-01"}
    r1 = c.post("/plans", json=body, headers=h)
    assert r1.status_code == 201, r1.text
    # the same content, other key order and spacing: a replay
    raw = json.dumps(json.loads(json.dumps(body)), indent=2, sort_keys=True)
    r2 = c.post("/plans", content=raw, headers={**h, "Content-Type": "application/geo+json"})
    assert r2.status_code == 200 and r2.json()["id"] == r1.json()["id"]
    r3 = c.post("/plans", json=collection(new_site(code="IDEM-2")), headers=h)
    assert r3.status_code == 409 and r3.json()["plan_id"] == r1.json()["id"]
    # the key is per firm: another firm may use the same string
    r4 = c.post("/plans", json=body, headers={**k.h("mbf"), "Idempotency-Key": "dossier-2026-01"})
    assert r4.status_code == 201 and r4.json()["id"] != r1.json()["id"]
    # without a key every POST is a new plan
    assert c.post("/plans", json=body, headers=k.h("vtl")).json()["id"] not in (r1.json()["id"], r4.json()["id"])
    assert _count(demo_db, PlanSubmission) == 3


def test_size_and_feature_limits(demo_db: Engine) -> None:
    c, k = client(demo_db, max_plan_bytes=20_000, max_plan_features=10), make_keys(demo_db)
    many = collection(*[new_site(106.60 + i * 0.01, 20.85, code=f"M-{i}") for i in range(11)])
    r = c.post("/plans", json=many, headers=k.h("vtl"))
    assert r.status_code == 413 and "at most 10" in r.json()["detail"] and r.json()["limit_features"] == 10
    big = collection(new_site(code="BIG-1", note="x" * 1500), *[new_site(code=f"B{i}", name="y" * 190)
                                                              for i in range(100)])
    r = c.post("/plans", json=big, headers=k.h("vtl"))
    assert r.status_code == 413 and "20,000 bytes" in r.json()["detail"]
    # a chunked body without Content-Length is cut off too
    payload = json.dumps(big).encode()
    r = c.post("/plans", content=iter([payload[i:i + 4096] for i in range(0, len(payload), 4096)]),
               headers={**k.h("vtl"), "Content-Type": "application/json"})
    assert r.status_code == 413
    assert _count(demo_db, PlanSubmission) == 0


# --------------------------------------------------------------------------------------------
# isolation
# --------------------------------------------------------------------------------------------

def test_operators_see_only_their_own_plans(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    pid = c.post("/plans", json=collection(new_site(code="ISO-1")), headers=k.h("vtl")).json()["id"]
    assert c.get(f"/plans/{pid}", headers=k.h("vtl")).status_code == 200
    for path in (f"/plans/{pid}", f"/plans/{pid}/report", f"/plans/{pid + 1000}"):
        r = c.get(path, headers=k.h("mbf"))
        assert r.status_code == 404, path
    assert c.post(f"/plans/{pid}/submit", headers=k.h("mbf")).status_code == 404
    assert c.put(f"/plans/{pid}", json=collection(new_site(code="X")), headers=k.h("mbf")).status_code == 404
    assert [p["id"] for p in c.get("/plans", headers=k.h("mbf")).json()["plans"]] == []
    assert c.get("/plans?operator=VTL", headers=k.h("mbf")).json()["plans"] == []
    assert [p["id"] for p in c.get("/plans", headers=k.h("planner")).json()["plans"]] == [pid]


def test_draft_edit_and_lock_version(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    r = c.post("/plans", json=collection(new_site(code="ED-1")), headers=k.h("vtl"))
    pid, etag = r.json()["id"], r.headers["etag"]
    r = c.put(f"/plans/{pid}", json=collection(new_site(code="ED-1", mast_height_m=30), new_site(106.70, 20.86,
                                                                                                  code="ED-2")),
              headers={**k.h("vtl"), "If-Match": etag})
    assert r.status_code == 200 and r.json()["item_count"] == 2
    r = c.put(f"/plans/{pid}", json=collection(new_site(code="ED-3")), headers={**k.h("vtl"), "If-Match": etag})
    assert r.status_code == 409  # stale ETag
    with transaction(demo_db) as s:
        edits = [e for e in audit.entries(s, "plan", pid) if e["action"] == "edit"]
    assert len(edits) == 1 and edits[0]["after"]["diff"]["added"] == ["new_site:ED-2"]
    assert "properties.mast_height_m" in edits[0]["after"]["diff"]["changed"]["new_site:ED-1"]


# --------------------------------------------------------------------------------------------
# workflow
# --------------------------------------------------------------------------------------------

def _submit(c, k, body, who="vtl") -> int:  # type: ignore[no-untyped-def]
    r = c.post("/plans", json=body, headers=k.h(who))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = c.post(f"/plans/{pid}/submit", headers=k.h(who))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "submitted"
    return pid


def test_full_workflow_return_resubmit_approve(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    own = a_site(demo_db, "VTL")
    host = a_site(demo_db, "VNP")
    body = collection(
        new_site(106.7010, 20.8400, code="WF-NEW-1", mount="ground", mast_height_m=30, target_date="2027-06-30"),
        feature("share_site", None, site_code=host),
        feature("cable_route", [[106.680, 20.855], [106.684, 20.857]], "LineString", street="Lạch Tray",
                target_year=2027, method="chinh_trang"),
    )
    pid = _submit(c, k, body)
    assert c.post(f"/plans/{pid}/submit", headers=k.h("vtl")).status_code == 409  # frozen
    assert c.put(f"/plans/{pid}", json=body, headers=k.h("vtl")).status_code == 409
    # operators cannot decide; planners can
    assert c.post(f"/plans/{pid}/decision", json={"decision": "approve"}, headers=k.h("vtl")).status_code == 403
    assert c.post(f"/plans/{pid}/decision", json={"decision": "return"}, headers=k.h("planner")).status_code == 422
    r = c.post(f"/plans/{pid}/review", headers=k.h("planner"))
    assert r.status_code == 200 and r.json()["status"] == "under_review"
    r = c.post(f"/plans/{pid}/decision", json={"decision": "return", "reason": "Bổ sung vị trí trạm thay thế"},
               headers=k.h("planner"))
    assert r.status_code == 200 and r.json()["status"] == "returned"
    # the firm edits and submits version 2
    body2 = collection(*body["features"], feature("change_site", [106.6500, 20.8400], site_code=own))
    assert c.put(f"/plans/{pid}", json=body2, headers=k.h("vtl")).status_code == 200
    r = c.post(f"/plans/{pid}/submit", headers=k.h("vtl"))
    assert r.status_code == 200 and r.json()["version"] == 2
    r = c.post(f"/plans/{pid}/decision", headers=k.h("planner"), json={
        "decision": "approve", "reason": "Phù hợp quy hoạch",
        "items": [{"index": 2, "decision": "reject", "reason": "Tuyến đã có trong kế hoạch 18/KH-BCĐ"}]})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    applied = {a["index"]: a for a in r.json()["applied"]}
    assert set(applied) == {0, 1, 3}
    # approved items became data
    new = site_row(demo_db, "WF-NEW-1")
    assert new["status"] == "planned" and new["operator"] == "VTL" and new["x_m"] and new["district_code"]
    assert new["derived_class"]
    assert "VTL" in json.loads(site_row(demo_db, host)["shared_by"]) if isinstance(
        site_row(demo_db, host)["shared_by"], str) else "VTL" in site_row(demo_db, host)["shared_by"]
    moved = site_row(demo_db, own)
    assert moved["lon"] == pytest.approx(106.65) and moved["lat"] == pytest.approx(20.84)
    with transaction(demo_db) as s:
        assert s.execute(select(func.count()).select_from(CableSegment)
                         .where(CableSegment.plan_ref == f"plan-{pid}")).scalar() == 0  # rejected item
        evs = s.execute(select(PlanEvent).where(PlanEvent.plan_id == pid).order_by(PlanEvent.id)).scalars().all()
        trail = [(e.from_status, e.to_status) for e in evs]
        assert trail == [(None, "draft"), ("draft", "submitted"), ("submitted", "under_review"),
                         ("under_review", "returned"), ("returned", "submitted"), ("submitted", "under_review"),
                         ("under_review", "approved")]
        v2 = [e for e in evs if e.to_status == "submitted"][1]
        assert v2.version == 2 and v2.diff["added"] == [f"change_site:{own}"]
        plan_audit = audit.entries(s, "plan", pid)
        assert [a["action"] for a in plan_audit] == ["create", "submitted", "under_review", "returned", "edit",
                                                      "submitted", "under_review", "approved"]
        assert all(a["actor"] for a in plan_audit)
        site_audit = audit.entries(s, "site", "WF-NEW-1")
        assert site_audit and site_audit[0]["after"]["plan_id"] == pid
        assert audit.entries(s, "site", own)[0]["before"]["lon"] != pytest.approx(106.65)
    # decided plans are final
    assert c.post(f"/plans/{pid}/decision", json={"decision": "reject", "reason": "x"},
                  headers=k.h("planner")).status_code == 409
    detail = c.get(f"/plans/{pid}", headers=k.h("vtl")).json()
    assert [h["to_status"] for h in detail["history"]][-1] == "approved"
    assert detail["decisions"][2]["decision"] == "reject"


def test_cable_route_approval_creates_planned_segment(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    pid = _submit(c, k, collection(feature("cable_route", [[106.680, 20.855], [106.684, 20.857]], "LineString",
                                           street="Lạch Tray", method="underground", target_year=2027)))
    r = c.post(f"/plans/{pid}/decision", json={"decision": "approve"}, headers=k.h("planner"))
    assert r.status_code == 200, r.text
    with transaction(demo_db) as s:
        seg = s.execute(select(CableSegment).where(CableSegment.plan_ref == f"plan-{pid}")).scalar_one()
        assert seg.status == "planned" and seg.operators == ["VTL"] and 400 < seg.length_m < 500
        # issue 16: the plan's old word "underground" is read as today's hạ ngầm
        assert seg.method == "ha_ngam"
        assert audit.entries(s, "cable_segment", seg.code)


def test_reject_needs_reason_and_applies_nothing(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    pid = _submit(c, k, collection(new_site(code="REJ-1")))
    assert c.post(f"/plans/{pid}/decision", json={"decision": "reject"}, headers=k.h("planner")).status_code == 422
    r = c.post(f"/plans/{pid}/decision", json={"decision": "reject", "reason": "Trùng quy hoạch"},
               headers=k.h("planner"))
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert site_row(demo_db, "REJ-1") == {}


def test_stale_lock_version_is_409(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    pid = _submit(c, k, collection(new_site(code="LV-1")))
    lv = c.get(f"/plans/{pid}", headers=k.h("planner")).json()["lock_version"]
    assert c.post(f"/plans/{pid}/review", headers=k.h("planner")).status_code == 200
    r = c.post(f"/plans/{pid}/decision", json={"decision": "approve", "lock_version": lv}, headers=k.h("planner2"))
    assert r.status_code == 409 and r.json()["lock_version"] == lv + 1


# --------------------------------------------------------------------------------------------
# the appraisal report
# --------------------------------------------------------------------------------------------

def test_report_lists_planted_a2a_on_a1_and_too_close_mast(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    code = planted(demo_db)[0]
    p = site_row(demo_db, code)
    near = a_site(demo_db, "MBF")
    q = site_row(demo_db, near)
    body = collection(
        # a bulky rooftop mast where the demo planted an A2a on an A1-only route/zone
        new_site(p["lon"] + 0.00005, p["lat"], code="RPT-A2A", mount="building", mast_height_m=12.0,
                 building_height_m=15.0, reach_m=2.0, camouflaged=False),
        # a new ground mast about 40 m from an existing one
        new_site(q["lon"] + 0.0004, q["lat"], code="RPT-NEAR", mount="ground", mast_height_m=36.0),
        # a mast outside the province
        new_site(105.85, 21.03, code="RPT-HANOI"),
    )
    pid = _submit(c, k, body)
    rep = c.get(f"/plans/{pid}/report", headers=k.h("vtl")).json()
    items = {it["code"]: it for it in rep["items"]}
    a2a = items["RPT-A2A"]
    assert a2a["derived_class"] == "A2a" and a2a["reasons"]
    zf = [f for f in a2a["findings"] if f["severity"] == "violation" and (f.get("zone") or f.get("route"))]
    assert zf and all(f.get("legal_source") for f in zf) and all("distance_m" in f for f in zf)
    sp = [f for f in items["RPT-NEAR"]["findings"] if f.get("other_site_code") == near]
    assert sp and 20 < sp[0]["distance_m"] < 60 and sp[0]["legal_source"]
    out = items["RPT-HANOI"]
    assert out["outside_province"] and any(f["rule"] == "plan.outside_province" for f in out["findings"])
    s = rep["summary"]
    assert s["items"] == 3 and s["by_severity"]["violation"] >= 2 and s["outside_province"] == 1
    # the same report, printable and as a workbook
    html = c.get(f"/plans/{pid}/report?format=html&lang=vi", headers=k.h("vtl"))
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    # issue 16: the page reads in the chosen language, and "báo cáo kết quả thẩm định" is the term
    assert "RPT-A2A" in html.text and "Báo cáo kết quả thẩm định" in html.text and "<script" not in html.text
    en = c.get(f"/plans/{pid}/report?format=html", headers={**k.h("vtl"), "Accept-Language": "en"})
    assert "Appraisal report" in en.text and "Báo cáo" not in en.text
    x = c.get(f"/plans/{pid}/report", headers={**k.h("planner"), "Accept": "application/vnd.openxmlformats-"
                                                "officedocument.spreadsheetml.sheet"})
    assert x.status_code == 200
    import io

    wb = load_workbook(io.BytesIO(x.content))
    codes = [r[2].value for r in wb["Hang muc"].iter_rows(min_row=2)]
    assert codes == ["RPT-A2A", "RPT-NEAR", "RPT-HANOI"]
    assert wb["Phat hien"].max_row - 1 == sum(len(it["findings"]) for it in rep["items"])


def test_report_conflicts_with_other_firms_pending_plans(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    other = _submit(c, k, collection(new_site(106.7300, 20.8300, code="MBF-PEND")), who="mbf")
    pid = _submit(c, k, collection(new_site(106.7303, 20.8301, code="VTL-PEND")))
    staff = c.get(f"/plans/{pid}/report", headers=k.h("planner")).json()
    conf = [f for f in staff["items"][0]["findings"] if f["rule"] == "plan.pending_conflict"]
    assert conf and conf[0]["other_plan_id"] == other and conf[0]["other_operator"] == "MBF"
    assert conf[0]["distance_m"] < 100
    # the firm learns of the conflict, not whose plan it is
    firm = c.get(f"/plans/{pid}/report", headers=k.h("vtl")).json()
    fconf = [f for f in firm["items"][0]["findings"] if f["rule"] == "plan.pending_conflict"]
    assert fconf and "other_plan_id" not in fconf[0] and "other_operator" not in fconf[0]
    assert "MBF" not in json.dumps(firm)
    assert staff["summary"]["conflicts"] == 1


def test_draft_report_is_a_preview(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    pid = c.post("/plans", json=collection(new_site(code="PRV-1")), headers=k.h("vtl")).json()["id"]
    rep = c.get(f"/plans/{pid}/report", headers=k.h("vtl")).json()
    assert rep["preview"] is True and rep["status"] == "draft" and rep["items"][0]["derived_class"]


def test_keys_never_in_responses_or_audit(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    pid = _submit(c, k, collection(new_site(code="SEC-1")))
    c.post(f"/plans/{pid}/decision", json={"decision": "approve"}, headers=k.h("planner"))
    with demo_db.connect() as conn:
        dump = json.dumps([list(map(str, r)) for r in conn.execute(text("SELECT * FROM audit_log")).all()])
        dump += json.dumps([list(map(str, r)) for r in conn.execute(text("SELECT * FROM plan_events")).all()])
    bodies = c.get(f"/plans/{pid}", headers=k.h("vtl")).text + c.get("/audit", headers=k.h("admin")).text
    for secret in (k.vtl, k.planner, k.admin):
        assert secret not in dump and secret not in bodies
        assert secret[14:] not in dump
    assert _count(demo_db, AuditLog) > 0
