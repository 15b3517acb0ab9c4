"""The administrative units of a day, for every report that names the unit a thing lies in.

Statistics, monitoring, exports, the map's table and the appraisal report must all say "this site is
in that unit" the same way, on the date the reader asks for (default today). Since 1/7/2025 a
province holds communes, wards and special zones directly (xã/phường/đặc khu), so on or after that
day reports group by the new communes — never silently by the districts frozen on 30/6/2025 — and a
site in an old commune that a reform split among several new units, while the new units have no
polygons yet, is "not placed (partial merge of X)", counted but never guessed.

This module is the one reader of that rule: it picks the level (:func:`reporting_level`), takes the
units of that level the statistics take (:func:`planning.aggregate.counting_units`, including the
union of fully merged old units for new units known only from a unit mapping) and places points in
them with the statistics' own :func:`planning.aggregate.locate` (by geometry, not by the codes
stored with a site, which belong to whichever vintage was in force when the site was imported).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from geodata.store import repository as repo
from geodata.store.meta import data_version
from geodata.store.units import unit_mapping_frame
from planning.aggregate import counting_units, locate
from planning.i18n import _, get_language
from planning.units import REFORM_2025, in_force, match_units

#: Prefix of the placement key of a site in a partially merged old unit (``~`` + the old code).
PARTIAL_KEY = "~"


@dataclass(frozen=True)
class UnitsOnDay:
    """The units a report groups by on ``as_of``: ``by`` (district or commune) in force on ``day``
    (``as_of`` unless that level has no version then; ``note`` says so)."""

    by: str
    as_of: dt.date
    day: dt.date
    note: str | None
    keys: np.ndarray  #: object: the unit's code, or ``~`` + old code for a partially merged old unit
    names: np.ndarray  #: object: the unit's name, or "not placed (partial merge of X)"
    geoms: np.ndarray  #: object: WGS84 polygons (None where a mapped unit has no polygon)

    def place(self, lon: Any, lat: Any) -> np.ndarray:
        """The placement key of each WGS84 point (see :attr:`keys`); None outside every unit."""
        x = np.asarray(lon, dtype=float)
        y = np.asarray(lat, dtype=float)
        where = locate(x, y, self.geoms)
        out = np.full(x.size, None, dtype=object)
        hit = where >= 0
        out[hit] = self.keys[where[hit]]
        return out

    def label(self, key: str | None) -> str | None:
        """The name a key is shown with (the partial merge's "not placed" text for a partial key)."""
        return None if key is None else self._names.get(key)

    @cached_property
    def _names(self) -> dict[str, str]:
        # the first row of a key wins (a key is one unit of the day; a dict so exports label a row in O(1))
        out: dict[str, str] = {}
        for k, n in zip(self.keys.tolist(), self.names.tolist(), strict=True):
            out.setdefault(str(k), str(n))
        return out

    def code(self, key: str | None) -> str | None:
        """The unit code of a key; None for a site not placed (partial merge) or outside."""
        return None if key is None or key.startswith(PARTIAL_KEY) else key

    def names_by_key(self) -> dict[str, str]:
        return dict(self._names)

    def resolve(self, value: str) -> list[str]:
        """Keys of the units ``value`` names (a code or a name however typed, the rule of every unit
        filter, :func:`planning.units.match_units`); partial-merge rows are never named."""
        pairs = [(str(k), str(n)) for k, n in zip(self.keys, self.names, strict=True) if not str(k).startswith(PARTIAL_KEY)]
        return match_units(value, pairs)

    def as_dict(self) -> dict[str, Any]:
        """What reports print beside their table: the level, the day asked, the day of the units."""
        out: dict[str, Any] = {"by": self.by, "as_of": self.as_of.isoformat(), "units_as_of": self.day.isoformat()}
        if self.note:
            out["units_note"] = self.note
        return out


def _mapped_communes(mapping: pd.DataFrame | None, as_of: dt.date) -> bool:
    """Whether a stored unit mapping names new communes in force by ``as_of``."""
    if mapping is None or not len(mapping):
        return False
    due = pd.to_datetime(mapping["effective_on"]).dt.date <= as_of
    return bool((due & (mapping["new_level"] == "commune")).any())


def reporting_level(units: pd.DataFrame, mapping: pd.DataFrame | None, as_of: dt.date) -> str:
    """``commune`` on or after 1/7/2025 when communes are known for that day (polygons in force, or a
    unit mapping effective by then); ``district`` before it when districts are stored. Otherwise the
    level the data have (a province whose only import is districts valid today keeps its districts:
    they are in force, not frozen)."""
    levels = set(units["level"]) if len(units) else set()
    if as_of >= REFORM_2025:
        communes = units[units["level"] == "commune"] if len(units) else units
        mask, day = in_force(list(communes.get("valid_from", [None] * len(communes))),
                             list(communes.get("valid_to", [None] * len(communes))), as_of)
        if (mask.any() and day == as_of) or _mapped_communes(mapping, as_of):
            return "commune"
        districts = units[units["level"] == "district"] if len(units) else units
        dmask, dday = in_force(list(districts.get("valid_from", [None] * len(districts))),
                               list(districts.get("valid_to", [None] * len(districts))), as_of)
        if dmask.any() and dday == as_of:
            return "district"
        return "commune" if "commune" in levels else "district"
    return "district" if "district" in levels or "commune" not in levels else "commune"


_CACHE: dict[tuple[Any, ...], UnitsOnDay] = {}


def units_on(bind: Engine | Connection, as_of: dt.date | None = None, by: str | None = None) -> UnitsOnDay:
    """The units to report by on ``as_of`` (today); ``by`` forces the level (``district`` asked for
    after the reform gives the last districts, said in ``note``). Cached per database, data version,
    level, day and language (the partial-merge labels are translated)."""
    as_of = as_of or dt.date.today()
    engine = bind if isinstance(bind, Engine) else bind.engine
    key = (engine.url.render_as_string(hide_password=False), data_version(bind), by, as_of, get_language())
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    units = repo.load_admin_units(bind)
    mapping = unit_mapping_frame(bind)
    level = by or reporting_level(units, mapping, as_of)
    lv = units[units["level"] == level]
    none = [None] * len(lv)
    _mask, day = in_force(list(lv.get("valid_from", none)), list(lv.get("valid_to", none)), as_of)
    if level == "commune" and _mapped_communes(mapping, as_of):
        day = as_of  # new units known from a mapping in force: never fall back to the old communes
    note = None
    if day != as_of:
        note = _("no unit of this level is in force on {day}; the units in force on {used} are used",
                 day=as_of.isoformat(), used=day.isoformat())
    cu = counting_units(units, by=level, as_of=day, mapping=mapping if level == "commune" else None)
    frame = cu.level
    placement = frame["placement"].tolist() if "placement" in frame else ["exact"] * len(frame)
    codes = frame["code"].astype(str).tolist()
    names = frame["name"].astype(str).tolist()
    keys = [PARTIAL_KEY + c if p == "partial" else c for c, p in zip(codes, placement, strict=True)]
    labels = [_("not placed (partial merge of {unit})", unit=n) if p == "partial" else n
              for n, p in zip(names, placement, strict=True)]
    out = UnitsOnDay(level, as_of, day, note, np.array(keys, dtype=object), np.array(labels, dtype=object),
                     np.asarray(frame.geometry.values, dtype=object))
    if len(_CACHE) > 32:
        _CACHE.clear()
    _CACHE[key] = out
    return out


__all__ = ["PARTIAL_KEY", "UnitsOnDay", "reporting_level", "units_on"]
