"""The planning context follows the data by updates: after masts change (as a write records them)
its answers equal those of a context built from scratch; a write that does not say what it changed
is rebuilt in the background while the previous context answers, naming its data version."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from geodata.store import repository as repo
from geodata.store.meta import bump_data_version, data_changes, data_version
from geodata.work import checks
from geodata.work.context_cache import ContextHolder, load_context
from planning.checks import check_site
from planning.rules import load_pack

PACK = load_pack("haiphong")
M = "EPSG:9210"
PROPS = {"mount": "ground", "mast_height_m": 30.0, "operator": "VTL", "code": "NEW"}


def _probe(ctx: Any, engine: Engine, codes: list[str]) -> list[dict[str, Any]]:
    """Checks at the stored masts ``codes`` and a little off them."""
    sites = repo.load_sites(engine, metric_crs=M, columns=["code"])
    at = sites.set_index("code").loc[codes]
    out = []
    for x, y in zip(at["x_m"].tolist(), at["y_m"].tolist(), strict=True):
        for dx in (0.0, 40.0):
            r = check_site(ctx, PROPS, x_m=x + dx, y_m=y)
            out.append({k: r[k] for k in ("findings", "colocation_candidates")})
    return out


def test_updates_after_site_changes_equal_a_rebuild(demo_db: Engine) -> None:
    checks.classify_stored(demo_db, PACK)
    holder = ContextHolder(demo_db, PACK, M)
    first = holder.get()
    built = repo.load_sites(demo_db, statuses=["built"], columns=["code"])["code"].tolist()
    planned = repo.load_sites(demo_db, statuses=["planned"], columns=["code"])["code"].tolist()
    moved, removed, approved = built[0], built[1], planned[0]
    with demo_db.begin() as c:
        c.execute(text("UPDATE sites SET x_m = x_m + 35, y_m = y_m - 20 WHERE code = :c"), {"c": moved})
        bump_data_version(c, {"sites": [moved]})
    with demo_db.begin() as c:
        c.execute(text("UPDATE sites SET status = 'removed' WHERE code = :c"), {"c": removed})
        c.execute(text("UPDATE sites SET status = 'built' WHERE code = :c"), {"c": approved})
        bump_data_version(c, {"sites": [removed, approved], "findings": True})
    ctx = holder.get()
    assert ctx is not first and ctx.data_version == data_version(demo_db) and holder.updates == 1
    fresh = load_context(demo_db, PACK, metric_crs=M)
    probes = [moved, removed, approved, built[5]]
    assert _probe(ctx, demo_db, probes) == _probe(fresh, demo_db, probes)
    assert _probe(first, demo_db, probes) != _probe(fresh, demo_db, probes)


def test_an_unknown_write_rebuilds_in_the_background(demo_db: Engine) -> None:
    holder = ContextHolder(demo_db, PACK, M)
    first = holder.get()
    with demo_db.begin() as c:
        v = bump_data_version(c)  # says nothing of what it changed
    assert data_changes(demo_db, v - 1, v) == [None]
    stale = holder.get()
    assert stale.data_version == first.data_version < v  # the old context answers meanwhile
    holder.wait_rebuilt(120)
    assert holder.get().data_version == v and holder.rebuilds == 1


def test_routes_changed_rebuild_the_a1_part_only(demo_db: Engine) -> None:
    holder = ContextHolder(demo_db, PACK, M)
    first = holder.get()
    with demo_db.begin() as c:
        c.execute(text("DELETE FROM routes"))
        bump_data_version(c, {"routes": True})
    ctx = holder.get()
    assert ctx.sites is first.sites and len(ctx.a1.targets) < len(first.a1.targets)
    assert np.isfinite(holder.last_update_s)
