// Search box: site codes and street/place names through GET /search, which folds Vietnamese
// diacritics ("le chan" finds "Lê Chân"). Arrow keys move through the results, Enter picks one.

import { getJSON } from "./api.js";
import { t, tMaybe } from "./i18n.js";
import { el } from "./panel.js";

/** The same folding as the server's geodata.search.fold (used to highlight nothing but keep parity). */
export function fold(text) {
  return (text || "").replace(/[đĐ]/g, "d").normalize("NFD").replace(/\p{Mn}/gu, "")
    .toLowerCase().split(/\s+/).filter(Boolean).join(" ");
}

export function setupSearch(onPick) {
  const input = document.getElementById("search-input");
  const list = document.getElementById("search-results");
  let timer = null;
  let seq = 0;
  let results = [];
  let active = -1;

  const close = () => { list.hidden = true; active = -1; };
  const highlight = (i) => {
    active = i;
    [...list.children].forEach((li, k) => li.setAttribute("aria-selected", k === i ? "true" : "false"));
  };
  const pick = (i) => {
    const hit = results[i];
    if (!hit) return;
    input.value = hit.label;
    close();
    onPick(hit);
  };

  async function run(q) {
    const mine = ++seq;
    let data;
    try {
      data = await getJSON("/search", { q, limit: 12 });
    } catch (err) {
      data = { results: [] };
      console.warn("search failed", err);
    }
    if (mine !== seq) return; // a newer query is on its way
    results = data.results || [];
    list.replaceChildren(...(results.length ? results.map((h, i) => el("li", {
      role: "option", "data-kind": h.kind, onmousedown: (ev) => { ev.preventDefault(); pick(i); },
    }, el("span", { class: "kind", text: tMaybe(`kind.${h.kind}`) || h.kind }), " ",
    el("span", { class: "label", text: h.label }),
    ...[h.detail, ...(h.policy ? h.policy.split(",").map((p) => tMaybe(`policy.${p}`) || p) : [])]
      .filter(Boolean).map((d) => el("span", { class: "detail", text: ` · ${d}` }))))
      : [el("li", { class: "muted", text: t("search.none") })]));
    list.hidden = false;
    highlight(results.length ? 0 : -1);
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) { close(); return; }
    timer = setTimeout(() => run(q), 180);
  });
  input.addEventListener("keydown", (ev) => {
    if (list.hidden) return;
    if (ev.key === "ArrowDown") { ev.preventDefault(); highlight(Math.min(active + 1, results.length - 1)); }
    else if (ev.key === "ArrowUp") { ev.preventDefault(); highlight(Math.max(active - 1, 0)); }
    else if (ev.key === "Enter") { ev.preventDefault(); pick(active); }
    else if (ev.key === "Escape") close();
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  return { run };
}
