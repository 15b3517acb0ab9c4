// The planners' map: MapLibre GL JS (vendored, served by us) over our own vector tiles.
// Unfiltered, sites come clustered from the tiles; with a filter on, the matching sites come from the
// features API and MapLibre clusters them (filtered.js), so every number drawn counts matching sites.
// The export link follows the same filter, and the side panel shows /stats/sites and /cables/progress.

import * as maplibregl from "../vendor/maplibre-gl/maplibre-gl.mjs";
import { absolute, getJSON, tileSource } from "./api.js";
import { checkForm } from "./check.js";
import { CLONES, EMPTY, FINDINGS_SOURCE, SITES_SOURCE, filteredView, sitesSourceSpec } from "./filtered.js";
import { applyStatic, currentLang, fmt, onLangChange, setLang, t } from "./i18n.js";
import { classLabel, el, loadPanel, renderCables, renderStats } from "./panel.js";
import { adminPopup, cablePopup, clusterPopup, findingPopup, routePopup, sitePopup, zonePopup } from "./popup.js";
import { setupSearch } from "./search.js";
import {
  A1_CHECK, CABLE_COLORS, CLASSES, CLASS_COLORS, CLUSTER_COLOR, FINDING_ORANGE, FINDING_RED, IS_CLUSTER, IS_SITE, P,
  TILE_LAYERS, TOGGLES, buildStyle, hatchImage,
} from "./style.js";

const DEFAULT_CENTER = [106.68, 20.86]; // Hải Phòng
const OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";

const state = {
  classes: new Set(CLASSES),
  operator: "",
  district: "", // the chosen unit's code: a commune of the as-of day, or a district before 2025-07-01
  asOf: "", // YYYY-MM-DD of the units listed and counted ("" = today)
  unitLevel: "commune", // since 2025-07-01 a province holds communes, wards and special zones directly
  status: "",
  findingsOnly: false,
  filtered: false, // the filtered sources are what is drawn (set once their data are in)
  partial: false, // too many matches for the whole province: the filtered sources hold the view only
  selected: "",
  checkMode: false,
  operators: [],
};

let map;
let sources;
let popup;

// ------------------------------------------------------------------------------------------
// filters
// ------------------------------------------------------------------------------------------

/** Whether any filter is on (the map then draws the filtered sources). */
function isFiltered() {
  return Boolean(state.operator || state.status || state.district || state.findingsOnly || state.classes.size < CLASSES.length);
}

const NOTHING = ["boolean", false];
/** Planning layers limited to the chosen unit (features without that unit's property stay: province-wide). */
const DISTRICT_LAYERS = ["zones-fill", "zones-line", "zones-point", "routes-a1-corridor", "routes-a1", "cables", "cables-planned"];
const baseFilters = new Map(); // layer id → its filter in the style

/** The two-level administration began on this day: districts are listed only for an as-of date before it. */
const REFORM_DAY = "2025-07-01";

function levelOn(asOf) {
  return asOf && asOf < REFORM_DAY ? "district" : "commune";
}

function districtFilter(id) {
  const base = baseFilters.get(id);
  if (!state.district) return base;
  // a commune: the cable sections carry theirs; zones and routes name their district only and stay
  const prop = state.unitLevel === "district" ? P.district : P.commune;
  const inUnit = ["any", ["!", ["has", prop]], ["==", ["get", prop], state.district]];
  return base ? ["all", base, inUnit] : inUnit;
}

/**
 * The download for the current filter (GET /exports/…): the sites matching it, or, with "only sites
 * with findings", the findings themselves (that export takes district and operator only).
 */
function exportHref() {
  const fmtSel = document.getElementById("export-format").value;
  const layer = state.findingsOnly ? "findings" : "sites";
  const url = new URL(`/exports/${layer}.${fmtSel}`, window.location.origin);
  if (state.district) url.searchParams.set(state.unitLevel, state.district);
  if (state.operator) url.searchParams.set("operator", state.operator);
  if (layer === "sites") {
    if (state.classes.size < CLASSES.length) url.searchParams.set("type", [...state.classes].join(","));
    if (state.status) url.searchParams.set("status", state.status);
  }
  return url.pathname + url.search;
}

