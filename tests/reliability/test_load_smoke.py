"""A short run of the load benchmark's mix (tiles, features, checks, plan submissions) against a live
server on each backend: every request answers without error. The timed run is ``make bench``."""

from __future__ import annotations

from sqlalchemy import Engine

from benchmarks.common import load_benchmark
from tests.conftest import db_url


def test_load_mix_smoke(demo_db: Engine) -> None:
    res = load_benchmark("bench_load").smoke(db_url(demo_db), seconds=3.0, rate=25.0)
    assert res["requests"] >= 40
    assert res["errors"] == 0, res
    assert {"tile", "features", "check"} <= set(res["by_kind"])
