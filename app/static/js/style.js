// The map style, built from our own vector tiles only: admin units and streets are the offline base
// map; sites, findings, A1-only zones/routes and cables are the planning layers on top. The optional
// OpenStreetMap raster layer is added only when the user switches it on (see main.js).

export const CLASSES = ["A1a", "A1b", "A2a", "A2b", "A2c", "unknown"];

// Colour-blind-safe-ish: A1 (compact, allowed everywhere) in greens, A2 (bulky) in warm/purple tones.
export const CLASS_COLORS = {
  A1a: "#1b9e77",
  A1b: "#66c2a5",
  A2a: "#e6a000",
  A2b: "#7570b3",
  A2c: "#c2185b",
  unknown: "#9e9e9e",
};

export const CABLE_STATUSES = ["planned", "in_progress", "done"];
export const CABLE_COLORS = { planned: "#4a90d9", in_progress: "#f28e2b", done: "#2e9e48" };

export const FINDING_RED = "#d7191c";
export const FINDING_ORANGE = "#ff7f00";
/** The stored check whose findings are "A2a on an A1-only route or zone". */
export const A1_CHECK = "a1-routes";

// Tile layer ids (docs/architecture.md, "Field names") → our source ids.
export const TILE_LAYERS = {
  admin: "admin-units",
  routes: "routes",
  zones: "zones",
  cables: "cable-segments",
  findings: "findings",
  sites: "sites",
};

// Property names in the tiles (the same names as the API: docs/architecture.md, "Field names").
export const P = {
  cls: "derived_class",
  declared: "declared_class",
  operator: "operator",
  district: "district", // the district code (the API's name for the district_code column)
  commune: "commune", // the commune code (cable sections only; zones and routes name their district)
  status: "status",
  code: "code",
};

/**
 * The sites tile layer is clustered where sites are dense: a feature with ``count`` > 1 is a cluster
 * carrying class counts (``a1`` = A1a + A1b, ``a2`` = A2a + A2b + A2c, ``a2a``); a single site has
 * ``count`` 1 and its own attributes. ``class`` is the derived class, else the declared one.
 */
export const COUNT = ["coalesce", ["get", "count"], 1];
export const IS_CLUSTER = [">", COUNT, 1];
export const IS_SITE = ["<=", COUNT, 1];

/** The class a single site is drawn with. */
export const CLASS_EXPR = ["coalesce", ["get", "class"], ["get", P.cls], "unknown"];

/** A cluster's colour: its dominant group — A2a (the flagship concern), A1, other A2 — or slate when mixed. */
export const CLUSTER_COLOR = ["case",
  [">=", ["/", ["get", "a2a"], COUNT], 0.5], CLASS_COLORS.A2a,
  [">=", ["/", ["get", "a1"], COUNT], 0.5], CLASS_COLORS.A1a,
  [">=", ["/", ["-", ["get", "a2"], ["get", "a2a"]], COUNT], 0.5], CLASS_COLORS.A2b,
  "#546e7a"];

const FONT = ["DejaVu Sans", "Noto Sans", "Arial", "sans-serif"];

/** Metres → pixels at a latitude, exactly, for every zoom (MapLibre's world is 512 px at z0). */
export function metresToPixels(metresExpr, lat) {
  const mPerPxZ0 = (40075016.686 * Math.cos((lat * Math.PI) / 180)) / 512;
  return ["interpolate", ["exponential", 2], ["zoom"],
    0, ["/", metresExpr, mPerPxZ0],
    24, ["/", ["*", metresExpr, 2 ** 24], mPerPxZ0]];
}

/** A 45° hatch for A1-only zones, drawn on a canvas (no sprite file, nothing to download). */
export function hatchImage(color = "rgba(200, 30, 30, 0.55)", size = 16) {
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  for (let k = -size; k <= size; k += size / 2) {
    ctx.moveTo(k, size);
    ctx.lineTo(k + size, 0);
  }
  ctx.stroke();
  return ctx.getImageData(0, 0, size, size);
}

function src(s) {
  const out = { type: "vector", tiles: s.tiles, minzoom: s.minzoom, maxzoom: s.maxzoom };
  if (s.bounds) out.bounds = s.bounds;
  return out;
}

/**
 * @param {Record<string, {tiles: string[], sourceLayer: string, minzoom: number, maxzoom: number, bounds: number[]|null}>} sources
 * @param {number} lat  latitude used to turn metres (corridors, zone radii) into pixels
 * @param {string} labelsUrl  absolute URL of the admin-unit label points (GeoJSON)
 */
