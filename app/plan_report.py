"""The appraisal report of a plan as a printable HTML page (A4, PDF-ready) and as an XLSX workbook.

Both render the JSON report of :func:`planning.appraisal.appraise` unchanged, so the dossier copy,
the spreadsheet and the API can never tell different stories. Headings are bilingual (vi / en).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from geodata.io.writers import tabular
from geodata.store.cache import LRUCache

SEVERITY_VI = {"violation": "Vi phạm", "warning": "Cảnh báo", "info": "Thông tin"}
ITEM_VI = {"new_site": "Trạm mới", "change_site": "Thay đổi trạm", "remove_site": "Dỡ bỏ trạm",
           "share_site": "Dùng chung cột", "cable_route": "Tuyến cáp"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {"json": "application/json", "html": "text/html", "xlsx": XLSX}
_init_lock = threading.Lock()


@dataclass(frozen=True)
class Rendered:
    """A report in one format, as sent (what the report cache keeps)."""

    body: bytes
    media_type: str


def render(report: Mapping[str, Any], fmt: str) -> Rendered:
    if fmt == "html":
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
    hit = cache.get((key, fmt))
    if hit is None:
        source = cache.get((key, "json")) if fmt != "json" else None
        if source is None:
            source = render(build(), "json")
            cache.put((key, "json"), source)
        hit = source if fmt == "json" else render(json.loads(source.body), fmt)
        if fmt != "json":
            cache.put((key, fmt), hit)
    return hit


def _where(f: Mapping[str, Any]) -> str:
    for k, label in (("zone", "khu vực"), ("route", "tuyến"), ("other_site_code", "trạm")):
        if f.get(k):
            return f"{label} {f[k]}"
    return ""


def _dist(f: Mapping[str, Any]) -> str:
    return f"{f['distance_m']:.1f} m" if isinstance(f.get("distance_m"), int | float) else ""


def _subject(it: Mapping[str, Any]) -> str:
    return str(it.get("code") or it.get("site_code") or it.get("street") or it.get("key") or "")


def report_html(report: Mapping[str, Any]) -> str:
    e = escape
    s = report.get("summary", {})
    sev = s.get("by_severity", {})
    pack = report.get("rule_pack", {})
    title = report.get("title") or f"Hồ sơ quy hoạch #{report.get('plan_id')}"
    rows = []
    for it in report.get("items", []):
        findings = it.get("findings", [])
        f_html = "".join(
            f'<li class="{e(f.get("severity", "info"))}"><b>{e(SEVERITY_VI.get(f.get("severity", ""), f.get("severity", "")))}'
            f'</b> <code>{e(f.get("rule", ""))}</code> {e(f.get("message", ""))}'
            + (f" — {e(_where(f))}" if _where(f) else "") + (f" — {e(_dist(f))}" if _dist(f) else "")
            + (f' <span class="src">({e(f["legal_source"])})</span>' if f.get("legal_source") else "") + "</li>"
            for f in findings) or '<li class="ok">Không có phát hiện / no findings</li>'
        reasons = "".join(f"<li>{e(str(r.get('message', r)))}</li>" for r in it.get("reasons", []) or [])
        pos = f"{it['lat']:.6f}, {it['lon']:.6f}" if "lat" in it else ""
        rows.append(
            f"<tr><td>{it['index'] + 1}</td><td>{e(ITEM_VI.get(it['item'], it['item']))}<br><small>{e(it['item'])}</small></td>"
            f"<td>{e(_subject(it))}<br><small>{e(pos)}</small></td>"
            f"<td><b>{e(str(it.get('derived_class') or ''))}</b>"
            + (f"<br><small>khai báo / declared: {e(str(it['declared_class']))}</small>" if it.get("declared_class") else "")
            + (f"<ul class='reasons'>{reasons}</ul>" if reasons else "")
            + f"</td><td><ul class='findings'>{f_html}</ul></td></tr>")
    preview = '<p class="preview">BẢN XEM TRƯỚC — chưa nộp / PREVIEW — not submitted</p>' if report.get("preview") else ""
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<title>Báo cáo thẩm định — {e(title)}</title>
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
<h1>Báo cáo thẩm định quy hoạch hạ tầng kỹ thuật viễn thông thụ động</h1>
<p>Appraisal report — {e(title)} · doanh nghiệp / operator <b>{e(str(report.get('operator', '')))}</b> ·
phiên bản / version {e(str(report.get('version', '')))} · trạng thái / status {e(str(report.get('status', '')))} ·
lập lúc / generated {e(str(report.get('generated_at', '')))}</p>
<p>Bộ quy tắc / rule pack: {e(str(pack.get('title', '')))} ({e(str(pack.get('id', '')))} v{e(str(pack.get('version', '')))});
hệ tọa độ tính khoảng cách / metric CRS {e(str(report.get('metric_crs', '')))}</p>
{preview}
<h2>Tổng hợp / Summary</h2>
<table><tr><th>Hạng mục / items</th><th>Vi phạm / violations</th><th>Cảnh báo / warnings</th><th>Thông tin / info</th>
<th>Hạng mục có vi phạm</th><th>Ngoài tỉnh / outside</th><th>Xung đột / conflicts</th></tr>
<tr><td>{s.get('items', 0)}</td><td>{sev.get('violation', 0)}</td><td>{sev.get('warning', 0)}</td><td>{sev.get('info', 0)}</td>
<td>{s.get('items_with_violations', 0)}</td><td>{s.get('outside_province', 0)}</td><td>{s.get('conflicts', 0)}</td></tr></table>
<h2>Chi tiết / Items</h2>
<table><tr><th>#</th><th>Loại / kind</th><th>Trạm, tuyến / subject</th><th>Loại cột / class</th><th>Phát hiện / findings</th></tr>
{''.join(rows)}
</table>
</body></html>"""


