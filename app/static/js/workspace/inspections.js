// The inspector's pages (/workspace/inspections…): the service worker that keeps them usable without a
// connection, the campaign's sites on the map, and the result form, which puts each result into the
// outbox on the phone (queue.js) before sending it, so a result entered offline is never lost.
// Sending is tried on page load, when the browser says the connection is back ("online"), and
// otherwise again and again with a growing delay (2 s … 30 s) while something waits.
// Words shown by this script come from the page (data-t-* attributes of #phrases), so they follow
// the page's language like the rest of the workspace.

import { all, discard, enqueue, flush } from "./queue.js";

const phrases = document.getElementById("phrases")?.dataset || {};
const say = (name, values = {}) => (phrases[name] || "").replace(/\{(\w+)\}/g, (_, k) => values[k] ?? "");
const state = document.getElementById("offline-state");
const form = document.getElementById("result-form");
const message = document.getElementById("form-message");

// ---------------------------------------------------------------- service worker: the offline copy
async function offlineCopy() {
  if (!("serviceWorker" in navigator)) return;
  const reg = await navigator.serviceWorker.register("/workspace/sw.js", { scope: "/workspace/" });
  const worker = reg.active || (await navigator.serviceWorker.ready).active;
  if (!navigator.onLine) { document.body.dataset.offline = "ready"; return; }
  const done = await new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (e) => resolve(e.data);
    worker.postMessage({ type: "refresh" }, [channel.port2]);
  });
  if (done && done.ok) {
    document.body.dataset.offline = "ready";
    if (state && !state.dataset.busy) state.textContent = say("tReady");
  }
}

// ---------------------------------------------------------------- the outbox on this phone
const box = document.getElementById("outbox");
let delay = 0;
let timer = null;

async function showOutbox(signedOut = false) {
  if (!box) return;
  const entries = await all();
  box.hidden = entries.length === 0;
  document.getElementById("outbox-count").textContent = String(entries.length);
  document.getElementById("outbox-signin").hidden = !signedOut;
  const list = document.getElementById("outbox-list");
  list.replaceChildren(...entries.map((e) => {
    const li = document.createElement("li");
    const photos = e.photos.length ? ` · ${say("tPhotos", { n: e.photos.length })}` : "";
    li.textContent = `${e.site_label || e.site_code} · ${resultLabel(e.result)} · ${e.inspected_on}${photos}`;
    if (e.error) {
      const why = document.createElement("p");
      why.className = "error";
      why.textContent = `${say("tRefused")} ${e.error}`;
      const drop = document.createElement("button");
      drop.type = "button";
      drop.className = "btn";
      drop.textContent = say("tDiscard");
      drop.addEventListener("click", async () => { await discard(e.key); showOutbox(); });
      li.append(why, drop);
    }
    return li;
  }));
  box.dataset.count = String(entries.length);
}

function resultLabel(code) {
  const input = form?.querySelector(`input[name="result"][value="${code}"]`);
  return input ? input.parentElement.textContent.trim() : code;
}

function markSent(entry) {
  const row = document.getElementById(`site-${entry.site_code}`);
  if (!row || Number(form?.dataset.campaign) !== entry.campaign) return;
  let badge = row.querySelector(".badge");
  if (!badge) { badge = document.createElement("span"); row.querySelector("div strong").after(" ", badge); }
  badge.className = `badge result-${entry.result}`;
  badge.textContent = resultLabel(entry.result);
}

async function sendNow() {
  clearTimeout(timer);
  timer = null;
  const out = await flush();
  out.sent.forEach(markSent);
  if (out.sent.length && state) state.textContent = say("tSent", { n: out.sent.length });
  await showOutbox(out.signedOut);
  if (out.retry && out.left) {
    delay = Math.min(delay ? delay * 2 : 2000, 30000);
    timer = setTimeout(sendNow, delay + Math.random() * 500);
    if (state) state.textContent = say("tOffline");
  } else {
    delay = 0;
  }
}

// ---------------------------------------------------------------- the form
function pick(code) {
  if (!form || !code) return;
  const select = form.querySelector("#site_code");
  if ([...select.options].some((o) => o.value === code)) select.value = code;
  document.querySelectorAll(".site.current").forEach((el) => el.classList.remove("current"));
  document.getElementById(`site-${code}`)?.classList.add("current");
}

