"""OGC API Features Part 3: a CQL2 filter (text or JSON) selects exactly what the same query written
with plain parameters (or checked in Python over every feature) selects, on both backends."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import numpy as np
import pytest
import shapely
import shapely.geometry
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geodata.crs import transformer
from tests.app.live import live_server, make_app

FILTER = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter"


@pytest.fixture
def client(demo_db: Engine) -> TestClient:
    return TestClient(make_app(demo_db))


def _ids(client: TestClient, collection: str, **params: str) -> set[int]:
    r = client.get(f"/collections/{collection}/items", params={"limit": "10000", **params})
    assert r.status_code == 200, r.text
    return {f["id"] for f in r.json()["features"]}


def _all(client: TestClient, collection: str) -> list[dict[str, Any]]:
    return client.get(f"/collections/{collection}/items", params={"limit": "10000"}).json()["features"]


def _text(client: TestClient, collection: str, expr: str, **params: str) -> set[int]:
    return _ids(client, collection, filter=expr, **params)


def _json(client: TestClient, collection: str, expr: dict[str, Any]) -> set[int]:
    return _ids(client, collection, filter=json.dumps(expr), **{"filter-lang": "cql2-json"})


def _prop(name: str) -> dict[str, str]:
    return {"property": name}


def test_conformance_declares_filtering(client: TestClient) -> None:
    classes = client.get("/conformance").json()["conformsTo"]
    assert FILTER in classes and "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json" in classes


def test_equality_and_in_equal_plain_parameters(client: TestClient) -> None:
    vtl = _ids(client, "sites", operator="VTL")
    assert vtl
    assert _text(client, "sites", "operator = 'VTL'") == vtl
    assert _json(client, "sites", {"op": "=", "args": [_prop("operator"), "VTL"]}) == vtl
    a2 = _ids(client, "sites", declared_class="A2a") | _ids(client, "sites", declared_class="A2b")
    assert a2
    assert _text(client, "sites", "declared_class IN ('A2a','A2b')") == a2
    assert _json(client, "sites", {"op": "in", "args": [_prop("declared_class"), ["A2a", "A2b"]]}) == a2
    both = _ids(client, "sites", operator="VTL", declared_class="A2a")
    assert _text(client, "sites", "operator = 'VTL' AND declared_class = 'A2a'") == both
    assert _text(client, "sites", "operator <> 'VTL'") == {f["id"] for f in _all(client, "sites")} - vtl


def test_between_comparisons_and_null_equal_a_python_filter(client: TestClient) -> None:
    feats = _all(client, "sites")
    h = {f["id"]: f["properties"]["mast_height_m"] for f in feats}
    expect = {i for i, v in h.items() if v is not None and 20 <= v <= 40}
    assert expect
    assert _text(client, "sites", "mast_height_m BETWEEN 20 AND 40") == expect
    assert _json(client, "sites", {"op": "between", "args": [_prop("mast_height_m"), 20, 40]}) == expect
    assert _text(client, "sites", "mast_height_m > 30 OR mast_height_m <= 10") == {
        i for i, v in h.items() if v is not None and (v > 30 or v <= 10)}
    assert _text(client, "sites", "NOT (mast_height_m >= 25)") == {i for i, v in h.items() if v is not None and v < 25}
    assert _text(client, "sites", "mast_height_m IS NULL") == {i for i, v in h.items() if v is None}


def test_like_on_code_is_case_sensitive(client: TestClient) -> None:
    feats = _all(client, "sites")
    prefix = feats[0]["properties"]["code"][:4]
    expect = {f["id"] for f in feats if f["properties"]["code"].startswith(prefix)}
    assert _text(client, "sites", f"code LIKE '{prefix}%'") == expect
    assert _json(client, "sites", {"op": "like", "args": [_prop("code"), f"{prefix}%"]}) == expect
    if prefix.lower() != prefix:
        assert _text(client, "sites", f"code LIKE '{prefix.lower()}%'") == set()
        assert _text(client, "sites", f"CASEI(code) LIKE CASEI('{prefix.lower()}%')") == expect


def test_s_intersects_equals_bbox(client: TestClient) -> None:
    x0, y0, x1, y1 = 106.62, 20.80, 106.72, 20.88
    expect = _ids(client, "sites", bbox=f"{x0},{y0},{x1},{y1}")
    assert expect
    poly = f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"
    assert _text(client, "sites", f"S_INTERSECTS(geometry, {poly})") == expect
    shape = shapely.geometry.mapping(shapely.box(x0, y0, x1, y1))
    assert _json(client, "sites", {"op": "s_intersects", "args": [_prop("geometry"), shape]}) == expect
    # EPSG:4326 as filter-crs: latitude first
    latlon = f"POLYGON(({y0} {x0},{y0} {x1},{y1} {x1},{y1} {x0},{y0} {x0}))"
    assert _text(client, "sites", f"S_INTERSECTS(geometry, {latlon})",
                 **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}) == expect
    # combined with a plain parameter and with bbox: all conditions hold
    vtl = _ids(client, "sites", operator="VTL")
    assert _text(client, "sites", f"S_INTERSECTS(geometry, {poly})", operator="VTL") == expect & vtl


def _metric(geojson: dict[str, Any]) -> Any:
    t = transformer("EPSG:4326", "EPSG:9210")
    return shapely.transform(shapely.geometry.shape(geojson),
                             lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def test_s_dwithin_measures_metres_in_the_metric_crs(client: TestClient) -> None:
    """S_DWITHIN (text and JSON) selects what a distance computed in VN-2000 metres selects, for the
    sites (points) and the routes (lines), with the literal in lon/lat or in the metric CRS."""
    lon, lat, d = 106.683, 20.858, 600.0
    centre = _metric({"type": "Point", "coordinates": [lon, lat]})

    def expected(collection: str) -> tuple[set[int], set[int]]:
        """(ids within d, ids within 5 cm of the edge, where rounding may decide)"""
        dist = {f["id"]: _metric(f["geometry"]).distance(centre) for f in _all(client, collection) if f["geometry"]}
        return {i for i, v in dist.items() if v <= d}, {i for i, v in dist.items() if abs(v - d) < 0.05}

    for collection in ("sites", "routes"):
        want, edge = expected(collection)
        assert want, collection
        got = _text(client, collection, f"S_DWITHIN(geometry, POINT({lon} {lat}), {d})")
        assert got - edge == want - edge, collection
        point = {"type": "Point", "coordinates": [lon, lat]}
        assert _json(client, collection, {"op": "s_dwithin", "args": [_prop("geometry"), point, d]}) == got
    # the literal in the metric CRS itself; combined with other conditions
    assert _text(client, "sites", f"S_DWITHIN(geometry, POINT({centre.x} {centre.y}), {d})",
                 **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/9210"}) == got_sites(client, lon, lat, d)
    vtl = _ids(client, "sites", operator="VTL")
    assert _text(client, "sites", f"S_DWITHIN(geometry, POINT({lon} {lat}), {d}) AND operator = 'VTL'") \
        == got_sites(client, lon, lat, d) & vtl
    both = {"op": "not", "args": [{"op": "s_dwithin", "args": [_prop("geometry"),
                                                               {"type": "Point", "coordinates": [lon, lat]}, d]}]}
    assert _json(client, "sites", both) == {f["id"] for f in _all(client, "sites")} - got_sites(client, lon, lat, d)
    assert "distance" in _problem(client, "sites", filter=f"S_DWITHIN(geometry, POINT({lon} {lat}), -5)")
    assert "s_dwithin" in _problem(client, "sites", **{"filter-lang": "cql2-json"}, filter=json.dumps(
        {"op": "s_dwithin", "args": [_prop("geometry"), {"type": "Point", "coordinates": [lon, lat]}]}))


def got_sites(client: TestClient, lon: float, lat: float, d: float) -> set[int]:
    return _text(client, "sites", f"S_DWITHIN(geometry, POINT({lon} {lat}), {d})")


def test_numeric_properties_filter_and_are_queryables(client: TestClient) -> None:
    """Numbers and dates are filterable by CQL2 and listed in the queryables (which is what clients such
    as GDAL read to decide what they may send); ``?mast_height_m=`` stays a 400 (a range is the useful
    filter on a number, which a plain parameter cannot say)."""
    props = client.get("/collections/sites/queryables").json()["properties"]
    assert props["mast_height_m"]["type"] == "number" and props["built_on"]["format"] == "date"
    heights = {f["id"]: f["properties"]["mast_height_m"] for f in _all(client, "sites")}
    assert _text(client, "sites", "mast_height_m > 30") == {i for i, h in heights.items() if h is not None and h > 30}
    assert client.get("/collections/sites/items?mast_height_m=12").status_code == 400
    # clients of the filtering draft (GDAL <= 3.6: Accept without JSON Schema) get the draft's id list too
    draft = client.get("/collections/sites/queryables", headers={"Accept": "application/geo+json, application/json"})
    assert draft.headers["content-type"].startswith("application/json")
    assert {"operator", "mast_height_m", "built_on"} <= {q["id"] for q in draft.json()["queryables"]}
    standard = client.get("/collections/sites/queryables")
    assert standard.headers["content-type"].startswith("application/schema+json")
    assert "queryables" not in standard.json()


def test_dates_compare_on_date_properties(client: TestClient) -> None:
    units = _all(client, "admin-units")
    cut = sorted({u["properties"]["valid_from"] for u in units if u["properties"]["valid_from"]})[0]
    expect = {u["id"] for u in units if u["properties"]["valid_from"] and u["properties"]["valid_from"] > cut}
    assert _text(client, "admin-units", f"valid_from > DATE('{cut}')") == expect
    assert _text(client, "admin-units", f"valid_from T_AFTER DATE('{cut}')") == expect
    assert _json(client, "admin-units", {"op": "t_after", "args": [_prop("valid_from"), {"date": cut}]}) == expect
    sites = _all(client, "sites")
    built = {s["id"]: s["properties"]["built_on"] for s in sites if s["properties"]["built_on"]}
    assert built
    assert _text(client, "sites", "built_on < DATE('2015-01-01')") == {i for i, d in built.items() if d < "2015-01-01"}
    during = {i for i, d in built.items() if "2012-01-01" < d < "2018-01-01"}
    assert _text(client, "sites", "built_on T_DURING INTERVAL('2012-01-01T00:00:00Z','2018-01-01T00:00:00Z')") \
        == during


def _problem(client: TestClient, collection: str, **params: str) -> str:
    r = client.get(f"/collections/{collection}/items", params=params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return json.dumps(r.json())


def test_bad_filters_answer_400_naming_the_position_or_property(client: TestClient) -> None:
    body = _problem(client, "sites", filter="operator = = 'VTL'")
    assert "filter" in body and re.search(r"column \d+", body)
    body = _problem(client, "sites", filter="operator = 'VTL")
    assert re.search(r"column \d+", body)
    body = _problem(client, "sites", filter='{"op": "=", "args": [', **{"filter-lang": "cql2-json"})
    assert "character" in body
    assert "'nope'" in _problem(client, "sites", filter="nope = 1")
    assert "'name'" in _problem(client, "sites", filter="name = 'x'")  # published but not queryable
    assert "'ghost'" in _problem(client, "sites", filter=json.dumps({"op": "=", "args": [_prop("ghost"), 1]}),
                                 **{"filter-lang": "cql2-json"})
    assert "mast_height_m" in _problem(client, "sites", filter="mast_height_m = 'tall'")
    assert "filter-lang" in _problem(client, "sites", filter="operator = 'VTL'", **{"filter-lang": "sql"})
    assert "filter-crs" in _problem(client, "sites", filter="operator = 'VTL'", **{"filter-crs": "EPSG:1"})


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL command-line tools not installed")
def test_gdal_where_counts_what_the_plain_filter_counts(demo_db: Engine) -> None:
    with live_server(demo_db) as base:
        with TestClient(make_app(demo_db)) as c:
            n = len(_ids(c, "sites", operator="VTL"))
        out = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{base}", "sites",
                              "-where", "operator = 'VTL'"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert f"Feature Count: {n}" in out.stdout