def report_xlsx(report: Mapping[str, Any]) -> bytes:
    """Three sheets: the summary, one row per item, one row per finding (the same words as the page)."""
    return tabular.xlsx_bytes([_summary_sheet(report), _items_sheet(report), _findings_sheet(report)])


def _summary_sheet(report: Mapping[str, Any]) -> tabular.Sheet:
    s = report.get("summary", {})
    sev = s.get("by_severity", {})
    info = [
        ("Hồ sơ / plan", report.get("plan_id")), ("Tiêu đề / title", report.get("title")),
        ("Doanh nghiệp / operator", report.get("operator")), ("Phiên bản / version", report.get("version")),
        ("Trạng thái / status", report.get("status")), ("Lập lúc / generated", report.get("generated_at")),
        ("Bộ quy tắc / rule pack", (report.get("rule_pack") or {}).get("title")),
        ("Xem trước / preview", "có" if report.get("preview") else "không"),
        ("Số hạng mục / items", s.get("items", 0)), ("Vi phạm / violations", sev.get("violation", 0)),
        ("Cảnh báo / warnings", sev.get("warning", 0)), ("Thông tin / info", sev.get("info", 0)),
        ("Hạng mục có vi phạm", s.get("items_with_violations", 0)),
        ("Ngoài tỉnh / outside province", s.get("outside_province", 0)),
        ("Xung đột / conflicts", s.get("conflicts", 0)),
    ]
    return tabular.Sheet("Tong hop", rows=info, widths=[32, 60], row_heads=True)


def _items_sheet(report: Mapping[str, Any]) -> tabular.Sheet:
    head = ["#", "Loại / kind", "Mã trạm / code", "Trạm liên quan / site", "Tuyến / street", "Vĩ độ / lat",
            "Kinh độ / lon", "Loại cột suy ra / derived", "Khai báo / declared", "Lý do / reasons",
            "Vi phạm", "Cảnh báo", "Thông tin"]
    rows = []
    for it in report.get("items", []):
        counts = {k: sum(1 for f in it.get("findings", []) if f.get("severity") == k) for k in SEVERITY_VI}
        rows.append([it["index"] + 1, it["item"], it.get("code"), it.get("site_code"), it.get("street"),
                     it.get("lat"), it.get("lon"), it.get("derived_class"), it.get("declared_class"),
                     "\n".join(str(x.get("message", x)) for x in it.get("reasons", []) or []),
                     counts["violation"], counts["warning"], counts["info"]])
    return tabular.Sheet("Hang muc", head, rows, widths=[5, *[16] * 8, 60], wrap=[9])


def _findings_sheet(report: Mapping[str, Any]) -> tabular.Sheet:
    head = ["#", "Mã / subject", "Mức / severity", "Quy tắc / rule", "Nội dung / message", "Khu vực, tuyến / where",
            "Khoảng cách (m)", "Căn cứ pháp lý / legal source"]
    rows = [[it["index"] + 1, _subject(it), f.get("severity"), f.get("rule"), f.get("message"), _where(f),
             f.get("distance_m"), f.get("legal_source")]
            for it in report.get("items", []) for f in it.get("findings", [])]
    return tabular.Sheet("Phat hien", head, rows, widths=[5, 18, 18, 18, 70, 24, 24, 24], wrap=[4])
