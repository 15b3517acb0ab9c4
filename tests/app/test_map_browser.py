"""The web map in a real headless Chromium against a live uvicorn on loopback.

What is proven here: the page at ``/`` loads MapLibre from our own server, draws site features
decoded from our vector tiles (``map.queryRenderedFeatures``), the class filter changes what is
drawn, search / popups / "check a point" / the language toggle work, no request ever leaves
127.0.0.1, the page obeys its Content-Security-Policy, and it loads with the network disabled.

Chromium is Debian's ``chromium`` (``.ci/run`` installs it), driven by Playwright over CDP. The demo
database is classified and checked first (``btsplan classify``, ``btsplan check all``) so the map
shows derived classes and findings, as a planner would see it.

``BTSPLAN_SCREENSHOTS=docs/img pytest tests/app/test_map_browser.py -k screenshots`` refreshes the
README's screenshots.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright import sync_api
from sqlalchemy import select

from geodata.store import models as m
from geodata.store.db import make_engine
from tests.app.live import live_server
from tests.conftest import DatabaseFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
#: "network disabled": every non-loopback request goes to a proxy port where nothing listens, and
#: no host name resolves (Chromium never proxies loopback, so our server stays reachable)
OFFLINE_FLAGS = ["--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
VIEWPORT = {"width": 1400, "height": 860}
READY_TIMEOUT_MS = 60_000

if not Path(CHROMIUM).exists():  # pragma: no cover - .ci/run and the Makefile install it
    pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium", pytrace=False)


# ----------------------------------------------------------------------------------------------
# fixtures: one classified demo database and one server for the module; a fresh page per test
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def map_db(db_factory: DatabaseFactory) -> str:
    """The SpatiaLite demo database, classified and checked."""
    return classified_clone(db_factory, "spatialite")


def classified_clone(db_factory: DatabaseFactory, backend: str) -> str:
    """A clone of the demo database with derived classes and stored findings, as `make run` has it."""
    url = db_factory.clone(backend, "demo")
    env = {**os.environ, "BTSPLAN_DATABASE_URL": url}
    btsplan = [sys.executable, "-m", "app.cli"]
    for args in (["classify"], ["check", "all", "--format", "json", "--out", os.devnull]):
        proc = subprocess.run([*btsplan, *args], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"btsplan {' '.join(args)} failed: {proc.stderr[-2000:]}"
    return url


@contextmanager
def serve(url: str) -> Iterator[str]:
    engine = make_engine(url)
    engine.info_url = url  # type: ignore[attr-defined]
    try:
        with live_server(engine) as base:
            yield base
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def server(map_db: str) -> Iterator[str]:
    with serve(map_db) as base:
        yield base


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
    yield b
    b.close()


class Watched:
    """A page plus everything it asked for and complained about."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.responses: list[tuple[int, str]] = []
        self.console_errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(r.url))
        page.on("response", lambda r: self.responses.append((r.status, r.url)))
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))

    def open_map(self, base: str) -> int:
        self.page.goto(f"{base}/", wait_until="load")
        self.page.wait_for_function("() => document.getElementById('map').dataset.ready !== 'false'",
                                    timeout=READY_TIMEOUT_MS)
        state = self.page.evaluate("() => document.getElementById('map').dataset.ready")
        assert state == "true", f"map failed to start; console: {self.console_errors}"
        return self.count()

    def count(self) -> int:
        return int(self.page.evaluate("async () => { await window.btsplan.whenIdle(); "
                                      "return window.btsplan.visibleSiteCount(); }"))

    def offsite(self) -> list[str]:
        return [u for u in self.requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")
                and urlsplit(u).hostname != "127.0.0.1"]


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    ctx = browser.new_context(viewport=VIEWPORT, locale="vi-VN")
    w = Watched(ctx.new_page())
    yield w
    ctx.close()


# ----------------------------------------------------------------------------------------------
# the acceptance checks
# ----------------------------------------------------------------------------------------------

