"""Vectorised parsing of the values people type in site tables: numbers with a decimal comma,
degrees-minutes-seconds, Vietnamese yes/no words, dates in d/m/Y, mast classes written 'A2-a'.

Every parser takes a column (pandas Series of text or native cell values) and returns the parsed
array plus a mask of values that were present but could not be parsed, so the importer can report
(row, field, value) without ever looping over a million rows in Python: the slow path runs only
on the distinct values that the fast vectorised path could not read.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from geodata.io.writers.tabular import FORMULA_START
from planning.names import fold
from planning.vocab import MAST_CLASSES


def _arrow(s: pd.Series) -> Any:
    """The pyarrow string array behind ``s`` (GDAL/CSV batches), or None for other columns."""
    import pyarrow as pa

    arr = getattr(s.array, "_pa_array", None)
    if arr is None or not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        return None
    return arr


def _trimmed(arr: Any) -> Any:
    import pyarrow.compute as pc

    t = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(t, ""), None, t)


def present(s: pd.Series) -> np.ndarray:
    """Cells that hold something (not NULL, not blank text)."""
    arr = _arrow(s)
    if arr is not None:
        return _trimmed(arr).is_valid().to_numpy(zero_copy_only=False)
    if s.dtype == object:
        na = s.isna().to_numpy()
        blank = np.fromiter((isinstance(v, str) and not v.strip() for v in s), bool, len(s)) if len(s) else np.zeros(0, bool)
        return ~(na | blank)
    if pd.api.types.is_string_dtype(s.dtype):
        return (s.notna() & (s.str.strip() != "")).to_numpy(dtype=bool, na_value=False)
    return s.notna().to_numpy()


def _by_unique(s: pd.Series, fn: Callable[[Any], Any], mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``fn`` (value → parsed or None) to distinct values of ``s[mask]`` only."""
    out = np.full(len(s), None, dtype=object)
    bad = np.zeros(len(s), dtype=bool)
    if not mask.any():
        return out, bad
    sub = s[mask]
    codes, uniques = pd.factorize(sub, use_na_sentinel=True)
    parsed = [fn(u) for u in uniques]
    table = np.array([*parsed, None], dtype=object)
    vals = table[codes]
    idx = np.flatnonzero(mask)
    out[idx] = vals
    bad[idx] = np.array([v is None for v in table], dtype=bool)[codes]
    return out, bad


_NUM_VN = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$")  # 1.234,5 (Vietnamese thousands/decimal)
_NUM_EN = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")  # 1,234.5


_DECIMAL_COMMA_HINT = re.compile(r"^[+-]?\d*,(\d{1,2}|\d{4,})$|^[+-]?\d{1,3}(\.\d{3})+,\d+$")


