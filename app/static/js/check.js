// "Check a point here": the planner clicks a spot, fills in the proposed mast, and the server's
// POST /checks/site answers with the derived class, its reasons, zone/route and spacing findings and
// co-location candidates (docs/architecture.md, "Field names"). The answer is shown in the same popup.

import { postJSON } from "./api.js";
import { applyStatic, fmt, t } from "./i18n.js";
import { el } from "./panel.js";
import { classChip, findingList, reasonList } from "./popup.js";

function num(form, name) {
  const v = form.elements[name].value;
  return v === "" ? null : Number(v);
}

/** The request body: a GeoJSON Feature (Point, WGS84) with the site's physical properties. */
export function checkPayload(lngLat, form) {
  const properties = {
    operator: form.elements.operator.value || null,
    mount: form.elements.mount.value,
    mast_height_m: num(form, "mast_height_m"),
    building_height_m: num(form, "building_height_m"),
    reach_m: num(form, "reach_m"),
    camouflaged: form.elements.camouflaged.checked,
  };
  for (const k of Object.keys(properties)) if (properties[k] === null) delete properties[k];
  return {
    type: "Feature",
    geometry: { type: "Point", coordinates: [Number(lngLat.lng.toFixed(7)), Number(lngLat.lat.toFixed(7))] },
    properties,
  };
}

export function renderCheckResult(box, res) {
  const findings = res.findings || [];
  const candidates = res.colocation_candidates || [];
  box.replaceChildren(...[
    el("p", {}, `${t("check.derived")}: `, classChip(res.derived_class)),
    reasonList(res.reasons),
    findings.length ? findingList(findings) : el("p", { class: "ok", text: t("check.ok") }),
    candidates.length ? el("div", {},
      el("h4", { text: t("check.colocation") }),
      el("ul", { class: "small" }, candidates.slice(0, 8).map((c) => el("li", {},
        el("code", { text: c.site_code || c.code || "" }),
        c.operator ? ` · ${c.operator}` : "",
        c.distance_m != null ? ` · ${fmt(c.distance_m, 0)} m` : "")))) : null,
  ].filter(Boolean));
}

/** Build the check form for a clicked point; ``operators`` fills the operator list. */
export function checkForm(lngLat, operators) {
  const tpl = document.getElementById("check-form-template");
  const form = tpl.content.firstElementChild.cloneNode(true);
  applyStatic(form);
  form.querySelector(".coords").textContent = `${lngLat.lat.toFixed(6)}, ${lngLat.lng.toFixed(6)}`;
  const sel = form.elements.operator;
  for (const op of operators) sel.append(el("option", { value: op, text: op }));
  const out = form.querySelector(".check-result");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.replaceChildren(el("p", { class: "muted small", text: t("check.running") }));
    try {
      const res = await postJSON("/checks/site", checkPayload(lngLat, form));
      renderCheckResult(out, res);
      form.dataset.done = "true";
    } catch (err) {
      out.replaceChildren(el("p", { class: "error", text: `${t("check.failed")}: ${err.message}` }));
      form.dataset.done = "error";
    }
  });
  return form;
}