def test_map_draws_sites_from_our_tiles(server: str, watched: Watched, tmp_path: Path) -> None:
    count = watched.open_map(server)
    assert count > 0, "no site features rendered"
    page = watched.page
    # the features come from our own vector tiles, in the source the sites layer draws
    tile_hits = [(s, u) for s, u in watched.responses
                 if urlsplit(u).path.startswith("/tiles/sites/") and urlsplit(u).path.endswith(".mvt")]
    assert any(s == 200 for s, _ in tile_hits), f"no site tile was served: {tile_hits[:5]}"
    rendered = page.evaluate("""() => window.btsplan.map.queryRenderedFeatures({layers: ['sites']})
        .slice(0, 50).map(f => ({source: f.source, code: f.properties.code, cls: f.properties.derived_class}))""")
    assert {r["source"] for r in rendered} == {"sites"}
    assert all(r["code"] and r["code"].startswith("HP-") for r in rendered)
    assert {r["cls"] for r in rendered} & {"A1a", "A1b", "A2a", "A2b", "A2c"}, "derived classes are drawn"
    # MapLibre itself came from us, and nothing else was asked of the internet
    assert any(u.endswith("/static/vendor/maplibre-gl/maplibre-gl.mjs") for u in watched.requests)
    assert any("maplibre-gl-worker.mjs" in u for u in watched.requests)
    assert watched.offsite() == [], f"requests left 127.0.0.1: {watched.offsite()[:5]}"
    assert not any("openstreetmap" in u for u in watched.requests), "the OSM layer is off by default"
    assert watched.console_errors == [], "the page loads without errors (CSP violations included)"
    shot = tmp_path / "map.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000


def test_class_filter_changes_the_count(server: str, watched: Watched) -> None:
    total = watched.open_map(server)
    page = watched.page
    # through the UI: untick A2a in the class legend
    page.locator('#class-filter input[data-class="A2a"]').uncheck()
    without_a2a = watched.count()
    assert 0 < without_a2a < total
    # filtered, the sites are drawn from the filtered source's layers (the tiles' are emptied)
    classes = page.evaluate("""() => [...new Set(window.btsplan.map.queryRenderedFeatures({layers: ['sites-f']})
        .map(f => f.properties.derived_class || 'unknown'))]""")
    assert classes and "A2a" not in classes
    # only A2a: the two counts partition the total
    page.evaluate("() => window.btsplan.setClasses(['A2a'])")
    only_a2a = watched.count()
    assert only_a2a > 0
    assert only_a2a + without_a2a == total
    page.evaluate("() => window.btsplan.setClasses([])")
    assert watched.count() == 0
    # the export link follows the filter
    href = page.get_attribute("#export-link", "href")
    assert href.startswith("/exports/sites.csv")


def districts_of_2025_06_30(page: Any) -> None:
    """Issue 15: the unit filter lists today's communes (no districts since 2025-07-01); the district
    filter these tests exercise needs an as-of day before the reform."""
    page.fill("#f-asof", "2025-06-30")
    page.dispatch_event("#f-asof", "change")
    page.wait_for_selector("#f-district option[value='305']", state="attached")


def test_export_downloads_what_the_map_shows(server: str, watched: Watched, tmp_path: Path) -> None:
    """A2a masts of Lê Chân: the exported CSV holds exactly the stats table's count, and the map shows them."""
    watched.open_map(server)
    page = watched.page
    districts_of_2025_06_30(page)
    page.select_option("#f-district", "305")
    page.evaluate("() => window.btsplan.setClasses(['A2a'])")
    page.evaluate("async () => { const m = window.btsplan.map; m.fitBounds(m.getBounds(), {duration: 0}); }")
    shown = watched.count()
    href = page.get_attribute("#export-link", "href")
    query = parse_qs(urlsplit(href).query)
    assert urlsplit(href).path == "/exports/sites.csv" and query == {"district": ["305"], "type": ["A2a"]}
    with page.expect_download() as dl:
        page.click("#export-link")
    path = tmp_path / "sites.csv"
    dl.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    # the side table shows today's communes (issue 15: no districts since 2025-07-01); the sites keep
    # their pre-reform district code, so the count to match is the district table of 2025-06-30
    stats = httpx.get(f"{server}/stats/sites", params={"by": "district,type", "as_of": "2025-06-30"}).json()
    a2a_in_table = next(r["A2a"] for r in stats["rows"] if r["district_code"] == "305")
    assert len(rows) == a2a_in_table > 0
    assert {r["derived_class"] for r in rows} == {"A2a"}
    # filtered, the map clusters only the matching sites itself: its count is exact
    assert shown == len(rows), (shown, len(rows))
    # findings only → the findings export of that district
    page.check("#f-findings")
    page.wait_for_function("() => document.querySelector('#export-link').getAttribute('href')"
                           ".startsWith('/exports/findings.csv')")
    with page.expect_download() as dl:
        page.click("#export-link")
    findings = tmp_path / "findings.csv"
    dl.value.save_as(findings)
    assert len(list(csv.DictReader(io.StringIO(findings.read_text(encoding="utf-8-sig"))))) > 0


