"""Mast classification (A1a … A2c) from a rule pack, vectorised, with the reasons that decided it.

Evaluation is three-valued (true / false / undecidable because an input is missing) and ordered:
walking the pack's rules, a row takes the class of the first rule that holds — unless an earlier
rule of a *different* class could not be decided, in which case the honest answer is ``unknown``
with the missing fields listed (e.g. a rooftop mast without a height could be A1a or A2a). Earlier
rules of the *same* class that were undecidable do not matter (hidden rooftop mast without a reach:
still A1a by the environment-friendly rule).

All decisions are whole-array numpy operations; only the final ``reasons`` objects are built per
row, once per distinct decision pattern (a few dozen patterns for a million sites).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd

from planning.findings import empty_findings, finalise, no_gc, unit_label
from planning.i18n import _, msg_ref, render
from planning.names import fold
from planning.rules import CLASSIFIER_FIELDS, FIELD_KINDS, ClassRule, Condition, RulePack
from planning.vocab import CLASS_MISMATCH_CHECK, DERIVED_CLASSES, MAST_CLASSES, MOUNTS, STRUCTURES, UNKNOWN_CLASS

CLASS_INDEX = {c: i for i, c in enumerate(MAST_CLASSES)}
FIELD_BIT = {f: 1 << i for i, f in enumerate(CLASSIFIER_FIELDS)}
_TRUE_WORDS = {"true", "yes", "y", "1", "có", "co", "x"}
_FALSE_WORDS = {"false", "no", "n", "0", "không", "khong", ""}
_OP_TEXT = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
_OP_NOT = {"eq": "≠", "ne": "=", "lt": "≥", "le": ">", "gt": "≤", "ge": "<"}
UNKNOWN_RULE = "unknown.missing_inputs"
NO_RULE = "unknown.no_rule_applies"


@dataclass(frozen=True)
class Inputs:
    """Classifier inputs as arrays: values plus a 'missing' mask per field."""

    values: dict[str, np.ndarray]
    missing: dict[str, np.ndarray]
    n: int


def _column(frame: Mapping[str, Any] | pd.DataFrame, name: str, n: int) -> np.ndarray:
    if name in frame:
        col = frame[name]
        return col.to_numpy() if isinstance(col, pd.Series) else np.asarray(col, dtype=object)
    return np.full(n, None, dtype=object)


def _length(frame: Mapping[str, Any] | pd.DataFrame) -> int:
    if isinstance(frame, pd.DataFrame):
        return len(frame)
    return max((len(np.atleast_1d(v)) for v in frame.values()), default=0)


#: below this many rows, plain Python per value beats pandas' per-call overhead (single-site checks)
SMALL = 64


def _factorized(raw: np.ndarray, normalise: Any) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``normalise`` to the distinct values only (a million rows hold a handful of them)."""
    if raw.size <= SMALL:
        out = np.array([None if v is None or (isinstance(v, float) and v != v) else normalise(v)
                        for v in raw.tolist()] + [None], dtype=object)[:-1]
        return out, np.array([v is None for v in out.tolist()], dtype=bool)
    codes, uniques = pd.factorize(pd.Series(raw, dtype=object, copy=False), use_na_sentinel=True)
    mapped = [normalise(u) for u in uniques]
    table = np.array([*mapped, None], dtype=object)
    out = table[codes]  # code -1 (missing) picks the trailing None
    return out, np.array([v is None for v in table], dtype=bool)[codes]


def _to_float(v: Any) -> float:
    if v is None or isinstance(v, bool):
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _norm_bool(v: Any) -> bool | None:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | float | np.integer | np.floating) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        t = v.strip().lower()
        return True if t in _TRUE_WORDS else (False if t in _FALSE_WORDS else None)
    return None


