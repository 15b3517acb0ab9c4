"""An updated site index answers exactly as one rebuilt from scratch, after any sequence of
masts added, moved, changed and removed (including masts at equal distances, listed by code)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planning.context_updates import apply_site_changes, layered
from planning.rules import load_pack
from planning.spacing import build_site_index, spacing_matches

PACK = load_pack("haiphong")
CRS = "EPSG:9210"
X0, Y0 = 590_000.0, 2_300_000.0


def _rows(masts: dict[str, dict[str, Any]]) -> pd.DataFrame:
    cols = ["code", "operator", "derived_class", "mount", "free_slots", "x_m", "y_m", "status"]
    if not masts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.DataFrame([{"code": c, **v} for c, v in sorted(masts.items())])[cols]


def _mast(rng: np.random.Generator, grid: float) -> dict[str, Any]:
    # coordinates on a coarse lattice: masts at exactly equal distances from a probe are common
    return {"operator": str(rng.choice(["VTL", "VNPT", "MBF"])), "derived_class": str(rng.choice(["A2a", "A2b", "A1b"])),
            "mount": str(rng.choice(["ground", "rooftop"])), "free_slots": int(rng.integers(-1, 3)),
            "x_m": X0 + float(rng.integers(0, 40)) * grid, "y_m": Y0 + float(rng.integers(0, 40)) * grid,
            "status": "built"}


def _answers(index: Any, px: np.ndarray, py: np.ndarray) -> Any:
    n = px.size
    res = spacing_matches(index, px, py, np.array(["A2b"] * n, dtype=object), np.full(n, 30.0), np.full(n, 1.0),
                          PACK)
    return res.nearest, res.candidates, res.within_count.tolist()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n=st.integers(0, 150), steps=st.integers(1, 6),
       grid=st.sampled_from([25.0, 60.0]))
def test_updates_equal_a_rebuild_after_random_changes(seed: int, n: int, steps: int, grid: float) -> None:
    rng = np.random.default_rng(seed)
    masts = {f"S{i:04d}": _mast(rng, grid) for i in rng.choice(9000, n, replace=False).tolist()}
    index, layers = layered(build_site_index(_rows(masts), PACK, metric_crs=CRS))
    for _ in range(steps):
        changed: list[str] = []
        for _ in range(int(rng.integers(1, 12))):
            what = rng.choice(["add", "move", "change", "remove", "back"])
            codes = sorted(masts)
            if what == "add" or not codes:
                code = f"S{int(rng.integers(0, 9000)):04d}"
                masts[code] = _mast(rng, grid)
            elif what == "move":
                code = str(rng.choice(codes))
                masts[code] = {**masts[code], "x_m": X0 + float(rng.integers(0, 40)) * grid}
            elif what == "change":
                code = str(rng.choice(codes))
                masts[code] = {**masts[code], "free_slots": int(rng.integers(-1, 3)), "operator": "VTL"}
            elif what == "remove":
                code = str(rng.choice(codes))
                del masts[code]
            else:  # a mast that left the existing ones and came back (status removed → built)
                code = str(rng.choice(codes))
                masts[code] = {**masts[code], "status": "removed"}
            changed.append(code)
        rows = _rows({c: masts[c] for c in changed if c in masts})
        index, layers = apply_site_changes(index, layers, changed, rows, PACK, metric_crs=CRS)
    rebuilt = build_site_index(_rows(masts), PACK, metric_crs=CRS)
    px = X0 + rng.integers(0, 40, 30).astype(float) * grid
    py = Y0 + rng.integers(0, 40, 30).astype(float) * grid
    assert _answers(index, px, py) == _answers(rebuilt, px, py)
    live = ~np.isnan(index.x)
    assert sorted(index.code[live].tolist()) == sorted(rebuilt.code.tolist())


def test_an_older_index_keeps_answering_as_it_did() -> None:
    """Updates append into shared arrays beyond what older indexes reach: a context still serving
    requests never sees a later change, and a second update from it gets its own arrays."""
    rng = np.random.default_rng(3)
    masts = {f"S{i:04d}": _mast(rng, 25.0) for i in range(200)}
    i0, l0 = layered(build_site_index(_rows(masts), PACK, metric_crs=CRS))
    px, py = X0 + rng.uniform(0, 1000, 20), Y0 + rng.uniform(0, 1000, 20)
    before = _answers(i0, px, py)
    new = {"N0001": {**_mast(rng, 25.0), "x_m": float(px[0]), "y_m": float(py[0])}}
    i1, _ = apply_site_changes(i0, l0, ["N0001", "S0005"], _rows(new), PACK, metric_crs=CRS)
    assert _answers(i0, px, py) == before
    assert _answers(i1, px, py) != before
    other = {"N0002": {**_mast(rng, 25.0), "x_m": float(px[1]), "y_m": float(py[1])}}
    i2, _ = apply_site_changes(i0, l0, ["N0002"], _rows(other), PACK, metric_crs=CRS)  # a branch from i0
    assert "N0001" not in i2.code.tolist() and "N0002" in i2.code.tolist()
    assert "N0001" in i1.code.tolist() and "N0002" not in i1.code.tolist()
