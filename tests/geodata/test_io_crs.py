"""CRS names people write, VN-2000 TM-3 conversions against pyproj's EPSG definitions, swap checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer

from geodata.crs import CRSNameError, parse_crs, tm3_zone, transformer
from geodata.store.area import registry_area
from planning.provinces import bbox, province

# the province registry's fallback area (its bounding box: Hải Phòng with former Hải Dương since 2025-07-01)
HP = registry_area("haiphong")
HP_BOX = bbox(province("haiphong"))


@pytest.mark.parametrize(("text", "srs"), [
    ("EPSG:9210", "EPSG:9210"), ("9210", "EPSG:9210"), ("epsg 4326", "EPSG:4326"), ("WGS84", "EPSG:4326"),
    ("wgs 84", "EPSG:4326"), ("lat/lon", "EPSG:4326"), ("VN-2000 Hải Phòng", "EPSG:9210"),
    ("VN2000 Hai Phong", "EPSG:9210"), ("VN2000 TM3 105°45'", "EPSG:9210"), ("VN-2000 TM-3 105-45", "EPSG:9210"),
    ("vn2000 kinh tuyến trục 105 45", "EPSG:9210"), ("VN2000 105.75", "EPSG:9210"), ("VN-2000 TM-3", "EPSG:9210"),
    ("VN2000 TM3 106°15'", "EPSG:9212"), ("VN-2000 Thái Bình", "EPSG:9209"), ("UTM 48N", "EPSG:3405"),
    ("VN-2000 UTM 49N", "EPSG:3406"), ("WGS84 UTM 48N", "EPSG:32648"), ("WGS 84 / UTM zone 48N", "EPSG:32648"),
    ("VN-2000", "EPSG:4756"), ("Hải Phòng", "EPSG:9210"),
])
def test_names_users_write(text: str, srs: str) -> None:
    assert parse_crs(text).srs == srs


def test_unknown_names_list_the_accepted_forms() -> None:
    with pytest.raises(CRSNameError, match="VN-2000 Hải Phòng"):
        parse_crs("toạ độ nhà nước")
    with pytest.raises(CRSNameError, match="which UTM zone"):
        parse_crs("UTM")


def test_degree_and_metre_crs_are_told_apart() -> None:
    assert parse_crs("WGS84").geographic and parse_crs("VN-2000").geographic
    assert not parse_crs("VN-2000 Hải Phòng").geographic and not parse_crs("UTM 48N").geographic


# Points around Hải Phòng (lon, lat): city centre, Đồ Sơn, Cát Bà, Thủy Nguyên
POINTS = [(106.6822, 20.8449), (106.7936, 20.7135), (107.0467, 20.7268), (106.6700, 20.9300)]


@pytest.mark.parametrize(("lon", "lat"), POINTS)
def test_tm3_to_wgs84_matches_pyproj_epsg_within_1m(lon: float, lat: float) -> None:
    """Our transformer (EPSG:9210 via parse_crs) against pyproj's own EPSG pipeline, both ways."""
    ref_fwd = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_epsg(9210), always_xy=True)
    x, y = ref_fwd.transform(lon, lat)
    crs = parse_crs("VN-2000 Hải Phòng")
    lon2, lat2 = transformer(crs.srs, "EPSG:4326").transform(x, y)
    back_x, back_y = ref_fwd.transform(lon2, lat2)
    assert np.hypot(back_x - x, back_y - y) < 1.0
    # the VN-2000 datum shift is applied: a PROJ-4 string without towgs84 would be ~200 m off
    naive = Transformer.from_crs(CRS.from_epsg(9210).to_proj4(), "EPSG:4326", always_xy=True)
    nlon, nlat = naive.transform(x, y)
    nx, ny = ref_fwd.transform(nlon, nlat)
    assert np.hypot(nx - x, ny - y) > 50


def test_a_zone_without_epsg_code_keeps_the_vn2000_datum_shift() -> None:
    """A TM-3 zone built from the meridian (as for Quảng Ninh, 107°45') must equal EPSG:9210 when
    given 105°45': same projection, same datum, same shift to WGS84 (to the millimetre)."""
    from pyproj.crs import ProjectedCRS
    from pyproj.crs.coordinate_operation import TransverseMercatorConversion

    custom = ProjectedCRS(conversion=TransverseMercatorConversion(
        latitude_natural_origin=0, longitude_natural_origin=105.75, false_easting=500000, false_northing=0,
        scale_factor_natural_origin=0.9999), geodetic_crs=CRS.from_epsg(4756))
    t_custom = Transformer.from_crs(custom, "EPSG:4326", always_xy=True)
    t_epsg = transformer("EPSG:9210", "EPSG:4326")
    for lon, lat in POINTS:
        x, y = transformer("EPSG:4326", "EPSG:9210").transform(lon, lat)
        a = np.array(t_custom.transform(x, y))
        b = np.array(t_epsg.transform(x, y))
        assert np.abs(a - b).max() < 1e-8  # degrees: ~1 mm
    qn = parse_crs("VN-2000 Quảng Ninh")
    assert "107-45" in qn.label and not qn.geographic
    assert tm3_zone(107.75).srs == qn.srs


def test_known_point_round_trip() -> None:
    """Nhà hát lớn Hải Phòng (106.68220 E, 20.85777 N) → TM-3 → WGS84 is stable to 1 mm."""
    to_m = transformer("EPSG:4326", "EPSG:9210")
    to_d = transformer("EPSG:9210", "EPSG:4326")
    x, y = to_m.transform(106.68220, 20.85777)
    assert 590_000 < x < 600_000 and 2_300_000 < y < 2_310_000
    lon, lat = to_d.transform(x, y)
    x2, y2 = to_m.transform(lon, lat)
    assert np.hypot(x2 - x, y2 - y) < 0.001


@settings(max_examples=200, deadline=None)
@given(st.floats(HP_BOX[0], HP_BOX[2]), st.floats(HP_BOX[1], HP_BOX[3]))
def test_points_in_the_province_are_never_called_swapped(lon: float, lat: float) -> None:
    a, b = np.array([lon]), np.array([lat])
    assert HP.contains(a, b)[0]
    # exchanging the columns of a province point is always caught (Vietnam: lon 102–110, lat 8–24)
    assert not HP.contains(b, a)[0]


@settings(max_examples=100, deadline=None)
@given(st.floats(106.3, 107.9), st.floats(20.5, 21.1))
def test_tm3_round_trip_property(lon: float, lat: float) -> None:
    x, y = transformer("EPSG:4326", "EPSG:9210").transform(lon, lat)
    lon2, lat2 = transformer("EPSG:9210", "EPSG:4326").transform(x, y)
    x2, y2 = transformer("EPSG:4326", "EPSG:9210").transform(lon2, lat2)
    assert np.hypot(x2 - x, y2 - y) < 0.001
