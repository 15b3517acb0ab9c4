"""``btsplan db optimize`` (geodata/store/maintenance.py): sites stored in spatial order on PostGIS.

What must hold: an area's sites end up on few table pages (the point of it), every answer stays the same
(rows, ids, ``numberMatched``, the data version), the step skips while the order still holds and runs again
once enough sites were written, and SpatiaLite is left alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine, text

from geodata.serve import features as gf
from geodata.store.maintenance import (
    REORDER_FRACTION,
    SPATIAL_ORDER_KEY,
    is_spatially_ordered,
    optimize_sites,
)
from geodata.store.meta import bump_data_version, data_version, meta_get
from tests.conftest import db_url

CRS84 = gf.OutputCrs(gf.CRS84, None, False)


def _boxes(engine: Engine, n: int = 12) -> list[tuple[float, float, float, float]]:
    """``n`` boxes of about 40 sites each, around sites spread over the table (seeded)."""
    with engine.connect() as c:
        pts = np.array(c.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM sites ORDER BY id")).all(), dtype=float)
    rng = np.random.default_rng(7)
    out = []
    for i in rng.choice(len(pts), n, replace=False):
        d = np.sort(np.hypot(*(pts - pts[i]).T))[40]  # the 40th neighbour's distance: a box of ~40-80 sites
        x, y = pts[i]
        out.append((x - d, y - d, x + d, y + d))
    return out


def _pages_per_box(engine: Engine, boxes: list[tuple[float, float, float, float]]) -> tuple[int, int]:
    """(heap pages, sites) that the sites of ``boxes`` occupy, summed over the boxes."""
    pages = sites = 0
    with engine.connect() as c:
        for x0, y0, x1, y1 in boxes:
            p, s = c.execute(text(
                "SELECT count(DISTINCT (ctid::text::point)[0]), count(*) FROM sites "
                "WHERE geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"),
                {"x0": x0, "y0": y0, "x1": x1, "y1": y1}).one()
            pages += int(p)
            sites += int(s)
    return pages, sites


def _answers(engine: Engine, boxes: list[tuple[float, float, float, float]]) -> list[tuple[list[int], int | None]]:
    """The first OGC items page (ids) and ``numberMatched`` of each box, as the API computes them."""
    out = []
    for x0, y0, x1, y1 in boxes:
        q = gf.ItemsQuery(limit=10, area=gf.parse_bbox(f"{x0},{y0},{x1},{y1}", CRS84))
        page = gf.query_items(engine, gf.COLLECTIONS["sites"], q, CRS84)
        out.append((page.ids, page.matched))
    return out


def test_optimize_stores_an_areas_sites_on_few_pages(demo_db: Engine, backend: str) -> None:
    boxes = _boxes(demo_db)
    answers = _answers(demo_db, boxes)
    version = data_version(demo_db)
    res = optimize_sites(demo_db)
    assert _answers(demo_db, boxes) == answers  # same rows, ids and counts
    assert data_version(demo_db) == version  # nothing changed that a cache keys on
    if backend == "spatialite":
        assert res.outcome == "sqlite"
        assert meta_get(demo_db, SPATIAL_ORDER_KEY) is None
        return
    assert res.outcome == "reordered" and res.sites == 1000 and res.data_version == version
    with demo_db.connect() as c:
        clustered = c.execute(text(
            "SELECT i.indisclustered FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'sites'::regclass AND c.relname = 'idx_sites_geom'")).scalar()
        visible, pages = c.execute(text("SELECT relallvisible, relpages FROM pg_class "
                                        "WHERE oid = 'sites'::regclass")).one()
    assert clustered
    assert visible == pages  # vacuumed: the visibility map is whole again
    assert meta_get(demo_db, SPATIAL_ORDER_KEY)["data_version"] == version


def test_an_areas_sites_share_pages_after_optimize(demo_db: Engine, backend: str) -> None:
    if backend == "spatialite":
        pytest.skip("SpatiaLite stores rows by id; nothing to reorder")
    boxes = _boxes(demo_db)
    pages_before, sites = _pages_per_box(demo_db, boxes)
    optimize_sites(demo_db)
    pages_after, sites_after = _pages_per_box(demo_db, boxes)
    assert sites_after == sites
    # the demo writes sites in no spatial order (a box's sites spread over many of the table's pages);
    # reordered, neighbours share pages. Measured at 1,000 sites (a ~55-page table, boxes overlapping):
    # 289 → 114 pages for 648 sites; the gain grows with the table (one page per site at 1M)
    assert pages_after < pages_before / 2, (pages_before, pages_after, sites)


def test_optimize_skips_while_the_order_holds(demo_db: Engine, backend: str) -> None:
    if backend == "spatialite":
        pytest.skip("SpatiaLite stores rows by id; nothing to reorder")
    assert not is_spatially_ordered(demo_db)
    assert optimize_sites(demo_db).outcome == "reordered"
    assert is_spatially_ordered(demo_db)
    assert optimize_sites(demo_db).outcome == "current"
    with demo_db.begin() as c:  # a write that touched no site (a plan, a cable) keeps the order
        bump_data_version(c, {"cables": True})
    assert optimize_sites(demo_db).outcome == "current"
    few = int(REORDER_FRACTION * 1000) - 1
    with demo_db.begin() as c:
        codes = [r[0] for r in c.execute(text(f"SELECT code FROM sites ORDER BY id LIMIT {few}"))]
        bump_data_version(c, {"sites": codes})
    assert optimize_sites(demo_db).outcome == "current"
    with demo_db.begin() as c:
        codes = [r[0] for r in c.execute(text("SELECT code FROM sites ORDER BY id DESC LIMIT 2"))]
        bump_data_version(c, {"sites": codes})
    assert not is_spatially_ordered(demo_db)  # 1 % of the sites written since
    assert optimize_sites(demo_db).outcome == "reordered"
    with demo_db.begin() as c:  # an import that says it changed every site
        bump_data_version(c, {"sites": "all"})
    assert optimize_sites(demo_db).outcome == "reordered"
    assert optimize_sites(demo_db, force=True).outcome == "reordered"


def test_cli_optimize(demo_db: Engine, backend: str) -> None:
    from tests.test_cli import run

    env = {"BTSPLAN_DATABASE_URL": db_url(demo_db), "BTSPLAN_LANG": "en"}
    r = run(["db", "optimize"], env)
    assert r.returncode == 0, r.stderr
    if backend == "spatialite":
        assert "nothing to do on SpatiaLite" in r.stdout
        return
    assert "sites stored in spatial order: 1,000 sites in" in r.stdout
    r = run(["--lang", "vi", "db", "optimize", "--force"], env)
    assert r.returncode == 0, r.stderr
    assert "đã được lưu theo thứ tự không gian" in r.stdout
