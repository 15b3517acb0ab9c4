"""Limits before work (issue 18, defects 3 and 5, and slowloris from 8): body caps by route class
before any route reads a byte, the key and role checked before the body, JSON depth bounded, and the
server's own limits on slow or oversized request heads.

Attacks reproduced: an anonymous 100 MB body to ``POST /checks/site`` and to a photo upload (a
120 MB one raised server memory from 325 to 697 MB; multipart ones were spooled to disk before the
401/413), a chunked body with no ``Content-Length``, 5,000-deep JSON in ``POST /plans`` (a 500
without security headers), and a client that sends its headers a byte at a time.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.gate import DEFAULT_CAP, MAX_JSON_DEPTH, ROUTE_CAPS, json_depth, required_roles
from geodata.settings import Settings
from planning.vocab import ROLES
from tests.app.plan_helpers import client, collection, make_keys, new_site
from tests.security.gate_helpers import bearer, concrete, gate_routes, role_keys
from tests.security.live_serve import (
    SERVE,
    UVICORN_H11,
    Reply,
    Server,
    exchange,
    files_open_under,
    live,
    request_head,
    rss_bytes,
)

MiB = 1024 * 1024
BOUNDARY = "b0undary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def _assert_problem(r: Reply, status: int) -> dict[str, object]:
    assert r.status == status, (r.status, r.body[:300])
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "server" not in r.headers
    body = json.loads(r.body)
    assert body["status"] == status
    return body


def _photo_part(data: bytes) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="mast.png"\r\n'
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def _photo_stream(total: int) -> Iterator[bytes]:
    """A well-formed multipart upload of one ``total``-byte photo that never ends."""
    head, _, _ = _photo_part(b"\0").partition(b"\0")
    yield head + b"\x89PNG\r\n\x1a\n"
    yield from _zeros(total, 64 * 1024)


def _chunked(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for c in chunks:
        yield f"{len(c):x}\r\n".encode() + c + b"\r\n"
    yield b"0\r\n\r\n"


def _slowly(data: bytes, chunk: int, pause: float) -> Iterator[bytes]:
    for i in range(0, len(data), chunk):
        time.sleep(pause)
        yield data[i:i + chunk]


def _zeros(total: int, chunk: int = MiB) -> Iterator[bytes]:
    block = b"0" * chunk
    for _ in range(total // chunk):
        yield block


# --------------------------------------------------------------------------------------------
# body caps by route class, on a real server
# --------------------------------------------------------------------------------------------

def test_declared_oversize_body_is_413_before_a_byte_of_it_is_sent(demo_db: Engine, tmp_path: Path) -> None:
    k = make_keys(demo_db)
    with live(demo_db, tmp_path / "serve.log", BTSPLAN_MAX_PLAN_BYTES="200000") as srv:
        cases = [  # (method, path, headers, declared length, title, limit)
            ("POST", "/checks/site", {"Content-Type": "application/json"}, 100 * MiB,
             "Request body too large", MiB),
            ("POST", "/plans", {"Content-Type": "application/geo+json", **bearer(k.vtl)}, 200_001,
             "Plan too large", 200_000),
            ("PUT", "/plans/1", {"Content-Type": "application/json", **bearer(k.vtl)}, 50 * MiB,
             "Plan too large", 200_000),
            ("POST", "/inspections/1/photos", {"Content-Type": MULTIPART, **bearer(k.inspector)}, 100 * MiB,
             "Photo too large", 10 * MiB + 64 * 1024),
            ("POST", "/inspections/campaigns", {"Content-Type": "application/json", **bearer(k.planner)},
             MiB + 1, "Request body too large", MiB),
        ]
        for method, path, headers, size, title, limit in cases:
            r = exchange(srv, request_head(method, path, {**headers, "Content-Length": str(size)}),
                         _zeros(size), timeout=10, patience=3)
            body = _assert_problem(r, 413)
            assert (body["title"], body["limit_bytes"]) == (title, limit), (path, body)
            assert f"{limit:,} bytes" in str(body["detail"])
            assert r.body_bytes_sent == 0 and r.seconds < 5, (path, r.seconds)
            assert r.headers["connection"] == "close" and r.headers["cache-control"] == "no-store"


def test_chunked_bodies_are_cut_off_at_the_cap(demo_db: Engine, tmp_path: Path) -> None:
    k = make_keys(demo_db)
    with live(demo_db, tmp_path / "serve.log", BTSPLAN_MAX_PHOTO_BYTES="100000") as srv:
        # no Content-Length: only counting the bytes as they stream can stop these
        head = request_head("POST", "/checks/site", {"Content-Type": "application/json",
                                                     "Transfer-Encoding": "chunked"})
        r = exchange(srv, head, _chunked(_zeros(100 * MiB, 64 * 1024)))
        assert _assert_problem(r, 413)["limit_bytes"] == MiB
        assert r.body_bytes_sent < 20 * MiB  # refused at the cap, not at the end of the body
        head = request_head("POST", "/inspections/1/photos", {"Content-Type": MULTIPART, **bearer(k.inspector),
                                                              "Transfer-Encoding": "chunked"})
        r = exchange(srv, head, _chunked(_photo_stream(100 * MiB)))
        assert _assert_problem(r, 413)["title"] == "Photo too large"
        assert r.body_bytes_sent < 20 * MiB
        assert httpx_ok(srv)


def httpx_ok(srv: Server) -> bool:
    return httpx.get(f"{srv.base}/health", timeout=5).status_code == 200


# --------------------------------------------------------------------------------------------
# authentication before the body
# --------------------------------------------------------------------------------------------

def test_every_protected_write_refuses_a_missing_or_wrong_key_before_the_body(demo_db: Engine,
                                                                              tmp_path: Path) -> None:
    k = make_keys(demo_db)
    keys = role_keys(k)
    routes = gate_routes(client(demo_db))
    writes = [(m, r) for r in routes for m in sorted(r.methods) if m in ("POST", "PUT", "PATCH")]
    protected = [(m, r, roles) for m, r in writes for roles in [required_roles(r.dependant)] if roles]
    assert len(protected) >= 10 and ("POST", "/checks/site") not in {(m, r.path) for m, r, _ in protected}
    with live(demo_db, tmp_path / "serve.log") as srv:
        for method, route, roles in protected:
            path, size = concrete(route.path), 500_000  # under every cap: only the key is wrong
            ctype = MULTIPART if route.path.endswith("/photos") else "application/json"
            head = {"Content-Type": ctype, "Content-Length": str(size)}
            r = exchange(srv, request_head(method, path, head), _zeros(size, 50_000), patience=3)
            assert _assert_problem(r, 401) and r.headers["www-authenticate"].startswith("Bearer")
            assert r.body_bytes_sent == 0, (method, path)
            for bad in [{"Authorization": "Bearer btsp_00000000_" + "x" * 40}, {"Authorization": "Basic eDp5"}]:
                r = exchange(srv, request_head(method, path, {**head, **bad}), _zeros(size, 50_000), patience=3)
                assert _assert_problem(r, 401) and r.body_bytes_sent == 0, (method, path)
            other = next((keys[role] for role in ROLES if role not in roles), None)
            if other is not None:
                r = exchange(srv, request_head(method, path, {**head, **bearer(other)}), _zeros(size, 50_000),
                             patience=3)
                assert _assert_problem(r, 403) and r.body_bytes_sent == 0, (method, path)


def test_anonymous_100_mb_upload_grows_neither_memory_nor_the_temp_dir(demo_db: Engine, tmp_path: Path) -> None:
    k = make_keys(demo_db)
    spool = tmp_path / "spool"
    spool.mkdir()
    with live(demo_db, tmp_path / "serve.log", TMPDIR=str(spool)) as srv:
        seen: list[str] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                seen.extend(files_open_under(srv.proc, spool))
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            # the watcher sees a spooled upload: an inspector's 3 MB photo, sent slowly
            part = _photo_part(b"\x89PNG" + b"0" * 3 * MiB)
            slow = _slowly(part, 64 * 1024, 0.01)
            head = request_head("POST", "/inspections/1/photos", {"Content-Type": MULTIPART, **bearer(k.inspector),
                                                                  "Content-Length": str(len(part))})
            assert exchange(srv, head, slow).status in (201, 404, 415, 422)
            assert seen, "control: a multipart body over 1 MB is spooled to TMPDIR"
            deadline = time.monotonic() + 5
            while files_open_under(srv.proc, spool) and time.monotonic() < deadline:
                time.sleep(0.05)  # the server closes the spooled file just after its answer
            time.sleep(0.05)
            seen.clear()
            for path, ctype in [("/inspections/1/photos", MULTIPART), ("/checks/site", "application/json")]:
                before = rss_bytes(srv.proc)
                head = request_head("POST", path, {"Content-Type": ctype, "Transfer-Encoding": "chunked"})
                body = _photo_stream(100 * MiB) if ctype == MULTIPART else _zeros(100 * MiB)
                r = exchange(srv, head, _chunked(body), push=True)  # a client that does not listen
                assert r.status in (401, 413) and r.seconds < 15, (path, r.status, r.seconds)
                assert rss_bytes(srv.proc) - before < 30 * MiB, path
            assert not seen, f"an anonymous body was spooled: {seen}"
        finally:
            stop.set()
            watcher.join()
        assert httpx_ok(srv)


def test_the_gate_knows_every_route(demo_db: Engine) -> None:
    """A router included without the gate knowing would lose the early checks: every operation of the
    OpenAPI document is in the gate's table, and every route-class cap names a real route."""
    c = client(demo_db)
    routes = gate_routes(c)
    known = {(m.lower(), r.path) for r in routes for m in r.methods}
    for path, item in c.get("/openapi.json").json()["paths"].items():
        for method in item:
            assert (method, path) in known, (method, path)
    assert {(m.lower(), p) for m, p in ROUTE_CAPS} <= known
    assert DEFAULT_CAP.setting in Settings.model_fields


