"""How ``POST /checks/site`` is served (issue 19): the planning context is built when the server
starts (not by the first check), answers name the data version they were made from, the province
outline survives a changed mast but not a changed unit, and the server's PostGIS sessions run
without JIT and without parallel workers."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from app.routers import checks as checks_router
from geodata.settings import Settings
from geodata.store.area import province_area
from geodata.store.db import make_engine
from geodata.store.meta import bump_data_version, data_version, units_version
from geodata.work.context_cache import context_holder
from tests.conftest import db_url

FEATURE = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.6812, 20.8610]},
           "properties": {"code": "T-1", "mount": "ground", "mast_height_m": 30.0, "operator": "VTL"}}


def test_the_context_is_built_at_start_up_and_answers_name_their_version(demo_db: Engine) -> None:
    gc.unfreeze()  # whatever an earlier test froze: the count below is this start-up's
    settings = Settings(database_url=db_url(demo_db), warm_check_context=True)
    app = create_app(settings)
    with TestClient(app) as client:
        holder = context_holder(app.state.engine, checks_router._pack(settings.province), settings.metric_crs)
        deadline = time.monotonic() + 120
        while holder._current is None and time.monotonic() < deadline:  # no request has been made
            time.sleep(0.05)
        assert holder._current is not None
        assert gc.get_freeze_count() > 0  # the heap was settled: a full collection skips the context
        r = client.post("/checks/site", json=FEATURE)
        assert r.status_code == 200
        v = data_version(demo_db)
        assert r.json()["data_version"] == v and r.headers["x-data-version"] == str(v)
        assert set(dict(p.strip().split(";dur=") for p in r.headers["server-timing"].split(","))) == {
            "db", "context", "check"}
        with demo_db.begin() as c:  # a mast moves: the next answer comes from the updated context
            code = c.execute(text("SELECT code FROM sites WHERE status = 'built' ORDER BY id LIMIT 1")).scalar()
            c.execute(text("UPDATE sites SET x_m = x_m + 20 WHERE code = :c"), {"c": code})
            v2 = bump_data_version(c, {"sites": [code]})
        r = client.post("/checks/site", json=FEATURE)
        assert r.json()["data_version"] == v2 and holder.updates >= 1 and holder.rebuilds == 0


def test_checks_run_on_long_lived_threads_with_the_request_language(demo_db: Engine,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The check threads are the pool's own (not the shared pool's, which retires idle threads), and
    a refusal is still in the language the request asked for."""
    seen: list[str] = []
    real = checks_router.check_site

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.current_thread().name)
        return real(*args, **kwargs)

    with TestClient(create_app(Settings(database_url=db_url(demo_db)))) as client:
        monkeypatch.setattr(checks_router, "check_site", spy)
        assert client.post("/checks/site", json=FEATURE).status_code == 200
        monkeypatch.undo()
        outside = {**FEATURE, "geometry": {"type": "Point", "coordinates": [10.0, 20.0]}}
        en = client.post("/checks/site?lang=en", json=outside)
        vi = client.post("/checks/site?lang=vi", json=outside)
    assert seen and all(name.startswith("site-check") for name in seen)
    assert en.status_code == vi.status_code == 422
    assert "is outside" in en.json()["detail"] and "is outside" not in vi.json()["detail"]


def test_the_outline_is_cached_across_mast_changes_not_unit_changes(demo_db: Engine) -> None:
    key = Settings(database_url=db_url(demo_db)).province
    first = province_area(demo_db, key)
    assert province_area(demo_db, key) is first
    with demo_db.begin() as c:
        bump_data_version(c, {"sites": ["HP-VTL-0000001"]})
    assert province_area(demo_db, key) is first  # a mast changed: the same outline, no new union
    with demo_db.begin() as c:
        v = bump_data_version(c, {"units": True})
    assert units_version(demo_db) == v
    assert province_area(demo_db, key) is not first
    with demo_db.begin() as c:
        v = bump_data_version(c)  # a write that does not say what it changed may have changed units
    assert units_version(demo_db) == v


def test_server_sessions_run_without_jit_or_parallel_workers(demo_db: Engine, backend: str) -> None:
    if backend != "postgis":
        pytest.skip("PostgreSQL settings")
    url = db_url(demo_db)
    show = "SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather')"
    serving = make_engine(url, statement_timeout_ms=5000, serving=True)
    batch = make_engine(url)
    try:
        with serving.connect() as c:
            assert tuple(c.execute(text(show)).one()) == ("off", "0")
        with batch.connect() as c:  # batch work keeps the server's own parallel-worker setting
            assert c.execute(text(show)).one()[0] == "off"
            assert c.execute(text("SELECT source FROM pg_settings WHERE name = "
                                  "'max_parallel_workers_per_gather'")).scalar() != "client"
        app = create_app(Settings(database_url=url))
        with app.state.engine.connect() as c:
            assert tuple(c.execute(text(show)).one()) == ("off", "0")
        app.state.engine.dispose()
    finally:
        serving.dispose()
        batch.dispose()
