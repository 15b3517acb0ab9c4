"""Items of a firm's plan submission: parse and validate a GeoJSON FeatureCollection, diff two versions.

A submission is all-or-nothing: :func:`parse_plan` collects *every* problem (feature index and field)
instead of stopping at the first, so a firm fixes its file in one round trip, and nothing is stored
unless the whole collection is valid. Field names are the ones of imports and exports
(docs/architecture.md, "Field names");
unknown properties are rejected because a misspelt ``mast_height`` silently ignored would produce a
wrong appraisal.

Pure: dicts in, dicts out; no database (site codes are checked against the DB by ``geodata.work.plans``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from planning.errors import TooLarge
from planning.vocab import ITEM_KINDS, LEGACY_CABLE_METHODS, MAST_CLASSES, MOUNTS, PROPOSED_CABLE_METHODS, STRUCTURES
from planning.i18n import N_, _

#: property → (kind, bounds) for site attributes shared by new_site and change_site.
_SITE_ITEM_FIELDS: dict[str, tuple[str, tuple[float, float] | tuple[str, ...] | None]] = {
    "code": ("text", (1, 50)),
    "name": ("text", (1, 200)),
    "address": ("text", (1, 300)),
    "mount": ("choice", MOUNTS),
    "structure": ("choice", STRUCTURES),
    "mast_height_m": ("number", (0.1, 300.0)),
    "building_height_m": ("number", (0.0, 600.0)),
    "reach_m": ("number", (0.0, 50.0)),
    "camouflaged": ("bool", None),
    "declared_class": ("choice", MAST_CLASSES),
    "tech": ("text", (1, 50)),
    "transmitters": ("int", (0, 1000)),
    "target_date": ("date", None),
}
_COMMON = {"item": ("choice", ITEM_KINDS), "ref": ("text", (1, 100)), "note": ("text", (0, 2000))}
_FIELDS: dict[str, dict[str, tuple[str, Any]]] = {
    "new_site": {**_COMMON, **_SITE_ITEM_FIELDS},
    "change_site": {**_COMMON, "site_code": ("text", (1, 50)),
                    **{k: v for k, v in _SITE_ITEM_FIELDS.items() if k != "code"}},
    "remove_site": {**_COMMON, "site_code": ("text", (1, 50)), "reason": ("text", (0, 2000)),
                    "target_date": ("date", None)},
    "share_site": {**_COMMON, "site_code": ("text", (1, 50)), "tech": ("text", (1, 50)),
                   "transmitters": ("int", (0, 1000)), "target_date": ("date", None)},
    "cable_route": {**_COMMON, "street": ("text", (1, 200)), "from_desc": ("text", (1, 200)),
                    "to_desc": ("text", (1, 200)), "district": ("text", (1, 20)),
                    # the schema lists the old words too: plans written before issue 16 stay valid
                    "method": ("choice", (*PROPOSED_CABLE_METHODS, *LEGACY_CABLE_METHODS)),
                    "target_year": ("int", (2000, 2100))},
}
_REQUIRED = {
    "new_site": ("mount", "mast_height_m"),
    "change_site": ("site_code",),
    "remove_site": ("site_code",),
    "share_site": ("site_code",),
    "cable_route": ("street",),
}
_GEOMETRY = {
    "new_site": ("required", ("Point",)),
    "change_site": ("optional", ("Point",)),
    "remove_site": ("ignored", ()),
    "share_site": ("ignored", ()),
    "cable_route": ("required", ("LineString", "MultiLineString")),
}


@dataclass(frozen=True)
class ItemError:
    """One problem: which feature (0-based index), which field, what is wrong."""

    index: int | None
    field: str
    message: str

    @property
    def path(self) -> str:
        return self.field if self.index is None else f"features[{self.index}].{self.field}"

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.index, "field": self.field, "path": self.path, "message": self.message}


@dataclass
class ParseResult:
    features: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _check_value(kind: str, bounds: Any, value: Any) -> tuple[Any, str | None]:
    """Normalised value, or an error message."""
    if kind == "text":
        if not isinstance(value, str):
            return None, _("must be text, got {kind}", kind=type(value).__name__)
        v = value.strip()
        lo, hi = bounds
        if len(v) < lo:
            return None, _("must not be empty")
        if len(v) > hi:
            return None, _("is longer than {n} characters", n=hi)
        return v, None
    if kind == "choice":
        if not isinstance(value, str) or value not in bounds:
            return None, _("must be one of {allowed}, got {value!r}", allowed=", ".join(bounds), value=value)
        return value, None
    if kind in ("number", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, _("must be a number, got {value!r}", value=value)
        if not math.isfinite(value):
            return None, _("must be a finite number")
        if kind == "int" and float(value) != int(value):
            return None, _("must be a whole number, got {value!r}", value=value)
        lo, hi = bounds
        if not lo <= value <= hi:
            return None, _("must be between {lo:g} and {hi:g}, got {value:g}", lo=lo, hi=hi, value=value)
        return (int(value) if kind == "int" else float(value)), None
    if kind == "bool":
        if not isinstance(value, bool):
            return None, _("must be true or false, got {value!r}", value=value)
        return value, None
    if kind == "date":
        if not isinstance(value, str):
            return None, _("must be an ISO date (YYYY-MM-DD), got {value!r}", value=value)
        try:
            return dt.date.fromisoformat(value.strip()).isoformat(), None
        except ValueError:
            return None, _("must be an ISO date (YYYY-MM-DD), got {value!r}", value=value)
    raise AssertionError(kind)


def _position(c: Any) -> str | None:
    if not isinstance(c, list | tuple) or len(c) not in (2, 3):
        return _("a position must be [longitude, latitude]")
    if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in c):
        return _("coordinates must be finite numbers")
    lon, lat = c[0], c[1]
    if not -90 <= lat <= 90:
        if -90 <= lon <= 90:
            return _("latitude {lat:g} is outside -90..90 (latitude and longitude look swapped: GeoJSON is "
                     "[longitude, latitude])", lat=lat)
        return _("latitude {lat:g} is outside -90..90", lat=lat)
    if not -180 <= lon <= 180:
        return _("longitude {lon:g} is outside -180..180", lon=lon)
    return None


def _check_geometry(g: Any, allowed: tuple[str, ...]) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(g, Mapping):
        return None, _("must be a GeoJSON geometry object")
    gtype = g.get("type")
    if gtype not in allowed:
        return None, _("must be {allowed}, got {value!r}", allowed=" | ".join(allowed), value=gtype)
    coords = g.get("coordinates")
    if gtype == "Point":
        err = _position(coords)
        return (None, err) if err else ({"type": "Point", "coordinates": [float(v) for v in coords[:2]]}, None)
    lines = [coords] if gtype == "LineString" else coords
    if not isinstance(lines, list | tuple) or not lines:
        return None, _("coordinates must be a non-empty list")
    out = []
    for line in lines:
        if not isinstance(line, list | tuple) or len(line) < 2:
            return None, _("a line needs at least 2 positions")
        for p in line:
            err = _position(p)
            if err:
                return None, err
        pts = [[float(p[0]), float(p[1])] for p in line]
        if all(p == pts[0] for p in pts):
            return None, _("a line must not have zero length")
        out.append(pts)
    return ({"type": "LineString", "coordinates": out[0]} if gtype == "LineString"
            else {"type": "MultiLineString", "coordinates": out}), None


def parse_feature(index: int, feature: Any, method: str | None = None) -> tuple[dict[str, Any] | None, list[ItemError]]:
    """Validate one feature; returns the normalised feature or the list of its errors.

    ``method`` is the submission's own cable method (``method`` of the FeatureCollection), used by a
    ``cable_route`` that names none. Without either the item is an error naming it: chỉnh trang and hạ
    ngầm are counted apart in the plans, so guessing one would put the kilometres in the wrong column
    (the same rule as cable imports, which need a method column or ``--method``)."""
    errs: list[ItemError] = []
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        return None, [ItemError(index, "type", _("must be a GeoJSON Feature"))]
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        return None, [ItemError(index, "properties", _("must be an object with at least 'item'"))]
    fid = feature.get("id")
    if fid is not None and (isinstance(fid, bool) or not isinstance(fid, (str, int))):
        errs.append(ItemError(index, "id", _("a feature id must be a string or an integer")))
    kind = props.get("item")
    if kind not in ITEM_KINDS:
        return None, [*errs, ItemError(index, "properties.item",
                                       _("must be one of {allowed}, got {value!r}",
                                         allowed=", ".join(ITEM_KINDS),
                                         value=kind))]
    spec = _FIELDS[kind]
    out: dict[str, Any] = {}
    for key, value in props.items():
        if key not in spec:
            errs.append(ItemError(index, f"properties.{key}",
                                  _("unknown field for {item}; expected {fields}", item=kind,
                                    fields=", ".join(sorted(spec)))))
            continue
        if value is None:
            continue
        if key == "method" and isinstance(value, str):
            value = LEGACY_CABLE_METHODS.get(value, value)  # plans written before the chỉnh trang / hạ ngầm split
        v, msg = _check_value(*spec[key], value)
        if msg:
            errs.append(ItemError(index, f"properties.{key}", msg))
        else:
            out[key] = v
    for key in _REQUIRED[kind]:
        if key not in props or props.get(key) is None:
            errs.append(ItemError(index, f"properties.{key}", _("is required for {item}", item=kind)))
    if kind == "new_site":
        if out.get("mount") == "building" and props.get("building_height_m") is None:
            errs.append(ItemError(index, "properties.building_height_m", _("is required when mount is "
                                                                           "building")))
        out.setdefault("camouflaged", False)
    if kind == "cable_route" and "method" not in out and props.get("method") is None:
        if method is None:
            errs.append(ItemError(index, "properties.method", _(
                "is required for cable_route {street!r}: say chinh_trang, ha_ngam or chinh_trang_ha_ngam "
                "(or give method for the whole plan)", street=out.get("street", ""))))
        else:
            out["method"] = method
    mode, allowed = _GEOMETRY[kind]
    geom = feature.get("geometry")
    norm_geom = None
    if mode == "required" or (mode == "optional" and geom is not None):
        norm_geom, msg = _check_geometry(geom, allowed)
        if msg:
            errs.append(ItemError(index, "geometry", msg))
    if kind == "change_site" and not errs and norm_geom is None and set(out) <= {"item", "site_code", "ref", "note"}:
        errs.append(ItemError(index, "properties", _("change_site must change the position (geometry) or an "
                                                     "attribute")))
    if errs:
        return None, errs
    result: dict[str, Any] = {"type": "Feature", "properties": out, "geometry": norm_geom}
    if isinstance(feature.get("id"), str | int) and not isinstance(feature.get("id"), bool):
        result["id"] = feature["id"]
    return result, []


#: longest plan title kept (the column is 300 characters)
TITLE_MAX = 300


def parse_plan(body: Any, max_features: int | None = None) -> ParseResult:
    """Validate a whole FeatureCollection; every error is reported, nothing is partially accepted."""
    res = ParseResult()
    if not isinstance(body, Mapping) or body.get("type") != "FeatureCollection":
        res.errors.append(ItemError(None, "type", _("the body must be a GeoJSON FeatureCollection")))
        return res
    title = body.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > TITLE_MAX):
        res.errors.append(ItemError(None, "title", _("must be text of at most {n} characters", n=TITLE_MAX)))
    method = body.get("method")
    if method is not None:
        method = LEGACY_CABLE_METHODS.get(method, method) if isinstance(method, str) else method
        _v, msg = _check_value("choice", PROPOSED_CABLE_METHODS, method)
        if msg:
            res.errors.append(ItemError(None, "method", msg))
            method = None
    feats = body.get("features")
    if not isinstance(feats, list):
        res.errors.append(ItemError(None, "features", _("must be a list of Features")))
        return res
    if not feats:
        res.errors.append(ItemError(None, "features", _("a plan needs at least one item")))
        return res
    if max_features is not None and len(feats) > max_features:
        raise TooManyItems(len(feats), max_features)
    for i, f in enumerate(feats):
        norm, errs = parse_feature(i, f, method)
        res.errors += errs
        if norm is not None:
            res.features.append(norm)
    # within one plan a site code is created once and an existing site is targeted once
    seen_codes: dict[str, int] = {}
    seen_targets: dict[str, int] = {}
    for i, f in enumerate(res.features if not res.errors else []):
        p = f["properties"]
        if p["item"] == "new_site" and "code" in p:
            if p["code"] in seen_codes:
                res.errors.append(ItemError(i, "properties.code",
                                            _("site code {code!r} is already used by features[{other}]",
                                              code=p["code"],
                                              other=seen_codes[p["code"]])))
            seen_codes.setdefault(p["code"], i)
        if "site_code" in p and p["item"] in ("change_site", "remove_site"):
            if p["site_code"] in seen_targets:
                res.errors.append(ItemError(i, "properties.site_code",
                                            _("site {code!r} is already changed or removed by "
                                              "features[{other}]",
                                              code=p["site_code"], other=seen_targets[p["site_code"]])))
            seen_targets.setdefault(p["site_code"], i)
    if res.errors:
        res.features = []
    return res


class TooManyItems(TooLarge):
    """More features than one submission may hold: the firm splits the plan."""

    title = N_("Too many items")

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(_("the plan has {count} features; at most {limit} are accepted per submission",
                           count=count, limit=limit),
                         limit_features=limit, count=count)
        self.count, self.limit = count, limit


def item_key(index: int, feature: Mapping[str, Any]) -> str:
    """Stable identity of an item across versions: the firm's ``ref``, else what it is about."""
    p = feature.get("properties", {})
    if p.get("ref"):
        return f"ref:{p['ref']}"
    if p.get("item") == "new_site" and p.get("code"):
        return f"new_site:{p['code']}"
    if p.get("site_code"):
        return f"{p['item']}:{p['site_code']}"
    return f"{p.get('item')}#{index + 1}"


