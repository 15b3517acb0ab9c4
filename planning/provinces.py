"""The province registry: every province of Viet Nam before and after the 2025 reform, as data.

The facts (GSO codes, names, TM-3 meridians, fallback extents, which former provinces a new one
merged) live in ``planning/data/provinces.yaml`` with their sources, so a department of any province
sets the product up with one setting and a reviewer checks a value against its source without
reading code. The file is validated once, on first use: a typo there fails loudly at start-up rather
than as a wrong distance later.

A key may name two versions (``haiphong`` before and after its merger with Hải Dương). The version in
force on a day wins; a key whose only version ended (``haiduong``) still names that version, so data
of a former province can be worked on as it was.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from planning.errors import InvalidField
from planning.i18n import _

REGISTRY_FILE = Path(__file__).with_name("data") / "provinces.yaml"

#: The day the 34 provinces of Nghị quyết 202/2025/QH15 came into force.
REFORM_DAY = dt.date(2025, 7, 1)

BBox = tuple[float, float, float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meridian(_Strict):
    """A VN-2000 / TM-3 central meridian, written as the regulations write it ("105-45")."""

    meridian: str = Field(pattern=r"^1\d\d-(00|15|30|45)$")
    verified: bool
    source: str = Field(min_length=10)

    @property
    def degrees(self) -> float:
        d, m = self.meridian.split("-")
        return int(d) + int(m) / 60.0


class Island(_Strict):
    name: str
    bbox: BBox


def _check_bbox(b: BBox | None) -> BBox | None:
    if b is not None and not (100 <= b[0] < b[2] <= 120 and 5 <= b[1] < b[3] <= 24):
        raise ValueError(f"bbox {b} is not lon_min, lat_min, lon_max, lat_max within Viet Nam")
    return b


class Province(_Strict):
    """One version of a province. Pre-reform versions carry their own meridian and bbox; post-reform
    ones list ``merged_from`` and take those from their parts."""

    key: str = Field(pattern=r"^[a-z]+$")
    code: str = Field(pattern=r"^\d\d$")
    name: str
    type: Literal["tỉnh", "thành phố trực thuộc trung ương"]
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    tm3: Meridian | None = None
    bbox: BBox | None = None
    bbox_source: str | None = None
    islands: tuple[Island, ...] = ()
    merged_from: tuple[str, ...] = ()

    _bbox = field_validator("bbox")(classmethod(lambda cls, v: _check_bbox(v)))

    @model_validator(mode="after")
    def _own_or_merged(self) -> Province:
        if self.merged_from and (self.tm3 or self.bbox):
            raise ValueError(f"{self.key}: a merged province takes tm3 and bbox from its parts")
        if not self.merged_from and not (self.tm3 and self.bbox and self.bbox_source):
            raise ValueError(f"{self.key}: tm3, bbox and bbox_source are required (or merged_from)")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError(f"{self.key}: valid_to before valid_from")
        return self

    @property
    def label(self) -> str:
        """The name with its type, as documents write it: "thành phố Hải Phòng", "tỉnh Hưng Yên"."""
        return f"{'thành phố' if self.type != 'tỉnh' else 'tỉnh'} {self.name}"

    def in_force(self, on: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (self.valid_to is None or on <= self.valid_to)


class _Registry(_Strict):
    provinces: tuple[Province, ...]

    @model_validator(mode="after")
    def _consistent(self) -> _Registry:
        by_key: dict[str, list[Province]] = {}
        for p in self.provinces:
            by_key.setdefault(p.key, []).append(p)
        for key, versions in by_key.items():
            for a in versions:
                for b in versions:
                    if a is not b and _overlap(a, b):
                        raise ValueError(f"{key}: two versions in force on the same day")
        own = {p.key for p in self.provinces if not p.merged_from}
        for p in self.provinces:
            missing = [k for k in p.merged_from if k not in own]
            if missing:
                raise ValueError(f"{p.key}: merged_from names unknown former provinces {missing}")
        return self


def _overlap(a: Province, b: Province) -> bool:
    lo = max(a.valid_from or dt.date.min, b.valid_from or dt.date.min)
    hi = min(a.valid_to or dt.date.max, b.valid_to or dt.date.max)
    return lo <= hi


@cache
def registry() -> tuple[Province, ...]:
    """Every province version in the registry file, validated (read once per process)."""
    data = yaml.safe_load(REGISTRY_FILE.read_text(encoding="utf-8"))
    return _Registry.model_validate(data).provinces


def keys() -> list[str]:
    return sorted({p.key for p in registry()})


def province(key: str, on: dt.date | None = None) -> Province:
    """The version of ``key`` in force on ``on`` (today); a key with no version in force then names
    its latest version (``haiduong`` → the pre-reform province). Unknown keys raise InvalidField
    listing the known ones."""
    on = on or dt.date.today()
    k = (key or "").strip().lower()
    versions = [p for p in registry() if p.key == k]
    if not versions:
        raise InvalidField(_("unknown province {key!r}; known: {values}",
                             key=key, values=', '.join(keys())), "province")
    now = [p for p in versions if p.in_force(on)]
    return now[0] if now else max(versions, key=lambda p: p.valid_from or dt.date.min)


def former(key: str) -> Province:
    """The pre-reform (own-meridian) version of a key."""
    for p in registry():
        if p.key == key and not p.merged_from:
            return p
    raise InvalidField(_("{key!r} is not a former province", key=key), "province")


def parts(p: Province) -> tuple[Province, ...]:
    """The former provinces ``p`` is made of (itself when it merged nothing)."""
    return tuple(former(k) for k in p.merged_from) if p.merged_from else (p,)


def bbox(p: Province) -> BBox:
    """The fallback extent: the province's own bbox, or the union of its parts' bboxes."""
    boxes = [q.bbox for q in parts(p) if q.bbox is not None]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def islands(p: Province) -> tuple[Island, ...]:
    return tuple(i for q in parts(p) for i in q.islands)


def meridians(p: Province) -> dict[str, Meridian]:
    """TM-3 meridian of each former part, by key."""
    return {q.key: q.tm3 for q in parts(p) if q.tm3 is not None}


def default_meridian(p: Province) -> Meridian:
    """The meridian distances are measured in by default: the seat's (the part with the same key),
    else the first part's. One zone for the whole province keeps every distance comparable; TM-3
    scale error 1° from the meridian stays under 1.5 · 10⁻⁴ (15 cm per km)."""
    ms = meridians(p)
    return ms.get(p.key) or next(iter(ms.values()))


__all__ = ["REFORM_DAY", "Island", "Meridian", "Province", "bbox", "default_meridian", "former", "islands",
           "keys", "meridians", "parts", "province", "registry"]
