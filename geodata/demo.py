"""Deterministic demo data for Hải Phòng: admin units, streets, A1-only zones and routes, BTS sites,
cable segments of plan 18/KH-BCĐ, a relocation project and complaints.

Geometry is built in the province's metric CRS (EPSG:9210) and stored in EPSG:4326. Real district
names with made-up boundaries (Voronoi cells clipped to a made-up outline); the point is a
plausible picture with known answers: the generator *plants* A2a masts on A1-only routes and zones
and records their codes (``meta['demo.planted_a2a_on_a1']``), and makes sure no other A2a mast
lands there, so the flagship check can be tested for exactly these sites.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import shapely.ops
from shapely import LineString, MultiPolygon, Point, Polygon
from shapely.affinity import rotate, translate
from sqlalchemy import Connection, Engine, delete, func, insert, select

from geodata.errors import Conflict
from geodata.store import models as m
from geodata.store.meta import bump_data_version, meta_get, meta_set
from geodata.store.maintenance import AUTO_MIN_SITES, optimize_sites
from geodata.crs import transformer
from geodata.io.import_geo import load_admin_index
from planning.cables import majority_unit
from planning.vocab import COMPLAINT_STATUSES, MAST_CLASSES
from planning.i18n import _

CENTER_LONLAT = (106.68, 20.86)
METRIC = "EPSG:9210"
#: Bumped when a seed draws different data (2: sites and cables in the made-up former Hải Dương part).
DEMO_VERSION = 2

OPERATORS = [
    ("VTL", "Tập đoàn Công nghiệp - Viễn thông Quân đội (Viettel)", "Viettel"),
    ("VNP", "Tổng công ty Dịch vụ Viễn thông (VNPT-VinaPhone)", "VinaPhone"),
    ("MBF", "Tổng công ty Viễn thông MobiFone", "MobiFone"),
    ("VNM", "Công ty Cổ phần Viễn thông Di động Vietnamobile", "Vietnamobile"),
]
OPERATOR_WEIGHTS = np.array([0.40, 0.27, 0.25, 0.08])

# GSO codes of the pre-2025 urban districts; offsets (km east, km north) of each seed from the centre.
DISTRICTS = [
    ("303", "Quận Hồng Bàng", (-2.2, 1.4)),
    ("304", "Quận Ngô Quyền", (2.2, 0.9)),
    ("305", "Quận Lê Chân", (-0.3, -1.6)),
    ("306", "Quận Hải An", (6.5, -1.5)),
    ("307", "Quận Kiến An", (-4.5, -6.5)),
    ("308", "Quận Đồ Sơn", (9.0, -12.5)),
    ("309", "Quận Dương Kinh", (1.5, -8.5)),
]

WARD_NAMES = [
    "Minh Khai", "Hoàng Văn Thụ", "Phan Bội Châu", "Quang Trung", "Trại Chuối", "Hạ Lý", "Thượng Lý",
    "Sở Dầu", "Máy Chai", "Máy Tơ", "Vạn Mỹ", "Cầu Tre", "Lạc Viên", "Gia Viên", "Đông Khê", "Cầu Đất",
    "Lạch Tray", "Đằng Giang", "An Biên", "An Dương", "Trần Nguyên Hãn", "Niệm Nghĩa", "Dư Hàng",
    "Hàng Kênh", "Vĩnh Niệm", "Kênh Dương", "Cát Dài", "Đông Hải 1", "Đông Hải 2", "Nam Hải", "Đằng Lâm",
    "Đằng Hải", "Thành Tô", "Tràng Cát", "Cát Bi", "Bắc Sơn", "Nam Sơn", "Ngọc Sơn", "Trần Thành Ngọ",
    "Văn Đẩu", "Quán Trữ", "Lãm Hà", "Đồng Hòa", "Bắc Hà", "Tràng Minh", "Phù Liễn", "Anh Dũng",
    "Hải Thành", "Hòa Nghĩa", "Tân Thành", "Đa Phúc", "Hưng Đạo", "Vạn Hương", "Ngọc Xuyên", "Minh Đức",
    "Hợp Đức", "Bàng La", "Vạn Sơn", "Ngọc Hải", "Dư Hàng Kênh", "Lê Lợi", "Kỳ Sơn", "Tân Dương",
]

A1_STREETS = ["Trần Phú", "Điện Biên Phủ", "Quang Trung", "Hoàng Văn Thụ", "Lê Đại Hành", "Minh Khai",
              "Tam Bạc", "Lý Tự Trọng", "Đinh Tiên Hoàng"]
A2A_STREETS = ["Lạch Tray", "Lê Lợi", "Tô Hiệu", "Lê Thánh Tông", "Đà Nẵng", "Nguyễn Văn Linh", "Cầu Đất",
               "Hai Bà Trưng", "Trần Nguyên Hãn", "Nguyễn Đức Cảnh", "Lê Hồng Phong", "Văn Cao", "Trần Nhân Tông",
               "Hùng Vương", "Bạch Đằng", "Phạm Văn Đồng"]
OTHER_STREETS = ["Chợ Con", "Hàng Kênh", "Dư Hàng", "Nguyễn Công Trứ", "Cát Cụt", "Lê Chân", "Mê Linh",
                 "Tôn Đức Thắng", "Thiên Lôi", "Nguyễn Văn Hới", "Hồ Sen", "An Đà", "Đông Khê", "Lương Khánh Thiện",
                 "Phan Bội Châu", "Hoàng Quốc Việt", "Ngô Quyền", "Lê Lai", "Máy Tơ", "Cù Chính Lan",
                 "Nguyễn Tri Phương", "Phạm Minh Đức", "Trần Quang Khải", "Hạ Lý", "Chương Dương", "Hồng Bàng",
                 "Nguyễn Trãi", "Lê Thánh Tông", "Ngô Gia Tự", "Trần Hưng Đạo", "Kiều Hạ", "Tô Vũ",
                 "Nguyễn Bình", "Lý Thường Kiệt", "Phan Chu Trinh", "Hoàng Diệu", "Võ Thị Sáu", "Lạc Long Quân"]

#: Share of each of :data:`planning.vocab.MAST_CLASSES` (in that order) among urban and rural sites.
URBAN_CLASS_P = np.array([0.14, 0.06, 0.58, 0.20, 0.02])
RURAL_CLASS_P = np.array([0.04, 0.02, 0.20, 0.72, 0.02])
TECHS = ["2G/3G/4G", "3G/4G", "4G", "4G/5G", "2G/4G"]

LEGAL_A1 = "QĐ 2522/QĐ-UBND Hải Phòng (04/11/2015); TTLT 15/2016/TTLT-BTTTT-BXD"


@dataclass
class DemoResult:
    seed: int
    sites: int
    routes: int
    zones: int
    communes: int
    districts: int
    cable_segments: int
    planted: list[str] = field(default_factory=list)
    skipped: bool = False


class DemoConflict(Conflict, RuntimeError):
    """The database already holds data that the demo would overwrite."""


# --------------------------------------------------------------------------------------------
# geometry helpers (metric <-> WGS84)
# --------------------------------------------------------------------------------------------

def _to_wgs84(geom: Any) -> Any:
    t = transformer(METRIC, "EPSG:4326")
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _to_metric(geom: Any) -> Any:
    t = transformer("EPSG:4326", METRIC)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _ewkt(geom: Any) -> str:
    return "SRID=4326;" + shapely.to_wkt(_to_wgs84(geom), rounding_precision=8)


def _multi(poly: Any) -> MultiPolygon:
    if isinstance(poly, MultiPolygon):
        return poly
    if isinstance(poly, Polygon):
        return MultiPolygon([poly])
    polys = [g for g in getattr(poly, "geoms", []) if isinstance(g, Polygon)]
    return MultiPolygon(polys)


# --------------------------------------------------------------------------------------------
# the world: outline, admin units, streets, zones
# --------------------------------------------------------------------------------------------

@dataclass
class World:
    cx: float
    cy: float
    outline: Polygon
    districts: list[dict[str, Any]]
    communes: list[dict[str, Any]]
    routes: list[dict[str, Any]]
    zones: list[dict[str, Any]]
    a1_area: Any  # union of A1-only corridors and zones (with a safety margin), metric
    #: union of the corridors of streets where A2a is the bulkiest class allowed (same margin), metric
    a2a_area: Any = None


def build_world(rng: np.random.Generator, n_routes: int | None = None, n_zones: int | None = None) -> World:
    cx, cy = transformer("EPSG:4326", METRIC).transform(*CENTER_LONLAT)
    # outline: a noisy ellipse ~34 km × 30 km, skewed south-east towards Đồ Sơn
    ang = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    r = 1 + 0.08 * np.sin(3 * ang + 0.7) + 0.05 * np.cos(5 * ang) + rng.uniform(-0.03, 0.03, ang.size)
    ox = cx + 2500 + 15000 * r * np.cos(ang)
    oy = cy - 5000 + 13500 * r * np.sin(ang)
    outline = Polygon(np.column_stack([ox, oy])).buffer(0)

    # communes: the district seeds first (so every district has a cell), then denser near the centre
    seeds = [(cx + dx * 1000, cy + dy * 1000) for _, _, (dx, dy) in DISTRICTS]
    while len(seeds) < 60:
        if rng.random() < 0.6:
            p = (cx + rng.normal(0, 3500), cy + rng.normal(-1500, 3500))
        else:
            p = (cx + rng.uniform(-14000, 18000), cy + rng.uniform(-19000, 9000))
        if outline.contains(Point(p)) and min(np.hypot(p[0] - s[0], p[1] - s[1]) for s in seeds) > 900:
            seeds.append(p)
    seed_pts = shapely.points(np.array(seeds))
    cells = shapely.voronoi_polygons(shapely.multipoints(seed_pts), extend_to=outline.buffer(5000), ordered=True)
    cells = [c.intersection(outline) for c in cells.geoms]
    dseed = np.array([s for s in seeds[: len(DISTRICTS)]])
    communes: list[dict[str, Any]] = []
    for i, (cell, (sx, sy)) in enumerate(zip(cells, seeds, strict=True)):
        di = int(np.argmin(np.hypot(dseed[:, 0] - sx, dseed[:, 1] - sy)))
        dist_centre = float(np.hypot(sx - cx, sy - cy))
        urban = dist_centre < 9000
        communes.append({
            "code": f"{11300 + i * 3:05d}",
            "name": ("Phường " if urban else "Xã ") + WARD_NAMES[i % len(WARD_NAMES)],
            "unit_type": "Phường" if urban else "Xã",
            "urban": urban,
            "district_index": di,
            "geom": cell,
        })
    districts: list[dict[str, Any]] = []
    for di, (code, name, _kind) in enumerate(DISTRICTS):
        members = [c for c in communes if c["district_index"] == di]
        districts.append({"code": code, "name": name, "geom": shapely.union_all([c["geom"] for c in members])})
        for c in members:
            c["parent_code"] = code

    routes = _build_routes(rng, cx, cy, outline, districts, n_routes)
    zones = _build_zones(rng, cx, cy, districts, n_zones)
    a1_parts = [shapely.buffer(r["geom"], r["corridor_m"] + 3.0) for r in routes if r["policy"] == "a1_only"]
    a1_parts += [_zone_area(z).buffer(3.0) for z in zones if z["policy"] == "a1_only"]
    a1_area = shapely.union_all(a1_parts)
    shapely.prepare(a1_area)
    a2a_area = shapely.union_all([shapely.buffer(r["geom"], r["corridor_m"] + 3.0) for r in routes
                                  if r["policy"] == "a2a_allowed"] or [Polygon()])
    shapely.prepare(a2a_area)
    return World(cx, cy, outline, districts, communes, routes, zones, a1_area, a2a_area)


def _district_of(districts: list[dict[str, Any]], p: Point) -> str | None:
    for d in districts:
        if d["geom"].contains(p):
            return str(d["code"])
    return None


def _build_routes(rng: np.random.Generator, cx: float, cy: float, outline: Polygon,
                  districts: list[dict[str, Any]], n_routes: int | None) -> list[dict[str, Any]]:
    """Named streets: a rotated grid of avenues in the core and radial roads, cut to the outline."""
    lines: list[LineString] = []
    for k in range(-6, 7):  # 13 east-west and 13 north-south avenues, 650 m apart, rotated 22°
        lines.append(LineString([(cx - 4500, cy + k * 650), (cx + 4500, cy + k * 650)]))
        lines.append(LineString([(cx + k * 650, cy - 4500), (cx + k * 650, cy + 4500)]))
    lines = [rotate(ln, 22, origin=(cx, cy)) for ln in lines]
    for a in np.linspace(0, 2 * np.pi, 10, endpoint=False):  # radial arterials
        lines.append(LineString([(cx + 4000 * np.cos(a), cy + 4000 * np.sin(a)),
                                 (cx + 16000 * np.cos(a + 0.15), cy + 16000 * np.sin(a + 0.15))]))
    names = A1_STREETS + A2A_STREETS + OTHER_STREETS
    order = rng.permutation(len(lines))
    routes: list[dict[str, Any]] = []
    for idx, li in enumerate(order):
        ln = lines[li].intersection(outline)
        if ln.is_empty or ln.length < 200:
            continue
        if ln.geom_type == "MultiLineString":
            ln = max(ln.geoms, key=lambda g: g.length)
        # central streets are candidates for A1-only; the 9 A1 names go to lines near the centre
        name = names[idx] if idx < len(names) else f"Đường số {idx + 1}"
        policy = "a1_only" if name in A1_STREETS else ("a2a_allowed" if name in A2A_STREETS else "any")
        if policy == "a1_only":
            # A1-only routes are landmark streets of the core: keep the central 1.2–2.4 km only
            mid = ln.project(Point(cx, cy))
            half = rng.uniform(600, 1200)
            ln = shapely.ops.substring(ln, max(0.0, mid - half), min(ln.length, mid + half))
        corridor = float(rng.choice([20.0, 30.0, 30.0, 30.0, 40.0])) if policy == "a1_only" else 30.0
        routes.append({
            "name": f"Đường {name}" if not name.startswith("Đường") else name,
            "policy": policy,
            "corridor_m": corridor,
            "district_code": _district_of(districts, ln.interpolate(0.5, normalized=True)),
            "legal_source": LEGAL_A1 if policy == "a1_only" else None,
            "geom": ln,
        })
    if n_routes and n_routes > len(routes):  # extra short street segments (for benchmarks)
        extra = n_routes - len(routes)
        ang = rng.uniform(0, np.pi, extra)
        rad = np.abs(rng.normal(0, 5000, extra))
        th = rng.uniform(0, 2 * np.pi, extra)
        x0, y0 = cx + rad * np.cos(th), cy - 2000 + rad * np.sin(th)
        ln_len = rng.uniform(60, 250, extra)
        coords = np.stack([np.column_stack([x0, y0]),
                           np.column_stack([x0 + ln_len * np.cos(ang), y0 + ln_len * np.sin(ang)])], axis=1)
        geoms = shapely.linestrings(coords)
        a1 = rng.random(extra) < 0.05
        for i in range(extra):
            routes.append({
                "name": f"Ngõ {i + 1}", "policy": "a1_only" if a1[i] else "any",
                "corridor_m": 15.0 if a1[i] else 10.0, "district_code": None,
                "legal_source": LEGAL_A1 if a1[i] else None, "geom": geoms[i],
            })
    return routes


def _build_zones(rng: np.random.Generator, cx: float, cy: float, districts: list[dict[str, Any]],
                 n_zones: int | None) -> list[dict[str, Any]]:
    zones: list[dict[str, Any]] = []

    def add(name: str, kind: str, geom: Any, radius: float | None = None) -> None:
        zones.append({"name": name, "kind": kind, "policy": "a1_only", "radius_m": radius,
                      "district_code": _district_of(districts, geom.centroid),
                      "legal_source": LEGAL_A1 + "; bán kính 200 m trước trụ sở UBND, Thành ủy, Quận ủy"
                      if kind == "headquarters" else LEGAL_A1, "geom": geom})

    add("Quảng trường Nhà hát lớn", "square", Point(cx - 300, cy + 250).buffer(160, 4).envelope)
    add("Nhà hát lớn Hải Phòng", "theatre", Point(cx - 150, cy + 330).buffer(60, 4).envelope)
    add("UBND thành phố Hải Phòng", "headquarters", Point(cx - 700, cy + 150), 200.0)
    add("Thành ủy Hải Phòng", "headquarters", Point(cx + 900, cy + 600), 200.0)
    add("Đình Hàng Kênh", "heritage", Polygon([(cx + 200, cy - 2500), (cx + 420, cy - 2480), (cx + 400, cy - 2300),
                                               (cx + 190, cy - 2320)]))
    add("Chùa Dư Hàng", "heritage", Point(cx - 900, cy - 2900).buffer(90, 6))
    add("Quảng trường Cột cờ", "square", Point(cx + 8800, cy - 12800).buffer(120, 4).envelope)
    for code, name, (dx, dy) in DISTRICTS:  # 200 m in front of each district Party committee / People's Committee
        add(f"Quận ủy {name.removeprefix('Quận ')}", "headquarters", Point(cx + dx * 1000 + 150, cy + dy * 1000 - 120), 200.0)
    if n_zones and n_zones > len(zones):
        extra = n_zones - len(zones)
        rad = np.abs(rng.normal(0, 5000, extra))
        th = rng.uniform(0, 2 * np.pi, extra)
        pts = shapely.points(cx + rad * np.cos(th), cy - 2000 + rad * np.sin(th))
        radii = rng.uniform(30, 120, extra)
        for i in range(extra):
            zones.append({"name": f"Khu vực cảnh quan {i + 1}", "kind": "street", "policy": "a1_only",
                          "radius_m": float(radii[i]), "district_code": None, "legal_source": LEGAL_A1,
                          "geom": pts[i]})
    return zones


def _zone_area(z: dict[str, Any]) -> Any:
    g = z["geom"]
    return g.buffer(z["radius_m"], 32) if g.geom_type == "Point" else g


# --------------------------------------------------------------------------------------------
# sites
# --------------------------------------------------------------------------------------------

def _site_positions(rng: np.random.Generator, w: World, n: int) -> np.ndarray:
    """Sites cluster in the urban core (as real ones do) with a rural spread; all inside the outline."""
    out = np.empty((0, 2))
    shapely.prepare(w.outline)
    while len(out) < n:
        k = max(1024, int((n - len(out)) * 1.4))
        urban = rng.random(k) < 0.72
        x = np.where(urban, w.cx + rng.normal(0, 3000, k), w.cx + rng.uniform(-13000, 18000, k))
        y = np.where(urban, w.cy - 1000 + rng.normal(0, 3000, k), w.cy + rng.uniform(-19000, 9000, k))
        ok = shapely.contains_xy(w.outline, x, y)
        out = np.vstack([out, np.column_stack([x[ok], y[ok]])])
    return out[:n]


def _site_attributes(rng: np.random.Generator, cls: np.ndarray) -> dict[str, np.ndarray]:
    n = cls.size
    building = np.isin(cls, ["A1a", "A2a"])
    bh = np.where(building, rng.uniform(12, 45, n).round(1), np.nan)
    mh = np.empty(n)
    reach = np.empty(n)
    camo = np.zeros(n, dtype=bool)
    a1a = cls == "A1a"
    # A1a: non-bulky on a building — ≤ 20 % of building height, ≤ 3 m, reach ≤ 0.5 m (or hidden)
    hidden = a1a & (rng.random(n) < 0.25)
    lim = np.minimum(0.2 * np.nan_to_num(bh, nan=15.0), 3.0)
    mh[a1a] = (lim[a1a] * rng.uniform(0.4, 0.95, a1a.sum())).round(2)
    mh[hidden] = rng.uniform(3.5, 6.0, hidden.sum()).round(1)
    reach[a1a] = rng.uniform(0.15, 0.45, a1a.sum()).round(2)
    camo[hidden] = True
    a1b = cls == "A1b"
    mh[a1b] = rng.uniform(9, 20, a1b.sum()).round(1)  # the pack caps A1b poles at 20 m
    reach[a1b] = rng.uniform(0.3, 1.0, a1b.sum()).round(2)
    camo[a1b] = True
    a2a = cls == "A2a"
    mh[a2a] = rng.uniform(6, 21, a2a.sum()).round(1)
    reach[a2a] = rng.uniform(0.6, 2.5, a2a.sum()).round(2)
    a2b = cls == "A2b"
    mh[a2b] = rng.uniform(18, 48, a2b.sum()).round(1)
    reach[a2b] = rng.uniform(1.0, 3.0, a2b.sum()).round(2)
    a2c = cls == "A2c"
    mh[a2c] = rng.uniform(51, 72, a2c.sum()).round(1)
    reach[a2c] = rng.uniform(1.5, 3.5, a2c.sum()).round(2)
    return {"mount": np.where(building, "building", "ground"), "building_height_m": bh, "mast_height_m": mh,
            "reach_m": reach, "camouflaged": camo}


def _locate(polys: list[Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the polygon containing each point (-1 if none), with an STRtree."""
    tree = shapely.STRtree(polys)
    pts = shapely.points(x, y)
    pi, gi = tree.query(pts, predicate="intersects")
    out = np.full(x.size, -1, dtype=np.int64)
    out[pi[::-1]] = gi[::-1]  # first match wins for points exactly on a shared boundary
    return out


