"""Updating a :class:`planning.checks.PlanningContext` in place of rebuilding it.

A million existing masts take seconds to index, yet a typical change touches one mast (a plan
approved, a status changed) or some thousands (an import). The masts' index is therefore layered:

- the *base*: the index built from scratch (arrays and a :class:`planning.geometry.PointGrid`),
  never modified;
- *tombstones*: a mast that moved, changed or left the existing ones keeps its base slot, with its
  coordinates set to NaN in the context's own copy of ``x``/``y`` — no distance to it is finite, so
  no search returns it;
- the *overlay*: masts added since the base (new, moved, changed) appended after the base slots,
  with a small grid of their own rebuilt on each update.

Appending writes into spare room at the end of shared arrays (the text columns would cost tens of
milliseconds to copy at a million masts), beyond every slot an older context can reach, so a
context already answering requests never sees a change. The per-mast values are computed by
:func:`planning.spacing.build_site_index` on the changed masts alone — the very function of the
full build — and ``code_rank`` (ties at equal distances listed by code) gives overlay masts ranks
between those of the base codes around them, so an updated context lists masts exactly as a
rebuilt one does. Once the overlay grows past :data:`COMPACT_AT` the caller rebuilds in the
background.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from planning.geometry import PointGrid
from planning.spacing import SiteIndex, build_site_index

#: overlay size (masts appended since the base) at which a full rebuild pays off
COMPACT_AT = 50_000
#: spare slots reserved after the base for appended masts
SPARE = 65_536


class LayeredGrid:
    """The base grid (tombstones skipped) and the overlay's grid, answering like one
    :class:`planning.geometry.PointGrid` over the context's slots."""

    def __init__(self, base: PointGrid, n_base: int, x: np.ndarray, y: np.ndarray, overlay: PointGrid) -> None:
        self.base, self.n_base, self.x, self.y, self.overlay = base, n_base, x, y, overlay

    def __len__(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.x)))

    def within(self, qx: np.ndarray, qy: np.ndarray, radius: np.ndarray | float,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q1, p1, d1 = self.base.within(qx, qy, radius)
        live = ~np.isnan(self.x[p1])
        q2, p2, d2 = self.overlay.within(qx, qy, radius)
        return (np.concatenate([q1[live], q2]), np.concatenate([p1[live], p2 + self.n_base]),
                np.concatenate([d1[live], d2]))


class _Columns:
    """Arrays with spare room at the end, shared by a chain of contexts; ``used`` is how far the
    newest context of the chain reaches (an older one appending again gets a copy instead)."""

    def __init__(self, index: SiteIndex, spare: int) -> None:
        n = len(index)
        self.capacity = n + spare
        self.used = n
        self.lock = threading.Lock()
        self.arrays: dict[str, np.ndarray] = {}
        for name in ("code", "operator", "derived_class", "mount"):
            a = np.empty(self.capacity, dtype=object)
            a[:n] = getattr(index, name)
            self.arrays[name] = a
        fs = np.full(self.capacity, -1, dtype=np.int64)
        fs[:n] = index.free_slots
        self.arrays["free_slots"] = fs


@dataclass(frozen=True)
class SiteLayers:
    """Where each existing mast of a context sits: base slots by code (never changed), the overlay
    slots by code, and the base codes in order for ranking newcomers."""

    n_base: int
    base_grid: PointGrid
    base_slot: dict[Any, int]
    base_sorted_codes: np.ndarray
    base_rank: np.ndarray
    columns: _Columns
    overlay_slot: dict[Any, int]
    dead_base: frozenset[int]
    used: int

    @property
    def overlay_size(self) -> int:
        return self.used - self.n_base


def layered(index: SiteIndex, spare: int = SPARE) -> tuple[SiteIndex, SiteLayers]:
    """The index of a fresh build, made updatable: same answers, arrays with room to append."""
    n = len(index)
    codes = np.array([str(c) for c in index.code.tolist()], dtype=object)
    rank = (np.asarray(index.code_rank, dtype=np.float64) if index.code_rank is not None
            else np.argsort(np.argsort(codes.astype(str), kind="stable"), kind="stable").astype(np.float64))
    order = np.empty(n, dtype=np.int64)
    order[rank.astype(np.int64)] = np.arange(n, dtype=np.int64)
    cols = _Columns(index, spare)
    layers = SiteLayers(n, index.grid, dict(zip(codes.tolist(), range(n), strict=True)),
                        codes[order] if n else codes, rank, cols, {}, frozenset(), n)
    return _index(index, layers, np.asarray(index.x, dtype=float), np.asarray(index.y, dtype=float), rank), layers


def _index(base: SiteIndex, layers: SiteLayers, x: np.ndarray, y: np.ndarray, rank: np.ndarray) -> SiteIndex:
    a, n = layers.columns.arrays, layers.used
    over = PointGrid(x[layers.n_base:n], y[layers.n_base:n], layers.base_grid.cell)
    grid = LayeredGrid(layers.base_grid, layers.n_base, x, y, over)
    return replace(base, code=a["code"][:n], operator=a["operator"][:n], derived_class=a["derived_class"][:n],
                   mount=a["mount"][:n], free_slots=a["free_slots"][:n], x=x, y=y, grid=grid,  # type: ignore[arg-type]
                   code_rank=rank)


def apply_site_changes(index: SiteIndex, layers: SiteLayers, codes: list[Any], rows: pd.DataFrame, pack: Any,
                       *, metric_crs: str) -> tuple[SiteIndex, SiteLayers]:
    """The index after the masts ``codes`` changed: each is taken out wherever it was, and those of
    ``rows`` (their current state, as :func:`planning.spacing.build_site_index` reads them; masts no
    longer existing are simply absent) are appended. ``index`` itself is left as it was."""
    fresh = build_site_index(rows, pack, metric_crs=metric_crs) if len(rows) else None
    k = len(fresh) if fresh is not None else 0
    # the context's own x/y/rank, with room for the appended masts: one copy of each (at a million
    # masts a copy is ~8 MB; copying, then concatenating, did each twice)
    start = layers.used
    x = np.empty(start + k)
    y = np.empty(start + k)
    x[:start] = index.x[:start]
    y[:start] = index.y[:start]
    dead = set(layers.dead_base)
    overlay = dict(layers.overlay_slot)
    for c in dict.fromkeys(codes):
        slot = overlay.pop(c, None)
        if slot is None:
            slot = layers.base_slot.get(c)
            if slot is None or slot in dead:
                continue
            dead.add(slot)
        x[slot] = y[slot] = np.nan
    cols = layers.columns
    with cols.lock:
        if cols.used != layers.used or layers.used + k > cols.capacity:
            cols = _grown(cols, layers.used, k)
        if fresh is not None and k:
            for name in ("code", "operator", "derived_class", "mount", "free_slots"):
                cols.arrays[name][start:start + k] = getattr(fresh, name)
        cols.used = start + k
    used = start + k
    rank = np.zeros(used)
    rank[:start] = index.code_rank[:start] if index.code_rank is not None else layers.base_rank
    if k and fresh is not None:
        x[start:] = fresh.x
        y[start:] = fresh.y
        for j, c in enumerate(fresh.code.tolist()):
            overlay[c] = start + j
    live = np.fromiter(overlay.values(), dtype=np.int64, count=len(overlay))
    if live.size:
        rank[live] = _between(layers.base_sorted_codes, cols.arrays["code"][live])
    out = replace(layers, columns=cols, overlay_slot=overlay, dead_base=frozenset(dead), used=used)
    return _index(index, out, x, y, rank), out


def _between(sorted_codes: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Ranks for codes not in the base: strictly between the ranks of the base codes around each,
    in code order among those that fall in the same gap (base rank r is the r-th code in order).
    A binary search per code in the base's sorted codes: milliseconds for thousands of codes."""
    keys = [str(c) for c in codes.tolist()]
    pos = (np.searchsorted(sorted_codes, np.array(keys, dtype=object), side="left") if sorted_codes.size
           else np.zeros(len(keys), dtype=np.int64))
    order = sorted(range(len(keys)), key=lambda i: (int(pos[i]), keys[i]))
    out = np.empty(len(keys), dtype=np.float64)
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and pos[order[j]] == pos[order[i]]:
            j += 1
        for k in range(i, j):
            out[order[k]] = pos[order[i]] - 1 + (k - i + 1) / (j - i + 1)
        i = j
    return out


def _grown(cols: _Columns, used: int, extra: int) -> _Columns:
    """A private copy of the shared arrays, with room for ``extra`` more (another context of the
    chain already appended, or the spare room ran out)."""
    new = object.__new__(_Columns)
    new.capacity = used + max(extra, SPARE)
    new.used = used
    new.lock = threading.Lock()
    new.arrays = {}
    for name, a in cols.arrays.items():
        b = np.empty(new.capacity, dtype=a.dtype) if a.dtype == object else np.full(new.capacity, -1, dtype=a.dtype)
        b[:used] = a[:used]
        new.arrays[name] = b
    return new


__all__ = ["COMPACT_AT", "LayeredGrid", "SiteLayers", "apply_site_changes", "layered"]
