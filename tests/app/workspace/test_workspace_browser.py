"""The workspace end to end in headless Chromium against a live server on loopback, network cut:
a planner signs in, opens a dossier with a planted violation (drawn on the map), returns it with a
reason, and the firm reads the new status through the API; an admin creates a firm's key and the key
works on the API; a cable officer clicks a street section on the map, moves it to done and sees the
progress move, and a form gone stale meanwhile shows the 409 explanation; English chosen once on the
sign-in page stays across links and htmx panels, and a refused (expired CSRF token, problem+json) or
failed (no network) panel request is said in words in the form. No CSP violation, no request
leaves 127.0.0.1. Screenshots for the docs (desktop 1280 × 800 and phone 390 × 844) are written when
``BTSPLAN_SCREENSHOTS`` names a folder (``make screenshots`` style; off in the normal run)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright import sync_api
from sqlalchemy import Engine

from geodata.store.db import make_engine
from tests.app.plan_helpers import Keys, collection, make_keys, new_site, planted, site_row
from tests.app.test_map_browser import CHROMIUM, FLAGS, OFFLINE_FLAGS, serve
from tests.app.workspace.helpers import PASSWORD, make_user
from tests.conftest import DatabaseFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = os.environ.get("BTSPLAN_SCREENSHOTS")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(db_factory: DatabaseFactory) -> Iterator[tuple[str, Keys, int]]:
    url = db_factory.clone("spatialite", "demo")
    engine = make_engine(url)
    engine.info_url = url  # type: ignore[attr-defined]  # what tests.conftest.db_url reads
    make_user(engine, "lan", "planner")
    make_user(engine, "root", "admin")
    keys = make_keys(engine)
    pid = _plan_with_violation(engine, keys)
    engine.dispose()
    with serve(url) as base:
        yield base, keys, pid


def _plan_with_violation(engine: Engine, k: Keys) -> int:
    from tests.app.plan_helpers import client

    c = client(engine)
    p = site_row(engine, planted(engine)[0])
    body = collection(new_site(p["lon"] + 0.00005, p["lat"], code="E2E-A2A", mount="building", mast_height_m=12.0,
                               building_height_m=15.0, reach_m=2.0, camouflaged=False), title="Hồ sơ E2E")
    pid = c.post("/plans", json=body, headers=k.h("vtl")).json()["id"]
    assert c.post(f"/plans/{pid}/submit", headers=k.h("vtl")).status_code == 200
    return int(pid)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS + OFFLINE_FLAGS, headless=True)
        yield b
        b.close()


class Watched:
    def __init__(self, page: Any) -> None:
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def clean(self) -> None:
        offsite = [u for u in self.requests if urlsplit(u).scheme in ("http", "https")
                   and urlsplit(u).hostname != "127.0.0.1"]
        assert offsite == []
        assert not [e for e in self.errors if "Content Security Policy" in e or "Refused" in e], self.errors


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/workspace/plans")
    page.wait_for_url("**/auth/login**")
    page.fill("#username", username)  # by id: the pages speak Vietnamese (the browser asks for vi-VN)
    page.fill("#password", PASSWORD)
    page.click("form[action='/auth/login'] button[type=submit]")
    page.wait_for_url("**/workspace/plans")


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=False)


def test_planner_returns_a_dossier_and_the_firm_sees_it(site: tuple[str, Keys, int], chromium: Any) -> None:
    base, k, pid = site
    ctx = chromium.new_context(viewport=DESKTOP, locale="vi-VN")
    w = Watched(ctx.new_page())
    page = w.page
    _sign_in(page, base, "lan")
    page.click(f"a[href='/workspace/plans/{pid}'] >> nth=1")
    page.wait_for_selector("#plan-map[data-ready='true']", timeout=60_000)
    assert page.locator(".findings .sev-violation").count() >= 1
    assert "Quyết định cho hồ sơ" in page.content()  # Vietnamese first
    _shot(page, "workspace-dossier.png")
    page.locator("input[name='item_decision_0'][value='reject']").check()
    page.locator("#item_reason_0").fill("A2a on an A1-only route")
    page.check("input[name='decision'][value='return']")
    page.fill("#reason", "Move E2E-A2A off the A1-only route")
    page.click(".plan-decision button[type=submit]")
    page.wait_for_selector("#plan-status.status-returned")
    w.clean()
    firm = httpx.get(f"{base}/plans/{pid}", headers=k.h("vtl"), timeout=30).json()
    assert firm["status"] == "returned"
    assert firm["history"][-1]["reason"] == "Move E2E-A2A off the A1-only route"
    phone = chromium.new_context(viewport=PHONE, locale="vi-VN",
                                 storage_state=ctx.storage_state())
    p2 = Watched(phone.new_page())
    p2.page.goto(f"{base}/workspace/plans")
    p2.page.wait_for_selector("table.queue")
    _shot(p2.page, "workspace-queue-phone.png")
    page.goto(f"{base}/workspace/plans")
    _shot(page, "workspace-queue.png")
    page.goto(f"{base}/workspace/monitoring")
    _shot(page, "workspace-monitoring.png")
    if SHOTS:  # the same pages on a phone, for the docs
        p2.page.goto(f"{base}/workspace/plans/{pid}")
        p2.page.wait_for_selector("#plan-map[data-ready='true']", timeout=60_000)
        _shot(p2.page, "workspace-dossier-phone.png")
        p2.page.goto(f"{base}/workspace/monitoring")
        _shot(p2.page, "workspace-monitoring-phone.png")
    p2.clean()
    phone.close()
    ctx.close()


def test_admin_creates_a_firms_key(site: tuple[str, Keys, int], chromium: Any) -> None:
    base, _, _ = site
    ctx = chromium.new_context(viewport=DESKTOP, locale="vi-VN")
    w = Watched(ctx.new_page())
    page = w.page
    _sign_in(page, base, "root")
    page.click("a[href='/workspace/admin/keys']")
    page.select_option("#key-role", "operator")
    page.select_option("#key-operator", "MBF")
    page.fill("#key-name", "MobiFone E2E")
    page.click("form[action='/workspace/admin/keys'] button[type=submit]")
    secret = page.locator("#new-key").inner_text().strip()
    _shot(page, "workspace-admin-keys.png")
    assert httpx.get(f"{base}/plans", headers={"Authorization": f"Bearer {secret}"}, timeout=30).status_code == 200
    if SHOTS:
        page.goto(f"{base}/workspace/admin/users")
        _shot(page, "workspace-admin-users.png")
        phone = chromium.new_context(viewport=PHONE, locale="vi-VN", storage_state=ctx.storage_state())
        p2 = phone.new_page()
        p2.goto(f"{base}/workspace/admin/keys")
        _shot(p2, "workspace-admin-keys-phone.png")
        phone.close()
    w.clean()
    ctx.close()


def _km(page: Any) -> tuple[float, float]:
    """Done kilometres and done % from the progress line ("Đã hoàn thành 12.9/29.6 km (43.7 %) …")."""
    found = re.search(r"([\d.]+)/([\d.]+) km \(([\d.]+) %\)", page.locator("#cable-totals").inner_text())
    assert found, page.locator("#cable-totals").inner_text()
    return float(found.group(1)), float(found.group(3))


def _click_section(page: Any, code: str, feature: dict[str, Any]) -> None:
    """Centre the map on the middle of ``feature`` at a street-level zoom, then click there."""
    line = feature["geometry"]["coordinates"]
    if feature["geometry"]["type"] == "MultiLineString":
        line = line[0]
    lon, lat = line[len(line) // 2] if len(line) > 2 else [(line[0][i] + line[-1][i]) / 2 for i in (0, 1)]
    page.evaluate("""([lon, lat]) => new Promise((done) => {
        const map = document.getElementById("cable-map").maplibre;
        map.once("idle", done); map.jumpTo({ center: [lon, lat], zoom: 18.5 }); })""", [lon, lat])
    box = page.locator("#cable-map canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector(f"#segment-panel [data-segment='{code}']")


def test_cable_officer_moves_a_section_to_done_and_the_progress_moves(site: tuple[str, Keys, int],
                                                                      chromium: Any) -> None:
    base, k, _ = site
    ctx = chromium.new_context(viewport=DESKTOP, locale="vi-VN")
    w = Watched(ctx.new_page())
    page = w.page
    _sign_in(page, base, "lan")
    page.click("a[href='/workspace/cables']")
    page.wait_for_selector("#cable-map[data-ready='true']", timeout=60_000)
    sections = page.evaluate("""async () => (await (await fetch("/workspace/cables/segments.geojson")).json())""")
    working = [f for f in sections["features"] if f["properties"]["status"] == "in_progress"]
    planned = [f for f in sections["features"] if f["properties"]["status"] == "planned"]
    assert working and planned
    km, pct = _km(page)
    totals = page.locator("#cable-totals").inner_text()
    code = working[0]["properties"]["code"]
    _click_section(page, code, working[0])  # the map, not the list: what an officer does
    assert page.locator("#segment-status").get_attribute("class") == "badge seg-in_progress"
    page.check("input[name='status'][value='done']")
    page.fill("#status-note", "Nghiệm thu E2E")
    page.click(".status-form button[type=submit]")
    page.wait_for_selector("#segment-status.seg-done")
    page.wait_for_function("""(before) => document.getElementById("cable-totals").innerText !== before""",
                           arg=totals)
    new_km, new_pct = _km(page)
    assert new_km > km and new_pct > pct  # the progress section reloaded on the server's event
    assert "Nghiệm thu E2E" in page.locator(".history").inner_text()
    page.wait_for_selector(f"#cable-results a[data-segment='{code}']")
    row = page.locator(f"#cable-results tr:has(a[data-segment='{code}']) .badge")
    row.and_(page.locator(".seg-done")).wait_for()  # the list too
    assert httpx.get(f"{base}/cables/segments/{code}", timeout=30).json()["status"] == "done"
    # a stale form: the panel of a planned section is open while another planner changes it through the API
    other = planned[0]["properties"]["code"]
    page.click(f"#cable-results a[data-segment='{other}']")  # the list's link: the keyboard path
    page.wait_for_selector(f"#segment-panel [data-segment='{other}']")
    version = int(page.locator("#segment-panel input[name='version']").get_attribute("value"))
    moved = httpx.patch(f"{base}/cables/segments/{other}", headers=k.h("planner2"), timeout=30,
                        json={"status": "in_progress", "version": version, "note": "qua API"})
    assert moved.status_code == 200, moved.text
    page.check("input[name='status'][value='in_progress']")
    page.click(".status-form button[type=submit]")
    error = page.locator("#segment-error")
    error.wait_for()
    assert "người khác cập nhật" in error.inner_text() and f"phiên bản {version + 1}" in error.inner_text()
    assert page.locator("#segment-panel input[name='version']").get_attribute("value") == str(version + 1)
    w.clean()
    if SHOTS:  # the page as it opens on a section, on a desk (map and panel in view)
        page.goto(f"{base}/workspace/cables?segment={code}")
        page.wait_for_selector("#cable-map[data-ready='true']", timeout=60_000)
        _shot(page, "workspace-cables.png")
    # on a phone: one column, nothing wider than the screen, a form big enough for a finger
    phone = chromium.new_context(viewport=PHONE, locale="vi-VN", storage_state=ctx.storage_state())
    p2 = Watched(phone.new_page())
    p2.page.goto(f"{base}/workspace/cables?segment={code}")
    p2.page.wait_for_selector("#cable-map[data-ready='true']", timeout=60_000)
    assert p2.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    button = p2.page.locator(".status-form button[type=submit]").bounding_box()
    assert button["height"] >= 44 and button["x"] >= 0 and button["x"] + button["width"] <= PHONE["width"]
    p2.page.evaluate("window.scrollBy(0, document.getElementById('cable-map').getBoundingClientRect().top - 8)")
    _shot(p2.page, "workspace-cables-phone.png")
    p2.clean()
    phone.close()
    ctx.close()


def test_english_stays_and_a_refused_or_failed_request_is_said(site: tuple[str, Keys, int], chromium: Any) -> None:
    base, _k, _ = site
    ctx = chromium.new_context(viewport=DESKTOP, locale="vi-VN")  # the browser asks for Vietnamese
    w = Watched(ctx.new_page())
    page = w.page
    page.goto(f"{base}/auth/login?lang=en&next=/workspace/cables")  # chosen once, here
    page.fill("#username", "lan")
    page.fill("#password", PASSWORD)
    page.click("form[action='/auth/login'] button[type=submit]")
    page.wait_for_url("**/workspace/cables")
    page.wait_for_selector("#cable-map[data-ready='true']", timeout=60_000)
    assert page.evaluate("document.documentElement.lang") == "en"
    sections = page.evaluate("""async () => (await (await fetch("/workspace/cables/segments.geojson")).json())""")
    code = [f for f in sections["features"] if f["properties"]["status"] == "planned"][-1]["properties"]["code"]
    page.click(f"#cable-results a[data-segment='{code}']")
    page.wait_for_selector(f"#segment-panel [data-segment='{code}']")
    assert "Status history" in page.locator("#segment-panel").inner_text()  # the htmx panel in English too
    assert any(f"/workspace/cables/segments/{code}?" in u and "lang=en" in u for u in w.requests)

    # the session's token has expired meanwhile: the server answers 403 problem+json, said in the form
    status_url = f"**/workspace/cables/segments/{code}/status*"
    page.route(status_url, lambda route: route.continue_(headers={**route.request.headers,
                                                                   "x-csrf-token": "expired"}))
    page.check("input[name='status'][value='in_progress']")
    page.click(".status-form button[type=submit]")
    said = page.locator(".status-form [data-htmx-problem]")
    said.wait_for()
    assert said.get_attribute("role") == "alert"
    assert "CSRF token missing or wrong" in said.inner_text() and "reload the page" in said.inner_text()
    assert page.locator("#segment-status").get_attribute("class") == "badge seg-planned"  # nothing changed
    # no network at all: the same place says so, replacing the previous message
    page.unroute(status_url)
    page.route(status_url, lambda route: route.abort())
    page.click(".status-form button[type=submit]")
    page.wait_for_function("""() => document.querySelector(".status-form [data-htmx-problem]")?.innerText
                              .includes("could not be reached")""")
    assert page.locator(".status-form [data-htmx-problem]").count() == 1
    # back online: the change goes through and the message is gone with the old form
    page.unroute(status_url)
    page.click(".status-form button[type=submit]")
    page.wait_for_selector("#segment-status.seg-in_progress")
    assert page.locator("[data-htmx-problem]").count() == 0
    assert "Status history" in page.locator("#segment-panel").inner_text()
    # a plain link keeps English too
    page.click("a[href='/workspace/plans']")
    page.wait_for_url("**/workspace/plans")
    assert page.evaluate("document.documentElement.lang") == "en"
    w.clean()
    ctx.close()