def diff_versions(before: Sequence[Mapping[str, Any]] | None, after: Sequence[Mapping[str, Any]]
                  ) -> dict[str, Any]:
    """What changed between two frozen versions: items added, removed, and changed field by field."""
    b = {item_key(i, f): f for i, f in enumerate(before or [])}
    a = {item_key(i, f): f for i, f in enumerate(after)}
    changed: dict[str, dict[str, Any]] = {}
    for k in sorted(set(a) & set(b)):
        fa, fb = a[k], b[k]
        d = {f"properties.{p}": {"before": fb["properties"].get(p), "after": fa["properties"].get(p)}
             for p in sorted(set(fa["properties"]) | set(fb["properties"]))
             if fa["properties"].get(p) != fb["properties"].get(p)}
        if fa.get("geometry") != fb.get("geometry"):
            d["geometry"] = {"before": fb.get("geometry"), "after": fa.get("geometry")}
        if d:
            changed[k] = d
    return {"added": sorted(set(a) - set(b)), "removed": sorted(set(b) - set(a)), "changed": changed}


def _field_schema(kind: str, bounds: Any) -> dict[str, Any]:
    if kind == "text":
        return {"type": "string", "minLength": bounds[0], "maxLength": bounds[1]}
    if kind == "choice":
        return {"type": "string", "enum": list(bounds)}
    if kind in ("number", "int"):
        return {"type": "number" if kind == "number" else "integer", "minimum": bounds[0], "maximum": bounds[1]}
    if kind == "bool":
        return {"type": "boolean"}
    return {"type": "string", "format": "date"}