/**
 * Sites drawn on screen right now: single sites by code (a feature near a tile border is rendered
 * from both tiles) plus the number of sites each cluster holds.
 */
export function visibleSiteCount() {
  const [single, cluster] = state.filtered ? [CLONES.sites, CLONES["sites-cluster"]] : ["sites", "sites-cluster"];
  if (!map || !map.getLayer(single)) return 0;
  const seen = new Map();
  for (const f of map.queryRenderedFeatures({ layers: [single, cluster] })) {
    const p = f.properties;
    if (f.layer.id === single) seen.set(`s:${p[P.code] ?? f.id}`, 1);
    else seen.set(`c:${f.geometry.coordinates.map((v) => v.toFixed(6)).join(",")}:${p.count}`, Number(p.count) || 1);
  }
  let n = 0;
  for (const v of seen.values()) n += v;
  return n;
}

function updateCount() {
  document.getElementById("visible-count").textContent = t("filters.visible", { n: fmt(visibleSiteCount()) });
}

/** Draw from the tiles (``view`` null) or from the filtered sites and findings. */
function showView(view) {
  const on = Boolean(view);
  map.setFilter("sites", on ? NOTHING : IS_SITE);
  map.setFilter("sites-cluster", on ? NOTHING : IS_CLUSTER);
  map.setFilter("sites-cluster-count", on ? NOTHING : IS_CLUSTER);
  map.setFilter("findings", on ? NOTHING : ["==", ["get", "check"], A1_CHECK]);
  map.setFilter("findings-other", on ? NOTHING : ["!=", ["get", "check"], A1_CHECK]);
  map.getSource(SITES_SOURCE).setData(on ? view.sites : EMPTY);
  map.getSource(FINDINGS_SOURCE).setData(on ? view.findings : EMPTY);
  state.filtered = on;
  state.partial = on && view.partial;
  // one class chosen: clusters wear its colour
  const only = state.classes.size === 1 ? [...state.classes][0] : null;
  map.setPaintProperty(CLONES["sites-cluster"], "circle-color", only ? CLASS_COLORS[only] : CLUSTER_COLOR);
  document.getElementById("cluster-note").hidden = !state.partial;
  for (const id of DISTRICT_LAYERS) if (map.getLayer(id)) map.setFilter(id, districtFilter(id));
}

function viewBbox() {
  const b = map.getBounds();
  return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
}

let applied = Promise.resolve();
let generation = 0;

async function refresh() {
  const mine = ++generation;
  document.getElementById("export-link").setAttribute("href", exportHref());
  if (!map || !map.getSource(SITES_SOURCE)) return;
  const view = isFiltered() ? await filteredView(state, viewBbox()) : null;
  if (mine !== generation) return; // a later change of filter is under way
  showView(view);
  const idle = new Promise((resolve) => map.once("idle", resolve));
  map.triggerRepaint();
  await idle;
  updateCount();
}

/** Apply the filter state; the promise (also kept for ``window.btsplan.whenIdle``) ends once drawn. */
function applyFilters() {
  applied = refresh().catch((err) => {
    console.warn("filter failed", err);
    toast(`${t("map.error")}: ${err.message}`);
  });
  return applied;
}

/** The filtered sources and copies of the site and findings layers drawing them, above their originals. */
function addFilteredLayers() {
  map.addSource(SITES_SOURCE, sitesSourceSpec());
  map.addSource(FINDINGS_SOURCE, { type: "geojson", data: EMPTY });
  const layers = map.getStyle().layers;
  for (const [id, copy] of Object.entries(CLONES)) {
    const i = layers.findIndex((l) => l.id === id);
    const { "source-layer": _, ...spec } = layers[i];
    const source = id.startsWith("findings") ? FINDINGS_SOURCE : SITES_SOURCE;
    map.addLayer({ ...spec, id: copy, source }, layers[i + 1] ? layers[i + 1].id : undefined);
  }
  for (const id of DISTRICT_LAYERS) if (map.getLayer(id)) baseFilters.set(id, map.getFilter(id));
}

