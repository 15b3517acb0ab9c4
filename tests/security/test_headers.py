"""The smaller items of issue 18 (defect 8): a wrong or revoked key is 401 on every route, public
reads included; CORS lets a browser send what the API reads (``PUT``, ``If-Match``) and read the
``ETag``; confidential answers are ``Cache-Control: no-store``; no ``Server`` header; a key put in a
URL is refused and never written to the access log in clear.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.routing import Route

from app.gate import required_roles
from app.main import create_app
from geodata.settings import Settings
from geodata.store.db import transaction
from geodata.store.keys import create_key, revoke_key
from planning.vocab import ROLES
from tests.app.plan_helpers import client, collection, make_keys, new_site
from tests.security.gate_helpers import bearer, concrete, gate_routes, role_keys
from tests.security.live_serve import live

ORIGIN = "https://gis.haiphong.gov.vn"


def _get_paths(c: TestClient) -> list[tuple[str, APIRoute | None]]:
    """Every GET route of the app, as a request path (parameters ``1``): the API's and FastAPI's own."""
    api = [(concrete(r.path), r) for r in gate_routes(c) if "GET" in r.methods]
    own = [(r.path, None) for r in c.app.routes if isinstance(r, Route) and "GET" in (r.methods or ())]
    return api + own


def test_a_wrong_or_revoked_key_is_401_on_every_get_route(demo_db: Engine) -> None:
    c = client(demo_db)
    with transaction(demo_db) as s:
        revoked = create_key(s, "planner", name="gone")
    with transaction(demo_db) as s:
        revoke_key(s, revoked.id)
    paths = _get_paths(c)
    assert len(paths) >= 45 and any(p.startswith("/tiles/") for p, _ in paths) and ("/docs", None) in paths
    bad_headers = [bearer("btsp_00000000_" + "x" * 43), bearer(revoked.secret), bearer("junk"),
                   {"Authorization": "Bearer "}, {"Authorization": "Basic dXNlcjpwYXNz"}]
    for path, _ in paths:
        for headers in bad_headers:
            r = c.get(path, headers=headers)
            assert r.status_code == 401, (path, headers, r.status_code)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.head(path, headers=bad_headers[0]).status_code == 401, path
    # the public reads the map makes still answer without a key
    for path in ("/collections/sites/items?limit=1", "/tiles", "/stats/sites", "/map", "/health"):
        assert c.get(path).status_code == 200, path


def test_a_key_in_the_query_string_is_refused(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    for param in ("key", "api_key", "token", "access_token"):
        r = c.get(f"/plans?{param}={k.vtl}")
        assert r.status_code == 401, param


def test_cors_lets_browsers_send_what_the_api_reads_and_read_the_etag(demo_db: Engine) -> None:
    k = make_keys(demo_db)
    c = client(demo_db, cors_origins=[ORIGIN])
    pre = c.options("/plans/1", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, if-match, if-none-match"})
    assert pre.status_code == 200, pre.text
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    methods = {m.strip() for m in pre.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH"} <= methods
    allowed = {h.strip().lower() for h in pre.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "if-match", "if-none-match"} <= allowed
    assert pre.headers["x-content-type-options"] == "nosniff"  # preflights carry the security headers too
    made = c.post("/plans", json=collection(new_site(code="CORS-1")), headers={**bearer(k.vtl), "Origin": ORIGIN})
    assert made.status_code == 201
    exposed = {h.strip().lower() for h in made.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "location", "retry-after"} <= exposed
    put = c.put(f"/plans/{made.json()['id']}", json=collection(new_site(code="CORS-2")),
                headers={**bearer(k.vtl), "Origin": ORIGIN, "If-Match": made.headers["etag"]})
    assert put.status_code == 200 and put.headers["access-control-allow-origin"] == ORIGIN
    # a refusal by the gate (before any route) is readable by the page too
    r = c.post("/plans", json={}, headers={"Origin": ORIGIN})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == ORIGIN
    # an origin not listed gets nothing, and without origins CORS is off
    assert "access-control-allow-origin" not in c.get("/health", headers={"Origin": "https://evil.example"}).headers
    pre = client(demo_db).options("/plans/1", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PUT"})
    assert "access-control-allow-origin" not in pre.headers


def test_confidential_answers_are_no_store(demo_db: Engine) -> None:
    k = make_keys(demo_db)
    keys = role_keys(k)
    c = client(demo_db)
    plan = c.post("/plans", json=collection(new_site(code="NOSTORE-1")), headers=bearer(k.vtl))
    assert plan.status_code == 201 and plan.headers["cache-control"] == "no-store"
    checked = 0
    for path, route in _get_paths(c):
        if route is None:
            continue
        roles = required_roles(route.dependant) or frozenset(ROLES)
        r = c.get(path, headers=bearer(keys[next(role for role in ROLES if role in roles)]))
        if path.startswith("/tiles/"):  # public whoever asks: cacheable
            assert r.headers.get("cache-control") != "no-store", path
            continue
        assert r.headers.get("cache-control") == "no-store", (path, r.status_code, r.headers.get("cache-control"))
        checked += 1
    assert checked >= 40
    for path in (f"/plans/{plan.json()['id']}", f"/plans/{plan.json()['id']}/report", "/audit",
                 "/inspections/campaigns", "/programmes", "/collections/sites/items?limit=1"):
        r = c.get(path, headers=bearer(k.admin if path == "/audit" else k.planner))
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store", path
    # anonymous reads keep their caching; anonymous writes and refusals are not stored
    assert c.get("/tiles/sites/10/815/451.mvt", headers=bearer(k.vtl)).headers.get("cache-control", "").startswith("public")
    assert c.get("/tiles/sites/10/815/451.mvt").headers["cache-control"].startswith("public")
    assert c.get("/collections/sites/items?limit=1").headers.get("cache-control") != "no-store"
    site = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.68, 20.86]},
            "properties": {"mount": "ground", "mast_height_m": 30}}
    r = c.post("/checks/site", json=site)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert c.post("/plans", json={}).headers["cache-control"] == "no-store"


def test_no_server_header_even_when_a_route_sets_one(demo_db: Engine) -> None:
    c = client(demo_db)
    c.app.add_api_route("/t/server", lambda: Response("x", headers={"Server": "uvicorn/0.54"}))  # type: ignore[attr-defined]
    r = c.get("/t/server")
    assert r.status_code == 200 and "server" not in r.headers and r.headers["x-content-type-options"] == "nosniff"


def test_live_server_sends_no_server_header_and_keeps_keys_out_of_its_access_log(demo_db: Engine,
                                                                              tmp_path: Path) -> None:
    k = make_keys(demo_db)
    with live(demo_db, tmp_path / "serve.log") as srv:
        urls = [f"/health?key={k.vtl}", f"/plans?api_key={k.planner}&limit=1", f"/collections?token={k.admin}",
                f"/search?q=x&access_token={k.inspector}", f"/plans/{k.mbf}"]
        for url in urls:
            r = httpx.get(srv.base + url, timeout=10)
            assert "server" not in r.headers, url
            assert r.status_code in (200, 401, 422), (url, r.status_code)
        assert httpx.get(f"{srv.base}/plans?key={k.vtl}", timeout=10).status_code == 401  # refused, not used
        r = httpx.get(f"{srv.base}/plans", headers=bearer(k.vtl), timeout=10)
        assert r.status_code == 200 and "server" not in r.headers
        httpx.get(f"{srv.base}/health", timeout=10)
        log = srv.log_text()
    for secret in (k.vtl, k.planner, k.admin, k.inspector, k.mbf):
        assert secret not in log and secret[:20] not in log
    assert 'GET /health?key=[redacted] HTTP/1.1" 200' in log, log[-2000:]
    assert "api_key=[redacted]&limit=1" in log and "access_token=[redacted]" in log
    assert "GET /plans/[redacted] HTTP/1.1" in log


def test_a_key_that_cannot_be_checked_is_503_not_500() -> None:
    """The gate looks keys up outside the app's error handlers: a database that does not answer is
    still the 503 the routes give, with the security headers."""
    c = TestClient(create_app(Settings(database_url="postgresql+psycopg://nobody:x@127.0.0.1:1/none")))
    r = c.get("/tiles", headers=bearer("btsp_00000000_" + "x" * 43))
    assert r.status_code == 503 and r.headers["retry-after"]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_an_error_no_handler_caught_is_problem_json_with_the_security_headers(demo_db: Engine) -> None:
    """Starlette's last-resort 500 is plain text sent around every middleware (how the deep JSON of
    issue 18 answered); the outermost middleware answers first."""
    def broken() -> None:
        raise RecursionError("maximum recursion depth exceeded")

    app = client(demo_db).app
    app.add_api_route("/t/broken", broken)  # type: ignore[attr-defined]
    r = TestClient(app, raise_server_exceptions=False).get("/t/broken")
    assert r.status_code == 500 and r.json()["title"] == "Internal server error"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["x-content-type-options"] == "nosniff" and "maximum recursion" not in r.text
