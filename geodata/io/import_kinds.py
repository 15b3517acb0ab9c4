"""What each import kind (sites, admin, zones, routes, cables) reads from a row, and the words people
write for its values. Pure declarations plus the vectorised parse of one batch into canonical columns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geodata.io import import_values as iv
from geodata.io.readers.errors import ErrorLog, RowError, as_text
from planning import i18n, labels
from planning.classify import placement_words
from planning.names import fold
from planning.rules import NATIONAL_PACK, load_pack
from planning.vocab import MOUNTS, STRUCTURES
from planning.i18n import N_, _


def _words(d: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for canon, ws in d.items():
        out[canon] = canon
        out[canon.replace("_", " ")] = canon
        for w in ws:
            out[w] = canon
    return out


#: Placement and structure words: the national rule pack's (what the classifier reads) plus a few short
#: spreadsheet spellings. Structure words ("cột tự đứng", "dây co") are not placements: a self-supporting
#: or guyed mast stands on roofs as well as on the ground (issue 16).
_PACK = load_pack(NATIONAL_PACK).classification
MOUNT_WORDS = {**_words({"building": ("nha", "cong trinh", "b"), "ground": ("dat", "g"), "structure": ()}),
               **_PACK.mount_aliases}
STRUCTURE_WORDS = {**_words({s: () for s in STRUCTURES}), **_PACK.structure_aliases}
SITE_STATUS_WORDS = _words({
    "built": ("da xay", "da xay dung", "hien trang", "dang hoat dong", "hoat dong", "existing", "hien huu"),
    "planned": ("quy hoach", "du kien", "ke hoach", "xay moi", "chua xay", "planning", "proposed"),
    "removed": ("da thao do", "thao do", "da di doi", "da thao", "removed", "dismantled"),
})
POLICY_WORDS = _words({
    "a1_only": ("a1", "chi a1", "a1 only", "chi cot a1", "chi lap cot a1", "a1only"),
    "a2a_allowed": ("a2a", "cho phep a2a", "a2a allowed"),
    "any": ("tat ca", "khong han che", "all", "moi loai"),
})
CABLE_STATUS_WORDS = _words({
    "planned": ("chua thuc hien", "ke hoach", "chua lam"),
    "in_progress": ("dang thuc hien", "dang trien khai", "dang lam", "in progress"),
    "done": ("hoan thanh", "da hoan thanh", "da ngam hoa", "xong", "da thuc hien", "completed"),
})
CABLE_METHOD_WORDS = _words({
    "ha_ngam": ("ngam", "ha ngam", "ngam hoa", "cap ngam", "ngam hoa cap", "underground", "undergrounding"),
    "chinh_trang": ("chinh trang", "treo", "bo cap", "gia do", "treo tren gia do", "dua cap vao gong", "gong",
                    "thu hoi", "thao do", "thao go", "bracketed", "removed", "tidy up", "tidy-up"),
    "chinh_trang_ha_ngam": ("chinh trang va ha ngam", "chinh trang, ha ngam", "chinh trang, ngam hoa",
                            "chinh trang, ngam hoa cap", "chinh trang va ngam hoa", "ca hai", "both"),
})
LEVEL_WORDS = _words({
    "province": ("tinh", "thanh pho truc thuoc trung uong", "cap tinh", "1"),
    "district": ("huyen", "quan", "thi xa", "quan huyen", "cap huyen", "2"),
    "commune": ("xa", "phuong", "thi tran", "dac khu", "ward", "cap xa", "3"),
})
URBAN_TYPES = {"quan", "phuong", "thi tran", "thi xa", "thanh pho"}


def _add_labels(words: dict[str, str], table: Mapping[str, str]) -> None:
    """Also read the labels exports write for the codes (:mod:`planning.labels`, in English and in
    Vietnamese), so an exported table re-imports in either language."""
    vi = i18n.catalog("vi")
    for code, msgid in table.items():
        for text in (msgid, vi.get(msgid)):
            if isinstance(text, str):
                words.setdefault(re.sub(r"[\s_\-]+", " ", fold(text)), code)


for _words_of, _table in ((MOUNT_WORDS, labels.MOUNT), (SITE_STATUS_WORDS, labels.SITE_STATUS),
                          (POLICY_WORDS, labels.POLICY), (CABLE_STATUS_WORDS, labels.SEGMENT_STATUS),
                          (CABLE_METHOD_WORDS, labels.CABLE_METHOD)):
    _add_labels(_words_of, _table)


@dataclass(frozen=True)
class Rule:
    """How one field is parsed and bounded; ``unit`` goes into messages ('metres')."""

    kind: str  #: text | number | int | bool | date | choice | class | list
    max_len: int = 200
    lo: float | None = None
    hi: float | None = None
    words: Mapping[str, str] | None = None
    required: bool = False
    unit: str = ""


RULES: dict[str, dict[str, Rule]] = {
    "sites": {
        "code": Rule("text", 50, required=True),
        "operator": Rule("text", 200),
        "name": Rule("text", 200),
        "address": Rule("text", 300),
        "mount": Rule("placement", words=MOUNT_WORDS),
        "structure": Rule("placement", words=STRUCTURE_WORDS),
        "mast_height_m": Rule("number", lo=0.0, hi=300.0, unit="m"),
        "building_height_m": Rule("number", lo=0.0, hi=800.0, unit="m"),
        "reach_m": Rule("number", lo=0.0, hi=100.0, unit="m"),
        "camouflaged": Rule("bool"),
        "declared_class": Rule("class"),
        "tech": Rule("text", 50),
        "transmitters": Rule("int", lo=0, hi=10_000),
        "shared_by": Rule("list"),
        "max_tenants": Rule("int", lo=1, hi=50),
        "status": Rule("choice", words=SITE_STATUS_WORDS),
        "built_on": Rule("date"),
        "target_date": Rule("date"),
    },
    "admin": {
        "code": Rule("text", 20, required=True),
        "name": Rule("text", 200, required=True),
        "level": Rule("choice", words=LEVEL_WORDS),
        "unit_type": Rule("text", 50),
        "parent_code": Rule("text", 20),
        "urban": Rule("bool"),
        "valid_from": Rule("date"),
        "valid_to": Rule("date"),
    },
    "zones": {
        "name": Rule("text", 200, required=True),
        "kind": Rule("text", 50),
        "policy": Rule("choice", words=POLICY_WORDS),
        "radius_m": Rule("number", lo=0.0, hi=10_000.0, unit="m"),
        "buffer_m": Rule("number", lo=0.0, hi=10_000.0, unit="m"),
        "district_code": Rule("text", 20),
        "legal_source": Rule("text", 300),
    },
    "routes": {
        "name": Rule("text", 200, required=True),
        "district_code": Rule("text", 20),
        "corridor_m": Rule("number", lo=0.0, hi=1000.0, unit="m"),
        "policy": Rule("choice", words=POLICY_WORDS),
        "legal_source": Rule("text", 300),
    },
    "cables": {
        "code": Rule("text", 50, required=True),
        "street": Rule("text", 200, required=True),
        "from_desc": Rule("text", 200),
        "to_desc": Rule("text", 200),
        "district_code": Rule("text", 20),
        "plan_ref": Rule("text", 50),
        "target_year": Rule("int", lo=1990, hi=2100),
        "method": Rule("choice", words=CABLE_METHOD_WORDS),
        "operators": Rule("list"),
        "status": Rule("choice", words=CABLE_STATUS_WORDS),
    },
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "sites": {"status": "built"},
    "admin": {},
    "zones": {"kind": "area", "policy": "a1_only", "buffer_m": 0.0},
    "routes": {"corridor_m": 30.0, "policy": "any"},
    "cables": {"status": "planned"},  # never a method: a file without one is a row error unless --method
}

#: the key that identifies an existing record (for duplicates and --on-conflict)
KEYS: dict[str, tuple[str, ...]] = {
    "sites": ("code",), "admin": ("code", "valid_from"), "zones": ("name",), "routes": ("name", "district_code"),
    "cables": ("code",),
}

_EXPECT = {
    "number": N_("a number"), "int": N_("a whole number"), "bool": N_("yes/no (có/không, 1/0)"),
    "date": N_("a date (YYYY-MM-DD or dd/mm/yyyy)"), "class": N_("a mast class (A1a, A1b, A2a, A2b, A2c)"),
}


def _expected(kind: str) -> str:
    """What a value of ``kind`` must be ("a number"), in the current language."""
    return i18n.gettext(_EXPECT[kind])


def add_errors(log: ErrorLog, rows: np.ndarray, mask: np.ndarray, field: str, values: Any, message: str,
               severity: str = "error") -> None:
    """Log one message for every row in ``mask``; only the first rows are kept in full (the rest are
    counted). ``values`` is an array/Series aligned with the batch, a function of row indices that
    formats just the kept rows, or None."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return
    room = max(log.keep - (len(log.errors) if severity == "error" else len(log.warnings)), 0)
    take = idx[:room]
    if values is None:
        shown: Any = [""] * len(take)
    elif callable(values):
        shown = values(take)
    elif isinstance(values, pd.Series):
        shown = [values.iloc[i] for i in take]
    else:
        shown = [values[i] for i in take]
    for i, v in zip(take, shown, strict=True):
        log.add(RowError(int(rows[i]), field, as_text(v), message, severity))
    rest = len(idx) - len(take)
    if rest:
        if severity == "error":
            log.n_errors += rest
            log.by_field[field] += rest
        else:
            log.n_warnings += rest