_POSITION = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"}, "prefixItems": [
    {"type": "number", "minimum": -180, "maximum": 180}, {"type": "number", "minimum": -90, "maximum": 90}]}
_GEOMETRY_SCHEMA = {
    "Point": {"type": "object", "required": ["type", "coordinates"],
              "properties": {"type": {"enum": ["Point"]}, "coordinates": _POSITION}},
    "LineString": {"type": "object", "required": ["type", "coordinates"],
                   "properties": {"type": {"enum": ["LineString"]},
                                  "coordinates": {"type": "array", "minItems": 2, "items": _POSITION}}},
    "MultiLineString": {"type": "object", "required": ["type", "coordinates"],
                        "properties": {"type": {"enum": ["MultiLineString"]},
                                       "coordinates": {"type": "array", "minItems": 1, "items": {
                                           "type": "array", "minItems": 2, "items": _POSITION}}}},
}


def plan_json_schema() -> dict[str, Any]:
    """JSON Schema of a plan submission, generated from the same field table the parser uses
    (for the OpenAPI document; the parser stays the authority and also checks what a schema cannot)."""
    variants = []
    for kind, spec in _FIELDS.items():
        # null means "not given" for optional fields (GIS exports write nulls for empty cells)
        props = {k: _field_schema(*v) if k in ("item", *_REQUIRED[kind]) else
                 {"oneOf": [_field_schema(*v), {"type": "null"}]} for k, v in spec.items()}
        props["item"] = {"type": "string", "enum": [kind]}
        mode, allowed = _GEOMETRY[kind]
        geoms = [_GEOMETRY_SCHEMA[g] for g in allowed]
        geometry: dict[str, Any] = (geoms[0] if len(geoms) == 1 else {"oneOf": geoms}) if geoms else {}
        if mode != "required":
            geometry = {"oneOf": [geometry, {"type": "null"}]} if geometry else {}
        variants.append({
            "type": "object", "required": ["type", "properties", *(["geometry"] if mode == "required" else [])],
            "properties": {"type": {"enum": ["Feature"]}, "id": {"type": ["string", "integer", "null"]},
                           "geometry": geometry,
                           "properties": {"type": "object", "additionalProperties": False,
                                          "required": ["item", *_REQUIRED[kind]], "properties": props,
                                          **({"if": {"properties": {"mount": {"enum": ["building"]}},
                                                     "required": ["mount"]},
                                              "then": {"required": ["building_height_m"]}}
                                             if kind == "new_site" else {})}},
        })
    return {"type": "object", "required": ["type", "features"],
            "properties": {"type": {"enum": ["FeatureCollection"]}, "title": {"anyOf": [{"type": "string", "maxLength": TITLE_MAX}, {"type": "null"}]},
                           # the cable method of every cable_route that names none
                           "method": {"oneOf": [_field_schema("choice", PROPOSED_CABLE_METHODS), {"type": "null"}]},
                           "features": {"type": "array", "minItems": 1, "items": {"oneOf": variants}}}}
