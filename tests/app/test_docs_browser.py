"""``/docs`` and ``/redoc`` in a real headless Chromium with the network cut.

The pages' scripts are vendored (``scripts/vendor_apidocs.sh``) and started from files, so they run
under the map's strict Content-Security-Policy; here the browser proves it: Swagger UI lists the
operations and ReDoc renders the reference, nothing fails to load, no CSP violation is reported and
no request leaves 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright import sync_api

from tests.app.test_map_browser import CHROMIUM, FLAGS, OFFLINE_FLAGS, serve
from tests.conftest import DatabaseFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(db_factory: DatabaseFactory) -> Iterator[str]:
    with serve(db_factory.clone("spatialite", "empty")) as base:
        yield base


@pytest.fixture(scope="module")
def offline_context() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS + OFFLINE_FLAGS, headless=True)
        ctx = browser.new_context()
        probe = ctx.new_page()
        with pytest.raises(sync_api.Error):  # the network really is off for this browser
            probe.goto("http://example.com/", timeout=15_000)
        probe.close()
        yield ctx
        browser.close()


def _open(ctx: Any, url: str, ready: str) -> tuple[Any, list[str], list[str], list[str]]:
    page = ctx.new_page()
    requests: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, wait_until="load")
    page.wait_for_selector(ready, timeout=60_000)
    return page, requests, failed, errors


def _offsite(requests: list[str]) -> list[str]:
    return [u for u in requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")
            and urlsplit(u).hostname != "127.0.0.1"]


def test_swagger_ui_lists_operations_offline(server: str, offline_context: Any) -> None:
    page, requests, failed, errors = _open(offline_context, f"{server}/docs", ".opblock")
    assert page.locator(".opblock").count() > 40  # every documented operation, not a blank page
    assert page.locator(".opblock-summary-path[data-path='/collections/{collectionId}/items']").count() == 1
    assert _offsite(requests) == [] and failed == []
    assert not [e for e in errors if "Content Security Policy" in e], errors
    assert f"{server}/openapi.json" in requests


def test_redoc_renders_the_reference_offline(server: str, offline_context: Any) -> None:
    page, requests, failed, errors = _open(offline_context, f"{server}/redoc", "[data-section-id^='operation/']")
    assert page.locator("[data-section-id^='operation/']").count() > 40
    assert _offsite(requests) == [] and failed == []
    assert not [e for e in errors if "Content Security Policy" in e], errors
