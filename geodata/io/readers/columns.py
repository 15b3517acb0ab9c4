"""Which column of a user's file holds which field: Vietnamese and English aliases, plus ``--map``.

Names are compared after folding (lower case, accents removed, đ → d, every run of punctuation or
spaces → ``_``), so 'Mã trạm', 'MA TRAM', 'ma_tram' and 'Mã Trạm (*)' all mean ``code``.

Coordinates: ``lon``/``lat`` are degrees; ``survey_x``/``survey_y`` are the columns Vietnamese survey
tables head 'Tọa độ X'/'Tọa độ Y' or 'X (m)'/'Y (m)', where by the surveyors' convention X is the
*northing* and Y the *easting* (docs/architecture.md, "Coordinates"); ``easting``/``northing`` are
unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from geodata.io.readers.errors import ReadError
from planning.names import fold
from planning.i18n import _

KINDS = ("admin", "zones", "routes", "sites", "cables")

POSITION_FIELDS = ("lon", "lat", "survey_x", "survey_y", "easting", "northing")

#: canonical field → aliases (already folded/normalised) per import kind. Ten-character names are what
#: GDAL/QGIS leave of long field names in a Shapefile's .dbf ('declared_class' → 'declared_c').
_COMMON: dict[str, tuple[str, ...]] = {
    "lon": ("lon", "lng", "long", "longitude", "kinh_do", "kinh_do_e", "kd", "wgs84_lon", "lon_wgs84", "x_lon"),
    "lat": ("lat", "latitude", "vi_do", "vi_do_n", "vd", "wgs84_lat", "lat_wgs84", "y_lat"),
    "survey_x": ("x", "x_m", "toa_do_x", "toa_do_x_m", "x_vn2000", "vn2000_x", "x_vn_2000", "vn_2000_x",
                 "toa_do_x_vn2000", "toa_do_x_vn_2000", "x_toa_do"),
    "survey_y": ("y", "y_m", "toa_do_y", "toa_do_y_m", "y_vn2000", "vn2000_y", "y_vn_2000", "vn_2000_y",
                 "toa_do_y_vn2000", "toa_do_y_vn_2000", "y_toa_do"),
    "easting": ("easting", "east", "easting_m"),
    "northing": ("northing", "north", "northing_m"),
    "district_code": ("district_code", "dist_code", "ma_huyen", "ma_quan_huyen", "ma_quan", "district", "quan_huyen"),
}

ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "sites": {
        "code": ("code", "site_code", "ma_tram", "ma_tram_bts", "ma_so_tram", "ma", "ma_cot", "ma_vi_tri",
                 "site_id", "station_code", "bts_code", "id_tram"),
        "operator": ("operator", "nha_mang", "doanh_nghiep", "nha_khai_thac", "don_vi_quan_ly", "carrier",
                     "mang", "dn", "don_vi"),
        "name": ("name", "site_name", "ten_tram", "ten", "ten_vi_tri"),
        "address": ("address", "dia_chi", "dia_diem", "dia_chi_lap_dat"),
        "mount": ("mount", "kieu_lap_dat", "vi_tri_lap_dat", "lap_dat", "hinh_thuc_lap_dat", "mounting",
                  "vi_tri_cot"),
        "structure": ("structure", "ket_cau", "ket_cau_cot", "kieu_cot", "loai_ket_cau", "dang_cot", "mast_type_structure"),
        "mast_height_m": ("mast_height_m", "mast_h_m", "mast_heigh", "mast_height", "do_cao_cot", "do_cao_cot_m", "chieu_cao_cot",
                          "chieu_cao_cot_m", "cao_cot", "height", "height_m", "do_cao_cot_anten"),
        "building_height_m": ("building_height_m", "bldg_h_m", "building_h", "building_height", "chieu_cao_nha", "chieu_cao_nha_m",
                              "do_cao_nha", "do_cao_cong_trinh", "chieu_cao_cong_trinh", "chieu_cao_toa_nha",
                              "do_cao_toa_nha"),
        "reach_m": ("reach_m", "reach", "tam_vuon", "do_vuon", "tam_vuon_m", "do_vuon_xa"),
        "camouflaged": ("camouflaged", "camouflag", "camouflage", "nguy_trang", "than_thien_moi_truong", "cot_nguy_trang"),
        "declared_class": ("declared_class", "decl_cls", "declared_c", "loai_cot", "mast_type", "mast_class", "class", "phan_loai",
                           "loai_cot_ang_ten", "loai_cot_anten", "loai_cot_ang_ten_khai_bao"),
        "tech": ("tech", "cong_nghe", "technology"),
        "transmitters": ("transmitters", "transmitte", "so_thiet_bi_phat", "so_may_phat", "trx", "so_tram_thu_phat"),
        "shared_by": ("shared_by", "dung_chung", "dung_chung_voi", "chia_se"),
        "max_tenants": ("max_tenants", "max_ten", "max_tenant", "so_doanh_nghiep_toi_da"),
        "status": ("status", "trang_thai", "tinh_trang"),
        "built_on": ("built_on", "ngay_xay_dung", "ngay_lap_dat", "ngay_hoat_dong"),
        "target_date": ("target_date", "target_dt", "target_dat", "han_hoan_thanh", "thoi_han"),
    },
    "admin": {
        "code": ("code", "ma", "ma_dvhc", "ma_don_vi", "ma_don_vi_hanh_chinh", "admin_code"),
        "name": ("name", "ten", "ten_don_vi", "ten_dvhc"),
        "level": ("level", "cap", "cap_hanh_chinh"),
        "unit_type": ("unit_type", "admin_type", "loai", "loai_don_vi", "type"),
        "parent_code": ("parent_code", "parent", "ma_cha", "ma_cap_tren"),
        "urban": ("urban", "do_thi", "noi_thanh"),
        "valid_from": ("valid_from", "hieu_luc_tu", "tu_ngay"),
        "valid_to": ("valid_to", "hieu_luc_den", "den_ngay"),
    },
    "zones": {
        "name": ("name", "ten", "ten_khu_vuc", "khu_vuc"),
        "kind": ("kind", "loai", "loai_khu_vuc", "type"),
        "policy": ("policy", "chinh_sach", "quy_dinh", "loai_cot_duoc_phep"),
        "radius_m": ("radius_m", "radius", "ban_kinh", "ban_kinh_m"),
        "buffer_m": ("buffer_m", "buffer", "vung_dem", "vung_dem_m"),
        "legal_source": ("legal_source", "can_cu", "van_ban", "nguon", "can_cu_phap_ly"),
    },
    "routes": {
        "name": ("name", "ten", "ten_duong", "tuyen_duong", "duong", "street"),
        "corridor_m": ("corridor_m", "corridor", "hanh_lang", "hanh_lang_m", "be_rong_hanh_lang"),
        "policy": ("policy", "chinh_sach", "quy_dinh", "loai_cot_duoc_phep"),
        "legal_source": ("legal_source", "can_cu", "van_ban", "nguon", "can_cu_phap_ly"),
    },
    "cables": {
        "code": ("code", "ma", "ma_tuyen", "ma_doan", "segment_code"),
        "street": ("street", "ten_duong", "duong", "tuyen_duong", "tuyen", "name", "ten"),
        "from_desc": ("from_desc", "from", "tu", "diem_dau", "tu_diem"),
        "to_desc": ("to_desc", "to", "den", "diem_cuoi", "den_diem"),
        "plan_ref": ("plan_ref", "plan", "ke_hoach", "so_ke_hoach"),
        "target_year": ("target_year", "target_yr", "nam", "nam_hoan_thanh", "nam_ke_hoach"),
        "method": ("method", "phuong_an", "hinh_thuc", "bien_phap"),
        "operators": ("operators", "nha_mang", "doanh_nghiep", "operator"),
        "status": ("status", "trang_thai", "tinh_trang"),
    },
}

#: District and commune columns (codes or names) of a sites file: the units are derived from each
#: site's location, so what the file says is not read.
_SITE_UNIT_COLUMNS = ("district_c", "commune_co", "commune_code", "comm_code", "district_code", "dist_code", "commune",
                      "district", "ma_huyen", "ma_quan_huyen", "ma_quan", "quan_huyen", "quan", "huyen",
                      "ten_quan_huyen", "ma_xa", "ma_phuong_xa", "xa_phuong", "phuong_xa", "xa", "phuong",
                      "ten_xa_phuong")

#: Columns btsplan's own exports write that an import recognises but does not take from the file
#: (derived values the program computes itself).
IGNORED: dict[str, tuple[str, ...]] = {
    "sites": ("derived_class", "deriv_cls", "derived_cl", "reasons", *_SITE_UNIT_COLUMNS,
              "updated_at", "id", "fid", "ogc_fid", "description", "wkt"),
    "admin": ("id", "fid", "ogc_fid", "bbox", "area_km2", "name_20250301", "n_level3_20250301"),
    "zones": ("id", "fid", "ogc_fid", "area_m2"),
    "routes": ("id", "fid", "ogc_fid", "length_m"),
    "cables": ("id", "fid", "ogc_fid", "length_m", "version", "status_changed_on", "status_on", "commune_code",
               "comm_code", "district", "wkt"),
}

#: Why a recognised column is not read, by its normalised name (the rest: btsplan's own exports write it).
_WHY_IGNORED: dict[str, str] = {
    **{n: "derived class" for n in ("derived_class", "deriv_cls", "derived_cl", "reasons")},
    **{n: "source row id" for n in ("id", "fid", "ogc_fid")},
    **{n: "computed from the geometry" for n in ("length_m", "area_m2", "area_km2", "bbox")},
    **{n: "kept by btsplan" for n in ("updated_at", "version", "status_changed_on", "status_on")},
}

#: The explanation shown for each reason (one message each, so they can be translated whole).
_WHY_TEXT: dict[str, str] = {
    "units derived from location": "not read: the district and commune are derived from each site's location "
                                   "(the admin unit it lies in)",
    "derived class": "not read: the mast class and its reasons are derived by the rule pack (btsplan classify)",
    "source row id": "not read: a row id of the source file (btsplan numbers its own rows)",
    "computed from the geometry": "not read: computed from the geometry",
    "kept by btsplan": "not read: btsplan keeps this itself when a row is stored",
    "export column": "not read: a column btsplan's exports write for information",
    "asked": "ignored as asked (--map COLUMN=ignore)",
    "unknown": "unknown column, not imported (map it to a field with --map 'COLUMN=field'; fields: {fields})",
}


def why_ignored(kind: str, column: str, asked: bool = False) -> dict[str, str]:
    """``{"column", "reason", "message"}`` for a column an import of ``kind`` does not read: the
    summary lists every such column, so a user learns that e.g. 'Quận/huyện' was seen and why it
    does not count, rather than wondering whether the import read it."""
    n = norm(column)
    if asked:
        reason = "asked"
    elif kind == "sites" and n in _SITE_UNIT_COLUMNS:
        reason = "units derived from location"
    elif n in IGNORED.get(kind, ()):
        reason = _WHY_IGNORED.get(n, "export column")
    else:
        reason = "unknown"
    return {"column": column, "reason": reason,
            "message": _WHY_TEXT[reason].format(fields=", ".join(sorted(fields_of(kind))))}


#: dvhcvn (GSO) files name codes by level: the most specific one is the unit's own code.
DVHCVN_LEVELS = ("level3_id", "level2_id", "level1_id")


def norm(name: str) -> str:
    """Folded, punctuation-normalised column name ('Tọa độ X (m)' → 'toa_do_x_m')."""
    t = fold(str(name).strip())
    t = re.sub(r"[^0-9a-z]+", "_", t).strip("_")
    return t


def fields_of(kind: str) -> dict[str, tuple[str, ...]]:
    """Canonical fields (with their aliases) that an import of ``kind`` reads from a file."""
    if kind not in ALIASES:
        raise ValueError(f"unknown import kind {kind!r}; one of {', '.join(KINDS)}")
    out = dict(ALIASES[kind])
    if kind in ("sites", "zones"):  # points may come as coordinate columns
        out.update({f: _COMMON[f] for f in POSITION_FIELDS})
    if kind in ("zones", "routes", "cables"):
        out["district_code"] = _COMMON["district_code"]
    return out


@dataclass
class ColumnMap:
    """Resolved mapping of file columns to canonical fields."""

    field_of: dict[str, str]  #: file column → field
    unused: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def column_of(self) -> dict[str, str]:
        return {f: c for c, f in self.field_of.items()}

    def has(self, *fields: str) -> bool:
        present = set(self.field_of.values())
        return all(f in present for f in fields)


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``--map 'Mã trạm=code'`` (repeatable, or comma-separated) → {column: field}."""
    out: dict[str, str] = {}
    for item in items:
        for part in str(item).split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ReadError(_("--map {part!r}: write COLUMN=FIELD, e.g. --map 'Mã trạm=code'",
                                  part=part), field="--map",
                                value=part)
            col, fld = part.split("=", 1)
            out[col.strip()] = fld.strip()
    return out