export function buildStyle(sources, lat, labelsUrl) {
  const sl = (k) => sources[k].sourceLayer;
  const isA1 = ["==", ["get", "policy"], "a1_only"];
  const POLY = ["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon"]]];
  const POINT = ["in", ["geometry-type"], ["literal", ["Point", "MultiPoint"]]];
  const circleByZoom = ["interpolate", ["linear"], ["zoom"], 9, 2.2, 12, 4, 15, 7, 18, 10];
  return {
    version: 8,
    name: "btsplan",
    // no "glyphs": MapLibre draws label glyphs locally with the browser's fonts (works offline)
    sources: {
      ...Object.fromEntries(Object.entries(TILE_LAYERS).map(([k, id]) => [id, src(sources[k])])),
      // one label point per unit (tiles would repeat a polygon's name in every tile it crosses)
      "admin-labels": { type: "geojson", data: labelsUrl },
    },
    layers: [
      { id: "background", type: "background", paint: { "background-color": "#eef0ea" } },
      {
        id: "admin-fill", type: "fill", source: TILE_LAYERS.admin, "source-layer": sl("admin"),
        filter: ["==", ["get", "level"], "commune"],
        paint: { "fill-color": ["case", ["boolean", ["get", "urban"], false], "#f8f6f1", "#eef3e6"], "fill-opacity": 0.9 },
      },
      {
        id: "admin-commune-line", type: "line", source: TILE_LAYERS.admin, "source-layer": sl("admin"),
        filter: ["==", ["get", "level"], "commune"], minzoom: 10,
        paint: { "line-color": "#b9b4a8", "line-width": 0.7, "line-dasharray": [3, 2] },
      },
      {
        id: "admin-district-line", type: "line", source: TILE_LAYERS.admin, "source-layer": sl("admin"),
        filter: ["in", ["get", "level"], ["literal", ["district", "province"]]],
        paint: { "line-color": "#6d6a63", "line-width": ["interpolate", ["linear"], ["zoom"], 9, 1, 14, 2.4] },
      },
      {
        id: "streets-casing", type: "line", source: TILE_LAYERS.routes, "source-layer": sl("routes"),
        layout: { "line-cap": "round", "line-join": "round" },
        paint: { "line-color": "#c9c4b8", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 2.5, 16, 12] },
      },
      {
        id: "streets", type: "line", source: TILE_LAYERS.routes, "source-layer": sl("routes"),
        layout: { "line-cap": "round", "line-join": "round" },
        paint: { "line-color": "#ffffff", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1.2, 16, 9] },
      },
      {
        id: "zones-fill", type: "fill", source: TILE_LAYERS.zones, "source-layer": sl("zones"),
        filter: ["all", isA1, POLY],
        paint: { "fill-pattern": "hatch-a1", "fill-opacity": 0.9 },
      },
      {
        id: "zones-line", type: "line", source: TILE_LAYERS.zones, "source-layer": sl("zones"),
        filter: ["all", isA1, POLY],
        paint: { "line-color": "#b2182b", "line-width": 1.6, "line-dasharray": [4, 2] },
      },
      {
        // point zones (e.g. a headquarters with a 200 m radius): drawn at their true radius
        id: "zones-point", type: "circle", source: TILE_LAYERS.zones, "source-layer": sl("zones"),
        filter: ["all", isA1, POINT],
        paint: {
          "circle-radius": metresToPixels(["coalesce", ["get", "radius_m"], 100], lat),
          "circle-color": "rgba(178, 24, 43, 0.12)",
          "circle-stroke-color": "#b2182b", "circle-stroke-width": 1.6,
          "circle-pitch-alignment": "map",
        },
      },
      {
        // the A1-only corridor, drawn at its width in metres (2 × corridor_m)
        id: "routes-a1-corridor", type: "line", source: TILE_LAYERS.routes, "source-layer": sl("routes"),
        filter: isA1,
        layout: { "line-cap": "round", "line-join": "round" },
        paint: {
          "line-color": "#d6604d", "line-opacity": 0.22,
          "line-width": metresToPixels(["*", 2, ["coalesce", ["get", "corridor_m"], 30]], lat),
        },
      },
      {
        id: "routes-a1", type: "line", source: TILE_LAYERS.routes, "source-layer": sl("routes"),
        filter: isA1,
        paint: { "line-color": "#b2182b", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1.2, 16, 3], "line-dasharray": [3, 1.5] },
      },
      {
        id: "cables-planned", type: "line", source: TILE_LAYERS.cables, "source-layer": sl("cables"),
        filter: ["==", ["get", "status"], "planned"],
        layout: { "line-cap": "round" },
        paint: { "line-color": CABLE_COLORS.planned, "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1.5, 16, 5], "line-dasharray": [2, 1.2] },
      },
      {
        id: "cables", type: "line", source: TILE_LAYERS.cables, "source-layer": sl("cables"),
        filter: ["!=", ["get", "status"], "planned"],
        layout: { "line-cap": "round", "line-join": "round" },
        paint: {
          "line-color": ["match", ["get", "status"], "done", CABLE_COLORS.done, "in_progress", CABLE_COLORS.in_progress, "#777"],
          "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1.5, 16, 5],
        },
      },
      {
        // spacing warnings, declared/derived class mismatches, inspection notes: a thin orange ring
        id: "findings-other", type: "circle", source: TILE_LAYERS.findings, "source-layer": sl("findings"),
        filter: ["!=", ["get", "check"], A1_CHECK],
        paint: {
          "circle-radius": ["interpolate", ["linear"], ["zoom"], 9, 4.5, 15, 10],
          "circle-color": "rgba(0, 0, 0, 0)",
          "circle-stroke-color": ["match", ["get", "severity"], "violation", FINDING_RED, FINDING_ORANGE],
          "circle-stroke-width": 1.3,
          "circle-stroke-opacity": 0.85,
        },
      },
      {
        // the flagship finding: an A2a mast on an A1-only route or zone, a bold red ring
        id: "findings", type: "circle", source: TILE_LAYERS.findings, "source-layer": sl("findings"),
        filter: ["==", ["get", "check"], A1_CHECK],
        paint: {
          "circle-radius": ["interpolate", ["linear"], ["zoom"], 9, 7, 15, 15],
          "circle-color": "rgba(215, 25, 28, 0.18)",
          "circle-stroke-color": FINDING_RED,
          "circle-stroke-width": 3,
        },
      },
      {
        id: "sites-cluster", type: "circle", source: TILE_LAYERS.sites, "source-layer": sl("sites"),
        filter: IS_CLUSTER,
        paint: {
          "circle-radius": ["interpolate", ["linear"], ["sqrt", COUNT], 1, 7, 4, 13, 12, 24],
          "circle-color": CLUSTER_COLOR,
          "circle-opacity": 0.78,
          "circle-stroke-color": "#ffffff",
          "circle-stroke-width": 1.5,
        },
      },
      {
        id: "sites", type: "circle", source: TILE_LAYERS.sites, "source-layer": sl("sites"),
        filter: IS_SITE,
        paint: {
          "circle-radius": circleByZoom,
          "circle-color": ["match", CLASS_EXPR, ...CLASSES.slice(0, 5).flatMap((c) => [c, CLASS_COLORS[c]]), CLASS_COLORS.unknown],
          "circle-stroke-color": ["case", ["==", ["get", P.status], "planned"], "#333", "#ffffff"],
          "circle-stroke-width": ["interpolate", ["linear"], ["zoom"], 9, 0.4, 14, 1.2],
          "circle-opacity": ["case", ["==", ["get", P.status], "removed"], 0.35, 0.95],
        },
      },
      {
        id: "sites-selected", type: "circle", source: TILE_LAYERS.sites, "source-layer": sl("sites"),
        filter: ["==", ["get", P.code], ""],
        paint: { "circle-radius": 12, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": "#111", "circle-stroke-width": 2.5 },
      },
      {
        id: "sites-cluster-count", type: "symbol", source: TILE_LAYERS.sites, "source-layer": sl("sites"),
        filter: IS_CLUSTER,
        layout: { "text-field": ["to-string", COUNT], "text-font": FONT, "text-size": 10.5, "text-allow-overlap": true },
        paint: { "text-color": "#ffffff", "text-halo-color": "rgba(0,0,0,0.35)", "text-halo-width": 0.8 },
      },
      {
        id: "routes-label", type: "symbol", source: TILE_LAYERS.routes, "source-layer": sl("routes"), minzoom: 13,
        layout: { "symbol-placement": "line", "text-field": ["get", "name"], "text-font": FONT, "text-size": 11 },
        paint: { "text-color": "#444", "text-halo-color": "#fff", "text-halo-width": 1.4 },
      },
      {
        id: "admin-label-commune", type: "symbol", source: "admin-labels", minzoom: 12.5,
        filter: ["==", ["get", "level"], "commune"],
        layout: { "text-field": ["get", "name"], "text-font": FONT, "text-size": 11, "text-padding": 6 },
        paint: { "text-color": "#6b665c", "text-halo-color": "#fff", "text-halo-width": 1.2 },
      },
      {
        id: "admin-label-district", type: "symbol", source: "admin-labels", maxzoom: 13.5,
        filter: ["==", ["get", "level"], "district"],
        layout: { "text-field": ["get", "name"], "text-font": FONT, "text-size": ["interpolate", ["linear"], ["zoom"], 9, 11, 13, 15], "text-transform": "uppercase", "text-letter-spacing": 0.05 },
        paint: { "text-color": "#3b3833", "text-halo-color": "rgba(255,255,255,0.9)", "text-halo-width": 1.6 },
      },
    ],
  };
}

/** Layer ids switched together by each layer toggle in the panel. */
export const TOGGLES = {
  sites: ["sites", "sites-cluster", "sites-cluster-count", "sites-selected"],
  findings: ["findings"],
  warnings: ["findings-other"],
  zones: ["zones-fill", "zones-line", "zones-point"],
  routes: ["routes-a1-corridor", "routes-a1"],
  streets: ["streets-casing", "streets", "routes-label"],
  cables: ["cables", "cables-planned"],
  admin: ["admin-fill", "admin-commune-line", "admin-district-line", "admin-label-commune", "admin-label-district"],
};
