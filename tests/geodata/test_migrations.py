"""Schema migrations on both backends: upgrade, downgrade to empty, upgrade again gives the same schema."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from geodata.store import migrate
from geodata.store.models import Base


def _schema(engine: Engine) -> dict[str, list[tuple[str, str]]]:
    insp = inspect(engine)
    ours = set(Base.metadata.tables)
    return {
        t: sorted((c["name"], str(c["type"])) for c in insp.get_columns(t))
        for t in sorted(insp.get_table_names())
        if t in ours or t == "alembic_version"
    }


def _indexes(engine: Engine) -> set[tuple[str, str]]:
    insp = inspect(engine)
    return {(t, ix["name"]) for t in Base.metadata.tables for ix in insp.get_indexes(t)}


def test_upgrade_downgrade_upgrade_same_schema(empty_db: Engine) -> None:
    first, first_ix = _schema(empty_db), _indexes(empty_db)
    assert set(Base.metadata.tables) <= set(first)
    migrate.downgrade(empty_db, "base")
    left = {t for t in inspect(empty_db).get_table_names() if t in Base.metadata.tables}
    assert left == set()
    migrate.upgrade(empty_db)
    assert _schema(empty_db) == first
    assert _indexes(empty_db) == first_ix


def test_geometry_columns_are_4326_and_indexed(empty_db: Engine) -> None:
    from sqlalchemy import text

    with empty_db.connect() as conn:
        if empty_db.dialect.name == "sqlite":
            rows = conn.execute(text(
                "SELECT f_table_name, srid, spatial_index_enabled FROM geometry_columns")).all()
            tables = {r[0]: (r[1], r[2]) for r in rows}
        else:
            rows = conn.execute(text("SELECT f_table_name, srid FROM geometry_columns")).all()
            gist = {r[0] for r in conn.execute(text(
                "SELECT tablename FROM pg_indexes WHERE indexdef ILIKE '%USING gist%'"))}
            tables = {r[0]: (r[1], 1 if r[0] in gist else 0) for r in rows}
    for t in ("sites", "admin_units", "zones", "routes", "cable_segments", "complaints", "findings"):
        assert tables[t] == (4326, 1), t


def test_postgis_knows_vn2000_tm3(empty_db: Engine) -> None:
    if empty_db.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    with empty_db.connect() as conn:
        x, y = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(106.68, 20.86), 4326), 9210) p) q"
        )).one()
    from pyproj import Transformer

    ex, ey = Transformer.from_crs(4326, 9210, always_xy=True).transform(106.68, 20.86)
    assert abs(x - ex) < 1.0 and abs(y - ey) < 1.0


def test_0002_gives_stored_findings_their_unit_codes(empty_db: Engine) -> None:
    """Findings written before 0002 carry only unit names: the upgrade fills the codes those names
    (or codes written in their place) stand for, level by level; an unknown name leaves it empty."""
    import datetime as dt

    from sqlalchemy import select

    from geodata.store import models as m

    migrate.downgrade(empty_db, "0001")
    square = "SRID=4326;MULTIPOLYGON(((106.6 20.8,106.7 20.8,106.7 20.9,106.6 20.9,106.6 20.8)))"
    unit = {"level": "district", "urban": True, "valid_from": dt.date(1900, 1, 1), "geom": square}
    with empty_db.begin() as c:
        c.execute(m.AdminUnit.__table__.insert(), [
            {**unit, "code": "305", "name": "Quận Lê Chân"},
            {**unit, "code": "11311", "name": "Phường Cát Dài", "level": "commune", "parent_code": "305"}])
        c.execute(m.Finding.__table__.insert(), [
            {"check": "spacing", "rule": "r", "severity": "warning", "district": "Quận Lê Chân", "commune": "11311"},
            {"check": "spacing", "rule": "r", "severity": "warning", "district": "Atlantis", "commune": None}])
    migrate.upgrade(empty_db)
    f = m.Finding.__table__
    with empty_db.connect() as c:
        rows = c.execute(select(f.c.district_code, f.c.commune_code).order_by(f.c.id)).all()
    assert [tuple(r) for r in rows] == [("305", "11311"), (None, None)]


def test_0008_rewrites_cable_methods_as_the_plans_count_them(empty_db: Engine) -> None:
    """Rows written with the old methods come out as chỉnh trang / hạ ngầm; downgrade maps back."""
    from sqlalchemy import select, text

    from geodata.store import models as m

    migrate.downgrade(empty_db, "0007")
    line = "SRID=4326;LINESTRING(106.6 20.8,106.61 20.81)"
    with empty_db.begin() as c:
        c.execute(m.CableSegment.__table__.insert(), [
            {"code": f"C-{i}", "street": "Lạch Tray", "method": old, "status": "planned", "length_m": 1.0,
             "version": 1, "geom": line} for i, old in enumerate(("underground", "bracketed", "removed"))])
    migrate.upgrade(empty_db)
    seg = m.CableSegment.__table__
    with empty_db.connect() as c:
        got = [r[0] for r in c.execute(select(seg.c.method).order_by(seg.c.code)).all()]
    assert got == ["ha_ngam", "chinh_trang", "chinh_trang"]
    migrate.downgrade(empty_db, "0007")
    with empty_db.connect() as c:
        got = [r[0] for r in c.execute(text("SELECT method FROM cable_segments ORDER BY code")).all()]
    assert got == ["underground", "bracketed", "bracketed"]
    migrate.upgrade(empty_db)


def test_0010_idempotency_records_unique_per_actor_and_key(empty_db: Engine) -> None:
    """0010 adds the table of first answers, unique on (actor, key); downgrade to 0009 removes it."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    row = {"operation": "inspection.result campaign 1", "fingerprint": "0" * 64, "status_code": 201,
           "response": '{"id": 1}', "created_at": "2026-12-05 08:00:00"}
    insert = text("INSERT INTO idempotency_records (actor, key, operation, fingerprint, status_code, response, "
                  "created_at) VALUES (:actor, :key, :operation, :fingerprint, :status_code, :response, :created_at)")
    with empty_db.begin() as c:
        c.execute(insert, {**row, "actor": "hung (staff 1)", "key": "k-0000001"})
        c.execute(insert, {**row, "actor": "mai (staff 2)", "key": "k-0000001"})  # another actor: no collision
    with pytest.raises(IntegrityError), empty_db.begin() as c:
        c.execute(insert, {**row, "actor": "hung (staff 1)", "key": "k-0000001"})
    migrate.downgrade(empty_db, "0009")
    assert "idempotency_records" not in inspect(empty_db).get_table_names()
    migrate.upgrade(empty_db)
    assert "idempotency_records" in inspect(empty_db).get_table_names()
