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
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from planning.i18n import _
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


MERGE_KINDS = ("full", "partial")

#: The day the two-level administration began (Nghị quyết 202/2025/QH15): no districts from then on.
REFORM_2025 = dt.date(2025, 7, 1)


@dataclass(frozen=True)
class Merge:
    """One old unit's share in one new unit (a row of a unit mapping): ``kind`` is ``full`` when the
    whole old unit went into the new one, ``partial`` when only a part did."""

    old_code: str
    old_name: str
    new_code: str
    new_name: str
    kind: str


def merge_problems(merges: Sequence[Merge]) -> list[tuple[int, str, str, str]]:
    """(index, field, value, message) for each merge that cannot be stored: an empty code, a kind
    other than full/partial, a repeated (old, new) pair, or an old unit said to go *wholly* into a
    new unit while it also goes (wholly or partly) into another one."""
    out: list[tuple[int, str, str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    targets: dict[str, set[str]] = {}
    for m in merges:
        targets.setdefault(m.old_code, set()).add(m.new_code)
    for i, m in enumerate(merges):
        if not m.old_code:
            out.append((i, "old_code", "", _("the old unit has no code")))
        if not m.new_code:
            out.append((i, "new_code", "", _("the new unit has no code")))
        if m.kind not in MERGE_KINDS:
            out.append((i, "type", m.kind, _("merge type must be full or partial")))
        pair = (m.old_code, m.new_code)
        if pair in seen:
            out.append((i, "old_code", m.old_code, _("{old} is mapped to {new} twice (first at entry {first})",
                                                      old=m.old_code, new=m.new_code, first=seen[pair] + 1)))
        seen.setdefault(pair, i)
        if m.kind == "full" and len(targets.get(m.old_code, ())) > 1:
            others = ", ".join(sorted(targets[m.old_code] - {m.new_code}))
            out.append((i, "type", m.kind, _("{old} is merged fully into {new} but also goes to {others}: "
                                             "mark it partial", old=m.old_code, new=m.new_code, others=others)))
    return out


def old_unit_fates(merges: Iterable[Merge]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Where each old unit went: ``(whole, split)`` — ``whole`` maps an old unit that went entirely
    into one new unit to that unit (every site in it belongs there, polygons or not); ``split`` maps
    an old unit shared by several new units, or marked partial, to those units (a site in it can be
    placed only by the new units' own polygons, never guessed)."""
    targets: dict[str, set[str]] = {}
    partial: set[str] = set()
    for m in merges:
        targets.setdefault(m.old_code, set()).add(m.new_code)
        if m.kind != "full":
            partial.add(m.old_code)
    whole = {o: next(iter(t)) for o, t in targets.items() if len(t) == 1 and o not in partial}
    split = {o: sorted(t) for o, t in targets.items() if o not in whole}
    return whole, split


__all__ = ["MERGE_KINDS", "REFORM_2025", "UNIT_TYPE_WORDS", "Merge", "Versioned", "frame_in_force", "in_force", "match_units",
           "merge_problems", "old_unit_fates", "rows_in_force", "unit_key"]