# --------------------------------------------------------------------------------------------
# JSON depth
# --------------------------------------------------------------------------------------------

def _deep(depth: int) -> bytes:
    return b'{"type": "FeatureCollection", "features": ' + b"[" * depth + b"]" * depth + b"}"


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": "\\\\"}], "d": "\\"[["}') == 3
    assert json_depth(json.dumps(collection(new_site())).encode()) == 5
    assert json_depth(b"[" * 100_000) == 100_000 and json_depth(b"") == 0
    assert json_depth(_deep(10)) == 11


def test_deeply_nested_json_is_400_problem_with_security_headers_on_every_json_route(demo_db: Engine) -> None:
    k = make_keys(demo_db)
    keys = role_keys(k)
    c = TestClient(client(demo_db).app, raise_server_exceptions=False)  # a 500 must show as one
    routes = gate_routes(c)
    writes = [(m, r) for r in routes for m in sorted(r.methods) if m in ("POST", "PUT", "PATCH")]
    assert len(writes) >= 12
    for method, route in writes:
        roles = required_roles(route.dependant)
        auth = bearer(keys[next(role for role in ROLES if role in roles)]) if roles else {}
        for ctype in ("application/json", "application/geo+json"):
            r = c.request(method, concrete(route.path), content=_deep(5000),
                          headers={**auth, "Content-Type": ctype})
            assert r.status_code == 400, (method, route.path, r.status_code, r.text[:200])
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["title"] == "JSON nested too deeply"
            assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    # at the limit the gate lets it through; the route judges it (here: not a plan)
    ok = c.post("/plans", content=_deep(MAX_JSON_DEPTH - 1), headers={**bearer(k.vtl), "Content-Type": "application/json"})
    assert ok.status_code == 422, ok.text
    # a valid plan is not slowed or refused by the check
    r = c.post("/plans", json=collection(new_site(code="DEPTH-OK")), headers=bearer(k.vtl))
    assert r.status_code == 201, r.text


