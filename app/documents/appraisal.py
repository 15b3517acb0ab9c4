"""The appraisal result of a plan as the document the department sends the firm (Báo cáo kết quả thẩm định).

Built from the JSON report frozen at submission (:func:`planning.appraisal.appraise`), never from a new
appraisal: the document states what the firm was told. Findings keep their legal sources, because the
firm answers each one article by article.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from app.documents.model import Issuer, OfficialDocument, Paragraph, Table, issue_date, local_time
from planning import labels
from planning.i18n import _

_ITEM_WIDTHS = [5, 14, 18, 12, 51]


def _where(f: Mapping[str, Any]) -> str:
    if f.get("zone"):
        return _("area {name}", name=f["zone"])
    if f.get("route"):
        return _("route {name}", name=f["route"])
    if f.get("other_site_code"):
        return _("site {code}", code=f["other_site_code"])
    return ""


def _finding(f: Mapping[str, Any]) -> str:
    parts = [f"{labels.label('severity', f.get('severity', 'info')).capitalize()}: {f.get('message', '')}"]
    if _where(f):
        parts.append(_where(f))
    if isinstance(f.get("distance_m"), int | float):
        parts.append(_("distance {d:.1f} m", d=f["distance_m"]))
    text = " — ".join(parts)
    if f.get("legal_source"):
        text += " " + _("(legal source: {source})", source=f["legal_source"])
    return text


def _class_cell(it: Mapping[str, Any]) -> str:
    derived = str(labels.label("derived_class", it.get("derived_class")) or "")
    if it.get("declared_class"):
        return derived + "\n" + _("declared: {cls}", cls=it["declared_class"])
    return derived


def _day(iso: Any) -> str:
    """An ISO date as offices write it (dd/mm/yyyy)."""
    return dt.date.fromisoformat(str(iso)).strftime("%d/%m/%Y")


def _items_table(report: Mapping[str, Any]) -> Table:
    rows = []
    for it in report.get("items", []):
        subject = str(it.get("code") or it.get("site_code") or it.get("street") or it.get("key") or "")
        if it.get("unit"):  # the unit containing the item on the appraisal date (report["units"])
            subject += "\n" + str(it["unit"])
        findings = "\n".join(_finding(f) for f in it.get("findings", [])) or _("No findings")
        rows.append([it["index"] + 1, labels.label("item", it["item"], labels.ITEM_KIND), subject,
                     _class_cell(it), findings])
    return Table([_("No."), _("Item"), _("Site or route"), _("Mast class"), _("Findings and legal sources")],
                 rows, _ITEM_WIDTHS, numeric=frozenset({0}))


def _conclusion(report: Mapping[str, Any]) -> str:
    s = report.get("summary", {})
    status = report.get("status")
    if status == "approved":
        return _("The department approves the plan; the approved items are entered in the telecommunications "
                 "infrastructure plan.")
    if status == "rejected":
        return _("The department does not approve the plan.")
    if status == "returned":
        return _("The plan is returned to the firm to be completed and corrected as the findings above require.")
    if s.get("items_with_violations", 0):
        return _("{bad} of {n} items do not comply with the plan; the firm is asked to correct them before the "
                 "department decides.", bad=s.get("items_with_violations", 0), n=s.get("items", 0))
    return _("All {n} items comply with the plan; the department proposes to approve it.", n=s.get("items", 0))


def appraisal_document(report: Mapping[str, Any], issuer: Issuer) -> OfficialDocument:
    """The Báo cáo kết quả thẩm định of one plan version, ready to render."""
    s = report.get("summary", {})
    sev = s.get("by_severity", {})
    pack = report.get("rule_pack") or {}
    operator = str(report.get("operator") or "")
    title = str(report.get("title") or "")
    body: list[Paragraph | Table] = [
        Paragraph(_("Pursuant to the rule pack {pack} (version {version}) and the technical regulations it cites;",
                    pack=pack.get("title") or pack.get("id") or "", version=pack.get("version", "")), italic=True),
        Paragraph(_("Having examined plan no. {plan} \u201c{title}\u201d, version {version}, submitted by {operator}, "
                    "the department reports the result of the appraisal as follows:",
                    plan=report.get("plan_id", ""), title=title, version=report.get("version", ""),
                    operator=operator)),
        Paragraph(_("I. THE PLAN"), bold=True, heading=True),
        Paragraph(_("Status: {status}. Items: {n}. Appraised at: {at}.",
                    status=labels.label("status", report.get("status"), labels.PLAN_STATUS),
                    n=s.get("items", 0), at=local_time(report.get("generated_at")))),
        *([Paragraph(_("Appraisal date: {day}; places are named by the administrative units in force that day.",
                       day=_day(report["as_of"])))] if report.get("as_of") else []),
        Paragraph(_("II. RESULT OF THE APPRAISAL"), bold=True, heading=True),
        Paragraph(_("Violations: {v}; warnings: {w}; information: {i}. Items with violations: {bad}; "
                    "outside the province: {out}; conflicts with other firms' plans: {conflicts}.",
                    v=sev.get("violation", 0), w=sev.get("warning", 0), i=sev.get("info", 0),
                    bad=s.get("items_with_violations", 0), out=s.get("outside_province", 0),
                    conflicts=s.get("conflicts", 0))),
        _items_table(report),
        Paragraph(_("III. CONCLUSION"), bold=True, heading=True),
        Paragraph(_conclusion(report)),
    ]
    if report.get("preview"):
        body.insert(0, Paragraph(_("PREVIEW — the plan has not been submitted"), bold=True))
    return OfficialDocument(
        issuer=issuer, kind=_("REPORT"), kind_code="BC", number=str(report.get("plan_id", "")),
        date=issue_date(report.get("generated_at")),
        subject=_("Result of the appraisal of the passive telecommunications infrastructure plan of {operator}",
                  operator=operator),
        body=body,
        recipients=[_("As above ({operator});", operator=operator), _("Department leaders;"), _("Filed: archive.")],
        signer_title=_("DIRECTOR"),
        file_stem=f"plan-{report.get('plan_id')}-v{report.get('version')}-appraisal")
