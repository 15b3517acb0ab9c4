"""Vector tiles on both backends: decoded content, clustering invariants, ETag/304/204/gzip, TileJSON,
cache invalidation by data version, zoom bounds and timeouts."""

from __future__ import annotations

import gzip
import math

import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, insert, select, text, update

from geodata.store import models as m
from geodata.serve import tiles as gt
from geodata.store.cache import LRUCache
from geodata.crs import transformer
from geodata.store.meta import bump_data_version
from tests.app.live import make_app

TMS = morecantile.tms.get("WebMercatorQuad")
KNOWN = (12, 3261, 1805)  # central Hải Phòng


@pytest.fixture
def client(demo_db: Engine) -> TestClient:
    return TestClient(make_app(demo_db))


def _sites(engine: Engine) -> tuple[np.ndarray, np.ndarray, list[str]]:
    with engine.connect() as c:
        rows = c.execute(select(func.ST_X(m.Site.geom), func.ST_Y(m.Site.geom), m.Site.code)).all()
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), [r[2] for r in rows]


def _in_tile(lon: np.ndarray, lat: np.ndarray, z: int, x: int, y: int) -> np.ndarray:
    mx, my = transformer("EPSG:4326", "EPSG:3857").transform(lon, lat)
    b = TMS.xy_bounds(morecantile.Tile(x, y, z))
    return (mx >= b.left) & (mx < b.right) & (my > b.bottom) & (my <= b.top)


def _decode(content: bytes) -> list[dict]:
    layers = mapbox_vector_tile.decode(content, default_options={"y_coord_down": True})
    assert len(layers) == 1
    return list(layers.values())[0]["features"]


def test_known_tile_holds_every_site_under_it(client: TestClient, demo_db: Engine) -> None:
    z, x, y = KNOWN
    r = client.get(f"/tiles/sites/{z}/{x}/{y}.mvt")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    feats = _decode(r.content)
    lon, lat, codes = _sites(demo_db)
    inside = _in_tile(lon, lat, z, x, y)
    assert inside.sum() > 100
    # clusters and single sites together account for every site in the tile, exactly once
    assert sum(f["properties"]["count"] for f in feats) == inside.sum()
    singles = {f["properties"]["code"] for f in feats if f["properties"]["count"] == 1}
    assert singles and singles <= {c for c, k in zip(codes, inside, strict=True) if k}
    for f in feats:
        px, py = f["geometry"]["coordinates"]
        assert 0 <= px <= gt.EXTENT and 0 <= py <= gt.EXTENT
        p = f["properties"]
        assert p["a1"] + p["a2"] <= p["count"]
        if p["count"] == 1:
            assert f["id"] > 0 and p["operator"] in ("VTL", "VNP", "MBF", "VNM") and p["status"]
            assert p["class"] == p["declared_class"]  # the demo is not classified yet
    # a high zoom serves the sites themselves, with their attributes
    z2, x2, y2 = 16, x * 16 + 7, y * 16 + 9
    for zz, xx, yy in ((z2, x2, y2), (17, x2 * 2, y2 * 2)):
        r2 = client.get(f"/tiles/sites/{zz}/{xx}/{yy}.mvt")
        under = {c for c, k in zip(codes, _in_tile(lon, lat, zz, xx, yy), strict=True) if k}
        if not under:
            assert r2.status_code == 204
            continue
        got = [f["properties"] for f in _decode(r2.content)]
        assert sum(p["count"] for p in got) == len(under)
    # above the cell pyramid (z18+) the tile reads the sites themselves: every one, with its code
    i = int(np.flatnonzero(inside)[0])
    t18 = TMS.tile(lon[i], lat[i], gt.CELL_MAX_ZOOM + 1)
    under = {c for c, k in zip(codes, _in_tile(lon, lat, t18.z, t18.x, t18.y), strict=True) if k}
    got = [f["properties"] for f in _decode(client.get(f"/tiles/sites/{t18.z}/{t18.x}/{t18.y}.mvt").content)]
    assert {p["code"] for p in got} == under and all(p["count"] == 1 for p in got)