if (form) {
  pick(new URLSearchParams(window.location.search).get("site"));  // also on a page served offline
  const notes = form.querySelector("#notes");
  const needNotes = () => { notes.required = form.querySelector('input[name="result"]:checked')?.value === "violation"; };
  form.querySelectorAll('input[name="result"]').forEach((r) => r.addEventListener("change", needNotes));
  needNotes();
  form.querySelector("#site_code").addEventListener("change", (e) => pick(e.target.value));
  document.querySelectorAll(".site a.btn").forEach((a) => a.addEventListener("click", (e) => {
    e.preventDefault();
    pick(a.closest(".site").dataset.code);
    form.scrollIntoView({ behavior: "smooth", block: "start" });
    form.querySelector('input[name="result"]:checked, input[name="result"]')?.focus();
  }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const files = form.querySelector("#photos").files;
    const limit = Number(form.dataset.maxPhoto);
    if ([...files].some((f) => f.size > limit)) { message.textContent = say("tTooLarge"); return; }
    const select = form.querySelector("#site_code");
    const entry = await enqueue({
      user: form.dataset.user, campaign: form.dataset.campaign, siteCode: select.value,
      siteLabel: select.selectedOptions[0]?.textContent.trim(), result: form.querySelector('input[name="result"]:checked').value,
      notes: notes.value.trim(), inspectedOn: form.querySelector("#inspected_on").value, files,
    });
    message.textContent = say("tKept", { code: entry.site_code });
    notes.value = "";
    form.querySelector("#photos").value = "";
    await showOutbox();
    sendNow();
  });
}

document.getElementById("outbox-send")?.addEventListener("click", sendNow);
const backOnline = () => { delay = 0; sendNow(); };
window.addEventListener("online", backOnline);
window.addEventListener("offline", () => { if (state) state.textContent = say("tOffline"); });
// Not every browser fires "online" when the connection returns (nor when the phone wakes up):
// watch navigator.onLine and the page becoming visible as well, rather than wait out the back-off.
let wasOnline = navigator.onLine;
setInterval(() => {
  if (navigator.onLine && !wasOnline) backOnline();
  wasOnline = navigator.onLine;
}, 2000);
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible" && timer) backOnline(); });

// ---------------------------------------------------------------- the map
async function drawMap(mapBox) {
  const [maplibregl, { absolute, tileSource }, { TILE_LAYERS, buildStyle }] = await Promise.all([
    import("../../vendor/maplibre-gl/maplibre-gl.mjs"), import("../api.js"), import("../style.js")]);
  const sites = await (await fetch(`/workspace/inspections/${mapBox.dataset.campaign}/sites.geojson`,
    { credentials: "same-origin" })).json();
  const entries = await Promise.all(Object.entries(TILE_LAYERS).map(async ([k, id]) => [k, await tileSource(id)]));
  const b = new maplibregl.LngLatBounds();
  sites.features.forEach((f) => b.extend(f.geometry.coordinates));
  const center = b.isEmpty() ? [106.68, 20.86] : b.getCenter().toArray();
  const map = new maplibregl.Map({
    container: mapBox, style: buildStyle(Object.fromEntries(entries), center[1], absolute("/map/labels")), center,
    zoom: 12, attributionControl: { compact: true },
  });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.on("load", () => {
    map.addSource("campaign", { type: "geojson", data: sites });
    map.addLayer({ id: "campaign-sites", type: "circle", source: "campaign", paint: {
      "circle-color": ["match", ["get", "result"], "violation", "#b3141a", "conforms", "#1e6b32", "#0b5cad"],
      "circle-radius": 10, "circle-stroke-color": "#fff", "circle-stroke-width": 2 } });
    if (!b.isEmpty()) map.fitBounds(b, { padding: 40, maxZoom: 16, duration: 0 });
    mapBox.dataset.ready = "true";
  });
  map.on("click", "campaign-sites", (e) => {
    const code = e.features[0].properties.code;
    pick(code);
    document.getElementById(`site-${code}`)?.scrollIntoView({ behavior: "smooth", block: "center" });
  });
}

const mapBox = document.getElementById("campaign-map");
if (mapBox) drawMap(mapBox).catch(() => { mapBox.dataset.ready = "false"; });

showOutbox();
sendNow();
offlineCopy().catch(() => {});
