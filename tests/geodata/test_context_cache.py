"""The planning context follows the data by updates: after masts change (as a write records them)
its answers equal those of a context built from scratch; a write that does not say what it changed
is rebuilt in the background while the previous context answers, naming its data version."""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text

from geodata.store import models
from geodata.store import repository as repo
from geodata.store.meta import bump_data_version, data_changes, data_version
from geodata.work import checks
from geodata.work.context_cache import ContextHolder, load_context
from planning.checks import check_site
from planning.geometry import WGS84, project_xy
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


# --------------------------------------------------------------------------------------------
# random sequences of writes, as the writers record them
# --------------------------------------------------------------------------------------------

_CHANGES = st.sampled_from(["add", "move", "remove", "approve", "route", "zone"])
#: codes of added masts, unique across the examples sharing one database
_SERIAL = itertools.count()


def _metric(lon: float, lat: float) -> tuple[float, float]:
    x, y = project_xy([lon], [lat], WGS84, M)
    return float(x[0]), float(y[0])


def _apply(c: Any, what: str, rng: random.Random, record: dict[str, Any],
           probes: list[tuple[float, float]]) -> None:
    """One write of kind ``what`` on connection ``c``, noted in ``record`` (the change record its
    transaction stores) and with the metric points where it shows in ``probes``."""
    t = models.Site.__table__
    if what in ("add", "move", "remove", "approve"):
        status = "planned" if what == "approve" else "built"
        codes = [r[0] for r in c.execute(select(t.c.code).where(t.c.status == status).order_by(t.c.id).limit(200))]
        if not codes:
            return
        code = rng.choice(codes)
        if what == "add":  # a new mast 30 m east of an existing one, as an import writes it
            new = f"HYP-{next(_SERIAL)}"
            cols = [k for k in t.columns.keys() if k not in ("id", "code")]
            c.execute(text(f"INSERT INTO sites (code, {', '.join(cols)}) SELECT :new, "
                           + ", ".join("x_m + 30" if k == "x_m" else k for k in cols)
                           + " FROM sites WHERE code = :c"), {"new": new, "c": code})
            code = new
        elif what == "move":
            c.execute(text("UPDATE sites SET x_m = x_m + :dx, y_m = y_m - 15 WHERE code = :c"),
                      {"dx": rng.choice([12.0, 35.0, 80.0]), "c": code})
        elif what == "remove":
            c.execute(text("UPDATE sites SET status = 'removed' WHERE code = :c"), {"c": code})
        else:  # a planned mast approved and built
            c.execute(text("UPDATE sites SET status = 'built' WHERE code = :c"), {"c": code})
        record.setdefault("sites", []).append(code)
        x, y = c.execute(select(t.c.x_m, t.c.y_m).where(t.c.code == code)).one()
        probes += [(x, y), (x + 40.0, y)]
    elif what == "route":  # a street made A1-only, its corridor widened
        r = models.Route.__table__
        ids = [row[0] for row in c.execute(select(r.c.id).order_by(r.c.id))]
        if not ids:
            return
        rid = rng.choice(ids)
        c.execute(text("UPDATE routes SET policy = 'a1_only', corridor_m = corridor_m + 25 WHERE id = :i"), {"i": rid})
        record["routes"] = True
        line = repo.load_routes(c).set_index("id").geometry.loc[rid]
        x, y = _metric(*line.interpolate(0.5, normalized=True).coords[0])
        probes += [(x, y), (x + 45.0, y), (x, y + 45.0)]
    else:  # a zone made A1-only and its buffer widened
        z = models.Zone.__table__
        ids = [row[0] for row in c.execute(select(z.c.id).order_by(z.c.id))]
        if not ids:
            return
        zid = rng.choice(ids)
        c.execute(text("UPDATE zones SET policy = 'a1_only', buffer_m = buffer_m + 40 WHERE id = :i"), {"i": zid})
        record["zones"] = True
        x, y = _metric(*repo.load_zones(c).set_index("id").geometry.loc[zid].representative_point().coords[0])
        probes += [(x, y), (x + 60.0, y)]


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(st.lists(_CHANGES, min_size=1, max_size=4), min_size=1, max_size=3),
       seed=st.integers(0, 100_000))
def test_random_write_sequences_update_to_what_a_rebuild_answers(demo_db: Engine, batches: list[list[str]],
                                                                  seed: int) -> None:
    """Masts added, moved, removed and approved, A1 routes and zones changed, in random batches (one
    transaction each, recorded as the writers record them): the context updated batch by batch —
    never rebuilt — answers every probe exactly as a context built from scratch, and says the data
    version it is at."""
    rng = random.Random(seed)
    holder = ContextHolder(demo_db, PACK, M)
    holder.get()
    probes: list[tuple[float, float]] = []
    for batch in batches:
        record: dict[str, Any] = {}
        with demo_db.begin() as c:
            for what in batch:
                _apply(c, what, rng, record, probes)
            v = bump_data_version(c, record)
        ctx = holder.get()
        assert ctx.data_version == v
    assert holder.rebuilds == 0 and holder.updates == len(batches)
    fresh = load_context(demo_db, PACK, metric_crs=M)
    assert len(ctx.a1.targets) == len(fresh.a1.targets)
    live = ~np.isnan(ctx.sites.x)  # a moved or removed mast leaves a dead slot behind
    assert sorted(ctx.sites.code[live].tolist()) == sorted(fresh.sites.code.tolist())

    def answers(c: Any) -> list[dict[str, Any]]:
        out = []
        for x, y in probes:
            r = check_site(c, PROPS, x_m=x, y_m=y)
            out.append({k: r[k] for k in ("findings", "colocation_candidates")})
        return out

    assert answers(ctx) == answers(fresh)