function buildClassFilter() {
  const box = document.getElementById("class-filter");
  box.replaceChildren(...CLASSES.map((c) => el("label", { class: "legend-item" },
    el("input", {
      type: "checkbox", value: c, checked: state.classes.has(c), "data-class": c,
      onchange: (ev) => {
        if (ev.target.checked) state.classes.add(c); else state.classes.delete(c);
        applyFilters();
      },
    }),
    el("span", { class: "swatch dot", style: { background: CLASS_COLORS[c] } }),
    classLabel(c))));
}

function buildLayerToggles() {
  const swatch = {
    sites: el("span", { class: "swatch dot", style: { background: CLASS_COLORS.A2a } }),
    findings: el("span", { class: "swatch ring", style: { borderColor: FINDING_RED } }),
    warnings: el("span", { class: "swatch ring thin", style: { borderColor: FINDING_ORANGE } }),
    zones: el("span", { class: "swatch hatch" }),
    routes: el("span", { class: "swatch corridor" }),
    streets: el("span", { class: "swatch line", style: { background: "#c9c4b8" } }),
    cables: el("span", { class: "swatch line", style: { background: `linear-gradient(90deg, ${CABLE_COLORS.done} 33%, ${CABLE_COLORS.in_progress} 33% 66%, ${CABLE_COLORS.planned} 66%)` } }),
    admin: el("span", { class: "swatch line", style: { background: "#6d6a63" } }),
  };
  const box = document.getElementById("layer-toggles");
  const withCopies = (ids) => [...ids, ...ids.map((id) => CLONES[id]).filter(Boolean)];
  box.replaceChildren(...Object.entries(TOGGLES).map(([key, ids]) => [key, withCopies(ids)]).map(([key, ids]) => el("label", { class: "legend-item" },
    el("input", {
      type: "checkbox", checked: ids.every((id) => !map.getLayer(id) || map.getLayoutProperty(id, "visibility") !== "none"),
      "data-layer": key,
      onchange: (ev) => {
        for (const id of ids) if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", ev.target.checked ? "visible" : "none");
        map.once("idle", updateCount);
      },
    }),
    swatch[key], t(`layer.${key}`))));
}

function fillSelect(id, options) {
  const sel = document.getElementById(id);
  const keep = sel.value;
  sel.replaceChildren(el("option", { value: "", "data-i18n": "filters.all", text: t("filters.all") }),
    ...options.map(([value, label]) => el("option", { value, text: label })));
  sel.value = options.some(([v]) => v === keep) ? keep : "";
}

// ------------------------------------------------------------------------------------------
// districts and operators for the filter lists
// ------------------------------------------------------------------------------------------

const districtBounds = new Map();

function bboxOf(geometry) {
  let minx = Infinity; let miny = Infinity; let maxx = -Infinity; let maxy = -Infinity;
  const walk = (c) => {
    if (typeof c[0] === "number") {
      minx = Math.min(minx, c[0]); maxx = Math.max(maxx, c[0]);
      miny = Math.min(miny, c[1]); maxy = Math.max(maxy, c[1]);
    } else c.forEach(walk);
  };
  walk(geometry.coordinates);
  return [minx, miny, maxx, maxy];
}

/**
 * The unit filter's list: the communes (xã/phường/đặc khu) in force on the as-of day (today), or the
 * districts when a day before 2025-07-01 is chosen — never the districts frozen on 2025-06-30 for today.
 */
async function loadDistricts() {
  const level = state.unitLevel;
  const label = document.querySelector("label[for=f-district]");
  label.dataset.i18n = `filters.${level}`;
  label.textContent = t(`filters.${level}`);
  districtBounds.clear();
  let rows = [];
  try {
    const day = state.asOf || new Date().toISOString().slice(0, 10);
    const fc = await getJSON("/collections/admin-units/items", { level, datetime: day, limit: 1000 });
    const seen = new Set();
    for (const f of fc.features || []) {
      const p = f.properties || {};
      if (p.level && p.level !== level) continue;
      if (seen.has(p.code)) continue;
      seen.add(p.code);
      if (f.geometry) districtBounds.set(String(p.code), bboxOf(f.geometry));
      rows.push([String(p.code), p.name]);
    }
  } catch (err) {
    console.warn("district list from the collections API unavailable, using the tiles", err);
    const seen = new Map();
    for (const f of map.querySourceFeatures(TILE_LAYERS.admin, { sourceLayer: sources.admin.sourceLayer })) {
      if (f.properties.level === level) seen.set(String(f.properties.code), f.properties.name);
    }
    rows = [...seen.entries()];
  }
  rows.sort((a, b) => String(a[1]).localeCompare(String(b[1]), "vi"));
  fillSelect("f-district", rows);
}

