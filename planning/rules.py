"""Rule packs: the legal thresholds of mast classification, zoning and spacing, as validated data.

Why data: the classes and distances come from circulars and provincial decisions that change
(TTLT 15/2016, provincial plans, the 2025 reform). A new circular should change a YAML file, not the
program. Each pack names its legal sources, version and validity dates, and marks what is only
``usage`` or ``provisional`` so the checks can report ambiguity instead of guessing silently.

A pack may ``extends`` another (a province pack extends the national one): mappings merge key by
key, ``legal_sources`` and ``ambiguities`` merge by ``id``, every other list is replaced whole.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from planning.errors import InvalidField
from planning.vocab import MastClass, Mount, Severity

RULES_DIR = Path(__file__).with_name("rules")

Status = Literal["confirmed", "usage", "provisional"]
Op = Literal["eq", "ne", "lt", "le", "gt", "ge"]

#: Site inputs the classifier may read, with their kind (the field names of docs/architecture.md, "Field
#: names").
FIELD_KINDS: dict[str, str] = {
    "mount": "text",
    "camouflaged": "bool",
    "mast_height_m": "number",
    "building_height_m": "number",
    "reach_m": "number",
}
CLASSIFIER_FIELDS: tuple[str, ...] = tuple(FIELD_KINDS)


class RulePackError(InvalidField):
    """A pack is missing, malformed or inconsistent; the message names the file and the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LegalSource(_Model):
    id: str
    document: str
    issued_on: dt.date | None = None
    issuer: str | None = None
    article: str | None = None
    status: Status = "confirmed"
    note: str | None = None

    def citation(self) -> str:
        """Short human citation, e.g. 'Thông tư liên tịch 15/2016/TTLT-BTTTT-BXD (22/06/2016)'."""
        date = f" ({self.issued_on:%d/%m/%Y})" if self.issued_on else ""
        return f"{self.document}{date}"


class Ambiguity(_Model):
    id: str
    text: str


class Condition(_Model):
    """``field op value`` or ``field op factor × ref`` (e.g. mast height ≤ 0.20 × building height)."""

    field: Literal["mount", "camouflaged", "mast_height_m", "building_height_m", "reach_m"]
    op: Op
    value: float | bool | str | None = None
    ref: Literal["mast_height_m", "building_height_m", "reach_m"] | None = None
    factor: float = 1.0

    @model_validator(mode="after")
    def _check(self) -> Condition:
        kind = FIELD_KINDS[self.field]
        if (self.value is None) == (self.ref is None):
            raise ValueError("give exactly one of 'value' or 'ref'")
        if self.ref is not None and kind != "number":
            raise ValueError(f"'ref' needs a numeric field, {self.field!r} is {kind}")
        if self.value is not None:
            if kind == "number" and (isinstance(self.value, bool) or not isinstance(self.value, int | float)):
                raise ValueError(f"value of {self.field!r} must be a number, got {self.value!r}")
            if kind == "bool" and not isinstance(self.value, bool):
                raise ValueError(f"value of {self.field!r} must be true or false, got {self.value!r}")
            if kind == "text" and not isinstance(self.value, str):
                raise ValueError(f"value of {self.field!r} must be text, got {self.value!r}")
            if kind != "number" and self.op not in ("eq", "ne"):
                raise ValueError(f"op {self.op!r} needs a numeric field, {self.field!r} is {kind}")
        return self

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field,) if self.ref is None else (self.field, self.ref)


