// Click popups: a site shows its attributes, derived class with the reasons, and its findings (full
// records from the OGC API, tile properties while they load); cables, zones, routes and admin units
// show their own attributes.

import { getJSON } from "./api.js";
import { fmt, t, tMaybe } from "./i18n.js";
import { classLabel, el } from "./panel.js";
import { CLASS_COLORS, P } from "./style.js";

function dl(pairs) {
  const node = el("dl", { class: "attrs" });
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === "") continue;
    node.append(el("dt", { text: k }), el("dd", {}, v));
  }
  return node;
}

function enumLabel(prefix, v) {
  return v === undefined || v === null ? null : tMaybe(`${prefix}.${v}`) || String(v);
}

export function classChip(cls) {
  const c = cls || "unknown";
  return el("span", { class: "chip", style: { background: CLASS_COLORS[c] || CLASS_COLORS.unknown } }, classLabel(c));
}

function reasonItem(r) {
  if (typeof r === "string") return el("li", { text: r });
  const rule = r.rule || r.id || "";
  const msg = r.message || r.text || r.detail || "";
  const cls = r.result === "decides" ? "decides" : r.result === "not met" ? "not-met" : null;
  return el("li", { class: cls }, rule ? el("code", { text: rule }) : null, rule && msg ? " " : null, msg,
    r.status === "provisional" ? el("span", { class: "warn small", text: ` (${t("popup.provisional")})` }) : null);
}

/**
 * Reasons as stored by the classifier: a list of {rule, result, message, …} (strings accepted too).
 * The rule that decided the class is shown; the rules tried before it and not met fold away.
 */
export function reasonList(reasons) {
  let list = reasons;
  if (typeof list === "string") {
    try { list = JSON.parse(list); } catch (_) { list = [list]; }
  }
  if (!Array.isArray(list) || !list.length) return null;
  const tried = list.filter((r) => r && r.result === "not met");
  const shown = list.filter((r) => !(r && r.result === "not met"));
  return el("div", { class: "reasons-box" },
    el("ul", { class: "reasons" }, shown.map(reasonItem)),
    tried.length ? el("details", { class: "small" },
      el("summary", { text: t("popup.notMet", { n: tried.length }) }),
      el("ul", { class: "reasons" }, tried.map(reasonItem))) : null);
}

export function findingList(findings) {
  if (!findings || !findings.length) return el("p", { class: "muted small", text: t("popup.noFindings") });
  return el("ul", { class: "findings" }, findings.map((f) => {
    const where = f.zone || f.route || f.other_site_code || "";
    const dist = f.distance_m !== undefined && f.distance_m !== null ? ` · ${t("popup.distance")} ${fmt(f.distance_m, 1)} m` : "";
    return el("li", { class: `sev-${f.severity || "info"}` },
      el("strong", { text: enumLabel("severity", f.severity) || "" }), " ",
      el("code", { text: f.rule || f.check || "" }), where ? ` — ${where}` : "", dist,
      f.message ? el("div", { class: "small", text: f.message }) : null,
      f.legal_source ? el("div", { class: "small muted", text: `${t("popup.legal")}: ${f.legal_source}` }) : null);
  }));
}

function props(feature) {
  return feature && feature.properties ? feature.properties : {};
}

export function sitePopup(tileProps) {
  const box = el("div", { class: "popup site" });
  const render = (p, findings, loading) => {
    const derived = p[P.cls] || null;
    const declared = p[P.declared] || null;
    box.replaceChildren(
      el("h3", {}, `${t("popup.site")} `, el("code", { text: p.code || "" })),
      dl([
        [t("popup.operator"), p.operator],
        [t("popup.derived"), el("span", {}, classChip(derived),
          derived && declared && derived !== declared
            ? el("span", { class: "warn small", text: ` ${t("popup.mismatch")} (${declared})` })
            : declared ? el("span", { class: "muted small", text: ` = ${t("popup.declaredShort")}` }) : null)],
        [t("popup.mount"), [enumLabel("mount", p.mount),
          p.mast_height_m != null ? `${t("popup.mastShort")} ${fmt(p.mast_height_m, 1)} m` : null,
          p.building_height_m != null ? `${t("popup.buildingShort")} ${fmt(p.building_height_m, 1)} m` : null]
          .filter(Boolean).join(" · ")],
        [t("popup.status"), [enumLabel("status", p.status), p.tech].filter(Boolean).join(" · ")],
        [t("popup.place"), [p.commune, p.district].filter(Boolean).join(", ")],
      ]),
      el("h4", { text: t("popup.findings") }),
      loading && !findings ? el("p", { class: "muted small", text: t("popup.loading") }) : findingList(findings),
      el("h4", { text: t("popup.reasons") }),
      reasonList(p.reasons) || el("p", { class: "muted small", text: loading ? t("popup.loading") : "—" }),
    );
  };
  render(tileProps, null, true);
  getJSON(`/map/sites/${encodeURIComponent(tileProps.code)}`)
    .then((card) => render({ ...tileProps, ...card.site }, card.findings, false))
    .catch((err) => {
      console.warn("site details unavailable", err);
      render(tileProps, [], false);
    });
  return box;
}

/** A cluster of sites (low zooms, dense areas): its class mix; zooming in splits it. */
export function clusterPopup(f) {
  const p = f.properties;
  const n = Number(p.count) || 0;
  const a1 = Number(p.a1) || 0;
  const a2 = Number(p.a2) || 0;
  const a2a = Number(p.a2a) || 0;
  return el("div", { class: "popup" },
    el("h3", { text: t("popup.cluster", { n: fmt(n) }) }),
    dl([
      ["A1a + A1b", fmt(a1)],
      ["A2a", fmt(a2a)],
      ["A2b + A2c", fmt(a2 - a2a)],
      [t("class.unknown"), fmt(n - a1 - a2)],
    ]),
    el("p", { class: "muted small", text: t("popup.zoomIn") }));
}

export function cablePopup(p) {
  return el("div", { class: "popup" },
    el("h3", { text: p.street || p.code || "" }),
    dl([
      [t("popup.code"), p.code],
      [t("popup.status"), el("span", { class: `status-${p.status}`, text: enumLabel("status", p.status) || "" })],
      [t("popup.method"), enumLabel("method", p.method)],
      [t("popup.length"), p.length_m != null ? `${fmt(p.length_m / 1000, 2)} km` : null],
      [t("popup.plan"), p.plan_ref],
      [t("popup.targetYear"), p.target_year],
    ]));
}

export function zonePopup(p) {
  return el("div", { class: "popup" },
    el("h3", { text: p.name || "" }),
    dl([
      [t("popup.kind"), p.kind],
      [t("popup.policy"), enumLabel("policy", p.policy)],
      [t("popup.radius"), p.radius_m ? `${fmt(p.radius_m)} m` : null],
      [t("popup.legal"), p.legal_source],
    ]));
}

export function routePopup(p) {
  return el("div", { class: "popup" },
    el("h3", { text: p.name || "" }),
    dl([
      [t("popup.policy"), enumLabel("policy", p.policy)],
      [t("popup.corridor"), p.corridor_m != null ? `± ${fmt(p.corridor_m)} m` : null],
      [t("popup.legal"), p.legal_source],
    ]));
}

export function adminPopup(p) {
  return el("div", { class: "popup" },
    el("h3", { text: p.name || "" }),
    dl([[t("popup.level"), enumLabel("level", p.level)], [t("popup.code"), p.code]]));
}

export function findingPopup(p) {
  if (p.site_code) return sitePopup({ code: p.site_code, operator: p.operator });
  return el("div", { class: "popup" }, findingList([p]));
}