function loadOperators() {
  const ops = new Set(state.operators);
  for (const f of map.querySourceFeatures(TILE_LAYERS.sites, { sourceLayer: sources.sites.sourceLayer })) {
    if (f.properties[P.operator]) ops.add(f.properties[P.operator]);
  }
  state.operators = [...ops].sort();
  fillSelect("f-operator", state.operators.map((o) => [o, o]));
}

// ------------------------------------------------------------------------------------------
// base map: optional OpenStreetMap raster (the only remote URL; requested only when switched on)
// ------------------------------------------------------------------------------------------

function setOsm(on) {
  if (on && !map.getSource("osm")) {
    map.addSource("osm", {
      type: "raster", tiles: [OSM_TILES], tileSize: 256, maxzoom: 19,
      attribution: "© <a href=\"https://www.openstreetmap.org/copyright\">OpenStreetMap</a>",
    });
    map.addLayer({ id: "osm", type: "raster", source: "osm", paint: { "raster-opacity": 0.85 } }, "admin-fill");
    map.setPaintProperty("admin-fill", "fill-opacity", 0.15);
  } else if (!on && map.getSource("osm")) {
    map.removeLayer("osm");
    map.removeSource("osm");
    map.setPaintProperty("admin-fill", "fill-opacity", 0.9);
  }
}

// ------------------------------------------------------------------------------------------
// clicks: popups and "check a point here"
// ------------------------------------------------------------------------------------------

const CLICK_ORDER = [
  ["sites", (f) => sitePopup(f.properties)],
  [CLONES.sites, (f) => sitePopup(f.properties)],
  ["sites-cluster", (f) => clusterPopup(f)],
  [CLONES["sites-cluster"], (f) => clusterPopup(f)],
  ["findings", (f) => findingPopup(f.properties)],
  [CLONES.findings, (f) => findingPopup(f.properties)],
  ["findings-other", (f) => findingPopup(f.properties)],
  [CLONES["findings-other"], (f) => findingPopup(f.properties)],
  ["cables", (f) => cablePopup(f.properties)],
  ["cables-planned", (f) => cablePopup(f.properties)],
  ["zones-point", (f) => zonePopup(f.properties)],
  ["zones-fill", (f) => zonePopup(f.properties)],
  ["routes-a1", (f) => routePopup(f.properties)],
  ["routes-a1-corridor", (f) => routePopup(f.properties)],
  ["streets", (f) => routePopup(f.properties)],
  ["admin-fill", (f) => adminPopup(f.properties)],
];

function openPopup(lngLat, content, anchor) {
  if (popup) popup.remove();
  popup = new maplibregl.Popup({ maxWidth: "340px", focusAfterOpen: false, ...(anchor ? { anchor } : {}) })
    .setLngLat(lngLat).setDOMContent(content).addTo(map);
  return popup;
}

function select(code) {
  state.selected = code || "";
  for (const id of ["sites-selected", CLONES["sites-selected"]]) map.setFilter(id, ["==", ["get", P.code], state.selected]);
}

function onClick(ev) {
  if (state.checkMode) {
    setCheckMode(false);
    openPopup(ev.lngLat, checkForm(ev.lngLat, state.operators));
    showCheckPoint(ev.lngLat);
    return;
  }
  const pad = 4;
  const box = [[ev.point.x - pad, ev.point.y - pad], [ev.point.x + pad, ev.point.y + pad]];
  const layers = CLICK_ORDER.map(([id]) => id).filter((id) => map.getLayer(id) && map.getLayoutProperty(id, "visibility") !== "none");
  const hits = map.queryRenderedFeatures(box, { layers });
  for (const [id, render] of CLICK_ORDER) {
    const f = hits.find((h) => h.layer.id === id);
    if (f) {
      select(id === "sites" || id === CLONES.sites ? f.properties[P.code] : "");
      const at = f.geometry.type === "Point" ? f.geometry.coordinates : ev.lngLat;
      openPopup(at, render(f));
      return;
    }
  }
  select("");
  if (popup) popup.remove();
}