def _plant_points(rng: np.random.Generator, w: World, k: int) -> list[tuple[float, float, str]]:
    """Points well inside A1-only corridors/zones: (x, y, where)."""
    a1_routes = [r for r in w.routes if r["policy"] == "a1_only" and not r["name"].startswith("Ngõ")]
    a1_zones = [z for z in w.zones if z["policy"] == "a1_only" and not z["name"].startswith("Khu vực")]
    pts: list[tuple[float, float, str]] = []
    for i in range(k):
        if i % 3 != 2 and a1_routes:
            r = a1_routes[i % len(a1_routes)]
            ln: LineString = r["geom"]
            d = rng.uniform(0.1, 0.9) * ln.length
            p0, p1 = ln.interpolate(d), ln.interpolate(min(ln.length, d + 1.0))
            dx, dy = p1.x - p0.x, p1.y - p0.y
            norm = np.hypot(dx, dy) or 1.0
            off = rng.uniform(-(r["corridor_m"] - 6), r["corridor_m"] - 6)
            pts.append((p0.x - dy / norm * off, p0.y + dx / norm * off, r["name"]))
        else:
            z = a1_zones[i % len(a1_zones)]
            area = _zone_area(z).buffer(-8)
            c = area.representative_point()
            pts.append((c.x + rng.uniform(-3, 3), c.y + rng.uniform(-3, 3), z["name"]))
    return pts


