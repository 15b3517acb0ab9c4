"""One fold for every name, one rule for which unit a word names and which versions are in force,
and one ``same_crs``."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyproj import CRS
from pyproj.exceptions import CRSError

from planning.geometry import same_crs
from planning.names import fold
from planning.units import frame_in_force, in_force, match_units, unit_key

# ----------------------------------------------------------------------------------------------
# fold
# ----------------------------------------------------------------------------------------------


def test_fold_strips_vietnamese_diacritics() -> None:
    assert fold("Lê Chân") == "le chan"
    assert fold("  ĐIỆN   Biên Phủ ") == "dien bien phu"
    assert fold("Quận ủy Hồng Bàng") == "quan uy hong bang"
    assert fold("Nguyễn Đức Cảnh") == "nguyen duc canh"
    assert fold(None) == "" and fold("") == ""


VIET_LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"


@given(st.text(alphabet=VIET_LETTERS + VIET_LETTERS.upper() + " ", max_size=40))
def test_fold_makes_vietnamese_plain_ascii(text: str) -> None:
    f = fold(text)
    assert f.isascii()
    assert fold(f) == f
    assert fold(unicodedata.normalize("NFD", text)) == f, "composed and decomposed input fold alike"
    assert len(f) <= len(text)


def test_whitespace_is_one_rule_everywhere() -> None:
    """The three folds disagreed on whitespace: "LE  CHAN" matched in search but not in exports."""
    assert fold("LE  CHAN") == fold("le chan") == fold("\tLê\u00a0Chân\n") == "le chan"


# ----------------------------------------------------------------------------------------------
# which unit a word names
# ----------------------------------------------------------------------------------------------

UNITS = [("303", "Quận Hồng Bàng"), ("305", "Quận Lê Chân"), ("311", "Huyện Thủy Nguyên"),
         ("311", "Thành phố Thủy Nguyên"), ("318", "Huyện Vĩnh Bảo"), ("11311", "Phường Lê Chân")]


@pytest.mark.parametrize("value", ["305", " 305 ", "Lê Chân", "le chan", "LE  CHAN", "Quận Lê Chân", "quan le chan"])
def test_a_unit_is_named_by_code_or_by_name_however_typed(value: str) -> None:
    assert match_units(value, UNITS[:5]) == ["305"]


def test_unit_matching_rules() -> None:
    assert unit_key("Thành phố Thủy Nguyên") == unit_key("huyện  thuy nguyen") == "thuy nguyen"
    assert match_units("Thủy Nguyên", UNITS) == ["311"], "both versions of one unit give its code once"
    assert match_units("le chan", UNITS) == ["11311", "305"], "the level is the caller's choice"
    assert match_units("chan", UNITS) == [] and match_units("Atlantis", UNITS) == [] and match_units("", UNITS) == []
    assert match_units("11311", UNITS) == ["11311"], "a code names that unit only"


# ----------------------------------------------------------------------------------------------
# which versions are in force
# ----------------------------------------------------------------------------------------------

OLD_END, NEW_START = dt.date(2025, 6, 30), dt.date(2025, 7, 1)
D = dt.date


def test_a_version_that_ended_before_the_day_is_not_used() -> None:
    mask, day = in_force([D(1900, 1, 1), NEW_START], [OLD_END, None], D(2026, 12, 4))
    assert mask.tolist() == [False, True] and day == D(2026, 12, 4)
    mask, day = in_force([D(1900, 1, 1), NEW_START], [OLD_END, None], D(2020, 1, 1))
    assert mask.tolist() == [True, False] and day == D(2020, 1, 1)
    mask, _ = in_force([D(1900, 1, 1)], [OLD_END], OLD_END)
    assert mask.tolist() == [True], "valid_to is the last day in force"


def test_no_version_in_force_falls_back_to_the_last_that_ended_else_the_first() -> None:
    vf = [D(1900, 1, 1), D(2020, 1, 1), D(2030, 1, 1)]
    vt = [D(2019, 12, 31), OLD_END, None]
    mask, day = in_force(vf, vt, D(2026, 12, 4))
    assert mask.tolist() == [False, True, False] and day == OLD_END
    mask, day = in_force(vf[1:], vt[1:], D(2000, 1, 1))
    assert mask.tolist() == [True, False] and day == D(2020, 1, 1)
    mask, day = in_force([], [], D(2026, 1, 1))
    assert mask.size == 0 and day == D(2026, 1, 1)


def test_open_bounds_and_pandas_dates() -> None:
    vf = pd.Series(pd.to_datetime(["1900-01-01", None])).to_numpy(dtype=object)
    vt = pd.Series(pd.to_datetime(["2025-06-30", None])).to_numpy(dtype=object)
    mask, day = in_force(list(vf), list(vt), D(2026, 1, 1))
    assert mask.tolist() == [False, True] and day == D(2026, 1, 1)


def test_levels_fall_back_separately() -> None:
    """Districts abolished on 1/7/2025 fall back to their last version without hiding the new communes."""
    units = pd.DataFrame({
        "code": ["305", "11311", "11312"], "level": ["district", "commune", "commune"],
        "valid_from": [D(1900, 1, 1), D(1900, 1, 1), NEW_START], "valid_to": [OLD_END, OLD_END, None]})
    assert frame_in_force(units, D(2026, 1, 1))["code"].tolist() == ["305", "11312"]
    assert frame_in_force(units, D(2024, 1, 1))["code"].tolist() == ["305", "11311"]
    assert frame_in_force(units.drop(columns=["valid_from", "valid_to"]), D(2026, 1, 1))["code"].tolist() == \
        ["305", "11311", "11312"]


# ----------------------------------------------------------------------------------------------
# same_crs
# ----------------------------------------------------------------------------------------------

def test_same_crs_where_the_two_versions_disagreed() -> None:
    # axis order: geodata.crs said "same", planning.geometry said "different"; every transform is always_xy
    assert same_crs("EPSG:4326", "OGC:CRS84")
    assert same_crs("EPSG:9210", CRS.from_epsg(9210).to_wkt())
    assert not same_crs("EPSG:9210", "EPSG:4326") and not same_crs("EPSG:3405", "EPSG:32648")
    # a text naming no CRS: geodata.crs said "different", which hid the mistake until a transform failed
    with pytest.raises(CRSError):
        same_crs("EPSG:4326", "not a crs")