def _number_text(v: Any, decimal_comma: bool = False) -> float | None:
    """One value as a float. '1,234' is ambiguous (1.234 in Vietnamese, 1234 in English): the column
    decides (``decimal_comma``), from values like '106,68' that can only be a decimal comma."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float | np.integer | np.floating):
        return float(v) if np.isfinite(v) else None
    t = str(v).strip().replace("\u00a0", "").replace(" ", "")
    t = re.sub(r"(?i)(m|met|mét|metre|meter)$", "", t)
    if not t:
        return None
    if _NUM_VN.match(t):
        t = t.replace(".", "").replace(",", ".")
    elif t.count(",") == 1 and "." not in t and (decimal_comma or not _NUM_EN.match(t)):
        t = t.replace(",", ".")
    elif _NUM_EN.match(t):
        t = t.replace(",", "")
    try:
        x = float(t)
    except ValueError:
        return None
    return x if np.isfinite(x) else None


def numbers(s: pd.Series, decimal_comma: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float values with NaN where missing/bad, present mask, bad mask)."""
    has = present(s)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        bad = has & ~np.isfinite(vals)
        return np.where(bad, np.nan, vals), has, bad
    arr = _arrow(s)
    vals = None
    if arr is not None:  # Arrow's C++ cast reads a clean column ~20× faster than pandas
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            vals = np.array(pc.cast(_trimmed(arr), pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            vals = None
    if vals is None:
        fast = pd.to_numeric(s.where(has, None) if s.dtype == object else s, errors="coerce")
        vals = np.array(fast.to_numpy(dtype=float, na_value=np.nan), dtype=float, copy=True)
    slow = has & ~np.isfinite(vals)
    if slow.any():
        sample = s[slow]
        comma = bool(sample.astype(str).str.strip().str.match(_DECIMAL_COMMA_HINT).any()) or decimal_comma
        parsed, bad = _by_unique(s, lambda v: _number_text(v, comma), slow)
        idx = np.flatnonzero(slow & ~bad)
        vals[idx] = parsed[idx].astype(float)
        vals[bad] = np.nan
    else:
        bad = np.zeros(len(s), dtype=bool)
    return vals, has, bad


_DMS = re.compile(
    r"^\s*([+-]?\d{1,3}(?:[.,]\d+)?)\s*(?:°|º|˚|d|o|\s)\s*(?:(\d{1,2}(?:[.,]\d+)?)\s*(?:'|′|’|m|\s)\s*)?"
    r"(?:(\d{1,2}(?:[.,]\d+)?)\s*(?:\"|″|”|''|s)?\s*)?([NSEWBĐT])?\s*$", re.IGNORECASE)


def _dms(v: Any) -> float | None:
    x = _number_text(v, decimal_comma=True)
    if x is not None:
        return x
    m = _DMS.match(unicodedata.normalize("NFC", str(v)))
    if not m:
        return None
    d = float(m.group(1).replace(",", "."))
    mi = float(m.group(2).replace(",", ".")) if m.group(2) else 0.0
    se = float(m.group(3).replace(",", ".")) if m.group(3) else 0.0
    if mi >= 60 or se >= 60:
        return None
    val = abs(d) + mi / 60 + se / 3600
    hemi = (m.group(4) or "").upper()
    return -val if d < 0 or hemi in ("S", "W", "T") else val


def coordinates(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`numbers`, also reading degrees-minutes-seconds (20°51'36"N, 106 41 2.5)."""
    vals, has, bad = numbers(s, decimal_comma=True)  # degrees never have thousands separators
    if bad.any():
        parsed, bad2 = _by_unique(s, _dms, bad)
        ok = bad & ~bad2
        vals[ok] = parsed[ok].astype(float)
        bad = bad2
    return vals, has, bad


_TRUE = {"true", "yes", "y", "1", "co", "x", "dung", "t", "1.0"}
_FALSE = {"false", "no", "n", "0", "khong", "f", "0.0", "sai"}


def _bool(v: Any) -> bool | None:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | float | np.integer | np.floating) and v in (0, 1):
        return bool(v)
    t = fold(str(v)).strip()
    return True if t in _TRUE else (False if t in _FALSE else None)


def booleans(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    has = present(s)
    vals, bad = _by_unique(s, _bool, has)
    return vals, has, bad


def _date(v: Any) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, pd.Timestamp):
        return v.date()
    if isinstance(v, int | float) and 1900 <= v <= 2100 and float(v).is_integer():
        return dt.date(int(v), 1, 1)
    t = str(v).strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                "%d/%m/%y", "%Y"):
        try:
            return dt.datetime.strptime(t, fmt).date()
        except ValueError:
            continue
    return None


def dates(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dates as ISO, or as Vietnamese write them (d/m/Y); a bare year means 1 January."""
    has = present(s)
    vals, bad = _by_unique(s, _date, has)
    return vals, has, bad


def choices(s: pd.Series, words: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map folded words to canonical values (``words`` keys are folded: 'tren nha' → 'building')."""
    has = present(s)

    def pick(v: Any) -> str | None:
        t = re.sub(r"[\s_\-]+", " ", fold(str(v)).strip())
        return words.get(t) or words.get(t.replace(" ", ""))

    vals, bad = _by_unique(s, pick, has)
    return vals, has, bad


#: the quote our spreadsheet writers put before a text that would start a formula
#: (``geodata.io.writers.tabular.neutral``): FORMULA_START in RE2 syntax, which has no look-ahead
_FORMULA_QUOTE = r"^'('*[=+\-@\t\r])"


def unquote_formula(text: str) -> str:
    """Undo ``neutral``: drop the one quote before a formula character, as Excel does when it reads
    a typed ``'=…``, so an exported file re-imports with the text it was exported from."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(FORMULA_START) else text


def texts(s: pd.Series, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trimmed NFC text (numbers read from Excel written without '.0', a formula quote dropped by
    :func:`unquote_formula`); bad = longer than ``max_len``."""
    arr = _arrow(s)
    if arr is not None:  # vectorised: trim, measure, NFC only the non-ASCII values
        import pyarrow.compute as pc

        t = pc.replace_substring_regex(_trimmed(arr), pattern=_FORMULA_QUOTE, replacement=r"\1")
        has = t.is_valid().to_numpy(zero_copy_only=False)
        vals = np.asarray(t.to_numpy(zero_copy_only=False), dtype=object)
        ascii_ = pc.fill_null(pc.string_is_ascii(t), True).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(~ascii_):
            vals[i] = unicodedata.normalize("NFC", vals[i])
        lengths = pc.fill_null(pc.utf8_length(t), 0).to_numpy(zero_copy_only=False)
        bad = has & (lengths > max_len)
        vals[~has | bad] = None
        return vals, has, bad
    has = present(s)

    def clean(v: Any) -> str | None:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        t = unquote_formula(unicodedata.normalize("NFC", str(v)).strip())
        return t if len(t) <= max_len else None

    vals, bad = _by_unique(s, clean, has)
    return vals, has, bad


def text_lists(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """'VNP; MBF' / 'VNP,MBF' / '["VNP","MBF"]' → ['VNP', 'MBF']."""
    has = present(s)

    def split(v: Any) -> tuple[str, ...] | None:
        if isinstance(v, list | tuple | np.ndarray):
            return tuple(str(x).strip() for x in v if str(x).strip())
        t = str(v).strip().strip("[]")
        return tuple(p.strip().strip("'\"") for p in re.split(r"[;,/|]", t) if p.strip().strip("'\""))

    vals, bad = _by_unique(s, split, has)
    return vals, has, bad


MAST_CLASS_RE = re.compile(r"^a\s*[-.]?\s*([12])\s*[-.]?\s*([abc])$")


def mast_class(v: Any) -> str | None:
    """'A1a', 'a1-a', 'A 2.b', 'Cột A2b' → canonical class; None if not a class."""
    t = fold(str(v)).strip()
    t = re.sub(r"^(cot|loai|class|type)\s*", "", t)
    m = MAST_CLASS_RE.match(t)
    if not m:
        return None
    cls = f"A{m.group(1)}{m.group(2)}"
    return cls if cls in MAST_CLASSES else None


def mast_classes(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    has = present(s)
    vals, bad = _by_unique(s, mast_class, has)
    return vals, has, bad
