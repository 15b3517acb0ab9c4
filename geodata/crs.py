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

from geodata.errors import InvalidField
from planning import provinces
from planning.names import fold
from planning.i18n import _

WGS84 = "EPSG:4326"
VN2000_GEOGRAPHIC = "EPSG:4756"
VN2000_UTM = {48: "EPSG:3405", 49: "EPSG:3406"}

#: VN-2000 / TM-3 zones that have an EPSG code (EPSG:9205–9218), by central meridian.
TM3_BY_MERIDIAN: dict[str, int] = {
    "103-00": 9205, "104-00": 9206, "104-30": 9207, "104-45": 9208, "105-30": 9209,
    "105-45": 9210, "106-00": 9211, "106-15": 9212, "106-30": 9213, "107-00": 9214,
    "107-15": 9215, "107-30": 9216, "108-15": 9217, "108-30": 9218,
}


#: EPSG's "VN-2000 to WGS 84 (2)" (EPSG:6960 in PROJ's database; the Bộ TN&MT 2007 parameters):
#: tx, ty, tz (m), rx, ry, rz (arc-seconds, coordinate-frame convention as EPSG publishes them), ds (ppm).
VN2000_TO_WGS84 = (-191.90441429, -39.30318279, -111.45032835, -0.00928836, 0.01975479, -0.00427372, 0.252906278)

TM3_SCALE = 0.9999
TM3_FALSE_EASTING = 500_000.0

#: Custom SRIDs of the VN-2000 / TM-3 zones that have no EPSG code: ``970000 + 100 · degrees + minutes``
#: (107°45' → 980745), inside PostGIS's user range (≤ 998999) and clear of EPSG's codes. Every
#: quarter-degree meridian from 102°00' to 109°45' without an EPSG code gets one.
CUSTOM_SRID_BASE = 970_000
TM3_MERIDIANS = tuple(f"{d}-{m:02d}" for d in range(102, 110) for m in (0, 15, 30, 45))


def _meridian_key(meridian_deg: float) -> str:
    deg = int(meridian_deg)
    return f"{deg}-{int(round((meridian_deg - deg) * 60)):02d}"


def _meridian_deg(key: str) -> float:
    d, m = key.split("-")
    return int(d) + int(m) / 60.0


def tm3_srid(meridian: str) -> int:
    """The SRID of a TM-3 zone ("107-45"): its EPSG code, else our custom one."""
    if meridian in TM3_BY_MERIDIAN:
        return TM3_BY_MERIDIAN[meridian]
    d, m = meridian.split("-")
    return CUSTOM_SRID_BASE + 100 * int(d) + int(m)


def tm3_proj(meridian: str) -> str:
    """PROJ definition of a VN-2000 / TM-3 zone: ellipsoid WGS84 (the VN-2000 ellipsoid), scale 0.9999,
    false easting 500 km, and the official 7-parameter shift to WGS84.

    PROJ's ``+towgs84`` takes rotations in the position-vector convention, so EPSG's coordinate-frame
    rotations change sign here (tests compare with EPSG:9205–9218 to 1 cm).
    """
    tx, ty, tz, rx, ry, rz, ds = VN2000_TO_WGS84
    towgs84 = ",".join(format(v, ".12g") for v in (tx, ty, tz, -rx, -ry, -rz, ds))
    return (f"+proj=tmerc +lat_0=0 +lon_0={_meridian_deg(meridian):.10g} +k={TM3_SCALE:g} "
            f"+x_0={TM3_FALSE_EASTING:.0f} +y_0=0 +ellps=WGS84 +towgs84={towgs84} +units=m +no_defs +type=crs")


def custom_tm3_zones() -> dict[int, str]:
    """Custom SRID → meridian of the TM-3 zones without an EPSG code."""
    return {tm3_srid(k): k for k in TM3_MERIDIANS if k not in TM3_BY_MERIDIAN}


def zone_srs(meridian: str) -> str:
    """What pyproj is given for a zone: ``EPSG:NNNN`` where EPSG has it, else :func:`tm3_proj`."""
    code = TM3_BY_MERIDIAN.get(meridian)
    return f"EPSG:{code}" if code else tm3_proj(meridian)


def province_metric_crs(key: str) -> str:
    """The default metric CRS of a registry province: the TM-3 zone of its seat (see
    :func:`planning.provinces.default_meridian`)."""
    return zone_srs(provinces.default_meridian(provinces.province(key)).meridian)


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


def _srid_rows() -> list[dict[str, object]]:
    """spatial_ref_sys rows of every TM-3 zone: the EPSG ones (SpatiaLite's table lacks them) under
    authority EPSG, the others under our custom SRIDs with authority ``BTSPLAN``."""
    rows: list[dict[str, object]] = []
    for meridian in TM3_MERIDIANS:
        srid = tm3_srid(meridian)
        epsg = meridian in TM3_BY_MERIDIAN
        crs = CRS.from_epsg(srid) if epsg else CRS.from_user_input(tm3_proj(meridian))
        rows.append({"srid": srid, "auth": "EPSG" if epsg else "BTSPLAN", "name": f"VN-2000 / TM-3 {meridian}",
                     "wkt": crs.to_wkt("WKT1_GDAL"), "proj": tm3_proj(meridian).replace(" +type=crs", "")})
    return rows