def api_matched(base: str, collection: str = "sites", **params: str) -> int:
    """``numberMatched`` of the features API for a filter (one feature fetched)."""
    r = httpx.get(f"{base}/collections/{collection}/items", params={**params, "limit": "1"}, timeout=30)
    assert r.status_code == 200, r.text
    return int(r.json()["numberMatched"])


def api_codes(base: str, collection: str, key: str, **params: str) -> set[str]:
    r = httpx.get(f"{base}/collections/{collection}/items", params={**params, "limit": "10000"}, timeout=30)
    assert r.status_code == 200, r.text
    return {f["properties"][key] for f in r.json()["features"] if f["properties"].get(key)}


def shown_count(w: Watched) -> int:
    """The panel's "N trạm hiển thị", once the last filter change is drawn."""
    n = w.count()
    text = w.page.text_content("#visible-count") or ""
    assert int("".join(ch for ch in text if ch.isdigit())) == n, (text, n)
    return n


def in_list(codes: set[str]) -> str:
    return ", ".join(f"'{c}'" for c in sorted(codes))


def test_every_filter_shows_the_api_count(server: str, watched: Watched) -> None:
    """For each filter, the number the map shows is the features API's ``numberMatched`` for it."""
    assert watched.open_map(server) == api_matched(server) == 1000
    page = watched.page
    operator = page.locator("#f-operator option").nth(1).get_attribute("value")
    assert operator
    page.select_option("#f-operator", operator)
    assert shown_count(watched) == api_matched(server, operator=operator) > 0
    assert page.is_hidden("#cluster-note"), "every matching site is drawn"
    page.select_option("#f-operator", "")
    page.select_option("#f-status", "planned")
    assert shown_count(watched) == api_matched(server, status="planned") > 0
    page.select_option("#f-status", "")
    assert shown_count(watched) == 1000

    # findings only: the sites that have a finding
    with_findings = api_codes(server, "findings", "site_code")
    page.check("#f-findings")
    assert shown_count(watched) == api_matched(server, filter=f"code IN ({in_list(with_findings)})") > 0
    rings = page.evaluate("""() => window.btsplan.map.queryRenderedFeatures({layers: ['findings-f', 'findings-other-f']})
        .map(f => f.properties.site_code)""")
    assert rings and set(rings) <= with_findings
    page.uncheck("#f-findings")

    # a class: derived, else declared (as the map colours it), exactly, also inside clusters
    page.evaluate("() => window.btsplan.setClasses(['A1b'])")
    a1b = "derived_class = 'A1b' OR (derived_class IS NULL AND declared_class = 'A1b')"
    assert shown_count(watched) == api_matched(server, filter=a1b) > 0
    page.evaluate("() => window.btsplan.setClasses(['A1a', 'A1b', 'A2a', 'A2b', 'A2c', 'unknown'])")

    # a district (of 2025-06-30): sites, rings and the planning layers stay inside it
    districts_of_2025_06_30(page)
    page.select_option("#f-district", "305")
    assert shown_count(watched) == api_matched(server, district="305") > 0
    district_sites = api_codes(server, "sites", "code", district="305")
    rings = page.evaluate("""() => window.btsplan.map.queryRenderedFeatures({layers: ['findings-f', 'findings-other-f']})
        .map(f => f.properties.site_code)""")
    assert set(rings) <= district_sites
    tile_rings = page.evaluate("""() => window.btsplan.map.queryRenderedFeatures({layers: ['findings', 'findings-other']}).length""")
    assert tile_rings == 0, "the unfiltered rings from the tiles are not drawn"
    others = page.evaluate("""() => [...new Set(window.btsplan.map.queryRenderedFeatures(
        {layers: ['zones-fill', 'zones-point', 'routes-a1', 'cables', 'cables-planned']})
        .map(f => f.properties.district).filter(d => d !== undefined))]""")
    assert others and set(others) == {"305"}, others

    # everything at once
    page.select_option("#f-operator", operator)
    page.evaluate("() => window.btsplan.setClasses(['A2a'])")
    both = f"operator = '{operator}' AND district = '305' AND " \
           "(derived_class = 'A2a' OR (derived_class IS NULL AND declared_class = 'A2a'))"
    assert shown_count(watched) == api_matched(server, filter=both)
    assert watched.console_errors == [], watched.console_errors


