"""The cable officer's pages on both backends: the map's sections and the filters, a status change from
the panel's form (the API's rules, history and audit entry with the staff member as actor, progress
that moves), a stale form answered 409 with the Vietnamese explanation, an illegal move and a bad date
refused, and who may do what (an inspector reads only, a key opens nothing, a session patches nothing
on the API)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from geodata.store import models as m
from geodata.store.db import transaction
from tests.app.plan_helpers import make_keys
from tests.app.workspace.helpers import browser, form_token, make_user, sign_in

HX = {"HX-Request": "true"}


def _vietnamese(c: TestClient) -> TestClient:
    """Ask for Vietnamese as an office browser does (the test clients send no Accept-Language)."""
    c.headers["Accept-Language"] = "vi-VN,vi;q=0.9"
    return c


def _planned(engine: Engine) -> tuple[str, str]:
    """A section not started yet (code, method), the first by code."""
    with transaction(engine) as s:
        row = s.execute(select(m.CableSegment.code, m.CableSegment.method)
                        .where(m.CableSegment.status == "planned").order_by(m.CableSegment.code)).first()
    assert row is not None, "the demo has planned sections"
    return row[0], row[1]


def _done_km(c: TestClient, method: str) -> tuple[float, float]:
    """The done kilometres and percentage of ``method`` as the progress section shows them."""
    html = c.get("/workspace/cables/progress").text
    row = re.search(rf'<tr data-method="{method}">.*?class="num done-km">([\d.]+)</td>'
                    rf'<td class="num done-pct">([\d.]+)</td>', html)
    assert row, html[:2000]
    return float(row.group(1)), float(row.group(2))


def _change(c: TestClient, code: str, csrf: str, status: str, version: int, **extra: Any) -> Any:
    return c.post(f"/workspace/cables/segments/{code}/status", headers=HX,
                  data={"csrf_token": csrf, "status": status, "version": str(version), **extra})


def test_planner_moves_a_section_to_done_and_progress_follows(demo_db: Engine) -> None:
    make_user(demo_db, "lan", "planner")
    c = _vietnamese(browser(demo_db))
    csrf = sign_in(c, "lan")
    code, method = _planned(demo_db)
    page = c.get("/workspace/cables")
    assert page.status_code == 200 and 'id="cable-map"' in page.text and "<script>" not in page.text
    assert "Chỉnh trang, ngầm hóa cáp viễn thông" in page.text and "xã/phường/đặc khu" in page.text
    assert f'hx-get="/workspace/cables/segments/{code}"' in page.text
    before_km, before_pct = _done_km(c, method)
    panel = c.get(f"/workspace/cables/segments/{code}", headers=HX)
    assert panel.status_code == 200 and "<html" not in panel.text and 'name="version" value="1"' in panel.text
    assert 'value="in_progress"' in panel.text and 'value="done"' not in panel.text  # the API's next steps only
    today = dt.date.today()
    first = _change(c, code, csrf, "in_progress", 1, date=(today - dt.timedelta(days=3)).isoformat(),
                    note="Đã khởi công")
    assert first.status_code == 200 and first.headers["HX-Trigger"] == "cables-changed"
    assert 'name="version" value="2"' in first.text and 'value="done"' in first.text
    done = _change(c, code, csrf, "done", 2, date=today.isoformat(), note="Nghiệm thu xong")
    assert done.status_code == 200 and "Đã cập nhật trạng thái thành" in done.text
    assert "Nghiệm thu xong" in done.text and "lan (staff" in done.text  # the history, newest first
    after_km, after_pct = _done_km(c, method)
    assert after_km > before_km and after_pct > before_pct
    api = c.get(f"/cables/segments/{code}").json()  # public read: the API sees the same section
    assert api["status"] == "done" and api["version"] == 3
    history = c.get(f"/cables/segments/{code}/history").json()["history"]
    assert [(h["to_status"], h["note"]) for h in history][-2:] == [("in_progress", "Đã khởi công"),
                                                                  ("done", "Nghiệm thu xong")]
    with transaction(demo_db) as s:
        audit = s.execute(select(m.AuditLog.actor, m.AuditLog.action).where(
            m.AuditLog.entity == "cable_segment", m.AuditLog.entity_id == code).order_by(m.AuditLog.id)).all()
    assert [a.action for a in audit] == ["set_status", "set_status"]
    assert all(a.actor.startswith("lan (staff ") for a in audit)
    reopen = _change(c, code, csrf, "reopen", 3, note="Cáp võng lại")  # done → in progress: an explicit reopening
    assert reopen.status_code == 200 and c.get(f"/cables/segments/{code}").json()["status"] == "in_progress"
    plain = c.post(f"/workspace/cables/segments/{code}/status",  # without script: a form post and a redirect
                   data={"csrf_token": csrf, "status": "done", "version": "4"})
    assert plain.status_code == 303 and plain.headers["location"].startswith(f"/workspace/cables?segment={code}")
    assert f'id="segment-{code}"' in c.get(plain.headers["location"]).text


def test_a_stale_form_gets_409_and_the_current_state(demo_db: Engine) -> None:
    make_user(demo_db, "lan", "planner")
    make_user(demo_db, "minh", "admin")
    code, _ = _planned(demo_db)
    lan, minh = _vietnamese(browser(demo_db)), browser(demo_db)
    lan_csrf, minh_csrf = sign_in(lan, "lan"), sign_in(minh, "minh")
    assert _change(minh, code, minh_csrf, "in_progress", 1).status_code == 200  # an admin may change too
    stale = _change(lan, code, lan_csrf, "in_progress", 1, note="bản cũ")
    assert stale.status_code == 409
    assert "đã được người khác cập nhật" in stale.text and "phiên bản 2" in stale.text
    assert 'name="version" value="2"' in stale.text and "bản cũ" in stale.text  # the note is kept for the retry
    with transaction(demo_db) as s:
        seg = s.execute(select(m.CableSegment).where(m.CableSegment.code == code)).scalar_one()
        assert (seg.status, seg.version, len(seg.history)) == ("in_progress", 2, 1)  # nothing written
    skip = _change(lan, code, lan_csrf, "planned", 2)  # back to "not started": the workflow forbids it
    assert skip.status_code == 409 and "Không được chuyển trạng thái" in skip.text
    future = _change(lan, code, lan_csrf, "done", 2, date=(dt.date.today() + dt.timedelta(days=2)).isoformat())
    assert future.status_code == 400 and "Kiểm tra lại ngày" in future.text
    nonsense = _change(lan, code, lan_csrf, "done", 2, date="hôm qua")
    assert nonsense.status_code == 400
    no_version = lan.post(f"/workspace/cables/segments/{code}/status", headers=HX,
                          data={"csrf_token": lan_csrf, "status": "done"})
    assert no_version.status_code == 400
    # last: ?lang=en is remembered for the rest of the session (tests/app/workspace/test_workspace_language.py)
    english = lan.post(f"/workspace/cables/segments/{code}/status?lang=en", headers=HX,
                       data={"csrf_token": lan_csrf, "status": "done", "version": "1"})
    assert english.status_code == 409 and "changed by someone else" in english.text


def test_filters_select_the_sections_on_the_map_and_in_the_list(demo_db: Engine) -> None:
    make_user(demo_db, "lan", "planner")
    c = _vietnamese(browser(demo_db))
    sign_in(c, "lan")
    everything = c.get("/workspace/cables/segments.geojson").json()["features"]
    with transaction(demo_db) as s:
        assert len(everything) == s.query(m.CableSegment).count()
    done = c.get("/workspace/cables/segments.geojson", params={"status": "done"}).json()["features"]
    assert done and all(f["properties"]["status"] == "done" for f in done) and len(done) < len(everything)
    ha_ngam = c.get("/workspace/cables/segments.geojson", params={"method": "ha_ngam"}).json()["features"]
    assert ha_ngam and all(f["properties"]["method"] == "ha_ngam" for f in ha_ngam)
    page = c.get("/workspace/cables")
    units = re.findall(r'<select id="f-unit" name="unit">(.*?)</select>', page.text, re.DOTALL)[0]
    codes = re.findall(r'<option value="([^"]+)"', units)
    assert codes, "the unit filter lists the communes in force"
    counts = {u: len(c.get("/workspace/cables/segments.geojson", params={"unit": u}).json()["features"])
              for u in codes}
    assert 0 < max(counts.values()) < len(everything)
    busiest = max(counts, key=lambda u: counts[u])
    rows = c.get("/workspace/cables", params={"unit": busiest}, headers={**HX, "HX-Target": "cable-results"})
    assert "<html" not in rows.text and rows.text.count('hx-target="#segment-panel"') == counts[busiest]
    assert c.get("/workspace/cables/segments.geojson", params={"unit": "NOWHERE"}).json()["features"] == []
    district = c.get("/workspace/cables", params={"by": "district"})
    assert "Số km theo quận/huyện" in district.text
    english = c.get("/workspace/cables", params={"lang": "en"})
    assert "Cable tidy-up and undergrounding" in english.text and "Kilometres by method" in english.text


def test_who_may_do_what_on_the_cable_pages(demo_db: Engine) -> None:
    make_user(demo_db, "hung", "inspector")
    make_user(demo_db, "lan", "planner")
    k = make_keys(demo_db)
    code, _ = _planned(demo_db)
    i = browser(demo_db)
    csrf = sign_in(i, "hung")
    assert i.get("/workspace/cables").status_code == 200  # the API's reads are public: staff read here too
    panel = i.get(f"/workspace/cables/segments/{code}", headers=HX)
    assert panel.status_code == 200 and 'name="status"' not in panel.text  # but no form
    assert _change(i, code, csrf, "in_progress", 1).status_code == 403
    anonymous = browser(demo_db)
    assert anonymous.get("/workspace/cables").status_code == 303  # to the sign-in form
    assert anonymous.get("/workspace/cables/segments.geojson").status_code == 303
    for who in ("planner", "admin"):  # a key opens no workspace page, whatever its role
        assert anonymous.get("/workspace/cables", headers=k.h(who)).status_code == 403
        assert anonymous.post(f"/workspace/cables/segments/{code}/status", headers=k.h(who),
                              data={"status": "in_progress", "version": "1"}).status_code == 403
    p = browser(demo_db)
    p_csrf = sign_in(p, "lan")
    assert p.patch(f"/cables/segments/{code}", json={"status": "in_progress"}).status_code == 401  # not a key
    no_token = p.post(f"/workspace/cables/segments/{code}/status", data={"status": "in_progress", "version": "1"})
    assert no_token.status_code == 403
    wrong = p.post(f"/workspace/cables/segments/{code}/status",
                   data={"csrf_token": form_token(i.get("/auth/password").text), "status": "in_progress",
                         "version": "1"})
    assert wrong.status_code == 403  # another session's token is no token
    with transaction(demo_db) as s:
        assert s.execute(select(m.CableSegment.version).where(m.CableSegment.code == code)).scalar() == 1
    assert _change(p, code, p_csrf, "in_progress", 1).status_code == 200
