"""A short run of the load benchmark's mix (tiles, features, checks, plan submissions) against a live
server on each backend: every request answers without error. The timed run is ``make bench``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from sqlalchemy import Engine

from tests.conftest import db_url

ROOT = Path(__file__).resolve().parents[2]


def _bench_load():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "benchmarks" / "bench_load.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def test_load_mix_smoke(demo_db: Engine) -> None:
    res = _bench_load().smoke(db_url(demo_db), seconds=3.0, rate=25.0)
    assert res["requests"] >= 40
    assert res["errors"] == 0, res
    assert {"tile", "features", "check"} <= set(res["by_kind"])
