// The filtered view. The tiles' clusters are precomputed per class group only, so they cannot count the
// sites of one operator, status or district, nor those with findings. With any filter on, the map
// therefore draws the matching sites from the features API (the same filter the API's numberMatched
// answers) in a GeoJSON source that MapLibre clusters itself: every cluster then counts exactly the
// matching sites it holds, and the findings rings are limited to the same sites.

import { getJSON } from "./api.js";
import { CLASSES } from "./style.js";

/** The API's largest page. */
const PAGE = 10000;
/** Above this many matching sites only those in the current view are fetched (and the note says so). */
export const MAX_SITES = 100000;

export const SITES_SOURCE = "sites-filtered";
export const FINDINGS_SOURCE = "findings-filtered";

/** Tile layer id → the id of its copy drawn from the filtered sources. */
export const CLONES = {
  "findings-other": "findings-other-f",
  findings: "findings-f",
  "sites-cluster": "sites-cluster-f",
  sites: "sites-f",
  "sites-selected": "sites-selected-f",
  "sites-cluster-count": "sites-cluster-count-f",
};

export const EMPTY = { type: "FeatureCollection", features: [] };

const CLASS_GROUP = { A1a: "a1", A1b: "a1", A2a: "a2", A2b: "a2", A2c: "a2" };

/** The class a site is drawn with: derived, else declared, else unknown (as the tiles' ``class``). */
export function siteClass(p) {
  const c = p.derived_class || p.declared_class;
  return CLASSES.includes(c) ? c : "unknown";
}

/**
 * The GeoJSON source of the filtered sites. Each site carries the tiles' cluster properties
 * (``count`` 1 and its class group), which MapLibre sums into its clusters, so the tile layers'
 * paint and filter expressions work unchanged on the copies.
 */
export function sitesSourceSpec() {
  const sum = (name) => ["+", ["get", name]];
  return {
    type: "geojson",
    data: EMPTY,
    cluster: true,
    clusterRadius: 20,
    clusterMaxZoom: 17,
    clusterProperties: { count: sum("count"), a1: sum("a1"), a2: sum("a2"), a2a: sum("a2a") },
  };
}

function sitePoint(f) {
  const p = f.properties || {};
  const cls = siteClass(p);
  return {
    type: "Feature",
    geometry: f.geometry,
    properties: {
      code: p.code, operator: p.operator, status: p.status, class: cls,
      derived_class: p.derived_class, declared_class: p.declared_class,
      count: 1, a1: CLASS_GROUP[cls] === "a1" ? 1 : 0, a2: CLASS_GROUP[cls] === "a2" ? 1 : 0, a2a: cls === "A2a" ? 1 : 0,
    },
  };
}

/** Every feature of a collection for ``params``, up to ``max``; ``complete`` is false when cut there. */
async function fetchAll(collection, params, max) {
  const features = [];
  for (let offset = 0; ; offset += PAGE) {
    const fc = await getJSON(`/collections/${collection}/items`, { ...params, limit: PAGE, offset });
    const page = fc.features || [];
    features.push(...page);
    if (page.length < PAGE) return { features, complete: true };
    if (features.length >= max) return { features, complete: false };
  }
}

let findingsCache = null;

/** All findings (fetched once per page load, as the tiles show them). */
async function allFindings() {
  if (!findingsCache) findingsCache = fetchAll("findings", {}, MAX_SITES).then((r) => r.features)
    .catch((err) => { findingsCache = null; throw err; });
  return findingsCache;
}

const siteCache = new Map();

async function sitesFor(params) {
  const key = JSON.stringify(params);
  if (!siteCache.has(key)) {
    if (siteCache.size > 20) siteCache.clear();
    siteCache.set(key, fetchAll("sites", params, MAX_SITES).catch((err) => { siteCache.delete(key); throw err; }));
  }
  return siteCache.get(key);
}

/**
 * The sites and findings to draw for a filter state. Operator, status and the unit go to the API;
 * the class (derived, else declared) and "only sites with findings" are applied here, on the
 * fetched sites. ``bbox`` (lon/lat) is used only when the whole province holds too many matches.
 */
export async function filteredView(state, bbox) {
  const params = {};
  if (state.operator) params.operator = state.operator;
  if (state.status) params.status = state.status;
  if (state.district) params[state.unitLevel || "district"] = state.district; // a commune since 2025-07-01
  let fetched = await sitesFor(params);
  const partial = !fetched.complete;
  if (partial) fetched = await sitesFor({ ...params, bbox: bbox.map((v) => v.toFixed(5)).join(",") });
  const findings = await allFindings();
  let sites = fetched.features.filter((f) => f.geometry && state.classes.has(siteClass(f.properties || {})));
  if (state.findingsOnly) {
    const withFindings = new Set(findings.map((f) => f.properties.site_code).filter(Boolean));
    sites = sites.filter((f) => withFindings.has(f.properties.code));
  }
  const codes = new Set(sites.map((f) => f.properties.code));
  return {
    sites: { type: "FeatureCollection", features: sites.map(sitePoint) },
    findings: { type: "FeatureCollection", features: findings.filter((f) => f.geometry && codes.has(f.properties.site_code)) },
    partial,
  };
}