def test_clusters_merge_dense_sites_and_keep_class_counts(demo_db: Engine) -> None:
    svc = gt.TileService(demo_db, 0)
    tile = svc.get(gt.LAYERS["sites"], 9, 407, 225)
    feats = _decode(gzip.decompress(tile.gz))
    lon, lat, _ = _sites(demo_db)
    with demo_db.connect() as c:
        declared = [r[0] for r in c.execute(select(m.Site.declared_class).order_by(m.Site.id))]
    inside = _in_tile(lon, lat, 9, 407, 225)
    assert sum(f["properties"]["count"] for f in feats) == inside.sum()
    assert any(f["properties"]["count"] > 1 for f in feats)
    a2 = sum(1 for d, k in zip(declared, inside, strict=True) if k and d in ("A2a", "A2b", "A2c"))
    assert sum(f["properties"]["a2"] for f in feats) == a2
    assert len(feats) <= (2**gt.GRID_BITS) ** 2


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(106.3, 107.9), st.floats(20.5, 21.1)), min_size=1, max_size=40))
def test_cell_pyramid_matches_the_tile_matrix(empty_db: Engine, pts: list[tuple[float, float]]) -> None:
    """The SQL cell indices agree with morecantile's tile of each point at every zoom, and every
    level of the pyramid still counts every site once."""
    with empty_db.begin() as c:
        c.execute(text("DELETE FROM sites"))
        c.execute(text("DELETE FROM operators"))
        c.execute(insert(m.Operator), [{"code": "VTL", "name": "Viettel"}])
        c.execute(insert(m.Site), [{"code": f"P{i}", "operator": "VTL", "status": "built", "declared_class": "A2b",
                                    "geom": f"SRID=4326;POINT({lo} {la})"} for i, (lo, la) in enumerate(pts)])
        bump_data_version(c)
    gt.ensure_cells(empty_db)
    with empty_db.connect() as c:
        cells = c.execute(text("SELECT level, tx, ty, n, code FROM tile_site_cells")).all()
    by_level: dict[int, int] = {}
    for level, _, _, n, _ in cells:
        by_level[level] = by_level.get(level, 0) + n
    assert set(by_level.values()) == {len(pts)}
    assert set(by_level) == set(range(gt.GRID_BITS, gt.CELL_MAX_LEVEL + 1))
    for z in (4, 10, 16):
        expect: dict[tuple[int, int], int] = {}
        for lo, la in pts:
            t = TMS.tile(lo, la, z)
            expect[(t.x, t.y)] = expect.get((t.x, t.y), 0) + 1
        got: dict[tuple[int, int], int] = {}
        for level, tx, ty, n, _ in cells:
            if level == z + gt.GRID_BITS:
                got[(tx, ty)] = got.get((tx, ty), 0) + n
        # points within a millimetre of a tile edge may fall either side (float rounding)
        assert sum(abs(got.get(k, 0) - v) for k, v in expect.items()) <= 2 * sum(
            1 for lo, la in pts if _near_edge(lo, la, z))


