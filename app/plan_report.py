"""The appraisal report of a plan as a printable HTML page (A4, PDF-ready) and as an XLSX workbook.

Both render the JSON report of :func:`planning.appraisal.appraise` unchanged, so the dossier copy,
the spreadsheet and the API can never tell different stories. Words are in the reader's language
(``?lang=`` / ``Accept-Language``; the report cache keys on it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from app.documents import issuer_of
from app.documents.appraisal import appraisal_document
from app.documents.model import Issuer
from app.documents.to_docx import document_docx
from app.documents.to_pdf import document_pdf
from geodata.io.writers import tabular
from geodata.store.cache import LRUCache
from planning import labels
from planning.i18n import N_, _, get_language
from planning.vocab import SEVERITIES

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MEDIA_TYPES = {"json": "application/json", "html": "text/html", "xlsx": XLSX, "docx": DOCX, "pdf": "application/pdf"}
_init_lock = threading.Lock()


@dataclass(frozen=True)
class Rendered:
    """A report in one format, as sent (what the report cache keeps)."""

    body: bytes
    media_type: str


def render(report: Mapping[str, Any], fmt: str, issuer: Issuer | None = None) -> Rendered:
    """``docx`` and ``pdf`` are the Báo cáo kết quả thẩm định issued by ``issuer`` (one document model)."""
    if fmt in ("docx", "pdf"):
        if issuer is None:
            raise ValueError("an issued document needs its issuing authority")
        doc = appraisal_document(report, issuer)
        body = document_docx(doc) if fmt == "docx" else document_pdf(doc)
    elif fmt == "html":
        body = report_html(report).encode("utf-8")
    elif fmt == "xlsx":
        body = report_xlsx(report)
    else:
        body = json.dumps(report, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Rendered(body, MEDIA_TYPES[fmt])


def report_cache(state: Any) -> LRUCache[Rendered]:
    """One cache of rendered reports per application (``app.state``), created on first use.

    The appraisal of a 5,000-item draft costs seconds of CPU; its callers key each entry by
    everything the bytes depend on (plan id and ``lock_version``, data version, the other firms'
    pending plans for a preview, who reads it, the format), so any change is simply a miss and no
    entry is ever invalidated by hand. ``stats()`` (hits, misses) is the hook tests count with."""
    cache = getattr(state, "report_cache", None)
    if cache is None:
        with _init_lock:
            cache = getattr(state, "report_cache", None)
            if cache is None:
                cache = state.report_cache = LRUCache[Rendered](state.settings.report_cache_bytes,
                                                                size_of=lambda r: len(r.body) + 200)
    return cache


def cached_render(state: Any, key: Hashable, build: Callable[[], Mapping[str, Any]], fmt: str) -> Rendered:
    """The report under ``key`` in ``fmt``, appraising (``build()``) only when no format of it is
    cached: the page and the workbook are rendered from the cached JSON, never from a new appraisal."""
    cache = report_cache(state)
    key = (key, get_language())  # the words of every format follow the reader's language
    hit = cache.get((key, fmt))
    if hit is None:
        source = cache.get((key, "json")) if fmt != "json" else None
        if source is None:
            source = render(build(), "json")
            cache.put((key, "json"), source)
        hit = source if fmt == "json" else render(json.loads(source.body), fmt, issuer_of(state.settings))
        if fmt != "json":
            cache.put((key, fmt), hit)
    return hit


def _where(f: Mapping[str, Any]) -> str:
    for k, label in (("zone", N_("zone {name}")), ("route", N_("route {name}")), ("other_site_code", N_("site {name}"))):
        if f.get(k):
            return _(label, name=f[k])
    return ""


def _dist(f: Mapping[str, Any]) -> str:
    return f"{f['distance_m']:.1f} m" if isinstance(f.get("distance_m"), int | float) else ""


def _subject(it: Mapping[str, Any]) -> str:
    return str(it.get("code") or it.get("site_code") or it.get("street") or it.get("key") or "")


def _severity(value: Any) -> str:
    return str(labels.label("severity", value or "")).capitalize()


def report_html(report: Mapping[str, Any]) -> str:
    """The page in the current language (the report's messages were localised when it was built)."""
    e = escape
    s = report.get("summary", {})
    sev = s.get("by_severity", {})
    pack = report.get("rule_pack", {})
    title = report.get("title") or _("Plan #{plan_id}", plan_id=report.get("plan_id"))
    rows = []
    none = _("No findings")
    for it in report.get("items", []):
        findings = it.get("findings", [])
        declared = _("declared: {mast_class}", mast_class=it["declared_class"]) if it.get("declared_class") else ""
        f_html = "".join(
            f'<li class="{e(f.get("severity", "info"))}"><b>{e(_severity(f.get("severity")))}'
            f'</b> <code>{e(f.get("rule", ""))}</code> {e(f.get("message", ""))}'
            + (f" — {e(_where(f))}" if _where(f) else "") + (f" — {e(_dist(f))}" if _dist(f) else "")
            + (f' <span class="src">({e(f["legal_source"])})</span>' if f.get("legal_source") else "") + "</li>"
            for f in findings) or f'<li class="ok">{e(none)}</li>'
        reasons = "".join(f"<li>{e(str(r.get('message', r)))}</li>" for r in it.get("reasons", []) or [])
        pos = f"{it['lat']:.6f}, {it['lon']:.6f}" if "lat" in it else ""
        rows.append(
            f"<tr><td>{it['index'] + 1}</td><td>{e(labels.label('item', it['item'], labels.ITEM_KIND))}"
            f"<br><small>{e(it['item'])}</small></td>"
            f"<td>{e(_subject(it))}<br><small>{e(pos)}</small>"
            + (f"<br><small>{e(str(it['unit']))}</small>" if it.get("unit") else "") + "</td>"
            f"<td><b>{e(str(it.get('derived_class') or ''))}</b>"
            + (f"<br><small>{e(declared)}</small>" if declared else "")
            + (f"<ul class='reasons'>{reasons}</ul>" if reasons else "")
            + f"</td><td><ul class='findings'>{f_html}</ul></td></tr>")
    preview = _("PREVIEW — not submitted")
    preview = f'<p class="preview">{e(preview)}</p>' if report.get("preview") else ""
    summary, items = _("Summary"), _("Items")
    heads = "".join(f"<th>{e(h)}</th>" for h in (_("Items"), _("Violations"), _("Warnings"), _("Information"),
                                                   _("Items with violations"), _("Outside the area"), _("Conflicts")))
    item_heads = "".join(f"<th>{e(h)}</th>" for h in ("#", _("Kind"), _("Site or route"), _("Mast class"),
                                                       _("Findings")))
    about = _("{title} · operator {operator} · version {version} · status {status} · generated {generated}",
              title=title, operator=report.get("operator", ""), version=report.get("version", ""),
              status=labels.label("status", report.get("status", ""), labels.PLAN_STATUS),
              generated=report.get("generated_at", ""))
    rules = _("Rule pack: {title} ({id} v{version}); distances in {crs}", title=pack.get("title", ""),
              id=pack.get("id", ""), version=pack.get("version", ""), crs=report.get("metric_crs", ""))
    heading = _("Appraisal report on passive telecommunications infrastructure")
    if report.get("as_of"):  # the places are those of the appraisal date (units and province outline)
        rules += " · " + _("Appraisal date: {day}; places are named by the administrative units in force that day.",
                           day=report["as_of"])
    return f"""<!doctype html>
<html lang="{get_language()}"><head><meta charset="utf-8">
<title>{e(heading)} — {e(title)}</title>
<style>
@page {{ size: A4 landscape; margin: 14mm; }}
body {{ font-family: "Times New Roman", "DejaVu Serif", serif; font-size: 11pt; color: #111; }}
h1 {{ font-size: 16pt; margin: 0 0 4px; }} h2 {{ font-size: 13pt; margin: 14px 0 6px; }}
table {{ border-collapse: collapse; width: 100%; }} th, td {{ border: 1px solid #777; padding: 4px 6px; vertical-align: top; }}
th {{ background: #eee; }} ul {{ margin: 0; padding-left: 16px; }} small, .src {{ color: #555; }}
li.violation b {{ color: #b00; }} li.warning b {{ color: #a60; }} li.ok {{ color: #070; }}
.preview {{ border: 2px solid #a60; padding: 4px; font-weight: bold; }}
tr {{ page-break-inside: avoid; }}
</style></head><body>
<h1>{e(heading)}</h1>
<p>{e(about)}</p>
<p>{e(rules)}</p>
{preview}
<h2>{e(summary)}</h2>
<table><tr>{heads}</tr>
<tr><td>{s.get('items', 0)}</td><td>{sev.get('violation', 0)}</td><td>{sev.get('warning', 0)}</td><td>{sev.get('info', 0)}</td>
<td>{s.get('items_with_violations', 0)}</td><td>{s.get('outside_province', 0)}</td><td>{s.get('conflicts', 0)}</td></tr></table>
<h2>{e(items)}</h2>
<table><tr>{item_heads}</tr>
{''.join(rows)}
</table>
</body></html>"""


def report_xlsx(report: Mapping[str, Any]) -> bytes:
    """Three sheets: the summary, one row per item, one row per finding (the same words as the page);
    sheet names stay ASCII and fixed, so scripts find them in either language."""
    return tabular.xlsx_bytes([_summary_sheet(report), _items_sheet(report), _findings_sheet(report)])


def _summary_sheet(report: Mapping[str, Any]) -> tabular.Sheet:
    s = report.get("summary", {})
    sev = s.get("by_severity", {})
    info = [
        (_("Plan"), report.get("plan_id")), (_("Title"), report.get("title")),
        (_("Operator"), report.get("operator")), (_("Version"), report.get("version")),
        (_("Status"), labels.label("status", report.get("status"), labels.PLAN_STATUS)),
        (_("Generated"), report.get("generated_at")),
        (_("Appraisal date"), report.get("as_of")),
        (_("Rule pack"), (report.get("rule_pack") or {}).get("title")),
        (_("Preview"), _("yes") if report.get("preview") else _("no")),
        (_("Items"), s.get("items", 0)), (_("Violations"), sev.get("violation", 0)),
        (_("Warnings"), sev.get("warning", 0)), (_("Information"), sev.get("info", 0)),
        (_("Items with violations"), s.get("items_with_violations", 0)),
        (_("Outside the area"), s.get("outside_province", 0)),
        (_("Conflicts"), s.get("conflicts", 0)),
    ]
    return tabular.Sheet("Tong hop", rows=info, widths=[32, 60], row_heads=True)


def _items_sheet(report: Mapping[str, Any]) -> tabular.Sheet:
    head = ["#", _("Kind"), _("Site code"), _("Other site"), _("Street"), _("Latitude (WGS84)"),
            _("Longitude (WGS84)"), _("Derived class"), _("Declared class"), _("Reasons"),
            _("Violations"), _("Warnings"), _("Information"), _("Administrative unit")]
    rows = []
    for it in report.get("items", []):
        counts = {k: sum(1 for f in it.get("findings", []) if f.get("severity") == k) for k in SEVERITIES}
        rows.append([it["index"] + 1, it["item"], it.get("code"), it.get("site_code"), it.get("street"),
                     it.get("lat"), it.get("lon"), it.get("derived_class"), it.get("declared_class"),
                     "\n".join(str(x.get("message", x)) for x in it.get("reasons", []) or []),
                     counts["violation"], counts["warning"], counts["info"], it.get("unit")])
    return tabular.Sheet("Hang muc", head, rows, widths=[5, *[16] * 8, 60, 10, 10, 10, 30], wrap=[9])


def _findings_sheet(report: Mapping[str, Any]) -> tabular.Sheet:
    head = ["#", _("Site or route"), _("Severity"), _("Rule"), _("Message"), _("Where"), _("Distance (m)"),
            _("Legal source")]
    rows = [[it["index"] + 1, _subject(it), _severity(f.get("severity")), f.get("rule"), f.get("message"), _where(f),
             f.get("distance_m"), f.get("legal_source")]
            for it in report.get("items", []) for f in it.get("findings", [])]
    return tabular.Sheet("Phat hien", head, rows, widths=[5, 18, 18, 18, 70, 24, 24, 24], wrap=[4])
