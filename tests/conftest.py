"""Fixtures: every storage test runs on both backends (ids ``[spatialite]`` and ``[postgis]``).

Databases are cloned from per-session templates (a copied SQLite file; ``CREATE DATABASE … TEMPLATE``
on PostgreSQL), so each test gets a fresh, migrated (and optionally demo-loaded) database in well
under a second and tests never see each other's writes.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from geodata.store import migrate
from geodata.store.db import make_engine
from geodata.demo import load_demo
from planning import i18n

BACKENDS = ["spatialite", "postgis"]

# The suite reads messages in English, the catalogs' source language (planning/i18n.py): most tests
# were written against those texts, and a missing Vietnamese entry is caught by
# tests/planning/test_i18n.py instead. Vietnamese is asked for explicitly where it is tested
# (``i18n.use_language("vi")``, ``?lang=vi``, ``Accept-Language: vi``, ``Settings(lang="vi")``); the
# environment variable covers apps and CLI runs that read their settings, the context variable the
# tests' own thread.
os.environ.setdefault("BTSPLAN_LANG", "en")
i18n.set_language(os.environ["BTSPLAN_LANG"])


def _shared_data() -> Path:
    """The real public geodata beside the repository (``../shared/data``), never copied into it."""
    candidates = [os.environ.get("BTSPLAN_SHARED_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data",
                  "/work/shared/data"]
    for c in candidates:
        if c and (Path(c) / "hai_phong_districts_dvhcvn.geojson").exists():
            return Path(c)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


SHARED_DATA = _shared_data()


def postgres_url() -> str:
    url = os.environ.get("BTSPLAN_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("BTSPLAN_TEST_POSTGRES_URL is not set: run the suite with `make test` (it starts PostgreSQL)")
    return url


class DatabaseFactory:
    """Builds template databases once per session and clones them for tests."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.templates: dict[tuple[str, str], str] = {}
        self.created_pg: list[str] = []
        self.tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"

    # -- admin connection for CREATE/DROP DATABASE
    def _admin(self) -> Engine:
        return create_engine(make_url(postgres_url()), isolation_level="AUTOCOMMIT")

    def _pg_url(self, name: str) -> str:
        return make_url(postgres_url()).set(database=name).render_as_string(hide_password=False)

    def _build(self, backend: str, kind: str) -> str:
        if backend == "spatialite":
            url = f"sqlite:///{self.tmp / f'tpl_{kind}.sqlite'}"
        else:
            name = f"btsplan_tpl_{kind}_{self.tag}"
            admin = self._admin()
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                c.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            self.created_pg.append(name)
            url = self._pg_url(name)
        engine = make_engine(url)
        migrate.upgrade(engine)
        if kind == "demo":
            load_demo(engine, seed=1, n_sites=1000)
        engine.dispose()
        return url

    def template(self, backend: str, kind: str) -> str:
        key = (backend, kind)
        if key not in self.templates:
            self.templates[key] = self._build(backend, kind)
        return self.templates[key]

    def clone(self, backend: str, kind: str) -> str:
        tpl = self.template(backend, kind)
        if backend == "spatialite":
            src = Path(make_url(tpl).database or "")
            dst = self.tmp / f"db_{uuid.uuid4().hex[:10]}.sqlite"
            shutil.copyfile(src, dst)
            return f"sqlite:///{dst}"
        name = f"btsplan_t_{uuid.uuid4().hex[:10]}"
        admin = self._admin()
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(tpl).database}"'))
        admin.dispose()
        self.created_pg.append(name)
        return self._pg_url(name)

    def drop(self, url: str) -> None:
        if url.startswith("postgresql"):
            name = make_url(url).database
            admin = self._admin()
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
            if name in self.created_pg:
                self.created_pg.remove(name)

    def close(self) -> None:
        if not self.created_pg:
            return
        admin = self._admin()
        with admin.connect() as c:
            for name in list(self.created_pg):
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def db_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    f = DatabaseFactory(tmp_path_factory.mktemp("db"))
    yield f
    f.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _engine(db_factory: DatabaseFactory, backend: str, kind: str) -> Iterator[Engine]:
    url = db_factory.clone(backend, kind)
    engine = make_engine(url)
    engine.info_url = url  # type: ignore[attr-defined]
    yield engine
    engine.dispose()
    db_factory.drop(url)


@pytest.fixture
def empty_db(db_factory: DatabaseFactory, backend: str) -> Iterator[Engine]:
    """A migrated, empty database on the parametrised backend."""
    yield from _engine(db_factory, backend, "empty")


@pytest.fixture
def demo_db(db_factory: DatabaseFactory, backend: str) -> Iterator[Engine]:
    """A database with the seed-1, 1,000-site demo loaded, on the parametrised backend."""
    yield from _engine(db_factory, backend, "demo")


def db_url(engine: Engine) -> str:
    return str(engine.info_url)  # type: ignore[attr-defined]


def plant_findings(engine: Engine, first_check: str = "a1-routes") -> None:
    """Two findings in two districts: one in Lê Chân (code 305, of ``first_check``), one spacing warning in
    Hồng Bàng (303), so filters by unit name or code can be told apart."""
    from geodata.store import models as m

    rule, severity = ("a1.route", "violation") if first_check == "a1-routes" else ("spacing.min", "warning")
    with engine.begin() as c:
        c.execute(m.Finding.__table__.insert(), [
            {"check": first_check, "rule": rule, "severity": severity, "site_code": "X", "operator": "VTL",
             "district": "Quận Lê Chân", "district_code": "305", "geom": "SRID=4326;POINT(106.68 20.86)"},
            {"check": "spacing", "rule": "spacing.min", "severity": "warning", "site_code": "Y", "operator": "MBF",
             "district": "Quận Hồng Bàng", "district_code": "303", "geom": "SRID=4326;POINT(106.67 20.865)"}])