def read_inputs(frame: Mapping[str, Any] | pd.DataFrame, pack: RulePack) -> Inputs:
    """Normalise the site columns the rules read (aliases of ``mount``, booleans given as text…)."""
    n = _length(frame)
    values: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    mounts = pack.classification.mount_aliases
    structures = pack.classification.structure_aliases
    norm_mount = partial(placement_words, mounts=mounts, structures=structures, want="mount")
    norm_structure = partial(placement_words, mounts=mounts, structures=structures, want="structure")
    # a structure is read from its own column, else from the placement text ("cột tự đứng trên mái")
    structure_raw = _column(frame, "structure", n)
    if "mount" in frame:
        absent = pd.isna(pd.Series(structure_raw, dtype=object)).to_numpy()
        if absent.any():
            structure_raw = np.where(absent, _column(frame, "mount", n), structure_raw)

    for f, kind in FIELD_KINDS.items():
        raw = structure_raw if f == "structure" else _column(frame, f, n)
        if kind == "number":
            if raw.dtype.kind == "f":
                v = raw.astype(float, copy=False)
            elif raw.size <= SMALL:
                v = np.array([_to_float(x) for x in raw.tolist()], dtype=float)
            else:
                v = pd.to_numeric(pd.Series(raw, copy=False), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            values[f], missing[f] = v, np.isnan(v)
        elif kind == "bool":
            if raw.dtype == bool:
                values[f], missing[f] = raw, np.zeros(n, dtype=bool)
            else:
                v, miss = _factorized(raw, _norm_bool)
                values[f], missing[f] = np.where(miss, False, v).astype(bool), miss
        else:
            values[f], missing[f] = _factorized(raw, norm_mount if f == "mount" else norm_structure)
    return Inputs(values, missing, n)


def _phrase_in(words: str, phrases: Mapping[str, str]) -> str | None:
    """The value of the longest alias phrase found as whole words inside ``words``."""
    padded = f" {words} "
    for phrase in sorted(phrases, key=len, reverse=True):
        if f" {phrase} " in padded:
            return phrases[phrase]
    return None


def placement_words(v: Any, *, mounts: Mapping[str, str], structures: Mapping[str, str],
                    want: Literal["mount", "structure"]) -> str | None:
    """Placement (``building``/``ground``/``structure``) or structure (``self_supporting``…) named by
    a text, in Vietnamese or English, with or without diacritics.

    A canonical value is itself; an alias maps whole; a longer text is searched for the phrases of
    both kinds ("cột tự đứng trên mái" → building, self_supporting). A text that names only a
    structure gives no placement (None), and an unrecognised text is kept as written for the
    placement (the reasons show it; no rule matches it) but gives no structure.
    """
    if not isinstance(v, str) or not v.strip():
        return None
    t = " ".join(re.sub(r"[_\-/,;()]+", " ", fold(v)).split())
    canon = MOUNTS if want == "mount" else STRUCTURES
    table = mounts if want == "mount" else structures
    if t.replace(" ", "_") in canon:
        return t.replace(" ", "_")
    if t in table:
        return table[t]
    found = _phrase_in(t, table)
    if found is not None or want == "structure":
        return found
    return None if _phrase_in(t, structures) is not None or t in STRUCTURES else v.strip().lower()


def _cond(c: Condition, inp: Inputs, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(true mask, undecidable mask) of one condition."""
    v = inp.values[c.field]
    miss = inp.missing[c.field].copy()
    if c.ref is not None:
        ref = inp.values[c.ref] * c.factor
        miss |= inp.missing[c.ref]
    else:
        ref = c.value
    if FIELD_KINDS[c.field] == "number":
        with np.errstate(invalid="ignore"):
            t = {"le": lambda: v <= ref + tol, "lt": lambda: v < ref - tol, "ge": lambda: v >= ref - tol,
                 "gt": lambda: v > ref + tol, "eq": lambda: np.abs(v - ref) <= tol,
                 "ne": lambda: np.abs(v - ref) > tol}[c.op]()
    else:
        t = (v == ref) if c.op == "eq" else (v != ref)
        t = np.asarray(t, dtype=bool)
    return t & ~miss, miss


@dataclass(frozen=True)
class _RuleEval:
    true: np.ndarray
    undecided: np.ndarray
    in_scope: np.ndarray  # scope holds
    out_of_scope: np.ndarray  # scope fails (the rule's inputs do not matter for the row)
    first_failed: np.ndarray  # index of the first failing condition (-1: none) where in scope
    missing_bits: np.ndarray  # fields that made the rule undecidable


def _add_missing(bits: np.ndarray, undecided: np.ndarray, c: Condition, inp: Inputs) -> None:
    for f in c.fields:
        m = undecided & inp.missing[f]
        if m.any():
            bits[m] |= FIELD_BIT[f]


def _eval_rule(rule: ClassRule, inp: Inputs, tol: float) -> _RuleEval:
    n = inp.n
    true = np.ones(n, dtype=bool)
    false = np.zeros(n, dtype=bool)
    miss_bits = np.zeros(n, dtype=np.int64)
    scope_true = np.ones(n, dtype=bool)
    scope_false = np.zeros(n, dtype=bool)
    first_failed = np.full(n, -1, dtype=np.int64)
    for c in rule.scope:
        t, u = _cond(c, inp, tol)
        scope_true &= t
        scope_false |= ~t & ~u
        _add_missing(miss_bits, u, c, inp)
    true &= scope_true
    false |= scope_false
    for i, c in enumerate(rule.conditions):
        t, u = _cond(c, inp, tol)
        f_ = ~t & ~u
        first_failed[(first_failed < 0) & f_ & scope_true] = i
        true &= t
        false |= f_
        _add_missing(miss_bits, u, c, inp)
    undecided = ~true & ~false
    miss_bits[~undecided] = 0
    return _RuleEval(true, undecided, scope_true, scope_false, first_failed, miss_bits)


@dataclass(frozen=True)
class Decision:
    """Per-row outcome in arrays: class index (-1 unknown), deciding rule, and the reason pattern."""

    class_index: np.ndarray
    rule_index: np.ndarray  # deciding rule (-1 none)
    missing_bits: np.ndarray
    pending_rules: np.ndarray  # bitmask of rules that could not be decided before the decision
    failed: np.ndarray  # (n, n_rules) first failed condition of earlier in-scope rules, else -1
    #: decided rows: inputs the pack's rules read that were missing but not needed (bitmask of fields)
    not_needed_bits: np.ndarray
    #: unknown rows: the classes some values of the missing inputs would give (bitmask of classes)
    possible_bits: np.ndarray

    @property
    def classes(self) -> np.ndarray:
        names = np.array(DERIVED_CLASSES, dtype=object)
        return names[np.where(self.class_index < 0, len(MAST_CLASSES), self.class_index)]


def decide(inp: Inputs, pack: RulePack) -> Decision:
    """The vectorised decision (no reasons yet)."""
    rules = pack.classification.rules
    tol = pack.classification.tolerance
    n = inp.n
    decided = np.zeros(n, dtype=bool)
    cls = np.full(n, -1, dtype=np.int64)
    rule_idx = np.full(n, -1, dtype=np.int64)
    pending_cls = np.zeros(n, dtype=np.int64)
    pending_rules = np.zeros(n, dtype=np.int64)
    missing = np.zeros(n, dtype=np.int64)
    failed = np.full((n, len(rules)), -1, dtype=np.int64)
    read = np.zeros(n, dtype=np.int64)  # inputs of the rules whose scope held or was undecided
    for ri, rule in enumerate(rules):
        ev = _eval_rule(rule, inp, tol)
        active = ~decided
        read[~ev.out_of_scope] |= sum(FIELD_BIT[f] for f in rule.fields)
        bit = 1 << CLASS_INDEX[rule.mast_class]
        t = ev.true & active
        ok = t & ((pending_cls & ~bit) == 0)
        cls[ok] = CLASS_INDEX[rule.mast_class]
        rule_idx[t] = ri  # a conflicting row keeps the rule for its reason, class stays unknown
        decided |= t
        u = ev.undecided & active
        pending_cls[u] |= bit
        pending_rules[u] |= 1 << ri
        missing[u] |= ev.missing_bits[u]
        nf = active & ~t & ~u & ev.in_scope & (ev.first_failed >= 0)
        failed[nf, ri] = ev.first_failed[nf]
    # rows decided without pending conflicts carry no missing fields in their reason, but say which
    # of the inputs the rules read were absent and not needed (a 45 m ground tower needs no camouflage)
    absent = np.zeros(n, dtype=np.int64)
    for f in CLASSIFIER_FIELDS:
        absent[inp.missing[f]] |= FIELD_BIT[f]
    known = cls >= 0
    not_needed = np.where(known, absent & read, 0)
    missing[known] = 0
    pending_rules[known] = 0
    class_bits = np.array([1 << CLASS_INDEX[r.mast_class] for r in rules] + [0], dtype=np.int64)
    possible = np.where(known, 0, pending_cls | class_bits[rule_idx])
    possible[~known & (possible == 0)] = (1 << len(MAST_CLASSES)) - 1  # no rule applies: anything
    return Decision(cls, rule_idx, missing, pending_rules, failed, not_needed, possible)


# --------------------------------------------------------------------------------------------
# reasons
# --------------------------------------------------------------------------------------------

def _num(v: float) -> str:
    return format(v, ".10g")


def _fmt(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        return _num(float(v))
    return str(v)


def _cond_text(c: Condition, negate: bool) -> tuple[str, tuple[str, ...]]:
    """Message template with ``%s`` where the row's values go, and those fields in order:
    'mast_height_m=%s ≤ 0.2 × building_height_m=%s', 'camouflaged=%s (needs true)'."""
    if FIELD_KINDS[c.field] != "number":
        wanted = ("not " if c.op == "ne" else "") + _fmt(c.value).replace("%", "%%")
        return f"{c.field}=%s" + (" " + _("(needs {wanted})", wanted=wanted) if negate else ""), (c.field,)
    op = (_OP_NOT if negate else _OP_TEXT)[c.op]
    if c.ref is None:
        return f"{c.field}=%s {op} {_fmt(c.value)}", (c.field,)
    return f"{c.field}=%s {op} {c.factor:g} × {c.ref}=%s", (c.field, c.ref)


@dataclass(frozen=True)
class _Entry:
    static: dict[str, Any]  # rule, class, result, status, source, ambiguity, missing
    template: str  # message, '%s' where values go
    msg_fields: tuple[str, ...]
    value_fields: tuple[str, ...]


def _entries(pattern: tuple[int, ...], pack: RulePack) -> list[_Entry]:
    """The reason entries of one decision pattern: earlier rules not met, then what decided."""
    rules = pack.classification.rules
    cls_i, rule_i, miss_bits, pending, not_needed, *failed = pattern
    out: list[_Entry] = []
    for ri, fc in enumerate(failed):
        if fc < 0:
            continue
        r = rules[ri]
        text, fields = _cond_text(r.conditions[fc], negate=True)
        out.append(_Entry({"rule": r.id, "class": r.mast_class, "result": "not met", "status": r.status},
                          _("not met: {condition}", condition=text), fields, tuple(dict.fromkeys(fields))))
    if cls_i >= 0 or (rule_i >= 0 and not miss_bits):
        r = rules[rule_i]
        parts = [_cond_text(c, negate=False) for c in (*r.scope, *r.conditions)]
        static: dict[str, Any] = {"rule": r.id, "class": r.mast_class, "result": "decides",
                                  "status": r.status, "source": pack.citation(r.source)}
        amb = pack.ambiguity_text(r.ambiguity)
        if amb or r.status == "provisional":
            static["ambiguity"] = amb or _("rule {rule} is provisional", rule=r.id)
        unneeded = [f for f in CLASSIFIER_FIELDS if not_needed & FIELD_BIT[f]]
        text = f"→ {r.mast_class}: " + ("; ".join(t for t, _f in parts) or _("always"))
        if unneeded and cls_i >= 0:
            static["not_needed"] = unneeded
            text += " " + _("(not needed: {fields})", fields=", ".join(unneeded)).replace("%", "%%")
        fields = tuple(f for _t, fs in parts for f in fs)
        out.append(_Entry(static, text, fields, r.fields))
    if cls_i < 0:
        miss = [f for f in CLASSIFIER_FIELDS if miss_bits & FIELD_BIT[f]]
        if miss:
            needed = [rules[i].id for i in range(len(rules)) if pending & (1 << i)]
            out.append(_Entry({"rule": UNKNOWN_RULE, "class": UNKNOWN_CLASS, "result": "decides", "missing": miss},
                              _("class cannot be decided: missing {fields} (needed by {rules})",
                                fields=", ".join(miss), rules=", ".join(needed)).replace("%", "%%"), (), ()))
        else:
            out.append(_Entry({"rule": NO_RULE, "class": UNKNOWN_CLASS, "result": "decides"},
                              _("no rule of the pack applies: {condition}", condition="mount=%s"),
                              ("mount",), ("mount",)))
    return out


def _formatted(inp: Inputs, how: str) -> dict[str, np.ndarray]:
    """Per field, every row's value as text: 'display' (messages), 'json_text' (inside a JSON
    string) or 'json' (a JSON value). Formatted once per distinct value, then gathered."""
    out: dict[str, np.ndarray] = {}
    for f in CLASSIFIER_FIELDS:
        v, miss = inp.values[f], inp.missing[f]
        if inp.n <= SMALL:
            out[f] = np.array([_format_one(f, x, m, how) for x, m in zip(v.tolist(), miss.tolist(), strict=True)]
                              + [None], dtype=object)[:-1]
            continue
        if FIELD_KINDS[f] == "number":
            uniq, inv = np.unique(np.where(miss, np.inf, v), return_inverse=True)
            table = np.array(["null" if np.isinf(u) else (_num(float(u)) if how != "json" else repr(float(u)))
                              for u in uniq], dtype=object)
            out[f] = table[inv.reshape(-1)]
            continue
        codes, uniques = pd.factorize(pd.Series(np.where(miss, None, v), dtype=object, copy=False))
        if how == "display":
            table = [_fmt(u) for u in uniques]
        elif how == "json_text":
            table = [json.dumps(_fmt(u), ensure_ascii=False)[1:-1] for u in uniques]
        else:
            table = [json.dumps(bool(u) if FIELD_KINDS[f] == "bool" else u, ensure_ascii=False) for u in uniques]
        out[f] = np.array([*table, "null"], dtype=object)[codes]
    return out


def _format_one(field: str, v: Any, missing: bool, how: str) -> str:
    if missing:
        return "null"
    if FIELD_KINDS[field] == "number":
        return repr(float(v)) if how == "json" else _num(float(v))
    if how == "display":
        return _fmt(v)
    if how == "json_text":
        return json.dumps(_fmt(v), ensure_ascii=False)[1:-1]
    return json.dumps(bool(v) if FIELD_KINDS[field] == "bool" else v, ensure_ascii=False)


def _pattern_groups(dec: Decision) -> tuple[np.ndarray, list[np.ndarray]]:
    """Distinct decision patterns and the rows of each. The pattern columns are small integers,
    packed into one int64 (mixed radix) so grouping is a single hash pass, not a row sort."""
    pattern = np.column_stack([dec.class_index, dec.rule_index, dec.missing_bits, dec.pending_rules,
                               dec.not_needed_bits, dec.failed])
    if len(pattern) == 1:
        return pattern, [np.zeros(1, dtype=np.int64)]
    low = pattern.min(axis=0)
    span = pattern.max(axis=0) - low + 1
    if float(np.prod(span.astype(float))) < 2.0**62:
        radix = np.concatenate([[1], np.cumprod(span[:-1])]).astype(np.int64)
        codes, _ = pd.factorize((pattern - low) @ radix)
    else:  # too many combinations to pack: group by whole rows instead
        _, codes = np.unique(pattern, axis=0, return_inverse=True)
    codes = np.asarray(codes).reshape(-1)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(int(codes.max()) + 2))
    groups = [order[bounds[g]:bounds[g + 1]] for g in range(len(bounds) - 1)]
    return np.array([pattern[g[0]] for g in groups]), groups


_STORED_KEYS = ("rule", "result", "missing", "not_needed")


def _json_template(entries: list[_Entry]) -> tuple[str, list[tuple[str, str]]]:
    """One '%'-template producing the whole stored JSON reasons list; slots name (field, format).

    The stored form is compact — rule id, result, message, and the deciding values — because it
    sits in every site row; class, status, legal source and ambiguity text follow from the rule id
    and the pack (the objects form spells them out)."""
    parts: list[str] = []
    slots: list[tuple[str, str]] = []
    for e in entries:
        static = {k: e.static[k] for k in _STORED_KEYS if k in e.static}
        if "ambiguity" in e.static:
            static["ambiguous"] = True
        head = json.dumps(static, ensure_ascii=False)[:-1].replace("%", "%%")
        msg = json.dumps(e.template, ensure_ascii=False)  # keeps the %s slots
        slots += [(f, "json_text") for f in e.msg_fields]
        if e.static["result"] == "decides":
            vals = ",".join(f"{json.dumps(f)}:%s" for f in e.value_fields)
            parts.append(f'{head}, "message": {msg}, "values": {{{vals}}}}}')
            slots += [(f, "json") for f in e.value_fields]
        else:
            parts.append(f'{head}, "message": {msg}}}')
    return "[" + ", ".join(parts) + "]", slots


def build_reasons(inp: Inputs, dec: Decision, pack: RulePack, as_json: bool = False) -> list[Any]:
    with no_gc():  # millions of small containers
        return _build_reasons(inp, dec, pack, as_json)


def _build_reasons(inp: Inputs, dec: Decision, pack: RulePack, as_json: bool) -> list[Any]:
    """Reasons per row: lists of dicts, or (``as_json``) their JSON text ready to store.

    The decision logic is vectorised; here each distinct decision pattern gets one message
    template and the rows of that pattern only fill in their values.
    """
    n = inp.n
    if n == 0:
        return []
    uniq, groups = _pattern_groups(dec)
    out = np.empty(n, dtype=object)
    if as_json:
        fmt = {"json_text": _formatted(inp, "json_text"), "json": _formatted(inp, "json")}
        for pat, rows in zip(uniq, groups, strict=True):
            tmpl, slots = _json_template(_entries(tuple(int(x) for x in pat), pack))
            if not slots:
                out[rows] = tmpl % ()
                continue
            cols = [fmt[how][f][rows].tolist() for f, how in slots]
            out[rows] = [tmpl % t for t in zip(*cols, strict=True)]
        return out.tolist()
    display = _formatted(inp, "display")
    plain: dict[str, np.ndarray] = {}
    for f in CLASSIFIER_FIELDS:
        vals = inp.values[f].astype(object)  # numpy scalars become Python floats / bools
        vals[inp.missing[f]] = None
        plain[f] = vals
    result: list[Any] = [None] * n
    for pat, rows in zip(uniq, groups, strict=True):
        per_entry = []
        for e in _entries(tuple(int(x) for x in pat), pack):
            msgs = ([e.template % t for t in zip(*(display[f][rows].tolist() for f in e.msg_fields), strict=True)]
                    if e.msg_fields else [e.template % ()] * rows.size)
            vals = ([dict(zip(e.value_fields, t, strict=True))
                     for t in zip(*(plain[f][rows].tolist() for f in e.value_fields), strict=True)]
                    if e.value_fields else [{} for _ in range(rows.size)])
            per_entry.append([{**e.static, "message": m, "values": v} for m, v in zip(msgs, vals, strict=True)])
        for i, reasons in zip(rows.tolist(), zip(*per_entry, strict=True), strict=True):
            result[i] = list(reasons)
    return result


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------

def normalise_class(values: Any) -> np.ndarray:
    """Declared classes as the canonical spelling ('a2a' → 'A2a'); anything else → None."""
    lookup = {c.lower(): c for c in MAST_CLASSES}
    out, _ = _factorized(np.asarray(values, dtype=object),
                         lambda v: lookup.get(v.strip().lower()) if isinstance(v, str) else None)
    return out


def classify_sites(sites: pd.DataFrame, pack: RulePack, *,
                   reasons: Literal["objects", "json", "none"] = "objects") -> pd.DataFrame:
    """Return a copy of ``sites`` with ``derived_class``, ``class_rule``, ``reasons``, ``ambiguous``,
    ``class_mismatch`` (declared class given, derived class known, and the two differ).

    Works on any DataFrame (GeoDataFrame included) holding the site fields of docs/architecture.md, "Field
    names"; absent
    columns count as missing inputs. ``reasons="json"`` gives each row's reasons as JSON text (what
    the database stores; several times cheaper than building objects for a million rows).
    """
    inp = read_inputs(sites, pack)
    dec = decide(inp, pack)
    out = sites.copy()
    derived = dec.classes
    out["derived_class"] = derived
    rules = np.array([r.id for r in pack.classification.rules] + [None], dtype=object)
    out["class_rule"] = np.where(dec.class_index >= 0, rules[dec.rule_index],
                                 np.where(dec.missing_bits > 0, UNKNOWN_RULE, NO_RULE))
    amb_rules = np.array([r.ambiguity is not None or r.status == "provisional"
                          for r in pack.classification.rules] + [False])
    out["ambiguous"] = (dec.class_index >= 0) & amb_rules[dec.rule_index]
    declared = normalise_class(_column(sites, "declared_class", len(sites)))
    out["class_mismatch"] = (declared != None) & (derived != UNKNOWN_CLASS) & (declared != derived)  # noqa: E711
    if reasons != "none":
        out["reasons"] = build_reasons(inp, dec, pack, as_json=reasons == "json")
    return out


def open_inputs(frame: Mapping[str, Any] | pd.DataFrame, pack: RulePack,
                ) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Per row: (missing inputs, classes those inputs could still give) — both empty where the class
    is decided. What a check needs to say "cannot confirm, missing: …" only where it matters."""
    dec = decide(read_inputs(frame, pack), pack)
    fields = [(f, FIELD_BIT[f]) for f in CLASSIFIER_FIELDS]
    classes = [(c, 1 << i) for i, c in enumerate(MAST_CLASSES)]
    return [(tuple(f for f, b in fields if m & b), tuple(c for c, b in classes if p & b))
            for m, p in zip(dec.missing_bits.tolist(), dec.possible_bits.tolist(), strict=True)]


