"""Coordinate reference systems of Vietnamese survey data, and safe transformations.

Every transformation goes through pyproj with full EPSG definitions (never PROJ-4 strings: the
PROJ-4 export of EPSG:9210 drops the VN-2000 → WGS84 datum shift and moves points ~200 m).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer
from sqlalchemy import text
from sqlalchemy.engine import Connection

from geodata.errors import InvalidField
from planning.names import fold

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
        # lat from 20.0: Bạch Long Vĩ island district (≈ 107.72 E, 20.13 N) is part of Hải Phòng
        ProvinceProfile("haiphong", "Hải Phòng", 9210, (106.3, 20.0, 107.9, 21.1)),
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


# --------------------------------------------------------------------------------------------
# CRS names people write, and plausibility checks of coordinates (imports)
# --------------------------------------------------------------------------------------------

#: Central meridians of the provincial VN-2000 / TM-3 zones (Thông tư 973/2001/TT-TCĐC, Phụ lục), in
#: degrees, for provinces whose zone has no EPSG code. Zones with an EPSG code resolve to it.
TM3_MERIDIAN_BY_PROVINCE: dict[str, float] = {
    "quangninh": 107.75, "hanoi": 105.0, "vinhphuc": 105.0, "thanhhoa": 105.0, "ninhbinh": 105.0,
    "hagiang": 105.5, "caobang": 105.75, "backan": 106.5, "tuyenquang": 106.0, "thainguyen": 106.5,
    "phutho": 104.75, "yenbai": 104.75, "hoabinh": 106.0, "bacgiang": 107.0, "hanam": 105.0,
    "danang": 107.75, "quangnam": 107.75, "quangngai": 108.0, "kontum": 107.5, "lamdong": 107.75,
    "dongnai": 107.75, "baria": 107.75, "vungtau": 107.75, "tayninh": 105.5, "binhphuoc": 106.25,
    "longan": 105.75, "tiengiang": 105.75, "bentre": 105.75, "travinh": 105.5, "vinhlong": 105.5,
    "dongthap": 105.0, "angiang": 104.75, "cantho": 105.0, "haugiang": 105.0, "soctrang": 105.5,
    "baclieu": 105.0, "camau": 104.5, "daknong": 108.5,
}

TM3_SCALE = 0.9999
TM3_FALSE_EASTING = 500_000.0


@dataclass(frozen=True)
class ResolvedCRS:
    """A CRS resolved from what a user or a file said, with the words to show back to them."""

    srs: str  #: ``EPSG:NNNN``, or WKT2 for a TM-3 zone that has no EPSG code
    label: str  #: e.g. ``EPSG:9210 (VN-2000 / TM-3 105-45)``
    geographic: bool  #: degrees (lon/lat) rather than metres


class CRSNameError(InvalidField):
    """The text does not name a CRS we can resolve; the message lists the accepted forms."""


CRS_FORMS = ("EPSG:9210 or 9210", "WGS84", "VN-2000", "VN-2000 Hải Phòng", "VN2000 TM3 105°45'",
             "UTM 48N (= VN-2000 / UTM 48N, EPSG:3405)", "WGS84 UTM 48N (EPSG:32648)", "a WKT/.prj text")


def _province_key(text: str) -> str | None:
    """The province profile named in ``text`` ("Hải Phòng", "TP Hai Phong", "haiphong"), if any."""
    squeezed = "".join(ch for ch in fold(text) if ch.isalnum())
    keys = set(PROVINCES) | set(TM3_MERIDIAN_BY_PROVINCE)
    hits = [k for k in keys if k in squeezed]
    return max(hits, key=len) if hits else None


def _from_crs(crs: CRS) -> ResolvedCRS:
    code = crs.to_epsg(min_confidence=90)
    srs = f"EPSG:{code}" if code else crs.to_wkt()
    label = f"EPSG:{code} ({crs.name})" if code else crs.name
    return ResolvedCRS(srs, label, bool(crs.is_geographic))


def tm3_zone(meridian_deg: float) -> ResolvedCRS:
    """VN-2000 / TM-3 zone with this central meridian: the EPSG code when one exists, else a WKT2
    built on the EPSG VN-2000 datum (so PROJ still applies the official VN-2000 → WGS84 shift)."""
    deg = int(meridian_deg)
    minutes = int(round((meridian_deg - deg) * 60))
    key = f"{deg}-{minutes:02d}"
    if key in TM3_BY_MERIDIAN:
        return _from_crs(CRS.from_epsg(TM3_BY_MERIDIAN[key]))
    from pyproj.crs import ProjectedCRS
    from pyproj.crs.coordinate_operation import TransverseMercatorConversion

    crs = ProjectedCRS(
        conversion=TransverseMercatorConversion(
            latitude_natural_origin=0.0, longitude_natural_origin=meridian_deg,
            false_easting=TM3_FALSE_EASTING, false_northing=0.0, scale_factor_natural_origin=TM3_SCALE),
        geodetic_crs=CRS.from_epsg(4756), name=f"VN-2000 / TM-3 {key}")
    return ResolvedCRS(crs.to_wkt(), f"VN-2000 / TM-3 {key} (no EPSG code; VN-2000 datum EPSG:4756)", False)


def province_tm3(key: str) -> ResolvedCRS:
    """The TM-3 zone of a province (EPSG code from its profile, else the meridian table)."""
    if key in PROVINCES:
        return _from_crs(CRS.from_epsg(PROVINCES[key].metric_epsg))
    if key in TM3_MERIDIAN_BY_PROVINCE:
        return tm3_zone(TM3_MERIDIAN_BY_PROVINCE[key])
    raise CRSNameError(f"no TM-3 zone known for province {key!r}")


_MERIDIAN = r"(10[2-9])(?:\s*(?:°|º|o|d|deg|-|\s|_|:)\s*(\d{1,2}(?:\.\d+)?)\s*(?:'|′|m|phut)?|\.(\d+))?"


def parse_crs(text: str, province: str = "haiphong") -> ResolvedCRS:
    """Resolve the CRS names users write: EPSG codes, ``WGS84``, ``VN-2000 Hải Phòng``,
    ``VN2000 TM3 105°45'``, ``UTM 48N`` …, or any WKT/PROJ-JSON/authority string pyproj knows.

    Plain ``UTM 48N`` means VN-2000 / UTM 48N (EPSG:3405), as in Vietnamese survey data
    (docs/architecture.md, "Coordinates");
    write ``WGS84 UTM 48N`` for EPSG:32648. A bare ``VN-2000 TM-3`` is the configured province's zone.
    """
    import re

    raw = (text or "").strip()
    if not raw:
        raise CRSNameError("empty CRS")
    t = fold(raw)
    m = re.fullmatch(r"(?:epsg)?\s*[:\s]?\s*(\d{4,6})", t)
    if m:
        try:
            return _from_crs(CRS.from_epsg(int(m.group(1))))
        except Exception:
            raise CRSNameError(f"EPSG:{m.group(1)} is not a known CRS") from None
    compact = re.sub(r"[\s_\-/.]", "", t)
    vn = "vn2000" in compact or "vn2k" in compact
    wgs = "wgs" in compact or "gps" in compact
    if "utm" in compact:
        zm = re.search(r"utm\s*(?:zone|mui|mui chieu)?\s*(\d{1,2})\s*([ns])?", t)
        if not zm:
            raise CRSNameError(f"{raw!r}: which UTM zone? e.g. 'UTM 48N'")
        zone = int(zm.group(1))
        if wgs and not vn:
            return _from_crs(CRS.from_epsg((32700 if zm.group(2) == "s" else 32600) + zone))
        if zone in VN2000_UTM:
            return _from_crs(CRS.from_user_input(VN2000_UTM[zone]))
        raise CRSNameError(f"{raw!r}: VN-2000 / UTM zone {zone} has no EPSG code (48 and 49 do)")
    if vn:
        mm = re.search(_MERIDIAN, t.replace("vn2000", "").replace("vn-2000", "").replace("vn 2000", ""))
        if mm:
            deg = float(mm.group(1))
            if mm.group(2):
                deg += float(mm.group(2)) / 60.0
            elif mm.group(3):
                deg = float(f"{mm.group(1)}.{mm.group(3)}")
            return tm3_zone(deg)
        key = _province_key(t)
        if key:
            return province_tm3(key)
        if "tm3" in compact or "mui3" in compact:
            return province_tm3(province)
        if "tm6" in compact or "mui6" in compact:
            raise CRSNameError(f"{raw!r}: say the UTM zone, e.g. 'VN-2000 UTM 48N'")
        return _from_crs(CRS.from_user_input(VN2000_GEOGRAPHIC))
    if compact in {"wgs84", "wgs1984", "gps", "latlon", "lonlat", "latlong", "kinhvido", "vidokinhdo", "crs84",
                   "degrees", "epsg4326"}:
        return _from_crs(CRS.from_epsg(4326))
    key = _province_key(t)
    if key and not wgs:
        return province_tm3(key)
    try:
        return _from_crs(CRS.from_user_input(raw))
    except Exception:
        raise CRSNameError(f"cannot understand CRS {raw!r}; write one of: {'; '.join(CRS_FORMS)}") from None


def resolve_file_crs(crs_text: str | None) -> ResolvedCRS | None:
    """The CRS a file declares (.prj, GeoPackage, GeoJSON ``crs``), or None when it declares none."""
    if not crs_text:
        return None
    return _from_crs(CRS.from_user_input(crs_text))


def in_extent(lon: np.ndarray, lat: np.ndarray, extent: tuple[float, float, float, float]) -> np.ndarray:
    """Which points fall inside ``extent`` (lon_min, lat_min, lon_max, lat_max); NaN → False."""
    x0, y0, x1, y1 = extent
    with np.errstate(invalid="ignore"):
        return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def swapped_lonlat(lon: np.ndarray, lat: np.ndarray, extent: tuple[float, float, float, float]) -> np.ndarray:
    """Points outside ``extent`` that would be inside with lat and lon exchanged (the GPS-table
    mistake: a column headed 'lat' holding longitudes)."""
    return ~in_extent(lon, lat, extent) & in_extent(lat, lon, extent)


#: Coordinates larger than this (in absolute value) cannot be degrees; smaller cannot be TM-3/UTM metres.
METRE_THRESHOLD = 1000.0
