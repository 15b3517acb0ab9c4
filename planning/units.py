"""Administrative units as users name them and as history versions them.

Two rules every layer applies the same way, so they live here once (pure: numpy and pandas):

* **Which unit a word names** (:func:`match_units`): its official code, or its name however it is
  typed ("305", "Lê Chân", "le chan", "LE  CHAN", "Quận Lê Chân"): API filters, exports, inspection
  campaigns and imported files all resolve units through it.
* **Which versions are in force on a date** (:func:`in_force`): units are versioned
  (``valid_from`` … ``valid_to``, both inclusive, an open end when ``valid_to`` is empty) because
  Vietnam redrew its units on 1/7/2025 and abolished the district level. A date on which no version
  is in force (a district report asked for after the reform) falls back to the last versions that
  ended before it, so reports keep using the old districts rather than nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from planning.names import fold

#: Words a unit's name may begin with that say its type, not which unit it is ("Quận Lê Chân" is
#: asked for as "Lê Chân"); multi-word types first so "thi xa" is not read as "thi" + "xa".
UNIT_TYPE_WORDS = ("thanh pho", "thi xa", "thi tran", "dac khu", "tinh", "quan", "huyen", "phuong", "xa")


def unit_key(name: str | None) -> str:
    """A unit's name folded and without its type word: "Quận Lê Chân", "le  chan" → "le chan"."""
    t = fold(name)
    for w in UNIT_TYPE_WORDS:
        if t.startswith(w + " "):
            return t[len(w) + 1:]
    return t


def match_units(value: str, units: Iterable[tuple[str, str]]) -> list[str]:
    """Codes of the units ``value`` names among ``units`` (code, name) pairs, sorted; [] when none.

    A value equal to a code names that code only (codes are what machines send); otherwise names
    are compared after :func:`unit_key`, so a name matches every version of a unit that kept it.
    """
    pairs = list(units)
    v = value.strip()
    codes = {c for c, _ in pairs if c == v}
    if not codes:
        key = unit_key(v)
        codes = {c for c, n in pairs if key and unit_key(n) == key}
    return sorted(codes)


def _day(v: Any) -> dt.date | None:
    """A date, or None for an open bound (None, NaN, NaT); datetimes (pandas Timestamps) → their date."""
    if v is None or pd.isna(v):
        return None
    return v.date() if isinstance(v, dt.datetime) else v  # type: ignore[no-any-return]


def _valid(vf: list[dt.date | None], vt: list[dt.date | None], on: dt.date) -> np.ndarray:
    return np.array([(f is None or f <= on) and (t is None or on <= t) for f, t in zip(vf, vt, strict=True)],
                    dtype=bool)


def in_force(valid_from: Sequence[Any], valid_to: Sequence[Any], on: dt.date) -> tuple[np.ndarray, dt.date]:
    """Which versions to use for ``on``, and the day they are in force.

    The versions with ``valid_from ≤ on ≤ valid_to`` (an empty bound is open); when there are none,
    those in force on the last day any version ended before ``on``; when ``on`` precedes every
    version, those in force on the first day of the earliest. Apply it to one level (or one code) at
    a time: districts that ended must not hide communes that go on.
    """
    vf = [_day(v) for v in valid_from]
    vt = [_day(v) for v in valid_to]
    mask = _valid(vf, vt, on)
    if mask.any() or not mask.size:
        return mask, on
    ended = [t for t in vt if t is not None and t < on]
    day = max(ended) if ended else min(f for f in vf if f is not None)
    return _valid(vf, vt, day), day


class Versioned(Protocol):
    @property
    def valid_from(self) -> Any: ...

    @property
    def valid_to(self) -> Any: ...


V = TypeVar("V", bound=Versioned)


def rows_in_force(rows: Sequence[V], on: dt.date) -> tuple[list[V], dt.date]:
    """:func:`in_force` over rows with ``valid_from``/``valid_to`` attributes (database rows)."""
    mask, day = in_force([r.valid_from for r in rows], [r.valid_to for r in rows], on)
    return [r for r, ok in zip(rows, mask, strict=True) if ok], day


def frame_in_force(units: Any, on: dt.date) -> Any:
    """The rows of a units DataFrame (``level``, ``valid_from``, ``valid_to``; a missing date column
    is an open bound) that :func:`in_force` picks for ``on``, level by level."""
    n = len(units)
    none = np.full(n, None, dtype=object)
    vf = units["valid_from"].to_numpy(dtype=object) if "valid_from" in units else none
    vt = units["valid_to"].to_numpy(dtype=object) if "valid_to" in units else none
    levels = units["level"].to_numpy(dtype=object)
    keep = np.zeros(n, dtype=bool)
    for level in dict.fromkeys(levels.tolist()):
        idx = np.flatnonzero(levels == level)
        keep[idx[in_force(vf[idx].tolist(), vt[idx].tolist(), on)[0]]] = True
    return units[keep]


__all__ = ["UNIT_TYPE_WORDS", "Versioned", "frame_in_force", "in_force", "match_units", "rows_in_force", "unit_key"]
