// Small fetch helpers. Everything the map asks for comes from this server (same origin), so the
// page keeps working offline and under the CSP `connect-src 'self'`. Every request names the map's
// language (Accept-Language), so findings, reasons and errors come back in it.

import { currentLang } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

async function parse(res) {
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const title = (body && (body.title || body.detail)) || res.statusText || `HTTP ${res.status}`;
    throw new ApiError(res.status, title, body && body.detail && body.detail !== title ? body.detail : null);
  }
  return body;
}

export async function getJSON(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const res = await fetch(url, { headers: { Accept: "application/json", "Accept-Language": currentLang() } });
  return parse(res);
}

export async function postJSON(path, payload) {
  const res = await fetch(new URL(path, window.location.origin), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "Accept-Language": currentLang() },
    body: JSON.stringify(payload),
  });
  return parse(res);
}

/** Absolute URL on this server (tile URLs must be absolute: MapLibre fetches them from a worker). */
export function absolute(path) {
  return new URL(path, window.location.origin).href;
}

/**
 * TileJSON of one of our tile layers, with absolute tile URLs. When the endpoint is unavailable the
 * documented URL template is used, so the map still renders whatever tiles exist.
 */
export async function tileSource(layer) {
  const fallback = {
    tiles: [absolute(`/tiles/${layer}/{z}/{x}/{y}.mvt`)],
    sourceLayer: layer,
    minzoom: 0,
    maxzoom: 16,
    bounds: null,
  };
  try {
    const tj = await getJSON(`/tiles/${layer}/tilejson.json`);
    return {
      tiles: (tj.tiles && tj.tiles.length ? tj.tiles : fallback.tiles).map((u) => new URL(u, window.location.href).href
        .replace(/%7B/gi, "{").replace(/%7D/gi, "}")),
      sourceLayer: tj.vector_layers && tj.vector_layers.length ? tj.vector_layers[0].id : layer,
      minzoom: Number.isFinite(tj.minzoom) ? tj.minzoom : 0,
      maxzoom: Number.isFinite(tj.maxzoom) ? tj.maxzoom : 16,
      bounds: Array.isArray(tj.bounds) && tj.bounds.length === 4 ? tj.bounds : null,
      fields: tj.vector_layers && tj.vector_layers[0] ? tj.vector_layers[0].fields || {} : {},
      attribution: typeof tj.attribution === "string" ? tj.attribution : null,
    };
  } catch (err) {
    console.warn(`tilejson for ${layer} unavailable, using the URL template`, err);
    return fallback;
  }
}