def test_offline_load_and_osm_only_on_request(browser: Any, playwright: Any, server: str) -> None:
    offline = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS + OFFLINE_FLAGS, headless=True)
    try:
        ctx = offline.new_context(viewport=VIEWPORT)
        # prove the network really is off for this browser
        probe = ctx.new_page()
        with pytest.raises(sync_api.Error):
            probe.goto("http://example.com/", timeout=15_000)
        probe.close()
        w = Watched(ctx.new_page())
        assert w.open_map(server) > 0
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in w.requests if u.startswith("http"))
        assert not [u for u in w.failed if urlsplit(u).hostname == "127.0.0.1"], w.failed
        # the optional OSM base layer is the only remote URL, asked for only when switched on;
        # offline it fails quietly and our layers keep working
        w.page.check("#osm-toggle")
        w.page.wait_for_timeout(1500)
        assert any("tile.openstreetmap.org" in u for u in w.requests)
        assert w.count() > 0
        w.page.uncheck("#osm-toggle")
        ctx.close()
    finally:
        offline.close()


def test_same_map_on_postgis(db_factory: DatabaseFactory, watched: Watched) -> None:
    """PostGIS builds the tiles with ST_AsMVT: the page draws the same sites and filters the same way."""
    with serve(classified_clone(db_factory, "postgis")) as base:
        total = watched.open_map(base)
        assert total == 1000, "the whole demo province is in view"
        watched.page.evaluate("() => window.btsplan.setClasses(['A2a'])")
        only_a2a = watched.count()
        watched.page.evaluate("() => window.btsplan.setClasses(['A1a', 'A1b', 'A2b', 'A2c', 'unknown'])")
        assert 0 < only_a2a < total and only_a2a + watched.count() == total
        watched.page.select_option("#f-status", "planned")
        assert shown_count(watched) == api_matched(base, filter="status = 'planned' AND (derived_class <> 'A2a' "
                                                   "OR derived_class IS NULL)") > 0
        assert watched.offsite() == []


# ----------------------------------------------------------------------------------------------
# the planner's controls
# ----------------------------------------------------------------------------------------------

def test_search_is_accent_insensitive(server: str, watched: Watched) -> None:
    watched.open_map(server)
    page = watched.page
    page.fill("#search-input", "le chan")
    page.wait_for_selector("#search-results li[data-kind]")
    labels = page.locator("#search-results li .label").all_text_contents()
    assert "Quận Lê Chân" in labels
    before = page.evaluate("() => window.btsplan.map.getCenter().toArray()")
    page.keyboard.press("Enter")  # the first result: the district itself
    page.wait_for_function(f"() => window.btsplan.map.getCenter().toArray()[0] !== {before[0]}", timeout=10_000)


def test_site_popup_shows_class_reasons_and_findings(server: str, map_db: str, watched: Watched) -> None:
    engine = make_engine(map_db)
    with engine.connect() as conn:
        planted = conn.execute(select(m.Meta.value).where(m.Meta.key == "demo.planted_a2a_on_a1")).scalar()
    engine.dispose()
    code = planted[0]
    watched.open_map(server)
    page = watched.page
    page.fill("#search-input", code)
    page.wait_for_selector('#search-results li[data-kind="site"]')
    page.keyboard.press("Enter")
    popup = page.wait_for_selector(".maplibregl-popup .popup.site")
    page.wait_for_function("() => !document.querySelector('.maplibregl-popup').textContent.includes('Đang tải')",
                           timeout=15_000)
    text = popup.text_content() or ""
    assert code in text
    assert "A2a" in text
    assert "Vi phạm" in text, "the A2a-on-A1 finding is listed"
    assert page.locator(".maplibregl-popup ul.reasons li").count() > 0