def test_chunked_deep_json_is_refused_too(demo_db: Engine) -> None:
    k = make_keys(demo_db)
    c = client(demo_db)
    deep = _deep(50_000)
    r = c.put("/plans/1", content=iter([deep[i:i + 4096] for i in range(0, len(deep), 4096)]),
              headers={**bearer(k.vtl), "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["title"] == "JSON nested too deeply"


# --------------------------------------------------------------------------------------------
# the server: slow and oversized request heads (httptools via `btsplan serve`, and h11)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [SERVE, UVICORN_H11], ids=["httptools", "h11"])
def test_slow_headers_are_cut_off_and_healthy_keep_alive_is_not(demo_db: Engine, tmp_path: Path,
                                                                 command: list[str]) -> None:
    with live(demo_db, tmp_path / "serve.log", command, BTSPLAN_HEADER_TIMEOUT_S="1") as srv:
        # slowloris: a header line, then nothing
        r = exchange(srv, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n", timeout=10)
        assert r.status == 408 and 0.8 < r.seconds < 4, (r.status, r.seconds)
        # a connection that never sends anything
        r = exchange(srv, b"", timeout=10)
        assert r.status == 408 and r.seconds < 4
        # headers beyond 32 KiB
        r = exchange(srv, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
                     timeout=10)
        assert r.status in (400, 431) and r.seconds < 2
        # a keep-alive client idle between requests longer than the header deadline is not cut off
        with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
            for _ in range(2):
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                reply = b""
                while b'"status"' not in reply:
                    reply += sock.recv(65536)
                assert reply.startswith(b"HTTP/1.1 200")
                time.sleep(1.5)
