"""Parsing plan submissions: every problem named by feature index and field; version diffs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planning.plan_items import TooManyItems, diff_versions, item_key, parse_plan, plan_json_schema
from planning.vocab import ITEM_KINDS


def _site(lon: float = 106.68, lat: float = 20.85, **props: object) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"item": "new_site", "mount": "ground", "mast_height_m": 30, **props}}


def fc(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def test_valid_items_are_normalised() -> None:
    res = parse_plan({**fc(
        _site(code=" S-1 ", mast_height_m=30),
        {"type": "Feature", "geometry": None, "properties": {"item": "remove_site", "site_code": "X-1"}},
        {"type": "Feature", "geometry": None, "properties": {"item": "share_site", "site_code": "X-2", "transmitters": 3.0}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[106.6, 20.8], [106.61, 20.81]]},
         "properties": {"item": "cable_route", "street": "Lạch Tray", "target_year": 2027}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.7, 20.9]},
         "properties": {"item": "change_site", "site_code": "X-3"}},
    ), "method": "chinh_trang"})
    assert res.ok, res.errors
    f0, _, f2, f3, _ = res.features
    assert f0["properties"] == {"item": "new_site", "code": "S-1", "mount": "ground", "mast_height_m": 30.0,
                                "camouflaged": False}
    assert f2["properties"]["transmitters"] == 3 and isinstance(f2["properties"]["transmitters"], int)
    # issue 16: methods are chinh_trang / ha_ngam / both, and none is assumed: this item names none, so
    # the plan's own ``method`` decides it (before issue 16 it silently became undergrounding)
    assert f3["properties"]["method"] == "chinh_trang"


def test_cable_route_without_a_method_is_an_error_naming_the_item() -> None:
    """Issue 16: no silent default ``ha_ngam`` — the same rule as cable imports (row error unless
    ``--method``): the item's own method, else the plan's, else an error on ``properties.method``."""
    line = {"type": "LineString", "coordinates": [[106.6, 20.8], [106.61, 20.81]]}
    route = {"type": "Feature", "geometry": line, "properties": {"item": "cable_route", "street": "Lạch Tray"}}
    res = parse_plan(fc(_site(), route))
    assert [(e.index, e.field) for e in res.errors] == [(1, "properties.method")]
    assert "Lạch Tray" in res.errors[0].message and res.features == []
    own = {**route, "properties": {**route["properties"], "method": "chinh_trang_ha_ngam"}}
    res = parse_plan({**fc(own, route), "method": "ha_ngam"})
    assert res.ok, res.errors
    assert [f["properties"]["method"] for f in res.features] == ["chinh_trang_ha_ngam", "ha_ngam"]
    assert parse_plan({**fc(route), "method": "underground"}).features[0]["properties"]["method"] == "ha_ngam"
    bad = parse_plan({**fc(route), "method": "dig"})
    assert {(e.index, e.field) for e in bad.errors} == {(None, "method"), (0, "properties.method")}


def test_all_errors_reported_with_index_and_field() -> None:
    res = parse_plan(fc(
        _site(),
        _site(mast_height_m=-1),
        _site(camouflaged="yes", declared_class="A3"),
        {"type": "Feature", "geometry": None, "properties": {"item": "change_site", "site_code": "X"}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[106.6, 20.8], [106.6, 20.8]]},
         "properties": {"item": "cable_route", "street": "A", "method": "ha_ngam"}},
    ))
    got = {(e.index, e.field) for e in res.errors}
    assert got == {(1, "properties.mast_height_m"), (2, "properties.camouflaged"), (2, "properties.declared_class"),
                   (3, "properties"), (4, "geometry")}
    assert res.features == []  # nothing half-accepted
    assert res.errors[0].path == "features[1].properties.mast_height_m"


def test_duplicates_within_a_plan() -> None:
    res = parse_plan(fc(_site(code="A"), _site(code="A")))
    assert [(e.index, e.field) for e in res.errors] == [(1, "properties.code")]
    rm = {"type": "Feature", "geometry": None, "properties": {"item": "remove_site", "site_code": "Z"}}
    res = parse_plan(fc(rm, rm))
    assert [(e.index, e.field) for e in res.errors] == [(1, "properties.site_code")]


def test_collection_level_errors_and_limit() -> None:
    assert parse_plan([]).errors[0].field == "type"
    assert parse_plan({"type": "FeatureCollection"}).errors[0].field == "features"
    assert parse_plan(fc()).errors[0].message.startswith("a plan needs")
    with pytest.raises(TooManyItems, match="at most 2"):
        parse_plan(fc(_site(), _site(), _site()), max_features=2)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from([*ITEM_KINDS, "bogus"]),
       props=st.dictionaries(st.sampled_from(["code", "site_code", "mount", "mast_height_m", "building_height_m",
                                              "reach_m", "camouflaged", "street", "target_year", "target_date",
                                              "declared_class", "method", "extra"]), json_scalars, max_size=6),
       coords=st.one_of(st.none(), st.lists(st.one_of(st.floats(allow_nan=True), st.integers(-400, 400)),
                                            min_size=0, max_size=3)))
def test_parser_never_crashes_and_accepts_only_clean_items(kind: str, props: dict, coords: list | None) -> None:
    feat = {"type": "Feature", "properties": {"item": kind, **props},
            "geometry": None if coords is None else {"type": "Point", "coordinates": coords}}
    res = parse_plan(fc(feat))
    assert res.ok != bool(res.errors)
    for e in res.errors:
        assert e.index == 0 and e.field and e.message
    if res.ok:
        p = res.features[0]["properties"]
        for v in p.values():
            assert not (isinstance(v, float) and not math.isfinite(v))
        g = res.features[0]["geometry"]
        if g is not None:
            lon, lat = g["coordinates"]
            assert -180 <= lon <= 180 and -90 <= lat <= 90


def test_diff_between_versions() -> None:
    v1 = parse_plan(fc(_site(code="A"), _site(code="B"))).features
    v2 = parse_plan(fc(_site(code="A", mast_height_m=25), _site(106.7, 20.9, code="C"))).features
    d = diff_versions(v1, v2)
    assert d["added"] == ["new_site:C"] and d["removed"] == ["new_site:B"]
    assert d["changed"] == {"new_site:A": {"properties.mast_height_m": {"before": 30.0, "after": 25.0}}}
    assert diff_versions(v2, v2) == {"added": [], "removed": [], "changed": {}}
    assert item_key(4, {"properties": {"item": "cable_route"}}) == "cable_route#5"


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(ITEM_KINDS),
       props=st.dictionaries(st.sampled_from(["code", "site_code", "mount", "mast_height_m", "building_height_m",
                                              "reach_m", "camouflaged", "street", "target_year", "target_date",
                                              "declared_class", "method", "transmitters"]),
                             st.one_of(st.none(), st.booleans(), st.integers(0, 3000), st.floats(0, 100),
                                       st.sampled_from(["building", "ground", "A2a", "underground", "2027-06-30",
                                                        "S-1"])), max_size=6),
       lon=st.floats(-180, 180), lat=st.floats(-90, 90), line=st.booleans())
def test_the_published_schema_accepts_what_the_parser_accepts(kind: str, props: dict, lon: float, lat: float,
                                                              line: bool) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    geom = ({"type": "LineString", "coordinates": [[lon, lat], [lon / 2, lat / 2 + 0.001]]} if line
            else {"type": "Point", "coordinates": [lon, lat]})
    body = fc({"type": "Feature", "geometry": geom, "properties": {"item": kind, **props}})
    if parse_plan(body).ok:
        jsonschema.Draft202012Validator(plan_json_schema()).validate(body)


@pytest.mark.parametrize("props", [
    {"item": "new_site", "mount": "building", "mast_height_m": 3, "building_height_m": 20, "declared_class": None},
    {"item": "new_site", "mount": "ground", "mast_height_m": 30, "code": "A", "target_date": "2027-06-30"},
    {"item": "remove_site", "site_code": "X", "reason": None},
    {"item": "share_site", "site_code": "X", "transmitters": 2},
    # issue 16: "bracketed" became chinh_trang (old words are still read, but the schema lists today's)
    {"item": "cable_route", "street": "Lạch Tray", "target_year": 2027, "method": "chinh_trang"},
    {"item": "change_site", "site_code": "X", "mast_height_m": 20},
])
def test_schema_and_parser_agree_on_examples(props: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    line = props["item"] == "cable_route"
    geom = ({"type": "LineString", "coordinates": [[106.6, 20.8], [106.61, 20.81]]} if line
            else {"type": "Point", "coordinates": [106.6, 20.8]})
    body = fc({"type": "Feature", "geometry": geom, "properties": props})
    assert parse_plan(body).ok
    validator = jsonschema.Draft202012Validator(plan_json_schema())
    validator.check_schema(plan_json_schema())
    validator.validate(body)
    bad = fc({"type": "Feature", "geometry": geom, "properties": {**props, "mast_heigth_m": 3}})
    assert not parse_plan(bad).ok and not validator.is_valid(bad)


def test_overlong_or_non_text_title_is_rejected() -> None:
    from planning.plan_items import TITLE_MAX, parse_plan

    feat = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.68, 20.86]},
            "properties": {"item": "new_site", "code": "T-1", "mount": "ground", "mast_height_m": 30}}
    for title in ("x" * (TITLE_MAX + 1), 42):
        res = parse_plan({"type": "FeatureCollection", "title": title, "features": [feat]})
        assert [e.field for e in res.errors] == ["title"]
    assert not parse_plan({"type": "FeatureCollection", "title": "x" * TITLE_MAX, "features": [feat]}).errors


@pytest.mark.parametrize("fid", [[None, None], 2.5, True, {"a": 1}])
def test_feature_id_must_be_string_or_integer(fid: object) -> None:
    feat = {"type": "Feature", "id": fid, "geometry": {"type": "Point", "coordinates": [106.68, 20.86]},
            "properties": {"item": "new_site", "code": "T-1", "mount": "ground", "mast_height_m": 30}}
    res = parse_plan({"type": "FeatureCollection", "features": [feat]})
    assert [e.field for e in res.errors] == ["id"]
