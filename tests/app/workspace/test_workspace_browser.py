"""The workspace end to end in headless Chromium against a live server on loopback, network cut:
a planner signs in, opens a dossier with a planted violation (drawn on the map), returns it with a
reason, and the firm reads the new status through the API; an admin creates a firm's key. No CSP
violation, no request leaves 127.0.0.1. Screenshots for the docs are written when
``BTSPLAN_SCREENSHOTS`` names a folder (``make screenshots`` style; off in the normal run)."""

from __future__ import annotations

import os
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
    ctx = chromium.new_context(viewport={"width": 1400, "height": 900}, locale="vi-VN")
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
    phone = chromium.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN",
                                 storage_state=ctx.storage_state())
    p2 = Watched(phone.new_page())
    p2.page.goto(f"{base}/workspace/plans")
    p2.page.wait_for_selector("table.queue")
    _shot(p2.page, "workspace-queue-phone.png")
    page.goto(f"{base}/workspace/plans")
    _shot(page, "workspace-queue.png")
    page.goto(f"{base}/workspace/monitoring")
    _shot(page, "workspace-monitoring.png")
    p2.clean()
    phone.close()
    ctx.close()


def test_admin_creates_a_firms_key(site: tuple[str, Keys, int], chromium: Any) -> None:
    base, _, _ = site
    ctx = chromium.new_context(viewport={"width": 1400, "height": 900}, locale="vi-VN")
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
    w.clean()
    ctx.close()
