"""OGC API clients nobody here wrote, against a live server on loopback: OWSLib with its default
headers (it sends no JSON Accept, so a server that answers HTML to ``*/*`` breaks it), GDAL's OAPIF
driver turning ``-where`` into a CQL2 ``filter`` the server evaluates, and GDAL's MVT driver on a tile
from the OGC API Tiles path."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from owslib.ogcapi.features import Features
from sqlalchemy import Engine, func, select

from geodata.store import models as m
from tests.app.live import live_server

CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
KNOWN = (12, 1805, 3261)  # z, row (y), column (x): central Hải Phòng


@pytest.fixture
def base(demo_db: Engine) -> Iterator[str]:
    with live_server(demo_db) as url:
        yield url


def test_owslib_with_default_headers(base: str, demo_db: Engine) -> None:
    api = Features(base)
    assert "Accept" not in api.headers  # the defaults, as scripts use them
    assert any(ln["rel"] == "data" for ln in api.links)
    assert CORE in api.conformance()["conformsTo"]
    ids = [c["id"] for c in api.collections()["collections"]]
    assert {"sites", "zones", "routes"} <= set(ids)
    assert api.collection("sites")["id"] == "sites"
    page = api.collection_items("sites", limit=5, bbox=[106.6, 20.8, 106.75, 20.9])
    assert len(page["features"]) == 5
    assert all(106.6 <= f["geometry"]["coordinates"][0] <= 106.75 for f in page["features"])


def test_owslib_pages_to_the_end_through_next_links(base: str, demo_db: Engine) -> None:
    with demo_db.connect() as c:
        total = c.execute(select(func.count()).select_from(m.Zone)).scalar_one()
    api = Features(base)
    ids: list[object] = []
    params: dict[str, object] = {"limit": 3}
    for _ in range(100):
        page = api.collection_items("zones", **params)
        ids += [f["id"] for f in page["features"]]
        nxt = [ln["href"] for ln in page["links"] if ln["rel"] == "next"]
        if not nxt:
            break
        query = parse_qs(urlsplit(nxt[0]).query)
        params = {"limit": int(query["limit"][0]), "offset": int(query["offset"][0])}
    assert total > 3 and len(ids) == len(set(ids)) == total


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL command-line tools not installed")
def test_gdal_mvt_driver_reads_a_tile_from_the_ogc_tiles_path(base: str, tmp_path: Path) -> None:
    """Downloaded as a client would (gzip accepted), then stored as z/x/y.pbf, the layout from which
    the MVT driver georeferences a single tile."""
    z, y, x = KNOWN
    r = httpx.get(f"{base}/collections/sites/tiles/WebMercatorQuad/{z}/{y}/{x}", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    tile = tmp_path / str(z) / str(x) / f"{y}.pbf"
    tile.parent.mkdir(parents=True)
    tile.write_bytes(r.content)  # decompressed by httpx
    info = subprocess.run(["ogrinfo", "-ro", "-al", "-so", f"MVT:{tile}"], capture_output=True, text=True,
                          timeout=60)
    assert info.returncode == 0, info.stdout[-500:] + info.stderr
    assert "Layer name: sites" in info.stdout
    assert int(info.stdout.split("Feature Count: ")[1].split()[0]) > 0
    extent = info.stdout.split("Extent: ")[1].splitlines()[0]  # EPSG:3857 metres around Hải Phòng
    assert extent.startswith("(118")


@contextmanager
def recording_proxy(upstream: str) -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP front for ``upstream`` that records every request target it passes on: what
    a client really asked the server for. Links are built from the Host header, so a client that
    follows them keeps going through the proxy."""
    seen: list[str] = []

    class Forward(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.path)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "accept-encoding")}
            r = httpx.get(upstream + self.path, headers=headers, timeout=60)
            self.send_response(r.status_code)
            for k, v in r.headers.items():
                if k.lower() not in ("transfer-encoding", "connection", "content-encoding", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL command-line tools not installed")
def test_gdal_where_is_sent_to_the_server_as_cql2(base: str, demo_db: Engine) -> None:
    """``ogrinfo OAPIF:… -where`` is not evaluated by GDAL over every feature: GDAL reads the declared
    filtering conformance and queryables (numbers included) and sends the condition as ``filter``,
    which the server answers; the count is what the same query with plain parameters gives."""
    with demo_db.connect() as c:
        want = c.execute(select(func.count()).select_from(m.Site)
                         .where(m.Site.operator == "VTL", m.Site.mast_height_m > 30)).scalar_one()
    assert want > 0
    with recording_proxy(base) as (front, seen):
        out = subprocess.run(["ogrinfo", "-ro", "-al", "-q", f"OAPIF:{front}", "sites",
                              "-where", "operator = 'VTL' AND mast_height_m > 30"],
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("OGRFeature(sites)") == want
    # GDAL reads one page to learn the layer, then the API document and the queryables, then asks
    # for the features: every one of those requests carries the filter
    assert "/collections/sites/queryables" in seen, seen
    after = seen[seen.index("/collections/sites/queryables"):]
    items = [parse_qs(urlsplit(p).query) for p in after if urlsplit(p).path == "/collections/sites/items"]
    filtered = [q for q in items if "filter" in q]
    assert filtered and len(filtered) == len(items), f"every items request carries the filter: {seen}"
    expr = filtered[0]["filter"][0]
    assert "operator" in expr and "VTL" in expr and "mast_height_m" in expr and "30" in expr, expr
    assert filtered[0].get("filter-lang", ["cql2-text"])[0] in ("cql2-text", "cql-text")



@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL command-line tools not installed")
def test_gdal_spat_is_sent_to_the_server_as_bbox(base: str) -> None:
    """``ogrinfo OAPIF:… -spat`` asks the server for ``bbox`` and counts what the API's bbox selects."""
    x0, y0, x1, y1 = 106.62, 20.80, 106.72, 20.88
    want = httpx.get(f"{base}/collections/sites/items", params={"bbox": f"{x0},{y0},{x1},{y1}", "limit": "1"},
                     timeout=30).json()["numberMatched"]
    assert want > 0
    with recording_proxy(base) as (front, seen):
        out = subprocess.run(["ogrinfo", "-ro", "-al", "-q", f"OAPIF:{front}", "sites",
                              "-spat", str(x0), str(y0), str(x1), str(y1)],
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("OGRFeature(sites)") == want
    boxes = [parse_qs(urlsplit(p).query).get("bbox", [""])[0] for p in seen
             if urlsplit(p).path == "/collections/sites/items"]
    sent = [[float(v) for v in b.split(",")] for b in boxes if b]
    assert sent and all(b == pytest.approx([x0, y0, x1, y1]) for b in sent), seen
