// A dossier's items on the map: MapLibre (vendored) over our own vector tiles, the same base style as
// the public map (style.js), with the dossier's items on top coloured by their worst finding.
// Clicking an item scrolls to its entry in the list, and focusing an entry in the list flies to it.

import * as maplibregl from "../../vendor/maplibre-gl/maplibre-gl.mjs";
import { absolute, tileSource } from "../api.js";
import { FINDING_ORANGE, FINDING_RED, TILE_LAYERS, buildStyle } from "../style.js";

const SEVERITY_COLOR = ["match", ["get", "severity"], "violation", FINDING_RED, "warning", FINDING_ORANGE,
  "info", "#4a90d9", "#2e9e48"];

function bounds(features) {
  const b = new maplibregl.LngLatBounds();
  const add = (c) => (typeof c[0] === "number" ? b.extend(c) : c.forEach(add));
  features.forEach((f) => f.geometry && add(f.geometry.coordinates));
  return b;
}

async function start(box) {
  const items = await (await fetch(`/workspace/plans/${box.dataset.plan}/items.geojson`,
    { credentials: "same-origin" })).json();
  const entries = await Promise.all(Object.entries(TILE_LAYERS).map(async ([k, id]) => [k, await tileSource(id)]));
  const sources = Object.fromEntries(entries);
  const b = bounds(items.features);
  const center = b.isEmpty() ? [106.68, 20.86] : b.getCenter().toArray();
  const map = new maplibregl.Map({
    container: box, style: buildStyle(sources, center[1], absolute("/map/labels")), center, zoom: 13,
    attributionControl: { compact: true },
  });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.on("load", () => {
    map.addSource("dossier", { type: "geojson", data: items });
    map.addLayer({ id: "dossier-lines", type: "line", source: "dossier",
      filter: ["in", ["geometry-type"], ["literal", ["LineString", "MultiLineString"]]],
      paint: { "line-color": SEVERITY_COLOR, "line-width": 5 } });
    map.addLayer({ id: "dossier-points", type: "circle", source: "dossier",
      filter: ["in", ["geometry-type"], ["literal", ["Point", "MultiPoint"]]],
      paint: { "circle-color": SEVERITY_COLOR, "circle-radius": 9, "circle-stroke-color": "#fff", "circle-stroke-width": 2 } });
    if (!b.isEmpty()) map.fitBounds(b, { padding: 60, maxZoom: 16, duration: 0 });
    box.dataset.ready = "true";
  });
  for (const layer of ["dossier-points", "dossier-lines"]) {
    map.on("click", layer, (e) => {
      const el = document.getElementById(`item-${e.features[0].properties.index}`);
      if (el) { el.scrollIntoView({ behavior: "smooth", block: "center" }); el.classList.add("flash"); }
    });
    map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
  }
  document.querySelectorAll(".item[data-index]").forEach((el) => {
    el.addEventListener("focusin", () => {
      const f = items.features[Number(el.dataset.index)];
      if (f && f.geometry) map.fitBounds(bounds([f]), { padding: 80, maxZoom: 17 });
    });
  });
}

const box = document.getElementById("plan-map");
if (box) start(box).catch((err) => { box.textContent = String(err); });
