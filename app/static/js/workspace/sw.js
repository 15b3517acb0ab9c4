// The inspector workspace's service worker (scope /workspace/, served from /workspace/sw.js).
//
// It keeps a copy of what an inspector needs in the field: the campaign pages, their site data and the
// scripts, styles and MapLibre they load (the list comes from /workspace/inspections-offline.json, asked
// for on install and each time a page says it is online). Reads go to the network first, so a phone
// with a connection always sees the current state, and fall back to the copy when there is none.
// Writes (POST) are never touched here: the page's outbox (queue.js) keeps and sends them, with the
// idempotency keys that make a resend harmless. Sign-in, sign-out and the session endpoint always go
// to the network: an answer about who is signed in must never come from a copy.

const CACHE = "btsplan-inspections-v1";
const MANIFEST = "/workspace/inspections-offline.json";
const NEVER_COPIED = ["/auth/", "/workspace/inspections-session", MANIFEST, "/workspace/sw.js"];
const COPIED = ["/workspace/inspections", "/static/", "/tiles/", "/map/"];

async function refresh() {
  const res = await fetch(MANIFEST, { credentials: "same-origin", cache: "no-store" });
  if (!res.ok) return { ok: false, status: res.status };
  const { pages, assets } = await res.json();
  const cache = await caches.open(CACHE);
  // pages and site data are fetched again each time (they change); assets only when missing
  const missing = [];
  for (const url of assets) if (!(await cache.match(url))) missing.push(url);
  await Promise.all([...pages, ...missing].map(async (url) => {
    const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (r.ok && !r.redirected) await cache.put(url, r);
  }));
  return { ok: true, pages: pages.length, assets: assets.length };
}

self.addEventListener("install", (event) => {
  event.waitUntil(refresh().catch(() => null).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "refresh") {
    const port = event.ports[0];
    event.waitUntil(refresh().then((out) => port && port.postMessage(out),
      (err) => port && port.postMessage({ ok: false, error: String(err) })));
  }
});

async function networkFirst(request) {
  const url = new URL(request.url);
  try {
    const res = await fetch(request);
    // everything the inspector pages load is kept as it passes, map tiles too: the area looked at
    // with a connection is then drawn without one
    if (res.ok && res.type === "basic" && !res.redirected) {
      const copy = res.clone();
      caches.open(CACHE).then((cache) => cache.put(request, copy));
    }
    return res;
  } catch (err) {
    const cache = await caches.open(CACHE);
    const hit = (await cache.match(request)) || (await cache.match(url.pathname))
      || (request.mode === "navigate" ? await cache.match(request, { ignoreSearch: true }) : undefined)
      || (request.mode === "navigate" ? await cache.match("/workspace/inspections") : undefined);
    if (hit) return hit;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || NEVER_COPIED.some((p) => url.pathname.startsWith(p))) return;
  // only the inspector pages and what they load (scripts, styles, tiles, map texts); the other workspace
  // pages and their partial updates are left to the network, untouched and never copied
  if (!COPIED.some((p) => url.pathname.startsWith(p))) return;
  event.respondWith(networkFirst(request));
});
