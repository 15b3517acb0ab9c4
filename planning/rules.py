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

import shapely
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planning.errors import InvalidField
from planning.vocab import MAST_CLASSES, MastClass, Mount, Severity, Structure, ZonePolicy
from planning.i18n import _

RULES_DIR = Path(__file__).with_name("rules")

Status = Literal["confirmed", "usage", "provisional"]
Op = Literal["eq", "ne", "lt", "le", "gt", "ge"]

#: Site inputs the classifier may read, with their kind (the field names of docs/architecture.md, "Field
#: names").
FIELD_KINDS: dict[str, str] = {
    "mount": "text",
    "structure": "text",
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

    field: Literal["mount", "structure", "camouflaged", "mast_height_m", "building_height_m", "reach_m"]
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
    structure_aliases: dict[str, Structure] = Field(default_factory=dict)
    rules: tuple[ClassRule, ...] = Field(min_length=1)


class ZonePolicyRule(_Model):
    """What one placement policy of routes and zones forbids, with the text that says so.

    Which classes an area keeps out is the plan's wording, not the program's: Quảng Nam's plan says
    of its A1 areas "chỉ được lắp đặt cột ăng ten loại A1" (every A2 class is out) and keeps A2b out
    of A1 and A2a areas, so an ``a2a_allowed`` area forbids A2b and A2c.
    """

    policy: ZonePolicy
    forbidden: tuple[MastClass, ...] = Field(min_length=1)
    route_rule: str
    zone_rule: str
    source: str
    #: the sentence of the source that sets the rule, as written
    quote: str | None = None
    status: Status = "confirmed"
    ambiguity: str | None = None


class Zoning(_Model):
    """The flagship check: masts of a class an area's policy forbids, on its routes and in its zones.

    A site of ``unknown`` class inside an area whose policy forbids a class it could have gets a
    finding of ``unknown_severity`` ("cannot confirm") naming the missing inputs.
    """

    policies: tuple[ZonePolicyRule, ...] = Field(min_length=1)
    use_declared_class: bool = True
    severity: Severity = "violation"
    unknown_severity: Severity = "warning"
    default_corridor_m: float = Field(30.0, gt=0)
    #: where the default corridor half-width comes from; provisional while no text sets it
    corridor_status: Status = "provisional"
    corridor_ambiguity: str | None = None
    source: str
    status: Status = "confirmed"
    ambiguity: str | None = None

    def policy(self, name: str) -> ZonePolicyRule | None:
        return next((p for p in self.policies if p.policy == name), None)

    @property
    def subject_classes(self) -> tuple[MastClass, ...]:
        """Every class some policy forbids, in the circular's order."""
        out = {c for p in self.policies for c in p.forbidden}
        return tuple(c for c in MAST_CLASSES if c in out)


class Scope(_Model):
    """Where and when a rule holds: a set of (former) admin units and/or a polygon (WKT, WGS84
    lon/lat), and validity dates. A rule with a scope applies to the sites inside it on the days in
    its period (e.g. Hải Dương's QĐ 26/2018/QĐ-UBND spacing within former Hải Dương only)."""

    units: tuple[str, ...] = ()
    polygon: str | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    note: str | None = None

    @field_validator("units", mode="before")
    @classmethod
    def _codes_as_text(cls, v: Any) -> Any:
        """Unit codes are text ("10507"); YAML reads a bare 10507 as a number."""
        return [str(c) if isinstance(c, int) and not isinstance(c, bool) else c for c in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _check(self) -> Scope:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        if self.polygon is not None:
            try:
                g = shapely.from_wkt(self.polygon)
            except shapely.errors.GEOSException as exc:
                raise ValueError(f"polygon is not valid WKT ({exc})") from None
            if shapely.get_dimensions(g) != 2:
                raise ValueError("polygon must be a (multi)polygon")
        return self

    @property
    def spatial(self) -> bool:
        return bool(self.units) or self.polygon is not None

    def is_valid_on(self, day: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)


class SpacingRule(_Model):
    """Minimum distance (m) from a new mast to existing masts, urban vs non-urban commune."""

    id: str
    classes: tuple[MastClass, ...] | None = None
    min_mast_height_m: float | None = None
    max_mast_height_m: float | None = None
    urban_m: float = Field(gt=0)
    rural_m: float | None = Field(None, gt=0)
    source: str | None = None
    where: Scope | None = None


class Spacing(_Model):
    rule: str = "spacing.min_distance"
    severity: Severity = "warning"
    source: str
    status: Status = "provisional"
    ambiguity: str | None = None
    note: str | None = None
    subject_statuses: tuple[str, ...] = ("planned",)
    existing_statuses: tuple[str, ...] = ("built",)
    #: the classes the source's distances are for (its tables cover bulky masts, not A1); a site of
    #: unknown class is checked too, since it may be one of them
    classes: tuple[MastClass, ...] = ("A2a", "A2b", "A2c")
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
        parts: list[tuple[str, Any]] = [("zoning", self.zoning), ("spacing", self.spacing)]
        parts += [(f"zoning.policies[{i}]", p) for i, p in enumerate(self.zoning.policies)]
        for key, part in parts:
            if part.source not in src:
                raise ValueError(f"{key}.source: unknown legal source {part.source!r}")
            if part.ambiguity is not None and part.ambiguity not in amb:
                raise ValueError(f"{key}.ambiguity: unknown ambiguity {part.ambiguity!r}")
        if self.zoning.corridor_ambiguity is not None and self.zoning.corridor_ambiguity not in amb:
            raise ValueError(f"zoning.corridor_ambiguity: unknown ambiguity {self.zoning.corridor_ambiguity!r}")
        if len({p.policy for p in self.zoning.policies}) != len(self.zoning.policies):
            raise ValueError("zoning.policies: a policy is listed twice")
        for i, r in enumerate((self.spacing.default, *self.spacing.rules)):
            if r.source is not None and r.source not in src:
                raise ValueError(f"spacing.rules[{i}].source: unknown legal source {r.source!r}")
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

    def on(self, day: dt.date) -> RulePack:
        """The pack as it reads on ``day``: spacing rules whose scope period excludes the day are
        left out (a rule valid only until a reform stops applying after it)."""
        keep = tuple(r for r in self.spacing.rules if r.where is None or r.where.is_valid_on(day))
        if len(keep) == len(self.spacing.rules):
            return self
        return self.model_copy(update={"spacing": self.spacing.model_copy(update={"rules": keep})})


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------

def available_packs() -> list[str]:
    return sorted(p.stem for p in RULES_DIR.glob("*.yaml"))


def _resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.parent != Path("."):
        if not p.is_file():
            raise RulePackError(_("rule pack file not found: {p}", p=p))
        return p
    q = RULES_DIR / f"{name_or_path}.yaml"
    if not q.is_file():
        raise RulePackError(_("unknown rule pack {name_or_path!r}; known: {values}",
                              name_or_path=str(name_or_path), values=', '.join(available_packs())))
    return q


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RulePackError(f"rule pack {path.name}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise RulePackError(_("rule pack {name}: the top level must be a mapping", name=path.name))
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
        raise RulePackError(_("rule pack {name}: 'extends' loops through {chain}",
                              name=path.name, chain=' → '.join(chain)))
    data = _read(path)
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise RulePackError(_("rule pack {name}: extends: must be the name of another pack", name=path.name))
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
        raise RulePackError(_("rule pack {name}: {loc}: {msg}{more}",
                              name=path.name, loc=_loc(tuple(first['loc'])), msg=msg, more=more)) from None


def load_pack(name_or_path: str | Path) -> RulePack:
    """Load and validate a pack by name (``haiphong``) or path; raises :class:`RulePackError`."""
    path = _resolve(name_or_path).resolve()
    return _load(path, path.stat().st_mtime)


NATIONAL_PACK = "national-ttlt-15-2016"


def pack_for_province(province: str, on: dt.date | None = None) -> RulePack:
    """The pack in force for ``province`` on ``on`` (default today), read as on that day.

    Every pack naming the province counts (``province:`` in the file; the successor of a merged
    province may come from another file, e.g. ``hungyen`` after ``thaibinh``); the one whose
    validity covers the day wins, the latest ``valid_from`` first. Without one, the national pack.
    """
    day = on or dt.date.today()
    key = province.lower()
    mine = [p for p in (load_pack(n) for n in available_packs()) if p.province == key]
    for p in sorted(mine, key=lambda p: p.valid_from, reverse=True):
        if p.is_valid_on(day):
            return p.on(day)
    return load_pack(NATIONAL_PACK).on(day)