#: fields GDAL's LIBKML driver adds to every KML layer; "Name" is the placemark's label
KML_STANDARD = ("Name", "description", "timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude",
                "visibility", "drawOrder", "icon", "id", "snippet")


def resolve(columns: Iterable[str], kind: str, overrides: Mapping[str, str] | None = None, *,
            kml: bool = False) -> ColumnMap:
    """Map the file's columns to fields; :class:`ReadError` if two columns claim one field.

    For KML (``kml=True``) the placemark label ("Name") is the key field (site/segment code, or the
    name of a zone/route/unit) unless an ExtendedData column already provides it."""
    spec = fields_of(kind)
    alias_to_field = {a: f for f, aliases in spec.items() for a in aliases}
    cols = [str(c) for c in columns]
    overrides = dict(overrides or {})
    if kml:
        key = "code" if kind in ("sites", "cables") else "name"
        standard = [c for c in cols if c in KML_STANDARD]
        rest = resolve([c for c in cols if c not in KML_STANDARD], kind, overrides)
        for c in standard:
            if c not in overrides:
                overrides[c] = key if c == "Name" and key not in rest.field_of.values() else "ignore"
    field_of: dict[str, str] = {}
    ignored: list[str] = []
    unused: list[str] = []
    notes: list[str] = []
    for col, fld in overrides.items():
        match = [c for c in cols if c == col] or [c for c in cols if norm(c) == norm(col)]
        if not match:
            raise ReadError(_("--map {col}={fld}: the file has no column {col!r} (columns: {cols})",
                              col=col, fld=fld, cols=', '.join(cols)),
                            field="--map", value=col)
        if fld in ("", "-", "ignore"):
            ignored.append(match[0])
            continue
        if fld not in spec:
            raise ReadError(_("--map {col}={fld}: {fld!r} is not a field of {kind} (fields: {values})",
                              col=col, fld=fld, kind=kind,
                              values=', '.join(sorted(spec))), field="--map", value=fld)
        field_of[match[0]] = fld
    claimed = set(field_of.values())
    candidates: dict[str, list[str]] = {}
    for c in cols:
        if c in field_of or c in ignored:
            continue
        n = norm(c)
        f = alias_to_field.get(n)
        if f is None:
            # 'Độ cao cột (m)', 'Mã trạm (*)': try without a trailing unit/marker token
            f = alias_to_field.get(re.sub(r"_(m|met|metre|meter|km|do|deg)$", "", n))
        if f is None or f in claimed:
            (ignored if n in IGNORED.get(kind, ()) else unused).append(c)
            continue
        candidates.setdefault(f, []).append(c)
    for f, cs in candidates.items():
        if len(cs) > 1:
            exact = [c for c in cs if norm(c) == f]
            if len(exact) == 1:
                chosen = exact[0]
                notes.append(_("columns {values} all mean {f}: using {chosen!r}",
                               values=', '.join(repr(c) for c in cs), f=f, chosen=chosen))
                unused += [c for c in cs if c != chosen]
            else:
                raise ReadError(_("columns {values} all mean {f}; choose one with --map '{value}={f}' --map "
                                  "'{value2}=ignore'",
                                  values=', '.join(repr(c) for c in cs), f=f, value=cs[0],
                                  value2=cs[1]), field=f)
        else:
            chosen = cs[0]
        field_of[chosen] = f
    # dvhcvn/GSO admin files: level2_id (district) with level1_id (province) as its parent, etc.
    if kind == "admin" and "code" not in field_of.values():
        levels = [lv for lv in DVHCVN_LEVELS if lv in {norm(c) for c in cols}]
        if levels:
            by_norm = {norm(c): c for c in cols}
            field_of[by_norm[levels[0]]] = "code"
            if len(levels) > 1 and "parent_code" not in field_of.values():
                field_of[by_norm[levels[1]]] = "parent_code"
            for lv in levels:
                if by_norm[lv] in unused:
                    unused.remove(by_norm[lv])
            notes.append(_("GSO/dvhcvn codes: {code} is the unit code, {parent} its parent", code=by_norm[levels[0]],
                           parent=by_norm[levels[1]]) if len(levels) > 1 else
                         _("GSO/dvhcvn codes: {code} is the unit code", code=by_norm[levels[0]]))
    return ColumnMap(field_of, unused, ignored, notes)