class ClassRule(_Model):
    id: str
    mast_class: MastClass = Field(alias="class")
    status: Status = "confirmed"
    source: str
    description: str
    ambiguity: str | None = None
    scope: tuple[Condition, ...] = ()
    conditions: tuple[Condition, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        out: list[str] = []
        for c in (*self.scope, *self.conditions):
            out += [f for f in c.fields if f not in out]
        return tuple(out)


class Classification(_Model):
    tolerance: float = Field(1e-6, ge=0, le=0.01)
    mount_aliases: dict[str, Mount] = Field(default_factory=dict)
    rules: tuple[ClassRule, ...] = Field(min_length=1)


class Zoning(_Model):
    """The flagship check: bulky masts on A1-only routes and in A1-only zones."""

    subject_classes: tuple[MastClass, ...] = ("A2a",)
    use_declared_class: bool = True
    route_rule: str = "A1.route_corridor"
    zone_rule: str = "A1.zone"
    severity: Severity = "violation"
    default_corridor_m: float = Field(30.0, gt=0)
    source: str
    status: Status = "confirmed"
    ambiguity: str | None = None


class SpacingRule(_Model):
    """Minimum distance (m) from a new mast to existing masts, urban vs non-urban commune."""

    id: str
    classes: tuple[MastClass, ...] | None = None
    min_mast_height_m: float | None = None
    max_mast_height_m: float | None = None
    urban_m: float = Field(gt=0)
    rural_m: float | None = Field(None, gt=0)


class Spacing(_Model):
    rule: str = "spacing.min_distance"
    severity: Severity = "warning"
    source: str
    status: Status = "provisional"
    ambiguity: str | None = None
    note: str | None = None
    subject_statuses: tuple[str, ...] = ("planned",)
    existing_statuses: tuple[str, ...] = ("built",)
    default: SpacingRule
    rules: tuple[SpacingRule, ...] = ()
    #: co-location candidates are looked for within factor × the minimum distance
    colocation_radius_factor: float = Field(1.0, gt=0)
    max_nearest: int = Field(5, ge=1, le=50)

    @property
    def max_distance_m(self) -> float:
        return max(max(r.urban_m, r.rural_m or r.urban_m) for r in (self.default, *self.rules))


class RulePack(_Model):
    id: str
    title: str
    version: str
    status: Status = "confirmed"
    province: str | None = None
    extends: str | None = None
    valid_from: dt.date
    valid_to: dt.date | None = None
    legal_sources: tuple[LegalSource, ...] = Field(min_length=1)
    ambiguities: tuple[Ambiguity, ...] = ()
    classification: Classification
    zoning: Zoning
    spacing: Spacing

    @model_validator(mode="after")
    def _references(self) -> RulePack:
        src = {s.id for s in self.legal_sources}
        amb = {a.id for a in self.ambiguities}
        if len(src) != len(self.legal_sources):
            raise ValueError("legal_sources: duplicate id")
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        seen: set[str] = set()
        for i, r in enumerate(self.classification.rules):
            if r.id in seen:
                raise ValueError(f"classification.rules[{i}].id: duplicate rule id {r.id!r}")
            seen.add(r.id)
            if r.source not in src:
                raise ValueError(f"classification.rules[{i}].source: unknown legal source {r.source!r}")
            if r.ambiguity is not None and r.ambiguity not in amb:
                raise ValueError(f"classification.rules[{i}].ambiguity: unknown ambiguity {r.ambiguity!r}")
        for key, part in (("zoning", self.zoning), ("spacing", self.spacing)):
            if part.source not in src:
                raise ValueError(f"{key}.source: unknown legal source {part.source!r}")
            if part.ambiguity is not None and part.ambiguity not in amb:
                raise ValueError(f"{key}.ambiguity: unknown ambiguity {part.ambiguity!r}")
        return self

    # -- look-ups used by the checks
    def source(self, source_id: str) -> LegalSource:
        return next(s for s in self.legal_sources if s.id == source_id)

    def ambiguity_text(self, ambiguity_id: str | None) -> str | None:
        if ambiguity_id is None:
            return None
        return next(a.text for a in self.ambiguities if a.id == ambiguity_id)

    def citation(self, source_id: str) -> str:
        return self.source(source_id).citation()

    def is_valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------

def available_packs() -> list[str]:
    return sorted(p.stem for p in RULES_DIR.glob("*.yaml"))


def _resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.parent != Path("."):
        if not p.is_file():
            raise RulePackError(f"rule pack file not found: {p}")
        return p
    q = RULES_DIR / f"{name_or_path}.yaml"
    if not q.is_file():
        raise RulePackError(f"unknown rule pack {str(name_or_path)!r}; known: {', '.join(available_packs())}")
    return q


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RulePackError(f"rule pack {path.name}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise RulePackError(f"rule pack {path.name}: the top level must be a mapping")
    return data


def _merge_by_id(base: list[Any], over: list[Any]) -> list[Any]:
    out = {str(x.get("id")) if isinstance(x, dict) else repr(x): x for x in base}
    for x in over:
        out[str(x.get("id")) if isinstance(x, dict) else repr(x)] = x
    return list(out.values())


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if k in ("legal_sources", "ambiguities") and isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = _merge_by_id(out[k], v)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _raw(path: Path, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    if path.name in chain:
        raise RulePackError(f"rule pack {path.name}: 'extends' loops through {' → '.join(chain)}")
    data = _read(path)
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise RulePackError(f"rule pack {path.name}: extends: must be the name of another pack")
    base_path = _resolve(parent) if not (path.parent / f"{parent}.yaml").is_file() else path.parent / f"{parent}.yaml"
    base = _raw(base_path, (*chain, path.name))
    base.pop("province", None)  # a province is never inherited
    return _merge(base, data)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


@lru_cache(maxsize=32)
def _load(path: Path, mtime: float) -> RulePack:
    data = _raw(path)
    try:
        return RulePack.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise RulePackError(f"rule pack {path.name}: {_loc(tuple(first['loc']))}: {msg}{more}") from None


def load_pack(name_or_path: str | Path) -> RulePack:
    """Load and validate a pack by name (``haiphong``) or path; raises :class:`RulePackError`."""
    path = _resolve(name_or_path).resolve()
    return _load(path, path.stat().st_mtime)


def pack_for_province(province: str) -> RulePack:
    """The pack of ``settings.province``; the national pack when the province has none of its own."""
    key = province.lower()
    if (RULES_DIR / f"{key}.yaml").is_file():
        return load_pack(key)
    return load_pack("national-ttlt-15-2016")
