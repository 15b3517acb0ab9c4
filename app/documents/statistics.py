"""The periodic statistics table (BTS sites by administrative unit × mast class, as of a date) as the
document the department files with its periodic reports: authority header, the table, signature."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from app.documents.model import Issuer, OfficialDocument, Paragraph, Table
from planning.i18n import _
from planning.vocab import DERIVED_CLASSES

_CLASSES = (*DERIVED_CLASSES, "total")


def _unit_name(row: Mapping[str, Any], level: str) -> str:
    return str(row.get(level) or row.get(f"{level}_code") or "")


def stats_table(data: Mapping[str, Any], level: str) -> Table:
    """One row per unit, then the totals and the shares (%), as the printed table reads. Communes keep
    their district while one exists (the same commune name recurs in several districts before 2025)."""
    units = ["district", "commune"] if level == "commune" and any(r.get("district") for r in data.get("rows", [])) \
        else [level]
    names = {"district": _("District"), "commune": _("Commune / ward / special zone")}
    head = [_("No."), *[names[u] for u in units], *[c if c != "unknown" else _("Undetermined") for c in DERIVED_CLASSES],
            _("Total")]
    rows: list[list[Any]] = [[i + 1, *[_unit_name(r, u) for u in units], *[r.get(c, 0) for c in _CLASSES]]
                             for i, r in enumerate(data.get("rows", []))]
    n, pad = len(rows), [""] * (len(units) - 1)
    rows.append(["", _("Total"), *pad, *[data["totals"][c] for c in _CLASSES]])
    rows.append(["", _("Share (%)"), *pad, *[round(data["shares"][c], 2) for c in DERIVED_CLASSES], 100.0])
    return Table(head, rows, [5, *[40 / len(units)] * len(units), *[9] * len(_CLASSES)],
                 numeric=frozenset(range(1 + len(units), len(head))), bold_rows=frozenset({n, n + 1}),
                 keys=("no", *units, *_CLASSES))


def stats_document(data: Mapping[str, Any], level: str, issuer: Issuer) -> OfficialDocument:
    """The table as an issued document dated the day it is printed, counting units valid on ``as_of``."""
    as_of = dt.date.fromisoformat(str(data["as_of"]))
    body: list[Paragraph | Table] = [
        Paragraph(_("Number of BTS sites by administrative unit and antenna mast class, as of {day}.",
                    day=as_of.strftime("%d/%m/%Y")), italic=True),
        stats_table(data, level),
    ]
    if data.get("note"):
        body.append(Paragraph(str(data["note"]), italic=True))
    return OfficialDocument(
        issuer=issuer, kind=_("STATISTICS TABLE"), kind_code="TK", number="",
        date=dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date(),
        subject=_("BTS sites by administrative unit and antenna mast class as of {day}",
                  day=as_of.strftime("%d/%m/%Y")),
        body=body, recipients=[_("Department leaders;"), _("Filed: archive.")], signer_title=_("DIRECTOR"),
        landscape=True, file_stem=f"sites-by-{level}-class-{as_of.isoformat()}")
