// The cable officer's map: MapLibre (vendored) over our own vector tiles, the public map's base style
// (style.js) with only the streets and administrative units kept (masts and findings would hide the
// cables), and the filtered street sections on top coloured by status; the open section is outlined. Clicking a section opens its panel (an htmx partial, the same one the list's links open);
// a status change (the server's "cables-changed" event) and a new filter redraw the sections.

import * as maplibregl from "../../vendor/maplibre-gl/maplibre-gl.mjs";
import { absolute, tileSource } from "../api.js";
import { TILE_LAYERS, TOGGLES, buildStyle } from "../style.js";

// the same colours as the legend and the server's STATUS_COLOURS (workspace_cables.py)
const STATUS_COLOR = ["match", ["get", "status"], "done", "#1e6b32", "in_progress", "#c26a00", "#8a8f96"];

function bounds(features) {
  const b = new maplibregl.LngLatBounds();
  const add = (c) => (typeof c[0] === "number" ? b.extend(c) : c.forEach(add));
  features.forEach((f) => f.geometry && add(f.geometry.coordinates));
  return b;
}

async function sections(query) {
  // in the page's language (?lang wins over the remembered choice, as for the htmx partials in main.js)
  const params = new URLSearchParams(query);
  params.set("lang", document.documentElement.lang || "vi");
  const res = await fetch(`/workspace/cables/segments.geojson?${params}`, { credentials: "same-origin" });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.json();
}

// the section whose panel is open ("" when none)
function selected() {
  return document.querySelector("#segment-panel [data-segment]")?.dataset.segment || "";
}

function openPanel(code) {
  window.htmx.ajax("GET", `/workspace/cables/segments/${encodeURIComponent(code)}`,
    { target: "#segment-panel", swap: "innerHTML" });
}

async function start(box) {
  let query = box.dataset.query || "";
  let data = await sections(query);
  const entries = await Promise.all(Object.entries(TILE_LAYERS).map(async ([k, id]) => [k, await tileSource(id)]));
  const b = bounds(data.features);
  const center = b.isEmpty() ? [106.68, 20.86] : b.getCenter().toArray();
  const map = new maplibregl.Map({
    container: box, style: buildStyle(Object.fromEntries(entries), center[1], absolute("/map/labels")), center,
    zoom: 13, attributionControl: { compact: true },
  });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  box.maplibre = map; // the page's map, for the console and the browser tests (never a global)

  const redraw = async (fit) => {
    data = await sections(query);
    map.getSource("sections").setData(data);
    const nb = bounds(data.features);
    if (fit && !nb.isEmpty()) map.fitBounds(nb, { padding: 40, maxZoom: 16, duration: 0 });
    box.dataset.count = String(data.features.length);
  };

  map.on("load", () => {
    for (const group of ["cables", "sites", "findings", "warnings", "zones", "routes"]) {
      for (const id of TOGGLES[group] || []) if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", "none");
    }
    map.addSource("sections", { type: "geojson", data });
    map.addLayer({ id: "sections-selected", type: "line", source: "sections", filter: ["==", ["get", "code"], selected()],
      layout: { "line-cap": "round" }, paint: { "line-color": "#0b5cad", "line-width": 13 } });
    // a wide transparent line under the visible one: easy to hit with a finger on a phone
    map.addLayer({ id: "sections-hit", type: "line", source: "sections",
      paint: { "line-color": "#000", "line-opacity": 0.01, "line-width": 18 } });
    map.addLayer({ id: "sections", type: "line", source: "sections",
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": STATUS_COLOR, "line-width": 5 } });
    if (!b.isEmpty()) map.fitBounds(b, { padding: 40, maxZoom: 16, duration: 0 });
    box.dataset.count = String(data.features.length);
    box.dataset.ready = "true";
  });
  map.on("click", "sections-hit", (e) => openPanel(e.features[0].properties.code));
  map.on("mouseenter", "sections-hit", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "sections-hit", () => { map.getCanvas().style.cursor = ""; });

  // a status change: same filter, new colours
  document.body.addEventListener("cables-changed", () => { redraw(false).catch(() => {}); });
  // a new filter: the list's wrapper carries the query the server answered
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id === "segment-panel" && map.getLayer("sections-selected")) {
      const code = selected();
      map.setFilter("sections-selected", ["==", ["get", "code"], code]);
      const f = data.features.find((x) => x.properties.code === code);
      const fb = f ? bounds([f]) : null;
      if (fb && !map.getBounds().contains(fb.getCenter())) map.fitBounds(fb, { padding: 80, maxZoom: 17 });
    }
    const list = document.getElementById("cable-list");
    if (event.detail.target.id === "cable-results" && list && list.dataset.query !== query) {
      query = list.dataset.query;
      redraw(true).catch(() => {});
    }
  });
}

// a section opened from the list or the map: move the focus to its panel (keyboard and screen-reader
// users land on what they asked for); a form's answer keeps the focus and speaks through role=alert/status
document.body.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target.id === "segment-panel" && event.detail.requestConfig?.verb === "get") {
    document.getElementById("segment-title")?.focus();
  }
});

const box = document.getElementById("cable-map");
if (box) start(box).catch((err) => { box.textContent = String(err); });
