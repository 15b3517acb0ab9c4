"""Shared helpers for the plans-workflow tests: an app on the test database, keys per role, bodies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from geodata.store.keys import create_key
from app.main import create_app
from geodata.store.db import transaction
from geodata.store.models import Meta, Site
from geodata.settings import Settings
from tests.conftest import db_url


@dataclass
class Keys:
    admin: str
    planner: str
    planner2: str
    inspector: str
    vtl: str  # operator VTL
    mbf: str  # operator MBF

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, who)}"}


def make_keys(engine: Engine) -> Keys:
    with transaction(engine) as s:
        return Keys(
            admin=create_key(s, "admin", name="Quản trị").secret,
            planner=create_key(s, "planner", name="Chuyên viên Lan").secret,
            planner2=create_key(s, "planner", name="Chuyên viên Minh").secret,
            inspector=create_key(s, "inspector", name="Thanh tra Hùng").secret,
            vtl=create_key(s, "operator", "VTL", name="Viettel Hải Phòng").secret,
            mbf=create_key(s, "operator", "MBF", name="MobiFone Hải Phòng").secret,
        )


def client(engine: Engine, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(database_url=db_url(engine), **settings)))


def feature(item: str, coords: list[float] | None = None, geom_type: str = "Point", **props: Any) -> dict[str, Any]:
    geometry = None if coords is None else {"type": geom_type, "coordinates": coords}
    return {"type": "Feature", "geometry": geometry, "properties": {"item": item, **props}}


def collection(*features: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features), **extra}


def new_site(lon: float = 106.6822, lat: float = 20.8561, **props: Any) -> dict[str, Any]:
    base = {"mount": "ground", "mast_height_m": 42.0, "camouflaged": False}
    return feature("new_site", [lon, lat], **{**base, **props})


def site_row(engine: Engine, code: str) -> dict[str, Any]:
    with engine.connect() as c:
        r = c.execute(text("SELECT code, operator, status, shared_by, x_m, y_m, derived_class, mount, "
                           "mast_height_m, ST_X(geom) AS lon, ST_Y(geom) AS lat, district_code, commune_code "
                           "FROM sites WHERE code = :c"), {"c": code}).mappings().first()
    return dict(r) if r else {}


def a_site(engine: Engine, operator: str, status: str = "built") -> str:
    with transaction(engine) as s:
        return s.execute(select(Site.code).where(Site.operator == operator, Site.status == status)
                         .order_by(Site.code).limit(1)).scalar_one()


def planted(engine: Engine) -> list[str]:
    with transaction(engine) as s:
        return list(s.get(Meta, "demo.planted_a2a_on_a1").value)  # type: ignore[union-attr]
