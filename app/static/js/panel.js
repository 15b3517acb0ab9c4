// Side panel: the commune × class table of today (GET /stats/sites; since 2025-07-01 a province holds
// communes, wards and special zones directly) and cable progress by district
// (GET /cables/progress) as a small stacked bar chart. Everything is built with DOM calls and
// textContent, never innerHTML, so names from the database cannot inject markup.

import { getJSON } from "./api.js";
import { fmt, t, tMaybe } from "./i18n.js";
import { CABLE_COLORS, CABLE_STATUSES, CLASSES, CLASS_COLORS } from "./style.js";

const SVG = "http://www.w3.org/2000/svg";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "style") Object.assign(node.style, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

export function classLabel(c) {
  return c === "unknown" ? t("class.unknown") : c;
}

let statsCache = null;
let cablesCache = null;

/** The label of a row: district (and commune) name; the API may add codes beside names. */
function rowLabel(row) {
  return row.commune || row.district_name || row.district || row.name || "—";
}

/** "Quận Lê Chân" → "Lê Chân": the unit type is the same on every row of a small table. */
export function shortName(name) {
  return String(name).replace(/^(Quận|Huyện|Thị xã|Thành phố|Phường|Xã|Thị trấn|Đặc khu)\s+/u, "");
}

export function renderStats(data) {
  if (data !== undefined) statsCache = data;
  const table = document.getElementById("stats-table");
  const note = document.getElementById("stats-note");
  table.replaceChildren();
  if (!statsCache || !Array.isArray(statsCache.rows)) {
    note.textContent = t("stats.unavailable");
    return;
  }
  const byDistrict = Array.isArray(statsCache.by) && statsCache.by[0] === "district";
  const head = el("tr", {}, el("th", { scope: "col", text: t(byDistrict ? "level.district" : "stats.district") }),
    ...CLASSES.map((c) => el("th", { scope: "col", title: classLabel(c), style: { borderBottomColor: CLASS_COLORS[c] } },
      c === "unknown" ? "?" : c)),
    el("th", { scope: "col", text: t("stats.total") }));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const row of statsCache.rows) {
    body.append(el("tr", { "data-district": row.district_code || "", "data-commune": row.commune_code || "" },
      el("th", { scope: "row", text: shortName(rowLabel(row)), title: rowLabel(row) }),
      ...CLASSES.map((c) => el("td", { text: fmt(row[c] ?? 0) })),
      el("td", { class: "total", text: fmt(row.total ?? 0) })));
  }
  table.append(body);
  const totals = statsCache.totals;
  if (totals) {
    table.append(el("tfoot", {}, el("tr", {},
      el("th", { scope: "row", text: t("stats.total") }),
      ...CLASSES.map((c) => el("td", { text: fmt(totals[c] ?? 0) })),
      el("td", { class: "total", text: fmt(totals.total ?? 0) }))));
  }
  note.textContent = statsCache.as_of ? t("stats.asOf", { date: statsCache.as_of }) : "";
}

export function renderCables(data) {
  if (data !== undefined) cablesCache = data;
  const box = document.getElementById("cable-chart");
  box.replaceChildren();
  const legend = document.getElementById("cable-legend");
  legend.replaceChildren(...[...CABLE_STATUSES].reverse().map((s) => el("span", { class: "legend-item" },
    el("span", { class: "swatch line", style: { background: CABLE_COLORS[s] } }), tMaybe(`status.${s}`) || s)));
  const rows = cablesCache && Array.isArray(cablesCache.rows) ? cablesCache.rows : null;
  if (!rows || !rows.length) {
    box.append(el("p", { class: "muted small", text: t("cables.unavailable") }));
    return;
  }
  const labelW = 92;
  const barW = 150;
  const rowH = 20;
  const width = labelW + barW + 92;
  const height = rows.length * rowH + 4;
  const maxKm = Math.max(...rows.map((r) => Number(r.total_km) || 0), 0.01);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", class: "bars" });
  box.setAttribute("aria-label", t("cables.title"));
  rows.forEach((r, i) => {
    const y = i * rowH + 2;
    const label = svg("text", { x: labelW - 6, y: y + 13, "text-anchor": "end", class: "bar-label" });
    label.textContent = shortName(rowLabel(r));
    chart.append(label);
    let x = labelW;
    for (const [status, key] of [["done", "done_km"], ["in_progress", "in_progress_km"], ["planned", "planned_km"]]) {
      const km = Number(r[key]) || 0;
      const w = (km / maxKm) * barW;
      if (w <= 0) continue;
      const rect = svg("rect", { x, y: y + 3, width: w.toFixed(2), height: rowH - 7, fill: CABLE_COLORS[status], "data-status": status });
      const title = svg("title");
      title.textContent = `${rowLabel(r)} — ${tMaybe(`status.${status}`) || status}: ${fmt(km, 2)} ${t("cables.km")}`;
      rect.append(title);
      chart.append(rect);
      x += w;
    }
    const pct = svg("text", { x: labelW + barW + 4, y: y + 13, class: "bar-value" });
    const donePct = r.done_pct ?? (r.total_km ? (100 * (Number(r.done_km) || 0)) / r.total_km : 0);
    pct.textContent = `${fmt(donePct, 0)}% · ${fmt(r.total_km, 1)} ${t("cables.km")}`;
    chart.append(pct);
  });
  box.append(chart);
}

/**
 * The panel for the units of ``asOf`` (YYYY-MM-DD, "" = today): the site table by communes from 2025-07-01,
 * by districts before; cable progress as of that day (status rebuilt from the dated history).
 */
export async function loadPanel(asOf = "") {
  const by = asOf && asOf < "2025-07-01" ? "district,type" : "commune,type";
  const [stats, cables, about] = await Promise.allSettled([
    getJSON("/stats/sites", asOf ? { by, as_of: asOf } : { by }),
    getJSON("/cables/progress", asOf ? { by: "district", as_of: asOf } : { by: "district" }),
    getJSON("/map/about"),
  ]);
  document.getElementById("demo-note").hidden = !(about.status === "fulfilled" && about.value.illustrative);
  renderStats(stats.status === "fulfilled" ? stats.value : null);
  renderCables(cables.status === "fulfilled" ? cables.value : null);
}