def parse_fields(kind: str, frame: pd.DataFrame, column_of: Mapping[str, str], rows: np.ndarray,
                 log: ErrorLog) -> tuple[dict[str, Any], np.ndarray]:
    """Parse every mapped field of a batch: ({field: values array}, bad-row mask)."""
    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    out: dict[str, Any] = {}
    for fld, rule in RULES[kind].items():
        col = column_of.get(fld)
        if col is None:
            continue
        s = frame[col]
        name = fld
        if rule.kind == "text":
            vals, has, err = iv.texts(s, rule.max_len)
            add_errors(log, rows, err, name, s, _("longer than {max_len} characters", max_len=rule.max_len))
        elif rule.kind in ("number", "int"):
            vals, has, err = iv.numbers(s)
            add_errors(log, rows, err, name, s, _("not {expected}", expected=_expected(rule.kind)))
            if rule.kind == "int":
                with np.errstate(invalid="ignore"):
                    frac = has & ~err & (np.mod(vals, 1) != 0)
                add_errors(log, rows, frac, name, s, _("not a whole number"))
                err = err | frac
            rng = has & ~err & (((vals < rule.lo) if rule.lo is not None else False)
                                | ((vals > rule.hi) if rule.hi is not None else False))
            if np.any(rng):
                add_errors(log, rows, rng, name, s, _("out of range ({lo:g}–{hi:g}{unit})",
                                                      lo=rule.lo, hi=rule.hi,
                                                      unit=" " + rule.unit if rule.unit else ""))
                err = err | rng
        elif rule.kind == "bool":
            vals, has, err = iv.booleans(s)
            add_errors(log, rows, err, name, s, _("not {expected}", expected=_expected("bool")))
        elif rule.kind == "date":
            vals, has, err = iv.dates(s)
            add_errors(log, rows, err, name, s, _("not {expected}", expected=_expected("date")))
        elif rule.kind == "choice":
            vals, has, err = iv.choices(s, rule.words or {})
            allowed = sorted(set((rule.words or {}).values()))
            add_errors(log, rows, err, name, s, _("not one of {allowed}", allowed=', '.join(allowed)))
        elif rule.kind == "placement":
            vals, has, err, vague = _placements(s, fld)
            allowed = MOUNTS if fld == "mount" else STRUCTURES
            add_errors(log, rows, err, name, s, _("not one of {allowed}", allowed=', '.join(allowed)))
            add_errors(log, rows, vague, name, s, _("names what the mast is, not where it stands: placement "
                                                    "left empty (give building, ground or structure)"), severity="warning")
        elif rule.kind == "class":
            vals, has, err = iv.mast_classes(s)
            add_errors(log, rows, err, name, s, _("not {expected}", expected=_expected("class")))
        elif rule.kind == "list":
            vals, has, err = iv.text_lists(s)
        else:  # pragma: no cover - declarations above are the whole set
            raise AssertionError(rule.kind)
        if rule.required:
            miss = ~has
            add_errors(log, rows, miss, name, None, _("required value is missing"))
            err = err | miss
        bad |= err
        out[fld] = vals
    if kind == "sites" and "mount" in column_of:
        # "cột tự đứng trên mái" in the placement column names the structure too (where no structure is given)
        named = _placements(frame[column_of["mount"]], "structure")[0]
        own = out.get("structure")
        out["structure"] = named if own is None else np.where(pd.isna(pd.Series(own, dtype=object)), named, own)
    return out, bad