def _near_edge(lon: float, lat: float, z: int) -> bool:
    n = 2**z
    fx = (lon + 180) / 360 * n
    fy = (1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n
    return min(abs(fx - round(fx)), abs(fy - round(fy))) < 1e-6


def test_etag_304_head_204_and_gzip(client: TestClient) -> None:
    z, x, y = KNOWN
    url = f"/tiles/sites/{z}/{x}/{y}.mvt"
    r = client.get(url)
    etag = r.headers["etag"]
    assert etag.startswith('"') and r.headers["cache-control"].startswith("public")
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    head = client.head(url)
    assert head.status_code == 200 and head.headers["etag"] == etag and head.content == b""
    raw = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert raw.content == r.content  # httpx decompressed the gzip one
    versioned = client.get(url + f"?v={r.headers['x-data-version']}")
    assert "immutable" in versioned.headers["cache-control"]
    empty = client.get("/tiles/sites/12/0/0.mvt")
    assert empty.status_code == 204 and empty.content == b"" and empty.headers["etag"]
    assert client.get("/tiles/sites/12/0/0.mvt", headers={"If-None-Match": empty.headers["etag"]}).status_code == 304


def test_zoom_and_matrix_bounds(client: TestClient) -> None:
    for url in ("/tiles/sites/23/0/0.mvt", "/tiles/sites/3/8/0.mvt", "/tiles/sites/3/0/8.mvt",
                "/tiles/admin-units/17/104376/57771.mvt", "/tiles/nope/1/0/0.mvt"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/tiles/sites/-1/0/0.mvt").status_code == 422
    assert client.get("/tiles/zones/5/25/14.mvt").status_code == 204  # below the layer's minzoom: empty


def test_every_layer_serves_the_city_centre(client: TestClient, demo_db: Engine) -> None:
    with demo_db.begin() as c:
        site = c.execute(select(m.Site.code, m.Site.operator, m.Site.geom)).first()
        c.execute(insert(m.Finding), [{"check": "a1-routes", "rule": "a1_only.route", "severity": "violation",
                                       "site_code": site.code, "operator": site.operator, "geom": site.geom,
                                       "route": "Đường Trần Phú", "distance_m": 3.5}])
        bump_data_version(c)
        lon, lat = c.execute(select(func.ST_X(m.Site.geom), func.ST_Y(m.Site.geom)).where(
            m.Site.code == site.code)).one()
    t = TMS.tile(lon, lat, 12)
    for layer in gt.LAYERS:
        zz, xx, yy = (12, KNOWN[1], KNOWN[2]) if layer != "findings" else (12, t.x, t.y)
        r = client.get(f"/tiles/{layer}/{zz}/{xx}/{yy}.mvt")
        assert r.status_code == 200, layer
        feats = _decode(r.content)
        assert feats, layer
        fields = set(gt.LAYERS[layer].fields)
        for f in feats:
            assert set(f["properties"]) <= fields, layer
    finding = _decode(client.get(f"/tiles/findings/12/{t.x}/{t.y}.mvt").content)[0]["properties"]
    assert finding["severity"] == "violation" and finding["site_code"] == site.code


def test_point_zones_are_drawn_with_their_radius(client: TestClient, demo_db: Engine) -> None:
    with demo_db.connect() as c:
        lon, lat, radius = c.execute(select(func.ST_X(m.Zone.geom), func.ST_Y(m.Zone.geom), m.Zone.radius_m)
                                     .where(m.Zone.name == "UBND thành phố Hải Phòng")).one()
    t = TMS.tile(lon, lat, 15)
    feats = [f for f in _decode(client.get(f"/tiles/zones/15/{t.x}/{t.y}.mvt").content)
             if f["properties"]["name"] == "UBND thành phố Hải Phòng"]
    assert feats and feats[0]["geometry"]["type"] == "Polygon"
    ring = np.array(feats[0]["geometry"]["coordinates"][0], dtype=float)
    area_units = 0.5 * abs(np.dot(ring[:-1, 0], ring[1:, 1]) - np.dot(ring[1:, 0], ring[:-1, 1]))
    b = TMS.xy_bounds(t)
    metres_per_unit = (b.right - b.left) / gt.EXTENT * math.cos(math.radians(lat))  # Mercator scale
    area_m2 = area_units * metres_per_unit**2
    assert area_m2 == pytest.approx(math.pi * radius**2, rel=0.06)


def test_tilejson_has_the_spec_fields(client: TestClient) -> None:
    layers = client.get("/tiles").json()["layers"]
    assert {lyr["id"] for lyr in layers} == set(gt.LAYERS)
    for lyr in gt.LAYERS.values():
        tj = client.get(f"/tiles/{lyr.id}/tilejson.json").json()
        assert tj["tilejson"] == "3.0.0"
        assert tj["tiles"] and all("{z}/{x}/{y}" in u and u.startswith("http") for u in tj["tiles"])
        assert 0 <= tj["minzoom"] <= tj["maxzoom"] <= 30
        w, s, e, n = tj["bounds"]
        assert -180 <= w < e <= 180 and -85.06 <= s < n <= 85.06
        assert w <= tj["center"][0] <= e and s <= tj["center"][1] <= n and len(tj["center"]) == 3
        assert tj["scheme"] == "xyz"
        vl = tj["vector_layers"]
        assert [v["id"] for v in vl] == [lyr.id]
        assert vl[0]["fields"] and all(isinstance(k, str) and isinstance(v, str) for k, v in vl[0]["fields"].items())
        # the advertised tile URL works as given
        url = tj["tiles"][0].replace("{z}", "12").replace("{x}", str(KNOWN[1])).replace("{y}", str(KNOWN[2]))
        assert client.get(url.removeprefix("http://testserver")).status_code in (200, 204)


def test_writes_invalidate_cached_tiles(client: TestClient, demo_db: Engine) -> None:
    z, x, y = KNOWN
    url = f"/tiles/sites/{z}/{x}/{y}.mvt"
    before = client.get(url)
    total = sum(f["properties"]["count"] for f in _decode(before.content))
    assert client.get(url).headers["etag"] == before.headers["etag"]  # served from the cache
    lon, lat, codes = _sites(demo_db)
    victim = next(c for c, k in zip(codes, _in_tile(lon, lat, z, x, y), strict=True) if k)
    with demo_db.begin() as c:
        c.execute(update(m.Site).where(m.Site.code == victim).values(geom="SRID=4326;POINT(105.0 10.0)"))
        bump_data_version(c)
    after = client.get(url)
    assert after.headers["etag"] != before.headers["etag"]
    assert int(after.headers["x-data-version"]) == int(before.headers["x-data-version"]) + 1
    assert sum(f["properties"]["count"] for f in _decode(after.content)) == total - 1
    assert client.get(url, headers={"If-None-Match": before.headers["etag"]}).status_code == 200


def test_tile_statement_timeout_answers_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gt, "TILE_TIMEOUT_MS", 0)
    r = client.get("/tiles/admin-units/10/815/451.mvt")
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")


def test_lru_cache_is_capped_by_bytes() -> None:
    c: LRUCache[bytes] = LRUCache(100)
    for i in range(10):
        c.put(i, b"x" * 30)
    assert c.size_bytes <= 100 and len(c) == 3
    assert c.get(9) == b"x" * 30 and c.get(0) is None
    c.get(7)
    c.put("new", b"y" * 30)  # evicts the least recently used (8), not 7
    assert c.get(7) is not None and c.get(8) is None
    c.put("huge", b"z" * 101)
    assert c.get("huge") is None
    off: LRUCache[bytes] = LRUCache(0)
    off.put(1, b"a")
    assert off.get(1) is None


# ----------------------------------------------------------------------------------------------
# OGC API Tiles: the same tiles at /collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}
# ----------------------------------------------------------------------------------------------

def test_ogc_tiles_path_answers_the_same_tile_etag_and_304(client: TestClient) -> None:
    z, x, y = KNOWN
    legacy = client.get(f"/tiles/sites/{z}/{x}/{y}.mvt")
    ogc = client.get(f"/collections/sites/tiles/WebMercatorQuad/{z}/{y}/{x}")  # row (y) before column (x)
    assert ogc.status_code == 200 and ogc.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert ogc.content == legacy.content and ogc.headers["etag"] == legacy.headers["etag"]
    assert ogc.headers["cache-control"] == legacy.headers["cache-control"]
    again = client.get(f"/collections/sites/tiles/WebMercatorQuad/{z}/{y}/{x}",
                       headers={"If-None-Match": ogc.headers["etag"]})
    assert again.status_code == 304 and not again.content
    empty = client.get("/collections/sites/tiles/WebMercatorQuad/12/0/0")
    assert empty.status_code == 204 == client.get("/tiles/sites/12/0/0.mvt").status_code
    assert client.head(f"/collections/sites/tiles/WebMercatorQuad/{z}/{y}/{x}").headers["etag"] == ogc.headers["etag"]
    for url in ("/collections/sites/tiles/WebMercatorQuad/12/5000/0", "/collections/operators/tiles/WebMercatorQuad/12/0/0",
                "/collections/sites/tiles/WorldCRS84Quad/12/0/0", f"/collections/sites/tiles/WebMercatorQuad/30/{y}/{x}"):
        assert client.get(url).status_code == 404, url


def test_ogc_tiles_metadata_links_to_the_tiles(client: TestClient) -> None:
    sets = client.get("/tileMatrixSets").json()["tileMatrixSets"]
    assert [s["id"] for s in sets] == ["WebMercatorQuad"]
    tms = client.get(sets[0]["links"][0]["href"]).json()
    assert tms["id"] == "WebMercatorQuad" and len(tms["tileMatrices"]) == len(TMS.tileMatrices)
    assert morecantile.TileMatrixSet.model_validate(tms).matrix(12).matrixWidth == 4096
    coll = client.get("/collections/sites").json()
    href = next(ln["href"] for ln in coll["links"] if ln["rel"].endswith("/tilesets-vector"))
    tilesets = client.get(href).json()["tilesets"]
    assert tilesets[0]["dataType"] == "vector"
    meta = client.get(next(ln["href"] for ln in tilesets[0]["links"] if ln["rel"] == "self")).json()
    template = next(ln["href"] for ln in meta["links"] if ln["rel"] == "item")
    z, x, y = KNOWN
    url = template.format(tileMatrix=z, tileRow=y, tileCol=x).removeprefix("http://testserver")
    assert client.get(url).content == client.get(f"/tiles/sites/{z}/{x}/{y}.mvt").content
    assert {m["tileMatrix"] for m in meta["tileMatrixSetLimits"]} == {str(z) for z in range(
        gt.LAYERS["sites"].minzoom, gt.LAYERS["sites"].maxzoom + 1)}
    conf = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conf
    assert client.get("/tileMatrixSets?f=html").json()["param"] == "f"