def classify_one(properties: Mapping[str, Any], pack: RulePack) -> tuple[str, list[dict[str, Any]], bool]:
    """Class, reasons and ambiguity of one proposed site (``POST /checks/site``)."""
    frame = {f: np.array([properties.get(f)], dtype=object) for f in CLASSIFIER_FIELDS}
    inp = read_inputs(frame, pack)
    dec = decide(inp, pack)
    reasons = build_reasons(inp, dec, pack)[0]
    cls = str(dec.classes[0])
    r = pack.classification.rules[int(dec.rule_index[0])] if dec.class_index[0] >= 0 else None
    return cls, reasons, bool(r is not None and (r.ambiguity is not None or r.status == "provisional"))


# --------------------------------------------------------------------------------------------
# class-mismatch findings
# --------------------------------------------------------------------------------------------

MISMATCH_RULE = "class.mismatch"


def rule_sources(pack: RulePack) -> dict[str, str]:
    """Classification rule id → legal citation (the source of a class-mismatch finding)."""
    return {r.id: pack.citation(r.source) for r in pack.classification.rules}


def mismatch_finding(*, code: Any, operator: Any, declared: Any, derived: Any, class_rule: Any,
                     legal_source: str | None, district_code: Any = None, commune_code: Any = None,
                     district: Any = None, commune: Any = None, x_m: float = float("nan"),
                     y_m: float = float("nan")) -> dict[str, Any]:
    """The ``class-mismatch`` finding of one site (declared class ≠ derived class), as a row of
    :data:`planning.findings.FINDING_COLUMNS`.

    The one builder of this finding: the stored findings (:func:`mismatch_findings`, written by
    ``btsplan classify``) and the single-site check (:func:`planning.checks.check_site`) both call
    it, so ``details`` name the deciding rule on either path.
    """
    return {
        "check": CLASS_MISMATCH_CHECK, "rule": MISMATCH_RULE, "severity": "warning", "site_code": code,
        "operator": operator, "zone": None, "route": None, "other_site_code": None, "distance_m": float("nan"),
        "district": district, "commune": commune, "district_code": district_code, "commune_code": commune_code,
        "legal_source": legal_source, "message": render(ref := msg_ref("declared {declared}, but the rules give {derived}",
                                                                         declared=declared, derived=derived)),
        "details": {"msg": ref, "declared_class": declared, "derived_class": derived, "class_rule": class_rule},
        "x_m": x_m, "y_m": y_m,
    }


