"""Coordinate reference systems of Vietnamese survey data, and safe transformations.

Every transformation goes through pyproj with full EPSG definitions (never PROJ-4 strings: the
PROJ-4 export of EPSG:9210 drops the VN-2000 → WGS84 datum shift and moves points ~200 m).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pyproj import CRS, Transformer
from sqlalchemy import text
from sqlalchemy.engine import Connection

WGS84 = "EPSG:4326"
VN2000_GEOGRAPHIC = "EPSG:4756"
VN2000_UTM = {48: "EPSG:3405", 49: "EPSG:3406"}

#: VN-2000 / TM-3 zones that have an EPSG code (EPSG:9205–9218), by central meridian.
TM3_BY_MERIDIAN: dict[str, int] = {
    "103-00": 9205, "104-00": 9206, "104-30": 9207, "104-45": 9208, "105-30": 9209,
    "105-45": 9210, "106-00": 9211, "106-15": 9212, "106-30": 9213, "107-00": 9214,
    "107-15": 9215, "107-30": 9216, "108-15": 9217, "108-30": 9218,
}


@dataclass(frozen=True)
class ProvinceProfile:
    key: str
    name: str
    metric_epsg: int
    #: lon_min, lat_min, lon_max, lat_max — generous, for "outside the province" row errors.
    extent: tuple[float, float, float, float]


#: Provincial TM-3 central meridians (Thông tư 973/2001/TT-TCĐC), for provinces with an EPSG zone.
PROVINCES: dict[str, ProvinceProfile] = {
    p.key: p
    for p in (
        ProvinceProfile("haiphong", "Hải Phòng", 9210, (106.3, 20.5, 107.9, 21.1)),
        ProvinceProfile("thaibinh", "Thái Bình", 9209, (106.0, 20.2, 106.8, 20.8)),
        ProvinceProfile("haiduong", "Hải Dương", 9209, (106.0, 20.6, 106.7, 21.3)),
        ProvinceProfile("namdinh", "Nam Định", 9209, (105.9, 19.9, 106.6, 20.6)),
        ProvinceProfile("hungyen", "Hưng Yên", 9209, (105.8, 20.5, 106.3, 21.1)),
        ProvinceProfile("bacninh", "Bắc Ninh", 9209, (105.9, 20.9, 106.3, 21.3)),
        ProvinceProfile("hatinh", "Hà Tĩnh", 9209, (105.1, 17.8, 106.6, 18.8)),
        ProvinceProfile("hochiminh", "Hồ Chí Minh", 9210, (106.3, 10.3, 107.1, 11.2)),
        ProvinceProfile("binhduong", "Bình Dương", 9210, (106.3, 10.8, 107.0, 11.5)),
        ProvinceProfile("quangbinh", "Quảng Bình", 9211, (105.6, 16.9, 107.0, 18.1)),
        ProvinceProfile("quangtri", "Quảng Trị", 9212, (106.5, 16.2, 107.4, 17.2)),
        ProvinceProfile("thuathienhue", "Thừa Thiên Huế", 9214, (107.0, 15.9, 108.3, 16.8)),
        ProvinceProfile("langson", "Lạng Sơn", 9215, (106.0, 21.3, 107.4, 22.5)),
        ProvinceProfile("kiengiang", "Kiên Giang", 9207, (103.4, 9.2, 105.6, 10.6)),
        ProvinceProfile("laichau", "Lai Châu", 9205, (102.2, 21.6, 103.9, 22.9)),
        ProvinceProfile("dienbien", "Điện Biên", 9205, (102.1, 20.8, 103.6, 22.5)),
        ProvinceProfile("sonla", "Sơn La", 9206, (103.2, 20.6, 105.1, 22.1)),
        ProvinceProfile("laocai", "Lào Cai", 9208, (103.5, 21.8, 104.7, 22.9)),
        ProvinceProfile("nghean", "Nghệ An", 9208, (103.8, 18.5, 105.9, 20.0)),
        ProvinceProfile("khanhhoa", "Khánh Hòa", 9217, (108.6, 11.7, 109.5, 12.9)),
        ProvinceProfile("binhdinh", "Bình Định", 9217, (108.5, 13.4, 109.4, 14.8)),
        ProvinceProfile("ninhthuan", "Ninh Thuận", 9217, (108.5, 11.2, 109.3, 12.2)),
        ProvinceProfile("gialai", "Gia Lai", 9218, (107.4, 12.9, 108.9, 14.7)),
        ProvinceProfile("daklak", "Đắk Lắk", 9218, (107.4, 12.1, 108.9, 13.5)),
        ProvinceProfile("phuyen", "Phú Yên", 9218, (108.6, 12.6, 109.5, 13.8)),
        ProvinceProfile("binhthuan", "Bình Thuận", 9218, (107.3, 10.5, 108.9, 11.6)),
    )
}


def province(key: str) -> ProvinceProfile:
    try:
        return PROVINCES[key.lower()]
    except KeyError:
        raise ValueError(f"unknown province profile {key!r}; known: {', '.join(sorted(PROVINCES))}") from None


@lru_cache(maxsize=64)
def transformer(src: str, dst: str) -> Transformer:
    """Cached ``always_xy`` transformer between two CRS given as ``EPSG:NNNN`` strings or WKT."""
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def is_metric(crs: str) -> bool:
    c = CRS.from_user_input(crs)
    return c.is_projected and c.axis_info[0].unit_name in ("metre", "meter")


def epsg_srid(crs: str) -> int:
    code = CRS.from_user_input(crs).to_epsg()
    if code is None:
        raise ValueError(f"CRS {crs!r} has no EPSG code")
    return int(code)


def register_postgis_srids(conn: Connection) -> None:
    """Add the VN-2000 TM-3 zones to PostGIS's ``spatial_ref_sys`` (PostGIS 3.3 ships without them).

    The proj4text column is filled from PROJ's own PROJ-JSON-free WKT2 so PostGIS/PROJ use the full
    EPSG definition, datum shift included.
    """
    if conn.dialect.name != "postgresql":
        return
    for srid in TM3_BY_MERIDIAN.values():
        crs = CRS.from_epsg(srid)
        conn.execute(
            text(
                "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text) "
                "VALUES (:srid, 'EPSG', :srid, :wkt, :proj) ON CONFLICT (srid) DO NOTHING"
            ),
            {"srid": srid, "wkt": crs.to_wkt("WKT1_GDAL"), "proj": f"EPSG:{srid}"},
        )


def unregister_postgis_srids(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    conn.execute(
        text("DELETE FROM spatial_ref_sys WHERE srid = ANY(:ids)"), {"ids": list(TM3_BY_MERIDIAN.values())}
    )
