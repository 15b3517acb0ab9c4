"""Versioned admin units read from the database: a version whose ``valid_to`` is before the day is
never used while one in force exists (site placement used to ignore ``valid_to``), and the province
outline, unit names and unit filters all follow that one rule."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from geodata.store import models as m
from geodata.store import repository as repo
from geodata.store.db import session_factory
from geodata.store.units import province_outline, resolve_units, units_in_force
from geodata.work import cables as gc
from geodata.work.plans import _admin_codes

OLD_END, NEW_START = dt.date(2025, 6, 30), dt.date(2025, 7, 1)
TODAY = dt.date(2026, 12, 4)
FIRST = dt.date(1900, 1, 1)


def _square(x0: float, y0: float, d: float) -> str:
    x1, y1 = x0 + d, y0 + d
    return f"SRID=4326;MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


def _load(engine: Engine) -> None:
    u = {"urban": True, "valid_from": FIRST, "valid_to": None}
    with engine.begin() as c:
        c.execute(m.AdminUnit.__table__.insert(), [
            # the ended versions first, so a reader that ignores valid_to meets them first
            {**u, "code": "31", "name": "Thành phố Hải Phòng", "level": "province", "valid_to": OLD_END,
             "geom": _square(106.6, 20.8, 0.2)},
            {**u, "code": "31", "name": "Thành phố Hải Phòng", "level": "province", "valid_from": NEW_START,
             "geom": _square(106.5, 20.7, 0.4)},
            {**u, "code": "305", "name": "Quận Lê Chân", "level": "district", "valid_to": OLD_END,
             "geom": _square(106.6, 20.8, 0.2)},
            {**u, "code": "11311", "name": "Phường Cũ", "level": "commune", "parent_code": "305",
             "valid_from": dt.date(2000, 1, 1), "valid_to": OLD_END, "geom": _square(106.6, 20.8, 0.2)},
            {**u, "code": "11312", "name": "Phường Mới", "level": "commune", "parent_code": "305",
             "valid_from": NEW_START, "geom": _square(106.6, 20.8, 0.2)},
            {**u, "code": "11311", "name": "Phường Xưa", "level": "commune", "parent_code": "305",
             "valid_from": FIRST, "valid_to": dt.date(1999, 12, 31), "geom": _square(106.6, 20.8, 0.2)},
        ])


def test_a_unit_that_ended_before_the_day_is_not_used(empty_db: Engine) -> None:
    _load(empty_db)
    with empty_db.connect() as conn:
        rows, day = units_in_force(conn, "commune", TODAY, m.AdminUnit.code)
        assert [r.code for r in rows] == ["11312"] and day == TODAY
        rows, day = units_in_force(conn, "commune", dt.date(2020, 1, 1), m.AdminUnit.code)
        assert [r.code for r in rows] == ["11311"] and day == dt.date(2020, 1, 1)
        # districts were abolished: the last version that ended before the day, and that day
        rows, day = units_in_force(conn, "district", TODAY, m.AdminUnit.code)
        assert [r.code for r in rows] == ["305"] and day == OLD_END
    with session_factory(empty_db)() as s:
        assert _admin_codes(s, 106.7, 20.9) == ("11312", "305"), "the commune in force, not the ended one"
    districts, effective = gc.load_admin_units(empty_db, "district", TODAY, "EPSG:9210")
    assert districts["code"].tolist() == ["305"] and effective == OLD_END


def test_province_outline_and_names_follow_the_same_rule(empty_db: Engine) -> None:
    _load(empty_db)
    with empty_db.connect() as conn:
        now, name = province_outline(conn, TODAY)
        before, _ = province_outline(conn, dt.date(2020, 1, 1))
        assert name == "Thành phố Hải Phòng"
        assert round(now.area, 6) == 0.16 and round(before.area, 6) == 0.04
        assert resolve_units(conn, "commune", "xua") == ["11311"]
        assert resolve_units(conn, "district", "LE  CHAN") == resolve_units(conn, "district", "305") == ["305"]
    assert repo.unit_names(empty_db, TODAY)["11311"] == "Phường Cũ", "the last version, not an older one"
    assert repo.unit_names(empty_db, dt.date(1990, 1, 1))["11311"] == "Phường Xưa"


def test_province_outline_falls_back_to_the_districts(empty_db: Engine) -> None:
    with empty_db.connect() as conn:
        assert province_outline(conn) == (None, None)
    with empty_db.begin() as c:
        c.execute(m.AdminUnit.__table__.insert(), [
            {"code": code, "name": code, "level": "district", "urban": True, "valid_from": FIRST,
             "geom": _square(x, 20.8, 0.1)} for code, x in (("303", 106.6), ("305", 106.7))])
    with empty_db.connect() as conn:
        outline, name = province_outline(conn)
    assert name is None and round(outline.area, 6) == 0.02


def test_inspection_campaigns_name_units_like_every_filter(demo_db: Engine) -> None:
    from geodata.work.inspections import select_sites

    with session_factory(demo_db)() as s:
        by_code = select_sites(s, {"district": ["305"]})
        assert by_code and all(select_sites(s, {"district": [v]}) == by_code
                               for v in ("le chan", "Lê Chân", "LE  CHAN", "Quận Lê Chân"))
        assert select_sites(s, {"district": ["Atlantis"]}) == [], "a name of nothing selects nothing"
