"""The one shape every planning check returns, and its stable JSON form (docs/architecture.md,
"Machine-readable outputs").

Checks return a DataFrame with :data:`FINDING_COLUMNS`; the CLI, the HTTP layer and the database
writer all read that frame, so a finding looks the same wherever it is shown or stored.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from planning.i18n import render
from planning.vocab import SEVERITY_RANK

FINDING_COLUMNS = [
    "check", "rule", "severity", "site_code", "operator", "zone", "route", "other_site_code", "distance_m",
    "district", "commune", "district_code", "commune_code", "legal_source", "message", "details", "x_m", "y_m",
]
#: The columns people read in a findings CSV (CLI ``--format csv`` and HTTP downloads alike): names, not
#: codes; no ``details`` or coordinates.
FINDING_CSV_FIELDS = ["check", "rule", "severity", "site_code", "operator", "zone", "route", "other_site_code",
                      "distance_m", "district", "commune", "legal_source", "message"]


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small containers (finding dicts,
    reason lists): it would otherwise rescan every live object several times over."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("distance_m", "x_m", "y_m") else object)
                         for c in FINDING_COLUMNS})


def finalise(frame: pd.DataFrame) -> pd.DataFrame:
    """All columns present, in order, sorted the way reports read (severity, check, site, distance)."""
    out = frame.copy()
    for c in FINDING_COLUMNS:
        if c not in out:
            out[c] = None
    out = out[FINDING_COLUMNS]
    if len(out):
        sev = out["severity"].map(SEVERITY_RANK).fillna(9)
        out = out.assign(_s=sev).sort_values(["_s", "check", "site_code", "distance_m", "zone", "route"],
                                              kind="stable", na_position="last").drop(columns="_s")
    return out.reset_index(drop=True)


def _clean(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float | np.floating):
        return None if math.isnan(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Findings as the JSON objects of docs/architecture.md, "Machine-readable outputs": ``zone`` or
    ``route`` (whichever applies),
    ``distance_m`` rounded to centimetres, extra keys (check, message, other_site_code, details)."""
    with no_gc():
        return _records(frame)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [to_record(row) for row in frame.to_dict("records")]


def to_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One finding row (the keys of :data:`FINDING_COLUMNS`) as its JSON object: the batch checks
    and the single-site check both answer through here, so a finding reads the same on either path."""
    rec: dict[str, Any] = {"check": row["check"], "rule": row["rule"], "severity": row["severity"],
                           "site_code": _clean(row["site_code"]), "operator": _clean(row["operator"])}
    if _clean(row.get("zone")) is not None:
        rec["zone"] = row["zone"]
    if _clean(row.get("route")) is not None:
        rec["route"] = row["route"]
    d = _clean(row.get("distance_m"))
    rec["distance_m"] = None if d is None else round(d, 2)
    rec["district"] = _clean(row.get("district"))
    rec["commune"] = _clean(row.get("commune"))
    rec["legal_source"] = _clean(row.get("legal_source"))
    if _clean(row.get("other_site_code")) is not None:
        rec["other_site_code"] = row["other_site_code"]
    rec["message"] = message_text(row)
    if isinstance(row.get("details"), dict):
        rec["details"] = row["details"]
    return rec


def message_text(row: Mapping[str, Any]) -> Any:
    """A finding's sentence in the reader's language (from ``msg``, else ``details["msg"]``).

    Checks store the sentence twice, by design: ``message`` rendered in the language of the run (what
    SQL, old scripts and findings without a stored form read) and ``details["msg"]``, the message id
    with its parameters (:func:`planning.i18n.msg_ref`), which every read path renders here in the
    reader's language. This needs no schema change (``details`` is a JSON column already) and a
    finding computed once reads in Vietnamese and English alike."""
    details = row.get("details")
    ref = row.get("msg") or (details.get("msg") if isinstance(details, Mapping) else None)
    return render(ref) if ref is not None else _clean(row.get("message"))


def unit_label(codes: Any, names: dict[str, str] | None) -> np.ndarray:
    """Unit names for codes (the code itself when the name is unknown, None when no code)."""
    arr = np.asarray(codes, dtype=object)
    if not names:
        return arr
    return np.array([names.get(c, c) if c is not None else None for c in arr.tolist()], dtype=object)


def localise_messages(obj: Any) -> Any:
    """``obj`` (a report, a list of findings: any JSON) with each finding's ``message`` rendered in
    the reader's language from its ``details["msg"]`` (a report frozen at submission reads in the
    language of whoever opens it). Returns new containers; ``obj`` is left as it was."""
    if isinstance(obj, list):
        return [localise_messages(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {k: localise_messages(v) for k, v in obj.items()}
    if "message" in out and ("msg" in out or (isinstance(out.get("details"), dict) and "msg" in out["details"])):
        out["message"] = message_text(out)
    return out

