"""The planner's and admin's pages on both backends: the queue, a dossier with a planted violation,
a decision taken in the browser form (seen by the firm through the API), the optimistic lock, the
report downloads, and an admin creating a firm's key."""

from __future__ import annotations

import re

from sqlalchemy import Engine

from tests.app.plan_helpers import collection, make_keys, new_site, planted, site_row
from tests.app.workspace.helpers import browser, form_token, make_user, sign_in


def _submitted_plan(c, k, engine: Engine) -> int:  # type: ignore[no-untyped-def]
    p = site_row(engine, planted(engine)[0])
    body = collection(new_site(p["lon"] + 0.00005, p["lat"], code="WS-A2A", mount="building", mast_height_m=12.0,
                               building_height_m=15.0, reach_m=2.0, camouflaged=False),
                      new_site(105.85, 21.03, code="WS-HANOI"), title="Hồ sơ thử nghiệm")
    r = c.post("/plans", json=body, headers=k.h("vtl"))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert c.post(f"/plans/{pid}/submit", headers=k.h("vtl")).status_code == 200
    return int(pid)


def test_planner_returns_a_dossier_and_the_firm_sees_it(demo_db: Engine) -> None:
    make_user(demo_db, "lan", "planner")
    k = make_keys(demo_db)
    c = browser(demo_db)
    pid = _submitted_plan(c, k, demo_db)
    csrf = sign_in(c, "lan")
    queue = c.get("/workspace/plans", params={"status": "submitted", "operator": "VTL"})
    assert queue.status_code == 200 and f'href="/workspace/plans/{pid}"' in queue.text
    assert c.get("/workspace/plans", params={"operator": "MBF"}).text.count(f'/workspace/plans/{pid}"') == 0
    district = site_row(demo_db, planted(demo_db)[0])["district_code"]
    inside = c.get("/workspace/plans", params={"unit": district})
    assert f'href="/workspace/plans/{pid}"' in inside.text and "VTL" in inside.text
    assert f'href="/workspace/plans/{pid}"' not in c.get("/workspace/plans", params={"unit": "NOWHERE"}).text
    rows = c.get("/workspace/plans", params={"status": "submitted"}, headers={"HX-Request": "true"})
    assert "<html" not in rows.text and "Hồ sơ thử nghiệm" in rows.text  # htmx gets the rows only
    page = c.get(f"/workspace/plans/{pid}")
    assert page.status_code == 200 and "WS-A2A" in page.text and "sev-violation" in page.text
    assert "<script>" not in page.text and 'id="plan-map"' in page.text
    items = c.get(f"/workspace/plans/{pid}/items.geojson").json()
    assert {f["properties"]["severity"] for f in items["features"]} >= {"violation"}
    lock = int(re.search(r'name="lock_version" value="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    no_reason = c.post(f"/workspace/plans/{pid}/decision", data={"csrf_token": csrf, "decision": "return",
                                                                 "lock_version": str(lock)})
    assert no_reason.status_code == 400 and "reason" in no_reason.text  # the API's rule, shown on the page
    stale = c.post(f"/workspace/plans/{pid}/decision", data={"csrf_token": csrf, "decision": "return",
                                                             "reason": "x", "lock_version": str(lock - 1)})
    assert stale.status_code == 409
    r = c.post(f"/workspace/plans/{pid}/decision",
               data={"csrf_token": csrf, "decision": "return", "lock_version": str(lock),
                     "reason": "Cột WS-A2A nằm trên tuyến chỉ cho phép cột A1",
                     "item_decision_0": "reject", "item_reason_0": "A2a trên tuyến A1"})
    assert r.status_code == 303, r.text
    firm = browser(demo_db).get(f"/plans/{pid}", headers=k.h("vtl"))  # the firm: its key, no cookie
    assert firm.json()["status"] == "returned"
    assert any(h["reason"] == "Cột WS-A2A nằm trên tuyến chỉ cho phép cột A1" for h in firm.json()["history"])
    again = c.get(f"/workspace/plans/{pid}")
    assert "A2a trên tuyến A1" in again.text and 'name="decision"' not in again.text  # decided: no form
    monitoring = c.get("/workspace/monitoring")
    assert monitoring.status_code == 200 and "<svg" in monitoring.text and "<script>" not in monitoring.text
    for fmt, media in (("html", "text/html"), ("xlsx", "application/vnd.openxmlformats")):
        rep = c.get(f"/workspace/plans/{pid}/report", params={"format": fmt})
        assert rep.status_code == 200 and rep.headers["content-type"].startswith(media)


def test_admin_creates_a_firms_key_shown_once(demo_db: Engine) -> None:
    make_user(demo_db, "root", "admin")
    c = browser(demo_db)
    csrf = sign_in(c, "root")
    assert c.get("/workspace/plans").status_code == 200  # admins see the queue too
    page = c.get("/workspace/admin/keys")
    assert page.status_code == 200 and form_token(page.text) == csrf
    r = c.post("/workspace/admin/keys", data={"csrf_token": csrf, "role": "operator", "operator": "VTL",
                                              "name": "Viettel Hải Phòng"})
    assert r.status_code == 201
    secret = re.search(r'id="new-key">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    api = browser(demo_db)
    assert api.get("/plans", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert secret not in c.get("/workspace/admin/keys").text  # never shown again
    assert c.post("/workspace/admin/keys", data={"role": "operator", "operator": "VTL"}).status_code == 403
    made = c.post("/workspace/admin/users", data={"csrf_token": csrf, "username": "hung", "role": "inspector",
                                                  "password": "Inspector-2026"})
    assert made.status_code == 201 and "hung" in made.text
    assert c.post("/workspace/admin/users/hung/disable", data={"csrf_token": csrf}).status_code == 303
    hung = browser(demo_db)
    token = form_token(hung.get("/auth/login").text)
    refused = hung.post("/auth/login", data={"username": "hung", "password": "Inspector-2026", "csrf_token": token})
    assert refused.status_code == 401  # a disabled account cannot sign in
