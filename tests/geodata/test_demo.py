"""The demo generator: deterministic, idempotent, plausible."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from geodata.store import models as m
from geodata.demo import DemoConflict, dataset_hash, load_demo


def test_demo_is_deterministic_and_idempotent(demo_db: Engine, db_factory, backend) -> None:  # type: ignore[no-untyped-def]
    h1 = dataset_hash(demo_db)
    again = load_demo(demo_db, seed=1, n_sites=1000)
    assert again.skipped
    assert dataset_hash(demo_db) == h1
    with demo_db.connect() as c:
        assert c.execute(select(func.count()).select_from(m.Site)).scalar() == 1000
    # a second, independent database from the same seed has the same content
    other_url = db_factory.clone(backend, "empty")
    from geodata.store.db import make_engine

    other = make_engine(other_url)
    load_demo(other, seed=1, n_sites=1000)
    assert dataset_hash(other) == h1
    load_demo(other, seed=2, n_sites=1000, replace=True)
    assert dataset_hash(other) != h1
    other.dispose()
    db_factory.drop(other_url)


def test_demo_refuses_to_overwrite(demo_db: Engine) -> None:
    with pytest.raises(DemoConflict, match="--replace"):
        load_demo(demo_db, seed=5, n_sites=10)


def test_demo_content_is_plausible(demo_db: Engine) -> None:
    with demo_db.connect() as c:
        levels = dict(c.execute(select(m.AdminUnit.level, func.count()).group_by(m.AdminUnit.level)).all())
        # both vintages (issue 15): until 2025-06-30 Hải Phòng (7 districts, 60 communes) and a made-up
        # former Hải Dương part (province, 1 district, 4 communes); from 2025-07-01 the merged province
        # and 31 new communes, linked by a mapping with full and partial merges
        assert levels == {"province": 3, "district": 8, "commune": 95}
        kinds = dict(c.execute(select(m.UnitMapping.kind, func.count()).group_by(m.UnitMapping.kind)).all())
        assert kinds["full"] > kinds["partial"] > 0
        assert c.execute(select(func.count()).select_from(m.Operator)).scalar() >= 3
        assert c.execute(select(func.count()).where(m.Site.commune_code.is_(None))).scalar() == 0
        a1_routes = c.execute(select(func.count()).where(m.Route.policy == "a1_only")).scalar()
        assert a1_routes >= 5
        planted = c.execute(select(m.Meta.value).where(m.Meta.key == "demo.planted_a2a_on_a1")).scalar()
        assert len(planted) >= 6
        classes = dict(c.execute(select(m.Site.declared_class, func.count()).group_by(m.Site.declared_class)).all())
        assert set(classes) == {"A1a", "A1b", "A2a", "A2b", "A2c"}
        lengths = c.execute(select(func.count(), func.sum(m.CableSegment.length_m)).where(
            m.CableSegment.district_code == "305")).one()
        assert lengths[0] == 11
        hb = c.execute(select(func.count()).where(m.CableSegment.district_code == "303")).scalar()
        assert hb == 20