def _placements(s: pd.Series, fld: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(values, present, error, vague) of a placement (``mount``) or ``structure`` column: whole
    words or a phrase inside a longer text ("cột tự đứng trên mái" → building, self_supporting).
    ``vague``: a placement text that names only a structure (kept empty, with a warning)."""
    has = iv.present(s)
    want = "mount" if fld == "mount" else "structure"
    canon = set(MOUNTS if want == "mount" else STRUCTURES)

    def pick(v: Any) -> str | None:
        return placement_words(str(v), mounts=MOUNT_WORDS, structures=STRUCTURE_WORDS, want=want)

    codes, uniques = pd.factorize(pd.Series(s, dtype=object).where(has, None), use_na_sentinel=True)
    parsed = [pick(u) for u in uniques]
    table = np.array([*(p if p in canon else None for p in parsed), None], dtype=object)
    vague_t = np.array([*(want == "mount" and p is None for p in parsed), False], dtype=bool)
    bad_t = np.array([*(p is not None and p not in canon for p in parsed), False], dtype=bool)
    if want == "structure":  # a structure is optional: an unknown word is an error only in its own column
        bad_t[:] = bad_t | np.array([*(p is None for p in parsed), False], dtype=bool)
    vals = table[codes]
    return vals, has, has & bad_t[codes], has & vague_t[codes]


def operator_lookup(rows: list[tuple[str, str, str | None]]) -> dict[str, str]:
    """Folded spellings → operator code: the code, full name, short name and the words in brackets
    of the name ('… (VNPT-VinaPhone)' → 'vnpt', 'vinaphone')."""
    import re

    out: dict[str, str] = {}
    for code, name, short in rows:
        for w in (code, name, short):
            if w:
                out[fold(w).strip()] = code
                out[re.sub(r"[^0-9a-z]", "", fold(w))] = code
        for inner in re.findall(r"\(([^)]*)\)", name or ""):
            for part in re.split(r"[-/,]", inner):
                if part.strip():
                    out[fold(part).strip()] = code
    return out


def resolve_operator(values: np.ndarray, lookup: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """(codes, unknown mask) for operator names/codes as written."""
    import re

    s = pd.Series(values, dtype=object)
    has = s.notna().to_numpy()

    def pick(v: Any) -> str | None:
        t = fold(str(v)).strip()
        return lookup.get(t) or lookup.get(re.sub(r"[^0-9a-z]", "", t))

    vals, bad = iv._by_unique(s, pick, has)
    return vals, bad
