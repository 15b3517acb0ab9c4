"""Site counts by district/commune × class: totals equal the sites, shared edges count once, as_of."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, box

from planning.aggregate import site_counts
from planning.vocab import DERIVED_CLASSES

OLD_END = dt.date(2025, 6, 30)
NEW_START = dt.date(2025, 7, 1)


def units() -> gpd.GeoDataFrame:
    """Two districts (west/east halves of a square, sharing the edge x = 106.70), each with two
    communes; from 2025-07-01 one merged unit replaces both districts (the reform)."""
    rows = [
        ("D1", "Quận Tây", "district", None, box(106.60, 20.80, 106.70, 20.90), None, OLD_END),
        ("D2", "Quận Đông", "district", None, box(106.70, 20.80, 106.80, 20.90), None, OLD_END),
        ("C11", "Phường A", "commune", "D1", box(106.60, 20.80, 106.70, 20.85), None, OLD_END),
        ("C12", "Phường B", "commune", "D1", box(106.60, 20.85, 106.70, 20.90), None, OLD_END),
        ("C21", "Phường C", "commune", "D2", box(106.70, 20.80, 106.80, 20.85), None, OLD_END),
        ("C22", "Phường D", "commune", "D2", box(106.70, 20.85, 106.80, 20.90), None, OLD_END),
        ("D9", "Khu vực hợp nhất", "district", None, box(106.60, 20.80, 106.80, 20.90), NEW_START, None),
    ]
    return gpd.GeoDataFrame({
        "code": [r[0] for r in rows], "name": [r[1] for r in rows], "level": [r[2] for r in rows],
        "parent_code": [r[3] for r in rows],
        "valid_from": [r[5] or dt.date(1900, 1, 1) for r in rows], "valid_to": [r[6] for r in rows],
    }, geometry=[MultiPolygon([r[4]]) for r in rows], crs="EPSG:4326")


def sites(points: list[tuple[float, float]], classes: list[str | None]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"derived_class": classes}, geometry=[Point(p) for p in points], crs="EPSG:4326")


def test_district_table_totals_and_shares() -> None:
    s = sites([(106.65, 20.82), (106.65, 20.88), (106.75, 20.82), (106.75, 20.83), (106.90, 20.90)],
              ["A2a", "A2b", "A2a", None, "A1a"])
    c = site_counts(s, units(), by="district", as_of=dt.date(2020, 1, 1))
    rows = {r["district"]: r for r in c.to_json()["rows"]}
    assert rows["Quận Tây"]["A2a"] == 1 and rows["Quận Tây"]["A2b"] == 1 and rows["Quận Tây"]["total"] == 2
    assert rows["Quận Đông"]["A2a"] == 1 and rows["Quận Đông"]["unknown"] == 1
    assert rows["(outside every district)"]["A1a"] == 1  # outside every unit: still counted, once
    assert c.totals["total"] == 5 == sum(r["total"] for r in rows.values())
    assert c.shares["A2a"] == 40.0 and sum(c.shares.values()) == pytest.approx(100.0)
    data = c.to_json()
    assert data["by"] == ["district", "type"] and data["as_of"] == "2020-01-01"
    assert set(DERIVED_CLASSES) | {"total"} <= set(data["totals"])


def test_site_on_a_shared_boundary_counts_once() -> None:
    # exactly on the edge between the two districts, and on the corner of four communes
    s = sites([(106.70, 20.82), (106.70, 20.85)], ["A2a", "A2b"])
    d = site_counts(s, units(), by="district", as_of=dt.date(2020, 1, 1))
    assert d.totals["total"] == 2 and int(d.rows["total"].sum()) == 2
    assert d.rows.set_index("district_code").loc["D1", "total"] == 2  # first unit by code
    c = site_counts(s, units(), by="commune", as_of=dt.date(2020, 1, 1))
    assert int(c.rows["total"].sum()) == 2 and c.totals["total"] == 2
    assert "(outside every commune)" not in set(c.rows["commune"])


def test_as_of_picks_the_units_valid_that_day() -> None:
    s = sites([(106.65, 20.82), (106.75, 20.82)], ["A2a", "A2a"])
    before = site_counts(s, units(), by="district", as_of=dt.date(2025, 6, 30))
    after = site_counts(s, units(), by="district", as_of=dt.date(2025, 7, 1))
    assert sorted(before.rows["district_code"]) == ["D1", "D2"]
    assert list(after.rows["district_code"]) == ["D9"] and after.rows["total"][0] == 2
    # every unit of the day is a row (empty ones too), and commune rows carry their district
    com = site_counts(s, units(), by="commune", as_of=dt.date(2025, 1, 1))
    assert dict(zip(com.rows["commune_code"], com.rows["district"], strict=True)) == {
        "C11": "Quận Tây", "C12": "Quận Tây", "C21": "Quận Đông", "C22": "Quận Đông"}
    assert dict(zip(com.rows["commune_code"], com.rows["total"], strict=True)) == {"C11": 1, "C12": 0, "C21": 1,
                                                                                    "C22": 0}


def test_default_date_falls_back_to_the_latest_units_when_all_have_ended() -> None:
    u = units()
    u = u[u["code"] != "D9"]  # only the pre-reform units, all ended
    c = site_counts(sites([(106.65, 20.82)], ["A2a"]), u, by="district")
    assert c.as_of == OLD_END and "no district is valid" in (c.note or "")
    assert c.totals["total"] == 1 and c.rows["district_code"][0] == "D1"


def test_sites_in_another_crs() -> None:
    s = sites([(106.65, 20.82)], ["A2c"]).to_crs("EPSG:9210")
    c = site_counts(s, units(), by="district", as_of=dt.date(2020, 1, 1))
    assert c.rows.set_index("district_code").loc["D1", "A2c"] == 1


@settings(max_examples=40, deadline=None)
@given(pts=st.lists(st.tuples(st.floats(106.55, 106.85), st.floats(20.75, 20.95)), min_size=0, max_size=60),
       grid=st.booleans())
def test_totals_always_equal_the_number_of_sites(pts: list[tuple[float, float]], grid: bool) -> None:
    if grid:  # snap to a 0.05° grid: many points on edges and corners
        pts = [(round(x * 20) / 20, round(y * 20) / 20) for x, y in pts]
    cls = list(np.random.default_rng(len(pts)).choice(["A1a", "A1b", "A2a", "A2b", "A2c", "x"], len(pts)))
    for by in ("district", "commune"):
        c = site_counts(sites(pts, cls), units(), by=by, as_of=dt.date(2024, 1, 1))
        assert c.totals["total"] == len(pts)
        assert int(c.rows["total"].sum()) == len(pts) if len(c.rows) else len(pts) == 0
        assert all(int(r[list(DERIVED_CLASSES)].sum()) == r["total"] for _, r in c.rows.iterrows())


def test_unknown_level_is_an_error() -> None:
    with pytest.raises(ValueError, match="district"):
        site_counts(sites([], []), units(), by="province")
    assert isinstance(site_counts(sites([], []), units(), by="district", as_of=dt.date(2020, 1, 1)).rows,
                      pd.DataFrame)
