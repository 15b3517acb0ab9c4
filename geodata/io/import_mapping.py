"""``btsplan import unit-mapping FILE``: the old → new units of a reform, as data.

The file is the shape published with the 2025 reform (``new_to_old``: each new province with its
``merges`` and its new units, ``level2s``, each with ``merges[]{old_id, name, type: full|partial}``).
Every merge is checked first (:func:`planning.units.merge_problems`); the file is stored in one
transaction in place of the mapping of the same day, or not at all, and each bad entry is reported
as a row error (its 1-based position among the file's merges) naming the new unit it belongs to.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from geodata.io.readers.errors import ErrorLog, ReadError, RowError
from geodata.store.meta import bump_data_version
from geodata.store.units import replace_unit_mapping
from planning.i18n import _
from planning.units import REFORM_2025, Merge, merge_problems


@dataclass
class MappingResult:
    file: str
    effective_on: dt.date
    rows: int = 0
    inserted: int = 0
    new_units: int = 0
    log: ErrorLog = field(default_factory=ErrorLog)
    committed: bool = False


def _text(v: Any) -> str:
    return "" if v is None else str(v).strip()


def read_mapping(path: Path) -> tuple[list[Merge], list[dict[str, Any]]]:
    """The merges of the file in order, with the stored row of each (new unit level and parent)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReadError(_("cannot read {file} as JSON: {error}", file=Path(path).name, error=str(e))) from e
    provinces = doc.get("new_to_old") if isinstance(doc, dict) else None
    if not isinstance(provinces, list):
        raise ReadError(_("no 'new_to_old' list: expected the old → new mapping of a reform "
                          "(new units, each with merges[]{old_id, name, type})"), field="new_to_old")
    merges: list[Merge] = []
    rows: list[dict[str, Any]] = []

    def add(entries: Any, new_code: str, new_name: str, level: str, parent: str | None) -> None:
        for e in entries if isinstance(entries, list) else []:
            e = e if isinstance(e, dict) else {}
            mg = Merge(_text(e.get("old_id")), _text(e.get("name")), new_code, new_name, _text(e.get("type")).lower())
            merges.append(mg)
            rows.append({"old_code": mg.old_code, "old_name": mg.old_name, "new_code": new_code, "new_name": new_name,
                         "new_level": level, "new_parent_code": parent, "kind": mg.kind})

    for p in provinces:
        p = p if isinstance(p, dict) else {}
        pcode, pname = _text(p.get("level1_id")), _text(p.get("name"))
        add(p.get("merges"), pcode, pname, "province", None)
        for u in p.get("level2s") or []:
            u = u if isinstance(u, dict) else {}
            add(u.get("merges"), _text(u.get("level2_id")), _text(u.get("name")), "commune", pcode or None)
    return merges, rows


def import_unit_mapping(engine: Engine, path: Path, effective_on: dt.date | None = None,
                        dry_run: bool = False) -> MappingResult:
    """Validate every merge of ``path``, then store them all (one transaction) or nothing."""
    res = MappingResult(str(path), effective_on or REFORM_2025)
    try:
        merges, rows = read_mapping(path)
    except ReadError as e:
        res.log.add(e.error)
        return res
    res.rows = len(merges)
    if not merges:
        res.log.add(RowError(None, "new_to_old", "", _("the file maps no unit")))
        return res
    levels = [r["new_level"] for r in rows]
    for lv in ("province", "commune"):  # each level is its own mapping: codes repeat across levels
        idx = [i for i, x in enumerate(levels) if x == lv]
        for i, fld, value, msg in merge_problems([merges[j] for j in idx]):
            r = rows[idx[i]]
            res.log.add(RowError(idx[i] + 1, fld, value,
                                 _("{message} (new unit {code} {name})", message=msg, code=r["new_code"],
                                   name=r["new_name"])))
    res.new_units = len({r["new_code"] for r in rows if r["new_level"] == "commune"})
    if res.log.n_errors or dry_run:
        return res
    with engine.begin() as conn:
        res.inserted = replace_unit_mapping(conn, res.effective_on, rows)
        bump_data_version(conn)
    res.committed = True
    return res


__all__ = ["MappingResult", "import_unit_mapping", "read_mapping"]