def mismatch_findings(classified: pd.DataFrame, pack: RulePack, *,
                      unit_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Class-mismatch findings of the rows of :func:`classify_sites` output (``derived_class``,
    ``class_rule``, ``class_mismatch`` plus ``code``, ``operator``, ``declared_class``, ``status``,
    unit codes and ``x_m``/``y_m``) whose declared class differs; removed sites are history and
    get none."""
    status = _column(classified, "status", len(classified))
    rows = classified[classified["class_mismatch"].to_numpy(dtype=bool) & (status != "removed")]
    if len(rows) == 0:
        return empty_findings()
    sources = rule_sources(pack)
    n = len(rows)
    c = {k: _column(rows, k, n).tolist() for k in ("code", "operator", "class_rule", "derived_class",
                                                   "district_code", "commune_code")}
    district = unit_label(c["district_code"], dict(unit_names or {})).tolist()
    commune = unit_label(c["commune_code"], dict(unit_names or {})).tolist()
    declared = normalise_class(_column(rows, "declared_class", n)).tolist()
    xy = [pd.to_numeric(pd.Series(_column(rows, k, n)), errors="coerce").to_numpy(dtype=float).tolist()
          for k in ("x_m", "y_m")]
    return finalise(pd.DataFrame([
        mismatch_finding(code=c["code"][i], operator=c["operator"][i], declared=declared[i],
                         derived=c["derived_class"][i], class_rule=c["class_rule"][i],
                         legal_source=sources.get(c["class_rule"][i]), district_code=c["district_code"][i],
                         commune_code=c["commune_code"][i], district=district[i], commune=commune[i],
                         x_m=xy[0][i], y_m=xy[1][i])
        for i in range(n)]))