def register_tm3_srids(conn: Connection) -> int:
    """Register every VN-2000 / TM-3 zone in ``spatial_ref_sys`` (PostGIS or SpatiaLite); rows already
    there are left alone. Answers how many rows were added."""
    postgres = conn.dialect.name == "postgresql"
    sql = ("INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text) "
           "VALUES (:srid, :auth, :srid, :wkt, :proj) ON CONFLICT (srid) DO NOTHING" if postgres else
           "INSERT OR IGNORE INTO spatial_ref_sys (srid, auth_name, auth_srid, ref_sys_name, proj4text, srtext) "
           "VALUES (:srid, :auth, :srid, :name, :proj, :wkt)")
    added = 0
    for row in _srid_rows():
        added += conn.execute(text(sql), row).rowcount or 0
    return added


def unregister_custom_srids(conn: Connection) -> None:
    """Remove the custom (``BTSPLAN``) zones again; the EPSG rows may predate us and stay."""
    conn.execute(text("DELETE FROM spatial_ref_sys WHERE auth_name = 'BTSPLAN'"))


# --------------------------------------------------------------------------------------------
# CRS names people write, and plausibility checks of coordinates (imports)
# --------------------------------------------------------------------------------------------

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
    """The registry province named in ``text`` ("Hải Phòng", "TP Hai Phong", "haiphong"), if any."""
    squeezed = "".join(ch for ch in fold(text) if ch.isalnum())
    hits = [k for k in provinces.keys() if k in squeezed]
    return max(hits, key=len) if hits else None


def _from_crs(crs: CRS) -> ResolvedCRS:
    code = crs.to_epsg(min_confidence=90)
    srs = f"EPSG:{code}" if code else crs.to_wkt()
    label = f"EPSG:{code} ({crs.name})" if code else crs.name
    return ResolvedCRS(srs, label, bool(crs.is_geographic))


def tm3_zone(meridian_deg: float) -> ResolvedCRS:
    """VN-2000 / TM-3 zone with this central meridian: the EPSG code when one exists, else our
    definition (:func:`tm3_proj`, registered in the database under :func:`tm3_srid`)."""
    key = _meridian_key(meridian_deg)
    if key in TM3_BY_MERIDIAN:
        return _from_crs(CRS.from_epsg(TM3_BY_MERIDIAN[key]))
    return ResolvedCRS(tm3_proj(key), f"VN-2000 / TM-3 {key} (SRID {tm3_srid(key)}, no EPSG code)", False)


def province_tm3(key: str) -> ResolvedCRS:
    """The TM-3 zone a province's survey data is in: a former province's own zone; for a merged one,
    its default zone (name the former province, e.g. 'VN-2000 Hải Dương', for another part's)."""
    try:
        p = provinces.province(key)
    except InvalidField:
        raise CRSNameError(_("no TM-3 zone known for province {key!r}", key=key)) from None
    return tm3_zone(provinces.default_meridian(p).degrees)


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
        raise CRSNameError(_("empty CRS"))
    t = fold(raw)
    m = re.fullmatch(r"(?:epsg)?\s*[:\s]?\s*(\d{4,6})", t)
    if m:
        try:
            code = int(m.group(1))
            if code in custom_tm3_zones():
                return tm3_zone(_meridian_deg(custom_tm3_zones()[code]))
            return _from_crs(CRS.from_epsg(code))
        except Exception:
            raise CRSNameError(_("EPSG:{value} is not a known CRS", value=m.group(1))) from None
    compact = re.sub(r"[\s_\-/.]", "", t)
    vn = "vn2000" in compact or "vn2k" in compact
    wgs = "wgs" in compact or "gps" in compact
    if "utm" in compact:
        zm = re.search(r"utm\s*(?:zone|mui|mui chieu)?\s*(\d{1,2})\s*([ns])?", t)
        if not zm:
            raise CRSNameError(_("{raw!r}: which UTM zone? e.g. 'UTM 48N'", raw=raw))
        zone = int(zm.group(1))
        if wgs and not vn:
            return _from_crs(CRS.from_epsg((32700 if zm.group(2) == "s" else 32600) + zone))
        if zone in VN2000_UTM:
            return _from_crs(CRS.from_user_input(VN2000_UTM[zone]))
        raise CRSNameError(_("{raw!r}: VN-2000 / UTM zone {zone} has no EPSG code (48 and 49 do)",
                             raw=raw, zone=zone))
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
            raise CRSNameError(_("{raw!r}: say the UTM zone, e.g. 'VN-2000 UTM 48N'", raw=raw))
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
        raise CRSNameError(_("cannot understand CRS {raw!r}; write one of: {crs_forms}",
                             raw=raw, crs_forms='; '.join(CRS_FORMS))) from None


def resolve_file_crs(crs_text: str | None) -> ResolvedCRS | None:
    """The CRS a file declares (.prj, GeoPackage, GeoJSON ``crs``), or None when it declares none."""
    if not crs_text:
        return None
    return _from_crs(CRS.from_user_input(crs_text))


#: Coordinates larger than this (in absolute value) cannot be degrees; smaller cannot be TM-3/UTM metres.
METRE_THRESHOLD = 1000.0