def test_check_a_point_calls_the_checks_endpoint(server: str, watched: Watched) -> None:
    watched.open_map(server)
    page = watched.page
    page.click("#check-mode")
    box = page.locator("#map canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    form = page.wait_for_selector(".maplibregl-popup form.check-form")
    page.fill('.check-form input[name="mast_height_m"]', "36")
    with page.expect_response(lambda r: r.url.endswith("/checks/site") and r.request.method == "POST") as resp:
        form.query_selector("button[type=submit]").click()
    assert resp.value.status == 200, resp.value.text()
    page.wait_for_function("() => document.querySelector('.check-form').dataset.done === 'true'")
    assert "Loại cột xác định" in (form.text_content() or "")


def test_side_panel_and_language_toggle(server: str, watched: Watched) -> None:
    watched.open_map(server)
    page = watched.page
    page.wait_for_selector("#stats-table tbody tr")
    today = httpx.get(f"{server}/stats/sites", params={"by": "commune,type"}).json()
    assert page.locator("#stats-table tbody tr").count() == len(today["rows"]) > 7, "one row per commune of today"
    assert page.locator("#stats-table tbody tr[data-commune='11600']").count() == 1
    assert page.is_visible("#demo-note"), "the demo's boundaries are marked as illustrative"
    total = page.locator("#stats-table tfoot td.total").text_content()
    assert total and total.replace(".", "").replace(",", "") == "1000"
    assert page.locator("#cable-chart svg rect").count() > 0
    assert page.text_content("h1") and "Bản đồ" in page.text_content("h1")
    page.click("#lang-toggle")
    assert "Passive telecom infrastructure map" in page.text_content("h1")
    assert page.evaluate("() => document.documentElement.lang") == "en"
    assert page.text_content("#stats h2") == "Sites by commune/ward × mast class"


def test_the_unit_filter_lists_todays_communes(server: str, watched: Watched) -> None:
    """Issue 15: today the filter lists communes (xã/phường/đặc khu) and picks sites by today's commune
    code; a day before 2025-07-01 lists that day's districts and the side table counts by them."""
    watched.open_map(server)
    page = watched.page
    page.wait_for_selector("#f-district option[value='11600']", state="attached")
    assert page.locator("#f-district option[value='305']").count() == 0, "no frozen district today"
    assert page.text_content("label[for=f-district]") == "Xã/phường/đặc khu"
    page.select_option("#f-district", "11600")
    assert shown_count(watched) == api_matched(server, commune="11600") > 0
    href = page.get_attribute("#export-link", "href")
    assert parse_qs(urlsplit(href).query) == {"commune": ["11600"]}
    cables = page.evaluate("""() => window.btsplan.map.queryRenderedFeatures({layers: ['cables', 'cables-planned']})
        .map(f => f.properties.commune)""")
    assert set(cables) <= {"11600"}, "cable sections of other communes are hidden"
    districts_of_2025_06_30(page)
    assert page.locator("#f-district option[value='11600']").count() == 0
    assert page.text_content("label[for=f-district]") == "Quận/huyện"
    page.wait_for_selector("#stats-table tbody tr[data-district='305']")
    old = httpx.get(f"{server}/stats/sites", params={"by": "district,type", "as_of": "2025-06-30"}).json()
    assert page.locator("#stats-table tbody tr").count() == len(old["rows"])
    page.wait_for_selector("#cable-chart svg rect")  # cable progress as of that day too
    assert watched.console_errors == [], watched.console_errors


# ----------------------------------------------------------------------------------------------
# README screenshots (only when asked for)
# ----------------------------------------------------------------------------------------------

@pytest.mark.skipif(not os.environ.get("BTSPLAN_SCREENSHOTS"), reason="set BTSPLAN_SCREENSHOTS=docs/img to refresh")
def test_screenshots(server: str, map_db: str, watched: Watched) -> None:
    out = Path(os.environ["BTSPLAN_SCREENSHOTS"])
    out.mkdir(parents=True, exist_ok=True)
    page = watched.page
    # 1. the whole province as it opens
    watched.open_map(server)
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / "map.png"))

    # 2. a planted A2a mast on an A1-only route: corridor, red ring, popup with reasons and the finding
    engine = make_engine(map_db)
    with engine.connect() as conn:
        planted = conn.execute(select(m.Meta.value).where(m.Meta.key == "demo.planted_a2a_on_a1")).scalar()
    engine.dispose()
    page.fill("#search-input", planted[0])
    page.wait_for_selector('#search-results li[data-kind="site"]')
    page.keyboard.press("Enter")
    page.wait_for_selector(".maplibregl-popup .popup.site ul.findings")
    page.evaluate("async () => { await window.btsplan.whenIdle(); }")
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / "findings.png"))

    # 3. English, one district, only A2a masts: the filters, the table and the cable chart
    page.evaluate("() => document.querySelector('.maplibregl-popup')?.remove()")
    page.click("#lang-toggle")
    page.fill("#search-input", "")
    districts_of_2025_06_30(page)
    page.select_option("#f-district", "305")
    page.evaluate("() => window.btsplan.setClasses(['A2a'])")
    watched.count()
    page.wait_for_timeout(1200)
    page.screenshot(path=str(out / "panel.png"))
    for name in ("map.png", "findings.png", "panel.png"):
        assert (out / name).stat().st_size > 20_000
