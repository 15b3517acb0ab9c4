"""The inspector's phone workspace end to end: headless Chromium at 390 × 844 against a live uvicorn on
loopback. An inspector signs in and opens a campaign (the service worker keeps the pages); the
network is cut — the server process is stopped *and* the browser context goes offline, for the page
and its service worker alike — the page is reloaded from the phone's copy, a violation is recorded
with a photo from the "camera" (the file input), and it waits in the outbox on the phone. The server
comes back on the same address, the browser goes online, and the result arrives exactly once, with
its photo (rows counted in the database, read through the API), and a reload sends nothing again.

``BTSPLAN_SCREENSHOTS=docs/img`` also writes the phone screenshots for the docs."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image
from playwright import sync_api
from sqlalchemy import select

from geodata.store import staff
from geodata.store.db import make_engine, transaction
from geodata.store.keys import create_key
from geodata.store.models import IdempotencyRecord, Inspection
from geodata.work import inspections as gi
from tests.app.live import free_port, start_uvicorn, stop
from tests.app.test_map_browser import CHROMIUM, FLAGS, OFFLINE_FLAGS
from tests.app.workspace.helpers import PASSWORD, make_user
from tests.conftest import DatabaseFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = os.environ.get("BTSPLAN_SCREENSHOTS")
PHONE = {"width": 390, "height": 844}


class Server:
    """uvicorn on one fixed loopback port that can be stopped and started again: the phone's origin
    (its cookies, service worker and IndexedDB) stays the same across the cut."""

    def __init__(self, url: str, upload_dir: Path) -> None:
        self.port = free_port()
        self.env = {"BTSPLAN_DATABASE_URL": url, "BTSPLAN_UPLOAD_DIR": str(upload_dir)}
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = start_uvicorn(self.port, self.env)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@pytest.fixture(scope="module")
def field(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = db_factory.clone("spatialite", "demo")
    engine = make_engine(url)
    engine.info_url = url  # type: ignore[attr-defined]  # what tests.conftest.db_url reads
    make_user(engine, "hung", "inspector")
    today = dt.date.today()
    with transaction(engine) as s:
        camp = gi.create_campaign(s, "test", "Kiểm tra trạm BTS Lê Chân 12/2026", today - dt.timedelta(days=5),
                                  today + dt.timedelta(days=30), {"district": ["Lê Chân"], "max_sites": 12})
        cid, codes = camp.id, list(camp.site_codes or [])
        key = create_key(s, "inspector", name="Thanh tra (API)").secret
    uploads = tmp_path_factory.mktemp("uploads")
    server = Server(url, uploads)
    server.start()
    try:
        yield {"engine": engine, "server": server, "campaign": cid, "codes": codes, "key": key, "uploads": uploads}
    finally:
        server.stop()
        engine.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS + OFFLINE_FLAGS, headless=True)
        yield b
        b.close()


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=False)


def _sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/workspace/inspections")
    page.wait_for_url("**/auth/login**")
    page.fill("#username", "hung")  # by id: the pages speak Vietnamese (the browser asks for vi-VN)
    page.fill("#password", PASSWORD)
    page.click("form[action='/auth/login'] button[type=submit]")
    page.wait_for_url("**/workspace/inspections")
    page.wait_for_selector("body[data-offline='ready']", timeout=60_000)


def _inspections(engine: Any, code: str) -> list[Inspection]:
    with transaction(engine) as s:
        found = list(s.execute(select(Inspection).where(Inspection.site_code == code)).scalars())
        s.expunge_all()
        return found


def test_a_violation_recorded_offline_arrives_once_with_its_photo(field: dict[str, Any], chromium: Any,
                                                                  tmp_path: Path) -> None:
    server, cid, code = field["server"], field["campaign"], field["codes"][1]
    base = server.base
    photo = tmp_path / "cot-bts.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 40, 40)).save(buf, "JPEG")
    photo.write_bytes(buf.getvalue())
    ctx = chromium.new_context(viewport=PHONE, locale="vi-VN", is_mobile=True, has_touch=True,
                               service_workers="allow")
    page = ctx.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))

    # sign in on the phone; the campaign list opens and the service worker keeps its copy
    _sign_in(page, base)
    assert "Các đợt kiểm tra" in page.content()  # Vietnamese first
    page.click(f"a.btn[href='/workspace/inspections/{cid}']")
    page.wait_for_selector("#campaign-map[data-ready='true']", timeout=60_000)
    page.wait_for_selector("body[data-offline='ready']", timeout=60_000)
    assert page.evaluate("() => !!navigator.serviceWorker.controller")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
    _shot(page, "workspace-inspections-phone.png")
    page.set_viewport_size({"width": 360, "height": 740})  # the narrowest phones in use: still no sideways scroll
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    assert page.locator("#result-form button[type=submit]").bounding_box()["height"] >= 44  # a thumb's target
    page.set_viewport_size(PHONE)

    # the network is cut: the server stops, and the browser (page and service worker) goes offline
    server.stop()
    ctx.set_offline(True)
    page.goto(f"{base}/workspace/inspections/{cid}?site={code}")  # served by the service worker's copy
    page.wait_for_selector("#result-form")
    assert page.input_value("#site_code") == code
    page.check("input[name='result'][value='violation']")
    page.fill("#notes", "Cột anten lắp thêm không có giấy phép; thiếu biển cảnh báo")
    page.set_input_files("#photos", str(photo))
    page.locator("#result-form").scroll_into_view_if_needed()
    _shot(page, "workspace-inspection-form-phone.png")
    page.click("#result-form button[type=submit]")
    page.wait_for_selector("#outbox[data-count='1']")
    assert page.is_visible("#outbox")
    page.wait_for_timeout(1500)  # a send is tried and fails: the entry stays on the phone
    assert page.get_attribute("#outbox", "data-count") == "1"
    assert _inspections(field["engine"], code) == []

    # the network returns, but the answer to the first send is lost on the way back (the server did
    # store the result): the phone sends again with the same key and gets the first answer back
    lost: list[int] = []

    def lose_first_answer(route: Any) -> None:
        if lost:
            route.continue_()
            return
        lost.append(route.fetch().status)
        route.abort("connectionreset")

    page.route(f"**/workspace/inspections/{cid}/results", lose_first_answer)
    server.start()
    ctx.set_offline(False)
    # (Chromium's offline emulation does not fire "online": this waits for the outbox's back-off, ≤ 30 s)
    page.wait_for_selector("#outbox[data-count='0']", state="attached", timeout=90_000)
    assert lost == [201]  # the server had stored it the first time
    stored = _inspections(field["engine"], code)
    assert len(stored) == 1, stored
    ins = stored[0]
    assert ins.result == "violation" and ins.notes and "giấy phép" in ins.notes and ins.inspector == "Hung"
    assert len(ins.photos or []) == 1
    assert ins.photos[0]["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()  # type: ignore[index]
    assert (field["uploads"] / ins.photos[0]["path"]).read_bytes() == photo.read_bytes()  # type: ignore[index]
    api = httpx.get(f"{base}/inspections/{ins.id}", headers={"Authorization": f"Bearer {field['key']}"}, timeout=30)
    assert api.status_code == 200 and len(api.json()["photos"]) == 1
    camp = httpx.get(f"{base}/inspections/campaigns/{cid}", headers={"Authorization": f"Bearer {field['key']}"},
                     timeout=30).json()
    assert (camp["inspected"], camp["violations"]) == (1, 1)
    # the phone made the keys: one for the result, one for its photo
    with transaction(field["engine"]) as s:
        keys = s.execute(select(IdempotencyRecord.operation).where(IdempotencyRecord.actor.like("hung %"))).all()
    assert sorted(k[0].split()[0] for k in keys) == ["inspection.photo", "inspection.result"]

    # nothing is sent twice: a reload (online again) finds an empty outbox and stores nothing more
    page.reload()
    page.wait_for_selector(f"#site-{code} .badge.result-violation")
    page.wait_for_timeout(2000)
    assert page.get_attribute("#outbox", "data-count") in ("0", None)
    assert len(_inspections(field["engine"], code)) == 1

    desktop = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="vi-VN",
                                   storage_state=ctx.storage_state())
    wide = desktop.new_page()
    wide.goto(f"{base}/workspace/inspections/{cid}")
    wide.wait_for_selector("#campaign-map[data-ready='true']", timeout=60_000)
    _shot(wide, "workspace-inspections.png")
    desktop.close()

    offsite = [u for u in requests if urlsplit(u).scheme in ("http", "https") and urlsplit(u).hostname != "127.0.0.1"]
    assert offsite == []
    assert not [e for e in errors if "Content Security Policy" in e], errors
    ctx.close()


def test_a_result_queued_under_an_ended_session_is_sent_after_signing_in_again(field: dict[str, Any],
                                                                             chromium: Any) -> None:
    """The queue does not carry the CSRF token of the page that queued it: it asks for the live
    session's token just before sending. With the session ended, nothing is sent and the page asks to
    sign in again; after the new sign-in the entry goes out under the new session's token, once."""
    server, cid, code = field["server"], field["campaign"], field["codes"][2]
    ctx = chromium.new_context(viewport=PHONE, locale="vi-VN", is_mobile=True, has_touch=True)
    page = ctx.new_page()
    _sign_in(page, server.base)
    page.goto(f"{server.base}/workspace/inspections/{cid}?site={code}")
    page.wait_for_selector("#result-form")
    with transaction(field["engine"]) as s:  # the session ends on the server (expiry, sign-out elsewhere)
        staff.revoke_sessions(s, staff.get_user(s, "hung").id)
    page.check("input[name='result'][value='conforms']")
    page.click("#result-form button[type=submit]")
    page.wait_for_selector("#outbox[data-count='1']")
    page.wait_for_selector("#outbox-signin", state="visible")
    assert _inspections(field["engine"], code) == []
    page.click("#outbox-signin a")
    page.wait_for_url("**/auth/login**")
    page.fill("#username", "hung")
    page.fill("#password", PASSWORD)
    page.click("form[action='/auth/login'] button[type=submit]")
    page.wait_for_url(f"**/workspace/inspections/{cid}")
    page.wait_for_selector("#outbox[data-count='0']", state="attached", timeout=60_000)
    stored = _inspections(field["engine"], code)
    assert [(i.result, i.inspector) for i in stored] == [("conforms", "Hung")]
    ctx.close()