function showCheckPoint(lngLat) {
  const data = { type: "FeatureCollection", features: [{ type: "Feature", geometry: { type: "Point", coordinates: [lngLat.lng, lngLat.lat] }, properties: {} }] };
  if (map.getSource("check-point")) map.getSource("check-point").setData(data);
  else {
    map.addSource("check-point", { type: "geojson", data });
    map.addLayer({ id: "check-point", type: "circle", source: "check-point",
      paint: { "circle-radius": 8, "circle-color": "#111", "circle-stroke-color": "#fff", "circle-stroke-width": 3 } });
  }
}

function setCheckMode(on) {
  state.checkMode = on;
  const btn = document.getElementById("check-mode");
  btn.setAttribute("aria-pressed", on ? "true" : "false");
  map.getCanvas().style.cursor = on ? "crosshair" : "";
  if (on) toast(t("check.hint"));
}

function toast(text, ms = 3500) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, ms);
}

// ------------------------------------------------------------------------------------------
// search results → camera (and popup for sites)
// ------------------------------------------------------------------------------------------

function onPick(hit) {
  if (hit.bbox) map.fitBounds([[hit.bbox[0], hit.bbox[1]], [hit.bbox[2], hit.bbox[3]]], { padding: 60, maxZoom: 16 });
  // a site goes to the lower part of the view, so its popup has room above it
  else map.flyTo({ center: [hit.lon, hit.lat], zoom: Math.max(map.getZoom(), 16), offset: [0, map.getContainer().clientHeight / 4] });
  if (hit.kind === "site") {
    select(hit.label);
    map.once("moveend", () => openPopup([hit.lon, hit.lat], sitePopup({ code: hit.label }), "bottom"));
  }
}

// ------------------------------------------------------------------------------------------
// start
// ------------------------------------------------------------------------------------------

function wireControls() {
  document.getElementById("f-operator").addEventListener("change", (ev) => { state.operator = ev.target.value; applyFilters(); });
  document.getElementById("f-status").addEventListener("change", (ev) => { state.status = ev.target.value; applyFilters(); });
  document.getElementById("f-findings").addEventListener("change", (ev) => { state.findingsOnly = ev.target.checked; applyFilters(); });
  document.getElementById("f-district").addEventListener("change", (ev) => {
    state.district = ev.target.value;
    const b = districtBounds.get(state.district);
    if (b) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 30 });
    applyFilters();
  });
  document.getElementById("f-asof").addEventListener("change", (ev) => {
    state.asOf = ev.target.value || "";
    state.unitLevel = levelOn(state.asOf);
    state.district = "";
    loadDistricts();
    loadPanel(state.asOf);
    applyFilters();
  });
  document.getElementById("export-format").addEventListener("change", () => {
    document.getElementById("export-link").setAttribute("href", exportHref());
  });
  document.getElementById("osm-toggle").addEventListener("change", (ev) => setOsm(ev.target.checked));
  document.getElementById("check-mode").addEventListener("click", () => setCheckMode(!state.checkMode));
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && state.checkMode) setCheckMode(false); });
  document.getElementById("panel-toggle").addEventListener("click", (ev) => {
    const panel = document.getElementById("panel");
    const hidden = panel.classList.toggle("collapsed");
    ev.currentTarget.setAttribute("aria-expanded", hidden ? "false" : "true");
    setTimeout(() => map.resize(), 220);
  });
  const langBtn = document.getElementById("lang-toggle");
  const syncLangBtn = () => { langBtn.textContent = currentLang() === "vi" ? "EN" : "VI"; };
  syncLangBtn();
  langBtn.addEventListener("click", () => setLang(currentLang() === "vi" ? "en" : "vi"));
  onLangChange(() => {
    syncLangBtn();
    if (popup) popup.remove(); // its text was built in the other language
    buildClassFilter();
    buildLayerToggles();
    renderStats();
    renderCables();
    updateCount();
    document.getElementById("export-link").setAttribute("href", exportHref());
  });
  setupSearch(onPick);
}

