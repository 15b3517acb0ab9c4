"""Accent-insensitive search for the map: site codes, streets (routes, cable segments), zones, admin units.

Planners type Vietnamese names without diacritics ("le chan" must find "Lê Chân", "dien bien phu" must
find "Điện Biên Phủ"), so names are compared after :func:`planning.names.fold`. Named places are few
(hundreds to a few thousand rows even for a big province), so their folded index is built in Python once per
``meta['data_version']`` and cached; sites can be a million rows, so site codes are matched in SQL
(codes are ASCII; a case-insensitive ``LIKE`` is enough and portable to both backends).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import Engine, func, select

from geodata.store import models as m
from geodata.store.meta import data_version
from planning.names import fold


@dataclass(frozen=True)
class Hit:
    """One search result: what it is, what to show, and where to fly the map."""

    kind: str  # site | route | street | zone | district | commune
    label: str
    detail: str | None
    lon: float
    lat: float
    bbox: tuple[float, float, float, float] | None = None  # minx, miny, maxx, maxy (WGS84)
    policy: str | None = None  # routes and zones: a1_only | a2a_allowed | any
    code: str | None = None  # admin units: the official code

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Entry:
    key: str  # folded label
    hit: Hit


_cache: dict[tuple[str, Any], list[_Entry]] = {}
_lock = threading.Lock()


def _hit(kind: str, label: str, detail: str | None, geoms: list[Any], policy: str | None = None,
         code: str | None = None) -> Hit:
    g = shapely.union_all(geoms) if len(geoms) > 1 else geoms[0]
    minx, miny, maxx, maxy = g.bounds
    p = g.representative_point() if g.geom_type not in ("Point", "MultiPoint") else g.centroid
    bbox = None if g.geom_type == "Point" else (minx, miny, maxx, maxy)
    return Hit(kind, label, detail, round(p.x, 7), round(p.y, 7),
               tuple(round(v, 7) for v in bbox) if bbox else None, policy, code)  # type: ignore[arg-type]


def _build_index(engine: Engine) -> list[_Entry]:
    entries: list[_Entry] = []
    with engine.connect() as conn:
        districts = {code: name for code, name in conn.execute(
            select(m.AdminUnit.code, m.AdminUnit.name).where(m.AdminUnit.level == "district"))}

        # admin units: newest version of each code (units are versioned for the 2025 reform)
        seen: set[str] = set()
        for code, name, level, parent, geom in conn.execute(
                select(m.AdminUnit.code, m.AdminUnit.name, m.AdminUnit.level, m.AdminUnit.parent_code,
                       m.AdminUnit.geom).where(m.AdminUnit.level.in_(("district", "commune")))
                .order_by(m.AdminUnit.code, m.AdminUnit.valid_from.desc())):
            if code in seen:
                continue
            seen.add(code)
            detail = districts.get(parent) if level == "commune" else None
            entries.append(_Entry(fold(name), _hit(level, name, detail, [to_shape(geom)], code=code)))

        # streets: routes and cable segments grouped by (name, district)
        grouped: dict[tuple[str, str, str | None], list[Any]] = {}
        for name, district, policy, geom in conn.execute(
                select(m.Route.name, m.Route.district_code, m.Route.policy, m.Route.geom)):
            grouped.setdefault(("route", name, district), []).append((policy, to_shape(geom)))
        for street, district, geom in conn.execute(
                select(m.CableSegment.street, m.CableSegment.district_code, m.CableSegment.geom)):
            grouped.setdefault(("street", street, district), []).append((None, to_shape(geom)))
        for (kind, name, district), items in grouped.items():
            policies = sorted({p for p, _ in items if p})
            entries.append(_Entry(fold(name), _hit(kind, name, districts.get(district or ""), [g for _, g in items],
                                                   ",".join(policies) or None)))

        for name, kind, policy, geom in conn.execute(select(m.Zone.name, m.Zone.kind, m.Zone.policy, m.Zone.geom)):
            entries.append(_Entry(fold(name), _hit("zone", name, kind, [to_shape(geom)], policy)))
    return entries


def _index(engine: Engine) -> list[_Entry]:
    key = (engine.url.render_as_string(hide_password=True), data_version(engine))
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    entries = _build_index(engine)
    with _lock:
        for k in [k for k in _cache if k[0] == key[0]]:
            del _cache[k]
        _cache[key] = entries
    return entries


def admin_labels(engine: Engine) -> dict[str, Any]:
    """One label point per district and commune (a point inside each, its newest version), as GeoJSON.

    Vector tiles cut a polygon at tile borders and a renderer labels every piece, so big districts
    would be named several times; these points name each unit once.
    """
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [e.hit.lon, e.hit.lat]},
                 "properties": {"name": e.hit.label, "level": e.hit.kind, "code": e.hit.code}}
                for e in _index(engine) if e.hit.kind in ("district", "commune")]
    return {"type": "FeatureCollection", "features": features}


def _score(key: str, q: str, tokens: list[str]) -> int | None:
    """Lower is better; ``None`` when some query token does not start a word of ``key``.

    0 exact · 1 prefix · 2 the phrase starts a word ("le chan" in "quan le chan") · 3 the phrase
    inside a word · 4 every token starts some word, in any order ("chan le").
    """
    if key == q:
        return 0
    if key.startswith(q):
        return 1
    if f" {q}" in f" {key}":
        return 2
    if q in key:
        return 3
    words = key.split()
    return 4 if all(any(w.startswith(t) for w in words) for t in tokens) else None


def search_sites(engine: Engine, q: str, limit: int) -> list[Hit]:
    """Sites whose code contains ``q`` (case-insensitive), shortest codes first."""
    needle = q.strip().lower().replace("\\", "").replace("%", "").replace("_", "")
    if len(needle) < 2:
        return []
    stmt = (select(m.Site.code, m.Site.operator, m.Site.derived_class, m.Site.declared_class,
                   func.ST_X(m.Site.geom), func.ST_Y(m.Site.geom))
            .where(func.lower(m.Site.code).like(f"%{needle}%"))
            .order_by(func.length(m.Site.code), m.Site.code).limit(limit))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [Hit("site", code, " · ".join(str(v) for v in (op, derived or declared) if v) or None,
                round(float(x), 7), round(float(y), 7)) for code, op, derived, declared, x, y in rows]


def search(engine: Engine, q: str, limit: int = 10) -> list[Hit]:
    """Best matches among sites (by code) and named places (by folded name), at most ``limit``."""
    fq = fold(q)
    if not fq:
        return []
    tokens = fq.split()
    scored = [(s, len(e.key), e.hit) for e in _index(engine) if (s := _score(e.key, fq, tokens)) is not None]
    scored.sort(key=lambda t: (t[0], t[1], t[2].kind, t[2].label))
    if scored and scored[0][0] <= 3:  # the phrase itself matched: loose token matches are only noise
        scored = [t for t in scored if t[0] <= 3]
    places = [h for _, _, h in scored]
    sites = search_sites(engine, q, limit)
    # interleave so a code-looking query shows sites first and a name-looking one shows places first
    first, second = (sites, places) if any(ch.isdigit() for ch in q) or "-" in q else (places, sites)
    return (first + second)[:limit]
