"""New units known only from an old → new mapping: fully merged old units place their sites, a
partially merged one is counted as "not placed (partial merge of …)", never guessed, and both
vintages of the same sites add up to the same total."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
from shapely.geometry import MultiPolygon, Point, box

from planning.aggregate import site_counts
from planning.units import Merge, merge_problems, old_unit_fates
from tests.planning.test_aggregate import NEW_START, units

DAY_AFTER = dt.date(2025, 12, 31)


def _mapping() -> pd.DataFrame:
    """N1 = C11 + part of C12; N2 = the rest of C12 + C21; N3 = C22 (names only, no polygons)."""
    rows = [("C11", "Phường A", "N1", "Phường Một", "full"), ("C12", "Phường B", "N1", "Phường Một", "partial"),
            ("C12", "Phường B", "N2", "Phường Hai", "partial"), ("C21", "Phường C", "N2", "Phường Hai", "full"),
            ("C22", "Phường D", "N3", "Xã Ba", "full")]
    return pd.DataFrame([{"effective_on": NEW_START, "old_code": o, "old_name": on, "new_code": n, "new_name": nn,
                          "new_level": "commune", "new_parent_code": "P", "kind": k} for o, on, n, nn, k in rows])


def _sites() -> gpd.GeoDataFrame:
    pts = [(106.65, 20.82), (106.65, 20.87), (106.75, 20.82), (106.75, 20.87), (106.76, 20.88), (107.5, 21.5)]
    return gpd.GeoDataFrame({"derived_class": ["A2a", "A2b", "A1a", "A2a", "A2c", "A2a"]},
                            geometry=[Point(p) for p in pts], crs="EPSG:4326")


def test_both_vintages_add_up_and_partial_merges_are_not_placed() -> None:
    before = site_counts(_sites(), units(), by="district", as_of=dt.date(2025, 6, 30))
    after = site_counts(_sites(), units(), by="commune", as_of=DAY_AFTER, mapping=_mapping())
    assert before.totals["total"] == after.totals["total"] == 6 == sum(after.rows["total"])
    got = {(r["commune_code"], r["commune"]): r["total"] for r in after.to_json()["rows"]}
    assert got == {("N1", "Phường Một"): 1, ("N2", "Phường Hai"): 1, ("N3", "Xã Ba"): 2,
                   (None, "not placed (partial merge of Phường B)"): 1, (None, "(outside every commune)"): 1}
    assert after.not_placed == 1 and after.to_json()["not_placed"] == 1
    # before the reform day the mapping is not used: the old communes are the rows
    old = site_counts(_sites(), units(), by="commune", as_of=dt.date(2025, 6, 30), mapping=_mapping())
    assert sorted(old.rows["commune_code"].dropna()) == ["C11", "C12", "C21", "C22"] and old.not_placed == 0


def test_real_new_polygons_place_exactly() -> None:
    u = units()
    n1 = gpd.GeoDataFrame({"code": ["N1"], "name": ["Phường Một"], "level": ["commune"], "parent_code": ["P"],
                           "valid_from": [NEW_START], "valid_to": [None]},
                          geometry=[MultiPolygon([box(106.60, 20.80, 106.70, 20.90)])], crs="EPSG:4326")
    after = site_counts(_sites(), pd.concat([u, n1], ignore_index=True), by="commune", as_of=DAY_AFTER,
                        mapping=_mapping())
    got = dict(zip(after.rows["commune_code"], after.rows["total"], strict=True))
    assert got["N1"] == 2 and got["N2"] == 1 and got["N3"] == 2 and after.not_placed == 0
    assert after.totals["total"] == 6


def test_fates_and_problems() -> None:
    ms = [Merge(r.old_code, r.old_name, r.new_code, r.new_name, r.kind) for r in _mapping().itertuples()]
    whole, split = old_unit_fates(ms)
    assert whole == {"C11": "N1", "C21": "N2", "C22": "N3"} and split == {"C12": ["N1", "N2"]}
    assert merge_problems(ms) == []
    bad = [*ms, Merge("C11", "Phường A", "N2", "Phường Hai", "full"), Merge("C9", "X", "N3", "Xã Ba", "whole"),
           Merge("", "Y", "N3", "Xã Ba", "full"), Merge("C22", "Phường D", "N3", "Xã Ba", "full")]
    fields = [(i, f) for i, f, _, _ in merge_problems(bad)]
    assert (0, "type") in fields and (5, "type") in fields  # C11 cannot be wholly in both N1 and N2
    assert (6, "type") in fields and (7, "old_code") in fields and (8, "old_code") in fields