function whenLoaded() {
  return map.isStyleLoaded() ? Promise.resolve() : new Promise((resolve) => map.once("load", resolve));
}

/** Resolves once every visible tile is loaded and rendered (now, if that is already so). */
function whenIdle() {
  return new Promise((resolve) => {
    if (map.loaded() && map.areTilesLoaded() && !map.isMoving()) resolve();
    else map.once("idle", resolve);
  });
}

function initialBounds() {
  const b = (sources.admin && sources.admin.bounds) || (sources.sites && sources.sites.bounds);
  if (!b || b.some((v) => !Number.isFinite(v)) || b[2] - b[0] > 20) return null;
  return [[b[0], b[1]], [b[2], b[3]]];
}

async function start() {
  applyStatic();
  const keys = Object.keys(TILE_LAYERS);
  const loaded = await Promise.all(keys.map((k) => tileSource(TILE_LAYERS[k])));
  sources = Object.fromEntries(keys.map((k, i) => [k, loaded[i]]));
  const bounds = initialBounds();
  // the department (BTSPLAN_AUTHORITY) comes with the TileJSON: one setting names it on the map and in reports
  const attribution = loaded.map((s) => s.attribution).find(Boolean) || "btsplan";
  const authority = document.getElementById("authority");
  if (authority) authority.textContent = attribution.replace(/^btsplan\s*[—·-]\s*/, "");
  const lat = bounds ? (bounds[0][1] + bounds[1][1]) / 2 : DEFAULT_CENTER[1];

  map = new maplibregl.Map({
    container: "map",
    style: buildStyle(sources, lat, absolute("/map/labels")),
    ...(bounds ? { bounds, fitBoundsOptions: { padding: 20 } } : { center: DEFAULT_CENTER, zoom: 11 }),
    maxZoom: 19,
    hash: "map", // the view is in the URL (#map=zoom/lat/lon): a planner can send a colleague a place
    attributionControl: { compact: true, customAttribution: attribution },
    // keep the last frame in the canvas: the compositor (and screenshots) never see a cleared buffer
    canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  // images drawn on a canvas, supplied when the style first asks for them (no sprite to download)
  map.setMissingStyleImageResolver((id) => {
    if (id === "hatch-a1" && !map.hasImage(id)) map.addImage(id, hatchImage(), { pixelRatio: 2 });
  });
  map.addControl(new maplibregl.NavigationControl({ visualizePitch: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  map.on("error", (ev) => console.warn("map error", ev.error && ev.error.message));
  map.on("click", onClick);
  const interactive = CLICK_ORDER.map(([id]) => id).filter((id) => id !== "admin-fill" && id !== "streets");
  for (const id of interactive) {
    map.on("mouseenter", id, () => { if (!state.checkMode) map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", id, () => { if (!state.checkMode) map.getCanvas().style.cursor = ""; });
  }
  map.on("moveend", () => {
    if (state.partial) applyFilters(); // the filtered sources hold the previous view only
    map.once("idle", () => { updateCount(); loadOperators(); });
  });

  wireControls();
  buildClassFilter();
  document.getElementById("export-link").setAttribute("href", exportHref());
  loadPanel();

  await whenLoaded();
  addFilteredLayers();
  buildLayerToggles();
  await whenIdle();
  loadOperators();
  await loadDistricts();
  if (isFiltered()) await applyFilters(); // a filter chosen while the map was starting
  updateCount();
  const mapEl = document.getElementById("map");
  mapEl.dataset.ready = "true";
  mapEl.dataset.sites = String(visibleSiteCount());
}

// A small handle for tests and for people poking at the map from the console.
window.btsplan = {
  get map() { return map; },
  state,
  visibleSiteCount,
  applyFilters,
  /** Resolves once the last filter change is drawn and every visible tile is loaded. */
  whenIdle: async () => { await applied; return whenIdle(); },
  setClasses(list) { state.classes = new Set(list); buildClassFilter(); return applyFilters(); },
  absolute,
  ready: null,
};
window.btsplan.ready = start().catch((err) => {
  console.error(err);
  toast(`${t("map.error")}: ${err.message}`, 10000);
  document.getElementById("map").dataset.ready = "error";
  throw err;
});