#: One demo site in this many stands in the made-up former Hải Dương part (when it is written), so the
#: post-reform table shows sites there and an appraisal dated before 1/7/2025 finds them outside.
WEST_EVERY = 40


def _west_points(area: Any, index: np.ndarray) -> np.ndarray:
    """A point inside ``area`` (metric) for each global site index, by the R2 low-discrepancy sequence:
    no random draws, so the rest of the demo stays the same for a seed, and spread evenly."""
    minx, miny, maxx, maxy = area.bounds
    shapely.prepare(area)
    out = np.empty((len(index), 2))
    for j, g in enumerate(index.tolist()):
        t = int(g) * 7919
        while True:
            t += 1
            x = minx + (maxx - minx) * ((0.5 + t * 0.7548776662466927) % 1.0)
            y = miny + (maxy - miny) * ((0.5 + t * 0.5698402909980532) % 1.0)
            if shapely.contains_xy(area, x, y):
                out[j] = (x, y)
                break
    return out


def generate_sites(rng: np.random.Generator, w: World, n: int, chunk: int = 50_000,
                   west: Sequence[dict[str, Any]] | None = None) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
    """Yield chunks of site rows (ready for INSERT) and the planted codes within each chunk.

    ``west``: the made-up former Hải Dương communes (:func:`_west_part`); one site in
    :data:`WEST_EVERY` is moved there (none of the planted ones)."""
    n_plant = min(n, max(6, n // 80)) if n >= 50 else 0
    plant = _plant_points(rng, w, n_plant)
    # global row index -> planted point; spread over the whole run so every chunk size works
    plant_at = dict(zip(np.linspace(0, n - 1, n_plant).astype(int).tolist(), plant, strict=True)) if n_plant else {}
    communes = [*w.communes, *(west or [])]
    commune_polys = [c["geom"] for c in communes]
    west_area = shapely.union_all([c["geom"] for c in west]) if west else None
    to_wgs = transformer(METRIC, "EPSG:4326")
    base = dt.date(2012, 1, 1)
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        xy = _site_positions(rng, w, k)
        if west_area is not None:
            g = np.arange(start, start + k)
            moved = np.flatnonzero((g % WEST_EVERY == 3) & ~np.isin(g, list(plant_at)))
            xy[moved] = _west_points(west_area, g[moved])
        ci = _locate(commune_polys, xy[:, 0], xy[:, 1])
        urban = np.array([communes[i]["urban"] if i >= 0 else False for i in ci])
        cls = np.where(urban, rng.choice(MAST_CLASSES, k, p=URBAN_CLASS_P),
                       rng.choice(MAST_CLASSES, k, p=RURAL_CLASS_P))
        declared = cls.copy()
        mism = rng.random(k) < 0.04
        declared[mism] = rng.choice(MAST_CLASSES, mism.sum())
        # no bulky mast (derived or declared A2a/A2b/A2c) in A1-only areas except the planted ones:
        # such masts were converted to non-bulky A1a under Kế hoạch 153/KH-UBND in this story; and
        # no ground A2b/A2c on streets where A2a is the bulkiest class allowed (they stand on roofs)
        bulky = np.array(["A2a", "A2b", "A2c"])
        in_a1 = shapely.contains_xy(w.a1_area, xy[:, 0], xy[:, 1])
        fix = in_a1 & (np.isin(cls, bulky) | np.isin(declared, bulky))
        cls[fix] = "A1a"
        declared[fix] = "A1a"
        in_a2a = shapely.contains_xy(w.a2a_area, xy[:, 0], xy[:, 1]) & ~in_a1
        fix = in_a2a & (np.isin(cls, bulky[1:]) | np.isin(declared, bulky[1:]))
        cls[fix] = "A2a"
        declared[fix] = "A2a"
        planted_here: list[str] = []
        rows_planted = [g - start for g in plant_at if start <= g < start + k]
        for row in rows_planted:
            xy[row] = plant_at[row + start][:2]
            cls[row] = "A2a"
            declared[row] = "A2a"
        attrs = _site_attributes(rng, cls)
        missing = rng.random(k) < 0.01
        missing[rows_planted] = False
        missing[in_a1 | in_a2a] = False  # a site of unknown class there would be told "cannot confirm"
        planted_set = set(rows_planted)
        status_planned = rng.random(k) < 0.03
        status_planned[rows_planted] = False
        ci = _locate(commune_polys, xy[:, 0], xy[:, 1])
        lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
        ops = rng.choice([o[0] for o in OPERATORS], k, p=OPERATOR_WEIGHTS)
        tech = rng.choice(TECHS, k)
        trx = rng.integers(1, 7, k)
        status = np.where(status_planned, "planned", "built")
        built_days = rng.integers(0, 4800, k)
        shared = rng.random(k) < 0.12
        tenants = np.where(attrs["mount"] == "ground", rng.integers(1, 5, k), 1)
        rows: list[dict[str, Any]] = []
        for i in range(k):
            code = f"HP-{ops[i]}-{start + i + 1:07d}"
            c = int(ci[i])
            other = [o[0] for o in OPERATORS if o[0] != ops[i]]
            rows.append({
                "code": code,
                "operator": str(ops[i]),
                "name": f"Trạm {code}",
                "mount": str(attrs["mount"][i]),
                "mast_height_m": None if missing[i] else float(attrs["mast_height_m"][i]),
                "building_height_m": None if np.isnan(attrs["building_height_m"][i])
                else float(attrs["building_height_m"][i]),
                "reach_m": float(attrs["reach_m"][i]),
                "camouflaged": bool(attrs["camouflaged"][i]),
                "declared_class": str(declared[i]),
                "tech": str(tech[i]),
                "transmitters": int(trx[i]),
                "shared_by": [other[int(trx[i]) % 3]] if shared[i] else [],
                "max_tenants": int(tenants[i]),
                "status": str(status[i]),
                "commune_code": communes[c]["code"] if c >= 0 else None,
                "district_code": communes[c]["parent_code"] if c >= 0 else None,
                "x_m": round(float(xy[i, 0]), 3),
                "y_m": round(float(xy[i, 1]), 3),
                "built_on": None if status[i] == "planned" else base + dt.timedelta(days=int(built_days[i])),
                "target_date": dt.date(2027, 6, 30) if status[i] == "planned" else None,
                "updated_at": dt.datetime(2026, 1, 1),
                "geom": f"SRID=4326;POINT({lon[i]:.8f} {lat[i]:.8f})",
            })
            if i in planted_set:
                planted_here.append(code)
        yield rows, planted_here


# --------------------------------------------------------------------------------------------
# cables, plans, complaints
# --------------------------------------------------------------------------------------------

def relocation_area(w: World) -> Polygon:
    """Site of the Cầu Rào bridge works (Lê Chân side of the Lạch Tray river), metric CRS."""
    return Point(w.cx + 300, w.cy - 4200).buffer(700, 8)


#: Street sections that run across a district boundary: (district holding most of it, the other).
CROSSING_PAIRS = [("304", "303"), ("307", "305"), ("306", "304")]


#: Made-up streets of the former Hải Dương part with a cable section each (when that part is written).
WEST_STREETS = ("Đường Nguyễn Lương Bằng", "Đường Thanh Niên")


def _cable_rows(rng: np.random.Generator, w: World, west: Sequence[dict[str, Any]] | None = None,
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Street sections of plans 18/KH-BCĐ and 85/KH-BCĐ: 11 in Lê Chân, 20 in Hồng Bàng, some elsewhere.

    Two Lê Chân sections lie in the Cầu Rào relocation area, and three more sections run across a
    district boundary (their ``district_code`` is the district holding most of their length), so
    the per-district splitting of the progress report has real work to do. Overdue sections (target
    year passed, not done) come from the mix of years and statuses. With ``west`` (the made-up
    former Hải Dương communes) one section on each of :data:`WEST_STREETS` lies there, drawn last so
    the other sections stay the same for a seed.
    """
    want = {"305": 11, "303": 20, "304": 8, "306": 5, "307": 4, "309": 3}
    streets = [r for r in w.routes if not r["name"].startswith("Ngõ")]
    relocation = relocation_area(w)
    # a section stores the commune an import today gives it: the new communes of the made-up units
    every = reform_units(w)[0] if west else w.communes
    communes = gpd.GeoDataFrame({"code": [c["code"] for c in every]}, geometry=[c["geom"] for c in every])
    rows: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    placed: list[Any] = []
    n = 0

    def add(name: str, seg: Any, dcode: str) -> None:
        nonlocal n
        n += 1
        year = int(rng.choice([2017, 2018, 2019, 2020, 2021, 2026, 2027]))
        status = str(rng.choice(["done", "done", "in_progress", "planned"]))
        if year >= 2026:
            status = str(rng.choice(["planned", "in_progress"]))
        method = str(rng.choice(["ha_ngam", "chinh_trang", "chinh_trang_ha_ngam"], p=[0.35, 0.45, 0.20]))
        code = f"CAP-{dcode}-{n:03d}"
        rows.append({
            "code": code, "street": name, "from_desc": f"từ ngã tư số {int(rng.integers(1, 40))}",
            "to_desc": f"đến ngã tư số {int(rng.integers(41, 90))}", "district_code": dcode,
            "commune_code": majority_unit([seg], communes)[0],
            "length_m": round(seg.length, 2), "plan_ref": "18/KH-BCĐ" if year < 2019 or rng.random() < 0.6
            else "85/KH-BCĐ", "target_year": year, "method": method,
            "operators": sorted(set(rng.choice(["VTL", "VNP", "MBF", "VNM", "SCTV", "HPTV"], int(rng.integers(1, 4))))),
            "status": status, "status_changed_on": dt.date(min(year, 2025), 11, 1) if status != "planned" else None,
            "geom": _ewkt(seg),
        })
        placed.append(seg)
        if status != "planned":
            history.append({"code": code, "from_status": "planned", "to_status": "in_progress",
                            "changed_on": dt.date(min(year, 2025), 3, 15), "actor": "demo", "note": "Khởi công"})
        if status == "done":
            history.append({"code": code, "from_status": "in_progress", "to_status": "done",
                            "changed_on": dt.date(min(year, 2025), 11, 1), "actor": "demo", "note": "Nghiệm thu"})

    for dcode, count in want.items():
        d = next(x for x in w.districts if x["code"] == dcode)
        pieces = []
        for r in streets:
            inter = r["geom"].intersection(d["geom"])
            for part in getattr(inter, "geoms", [inter]):
                if part.geom_type == "LineString" and part.length > 250:
                    # street sections of at most ~900 m, not overlapping ("từ … đến …")
                    k = int(np.ceil(part.length / 900))
                    step = part.length / k
                    pieces += [(r["name"], shapely.ops.substring(part, i * step, (i + 1) * step)) for i in range(k)]
        order = [int(i) for i in rng.permutation(len(pieces))]
        # sections whose first 250 m lie in the bridge works come first: their cables must move
        near = [i for i in order if shapely.ops.substring(pieces[i][1], 0, 250).intersects(relocation)][:2]
        order = near + [i for i in order if i not in near]
        for name, part in [pieces[i] for i in order[:count]]:
            add(name, shapely.ops.substring(part, 0, min(part.length, rng.uniform(250, 900))), dcode)

    taken = shapely.union_all(placed).buffer(0.5)
    by_code = {d["code"]: d["geom"] for d in w.districts}
    for major, minor in CROSSING_PAIRS:
        border = by_code[major].boundary.intersection(by_code[minor].boundary)
        found = None
        for ri in rng.permutation(len(streets)):
            line = streets[int(ri)]["geom"]
            cross = line.intersection(border)
            for p in getattr(cross, "geoms", [cross]):
                if p.is_empty or p.geom_type != "Point":
                    continue
                t, length = line.project(p), float(rng.uniform(500, 900))
                seg = shapely.ops.substring(line, max(0.0, t - 0.35 * length), min(line.length, t + 0.65 * length))
                for cand in (seg, shapely.ops.substring(line, max(0.0, t - 0.65 * length),
                                                        min(line.length, t + 0.35 * length))):
                    a, b = cand.intersection(by_code[major]).length, cand.intersection(by_code[minor]).length
                    if a > b > 100 and a + b > cand.length - 1 and cand.intersection(taken).length < 5:
                        found = (streets[int(ri)]["name"], cand)
                        break
                if found:
                    break
            if found:
                break
        if found:
            add(found[0], found[1], major)
            taken = taken.union(found[1].buffer(0.5))
    if west:
        area = shapely.union_all([c["geom"] for c in west])
        c = area.centroid
        minx, _, maxx, _ = area.bounds
        for name, dy in zip(WEST_STREETS, (-1500.0, 1500.0), strict=True):
            line = LineString([(minx, c.y + dy), (maxx, c.y + dy)]).intersection(area)
            line = max(getattr(line, "geoms", [line]), key=lambda g: g.length)
            mid = line.length / 2
            add(name, shapely.ops.substring(line, mid - 350.0, mid + 350.0), HAI_DUONG[2])
    return rows, history


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------



DEMO_TABLES = [m.UnitMapping, m.ProgrammeSite, m.Programme, m.Inspection, m.InspectionCampaign, m.PlanEvent, m.PlanSubmission,
               m.ApiKey, m.Complaint, m.CableStatusChange, m.CableSegment, m.CablePlan, m.DuctLease,
               m.RelocationProject, m.Finding, m.Site, m.Route, m.Zone, m.AdminUnit, m.Operator]


def _prepare(conn: Connection, params: dict[str, Any], replace: bool) -> DemoResult | None:
    """The earlier result when the same demo is already loaded; else empty the demo tables (or refuse
    to overwrite other data without ``replace``)."""
    existing = meta_get(conn, "demo")
    if existing == params:
        planted = meta_get(conn, "demo.planted_a2a_on_a1") or []
        return DemoResult(params["seed"], params["sites"], 0, 0, 0, 0, 0, planted, skipped=True)
    has_data = conn.execute(select(func.count()).select_from(m.Site)).scalar() or 0
    if (existing or has_data) and not replace:
        raise DemoConflict(
            _("the database already holds {value}; run `btsplan demo --replace` to overwrite it",
              value='demo data ' + json.dumps(existing) if existing else str(has_data) + ' sites')
        )
    for model in DEMO_TABLES:
        conn.execute(delete(model))
    return None


def _write_units(conn: Connection, w: World) -> None:
    """Both vintages: the province, its districts and communes (and a made-up former Hải Dương
    district in the west) until 30/6/2025, the merged province and its new communes from 1/7/2025,
    and the mapping between them (see :func:`reform_units`)."""
    version = {"valid_from": dt.date(1900, 1, 1), "valid_to": OLD_END}
    west = _west_part(w)
    west_geom = shapely.union_all([c["geom"] for c in west])
    units = [{"code": "31", "name": "Thành phố Hải Phòng", "level": "province", "unit_type": "Thành phố",
              "parent_code": None, "urban": True, **version, "geom": _ewkt(_multi(w.outline))},
             {"code": HAI_DUONG[0], "name": HAI_DUONG[1], "level": "province", "unit_type": "Tỉnh",
              "parent_code": None, "urban": False, **version, "geom": _ewkt(_multi(west_geom))},
             {"code": HAI_DUONG[2], "name": HAI_DUONG[3], "level": "district", "unit_type": "Thành phố",
              "parent_code": HAI_DUONG[0], "urban": True, **version, "geom": _ewkt(_multi(west_geom))}]
    units += [{"code": d["code"], "name": d["name"], "level": "district", "unit_type": "Quận", "parent_code": "31",
               "urban": True, **version, "geom": _ewkt(_multi(d["geom"]))} for d in w.districts]
    units += [{"code": c["code"], "name": c["name"], "level": "commune", "unit_type": c["unit_type"],
               "parent_code": c["parent_code"], "urban": c["urban"], **version,
               "geom": _ewkt(_multi(c["geom"]))} for c in [*w.communes, *west]]
    new, mapping = reform_units(w)
    after = {"valid_from": REFORM_DAY, "valid_to": None}
    units.append({"code": "31", "name": "Thành phố Hải Phòng", "level": "province", "unit_type": "Thành phố",
                  "parent_code": None, "urban": True, **after, "geom": _ewkt(_multi(w.outline.union(west_geom)))})
    units += [{"code": n["code"], "name": n["name"], "level": "commune", "unit_type": n["name"].split(" ")[0],
               "parent_code": "31", "urban": n["urban"], **after, "geom": _ewkt(_multi(n["geom"]))} for n in new]
    conn.execute(insert(m.AdminUnit), units)
    conn.execute(insert(m.UnitMapping), [{**r, "effective_on": REFORM_DAY} for r in mapping])


#: The day the demo's two-level administration begins, and the made-up former Hải Dương part.
REFORM_DAY = dt.date(2025, 7, 1)
OLD_END = REFORM_DAY - dt.timedelta(days=1)
HAI_DUONG = ("30", "Tỉnh Hải Dương", "288", "Thành phố Hải Dương")
HAI_DUONG_COMMUNES = ["Phường Cẩm Thượng", "Phường Bình Hàn", "Xã Liên Hồng", "Xã Gia Xuyên"]
#: Old communes split between two new units (one in this many groups gives a part to a neighbour).
PARTIAL_EVERY = 5


def _west_part(w: World) -> list[dict[str, Any]]:
    """Four made-up communes of former Hải Dương west of the outline (metric), one district."""
    band = shapely.box(w.cx - 21000, w.cy - 9000, w.cx - 9000, w.cy + 6000).difference(w.outline.buffer(1.0))
    band = max(getattr(band, "geoms", [band]), key=lambda g: g.area)
    minx, miny, maxx, maxy = band.bounds
    midx, midy = (minx + maxx) / 2, (miny + maxy) / 2
    quads = [shapely.box(minx, midy, midx, maxy), shapely.box(midx, midy, maxx, maxy),
             shapely.box(minx, miny, midx, midy), shapely.box(midx, miny, maxx, midy)]
    return [{"code": f"{10801 + 3 * i}", "name": name, "unit_type": name.split(" ")[0], "urban": i < 2,
             "parent_code": HAI_DUONG[2], "geom": band.intersection(q)} for i, (name, q) in enumerate(
                 zip(HAI_DUONG_COMMUNES, quads, strict=True))]


def reform_units(w: World) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The new communes of 1/7/2025 (metric polygons) and the old → new mapping that made them.

    Made up, but shaped like the real reform: within each former district the old communes merge
    two by two (full merges), every :data:`PARTIAL_EVERY`-th group hands the half of one old commune
    nearest a neighbouring new unit to that unit (a partial merge of that old commune into both),
    and the former Hải Dương communes merge pairwise into Hải Phòng. No random draws: the demo's
    other data stay the same for a seed.
    """
    olds = [*w.communes, *_west_part(w)]
    groups: list[list[dict[str, Any]]] = []
    for parent in dict.fromkeys(c["parent_code"] for c in olds):
        members = sorted((c for c in olds if c["parent_code"] == parent), key=lambda c: c["code"])
        chunks = [members[i:i + 2] for i in range(0, len(members), 2)]
        if len(chunks) > 1 and len(chunks[-1]) == 1:
            last = chunks.pop()
            chunks[-1] = chunks[-1] + last
        groups += chunks
    new = [{"code": f"{11600 + 3 * j}", "members": g, "geom": shapely.union_all([c["geom"] for c in g]),
            "urban": any(c["urban"] for c in g)} for j, g in enumerate(groups)]
    for n in new:
        first = n["members"][0]
        n["name"] = ("Phường " if n["urban"] else "Xã ") + first["name"].split(" ", 1)[1]
    merges = [(c, n, "full") for n in new for c in n["members"]]
    for j in range(0, len(new), PARTIAL_EVERY):
        give = new[j]
        if len(give["members"]) < 2:
            continue
        old = give["members"][-1]
        near = [k for k, o in enumerate(new) if k != j and o["geom"].intersection(old["geom"]).length > 50]
        if not near:
            continue
        take = new[near[0]]
        c0, c1 = old["geom"].centroid, take["geom"].centroid
        half = shapely.box(-1e5, 0, 1e5, 1e5)  # the side of the cut facing the neighbour
        ang = float(np.degrees(np.arctan2(c1.y - c0.y, c1.x - c0.x))) - 90.0
        half = translate(rotate(half, ang, origin=(0, 0)), c0.x, c0.y)
        piece = old["geom"].intersection(half)
        give["geom"] = give["geom"].difference(piece)
        take["geom"] = take["geom"].union(piece)
        merges = [(c, n, "partial" if c is old and n is give else k) for c, n, k in merges]
        merges.append((old, take, "partial"))
    mapping = [{"old_code": c["code"], "old_name": c["name"], "new_code": n["code"], "new_name": n["name"],
                "new_level": "commune", "new_parent_code": "31", "kind": k} for c, n, k in merges]
    mapping += [{"old_code": code, "old_name": name, "new_code": "31", "new_name": "Thành phố Hải Phòng",
                 "new_level": "province", "new_parent_code": None, "kind": "full"}
                for code, name in (("31", "Thành phố Hải Phòng"), HAI_DUONG[:2])]
    return new, mapping


def _write_zoning(conn: Connection, w: World) -> None:
    conn.execute(insert(m.Route), [{**{k: v for k, v in r.items() if k != "geom"}, "geom": _ewkt(r["geom"])}
                                   for r in w.routes])
    conn.execute(insert(m.Zone), [{**{k: v for k, v in z.items() if k != "geom"}, "buffer_m": 0.0,
                                   "geom": _ewkt(z["geom"])} for z in w.zones])


def _write_sites(conn: Connection, rng: np.random.Generator, w: World, n_sites: int,
                 progress: Callable[[int, int], None] | None, made_up_units: bool = True) -> list[str]:
    """Sites in chunks (bounded memory, a progress bar); returns the codes planted on A1-only routes.

    On the made-up units each site stores the units an import today would give it — the commune in
    force today and the district of the last vintage (:func:`geodata.io.import_geo.load_admin_index`,
    the importer's own join) — so filters by today's commune code (OGC items, tiles, the map) find
    demo sites as they find imported ones. On real boundaries (``made_up_units`` false) no made-up
    code is stored."""
    planted: list[str] = []
    done = 0
    index = load_admin_index(conn) if made_up_units else None
    for rows, planted_here in generate_sites(rng, w, n_sites, west=_west_part(w) if made_up_units else None):
        if index is None:
            rows = [{**r, "commune_code": None, "district_code": None} for r in rows]
        else:
            lonlat = np.array([r["geom"].split("(", 1)[1].rstrip(")").split() for r in rows], dtype=float)
            commune, district, _inside = index.assign(lonlat[:, 0], lonlat[:, 1])
            rows = [{**r, "commune_code": c, "district_code": d}
                    for r, c, d in zip(rows, commune.tolist(), district.tolist(), strict=True)]
        conn.execute(insert(m.Site), rows)
        planted += planted_here
        done += len(rows)
        if progress:
            progress(done, n_sites)
    return planted


def _write_cables(conn: Connection, rng: np.random.Generator, w: World,
                  west: Sequence[dict[str, Any]] | None = None) -> int:
    """The two undergrounding plans of the seeds with their street segments, status history, a relocation
    project, duct leases and a few citizens' complaints; returns the number of segments."""
    seg_rows, history = _cable_rows(rng, w, west)
    conn.execute(insert(m.CablePlan), [
        {"ref": "18/KH-BCĐ", "title": "Kế hoạch chỉnh trang, hạ ngầm cáp viễn thông năm 2017",
         "issued_on": dt.date(2017, 3, 28), "targets": sorted({r["street"] for r in seg_rows if r["plan_ref"] == "18/KH-BCĐ"})},
        {"ref": "85/KH-BCĐ", "title": "Kế hoạch chỉnh trang, hạ ngầm cáp viễn thông năm 2019",
         "issued_on": dt.date(2019, 3, 15), "targets": sorted({r["street"] for r in seg_rows if r["plan_ref"] == "85/KH-BCĐ"})},
    ])
    ids: dict[str, int] = {}
    if seg_rows:
        conn.execute(insert(m.CableSegment), [{**r, "version": 1} for r in seg_rows])
        ids = dict(conn.execute(select(m.CableSegment.code, m.CableSegment.id)).all())
        if history:
            conn.execute(insert(m.CableStatusChange), [
                {**{k: v for k, v in h.items() if k != "code"}, "segment_id": ids[h["code"]],
                 "recorded_at": dt.datetime(2026, 1, 1)} for h in history])
    # Cầu Rào bridge relocation project, between Lê Chân and Dương Kinh
    conn.execute(insert(m.RelocationProject), [{"name": "Dự án xây dựng cầu Rào 1", "deadline": dt.date(2026, 12, 31),
                                               "description": "Di dời cáp viễn thông phục vụ thi công cầu Rào",
                                               "geom": _ewkt(_multi(relocation_area(w)))}])
    conn.execute(insert(m.DuctLease), [
        {"duct_owner": "Công ty TNHH MTV Chiếu sáng và Thiết bị đô thị Hải Phòng", "operators": ["VTL", "VNP", "MBF"],
         "price_vnd_per_m_month": 1450.0, "start_on": dt.date(2017, 7, 1), "end_on": dt.date(2027, 6, 30),
         "note": "Giá thuê cống bể đã thỏa thuận theo 18/KH-BCĐ"},
        {"duct_owner": "VNPT Hải Phòng", "operators": ["MBF", "VNM"], "price_vnd_per_m_month": 1200.0,
         "start_on": dt.date(2018, 1, 1), "end_on": None, "note": None},
    ])
    seg_pts = [(r, shapely.from_wkt(r["geom"].split(";", 1)[1]).interpolate(0.5, normalized=True)) for r in seg_rows[:6]]
    conn.execute(insert(m.Complaint), [
        {"text": f"Cáp viễn thông võng thấp, mất an toàn trên {r['street']}", "reported_on": dt.date(2025, 9, 1 + i),
         "status": COMPLAINT_STATUSES[i % len(COMPLAINT_STATUSES)], "reporter": "Người dân",
         "segment_id": ids.get(r["code"]), "district_code": r["district_code"],
         "geom": f"SRID=4326;POINT({p.x:.7f} {p.y:.7f})"} for i, (r, p) in enumerate(seg_pts)])
    return len(seg_rows)


def load_demo(engine: Engine, seed: int = 1, n_sites: int = 1000, n_routes: int | None = None,
              n_zones: int | None = None, replace: bool = False,
              progress: Callable[[int, int], None] | None = None, outline: Any | None = None) -> DemoResult:
    """Write the demo dataset in one transaction; a second identical call is a no-op.

    The steps draw from one random generator in a fixed order (world, sites, cables), which is what
    makes a seed reproduce the same dataset byte for byte. ``outline`` (WGS84) is the province of
    real boundaries the user gives (``btsplan demo --admin``): sites are drawn inside it and no
    made-up unit is written, so the caller imports the real units and assigns each site to them.
    """
    params: dict[str, Any] = {"version": DEMO_VERSION, "seed": seed, "sites": n_sites, "routes": n_routes,
                              "zones": n_zones}
    if outline is not None:
        params["admin"] = hashlib.sha256(shapely.to_wkb(outline)).hexdigest()[:16]
    with engine.begin() as conn:
        earlier = _prepare(conn, params, replace)
        if earlier is not None:
            return earlier
        rng = np.random.default_rng(seed)
        w = build_world(rng, n_routes, n_zones)
        conn.execute(insert(m.Operator), [{"code": c, "name": nm, "short_name": s} for c, nm, s in OPERATORS])
        if outline is None:
            _write_units(conn, w)
        else:
            w.outline = _to_metric(outline)
        _write_zoning(conn, w)
        planted = _write_sites(conn, rng, w, n_sites, progress, made_up_units=outline is None)
        n_segments = _write_cables(conn, rng, w, _west_part(w) if outline is None else None)
        meta_set(conn, "demo", params)
        meta_set(conn, "demo.planted_a2a_on_a1", planted)
        bump_data_version(conn)
    if n_sites >= AUTO_MIN_SITES and outline is None:
        # the generator writes sites in no spatial order: store them as the GiST index orders them, so
        # area reads (OGC items and their counts) read a few pages each (geodata/store/maintenance.py);
        # on real boundaries the caller does it once the sites have their units (that rewrites them)
        optimize_sites(engine)
    return DemoResult(seed, n_sites, len(w.routes), len(w.zones), len(w.communes), len(w.districts),
                      n_segments, planted)


def dataset_hash(engine: Engine) -> str:
    """Content hash of the demo tables (order-independent), for determinism tests."""
    h = hashlib.sha256()
    with engine.connect() as conn:
        for model, key in ((m.AdminUnit, m.AdminUnit.code), (m.Route, m.Route.name), (m.Zone, m.Zone.name),
                           (m.Site, m.Site.code), (m.CableSegment, m.CableSegment.code)):
            cols = [c for c in model.__table__.columns if c.name not in ("id", "geom", "updated_at")]
            stmt = select(*cols, func.ST_AsText(model.__table__.c.geom)).order_by(key, model.__table__.c.id)
            for row in conn.execute(stmt):
                h.update(json.dumps([_norm(v) for v in row], default=str, ensure_ascii=False).encode())
    return h.hexdigest()


def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, str) and v[:5] in ("POINT", "MULTI", "LINES", "POLYG"):
        g = shapely.from_wkt(v)
        return shapely.to_wkt(g, rounding_precision=6)
    return v
