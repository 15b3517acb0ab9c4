// The inspector's outbox: results and photos entered on the phone are kept here (IndexedDB) first and
// sent from here, so nothing entered without a connection is lost, and nothing is stored twice.
//
// Every entry and every photo carries a key made on the phone (a UUID). The server keeps the first
// answer under (staff member, key): an entry sent again after its answer was lost (the connection
// dropped mid-request) gets that answer back, not a second row. An entry leaves the outbox only once
// the server has answered for the result and for every one of its photos.
//
// CSRF: just before sending, the session's current token is read from /workspace/inspections-session
// (never cached), so an entry queued under a page drawn hours ago, or served by the service worker,
// still carries a valid token. No session (401): nothing is sent, the page asks to sign in again.
// Entries are sent only under the user who entered them.

const DB_NAME = "btsplan-inspections";
const STORE = "outbox";

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "key" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const out = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(out && "result" in out ? out.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** A UUID made on this device (crypto.randomUUID where the page is a secure context). */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const all = () => withStore("readonly", (s) => s.getAll());
export const put = (entry) => withStore("readwrite", (s) => s.put(entry));
const remove = (key) => withStore("readwrite", (s) => s.delete(key));

/** Keep one result with its photos (File objects are stored as Blobs) before anything is sent. */
export async function enqueue({ user, campaign, siteCode, siteLabel, result, notes, inspectedOn, files }) {
  const entry = {
    key: newKey(), user, campaign: Number(campaign), site_code: siteCode, site_label: siteLabel, result,
    notes: notes || null, inspected_on: inspectedOn, created_at: new Date().toISOString(),
    inspection_id: null, error: null, attempts: 0,
    photos: [...files].map((f) => ({ key: newKey(), name: f.name, type: f.type, blob: f, sent: false })),
  };
  await put(entry);
  return entry;
}

class Retry extends Error {}  // try again later (no connection, server error, stale token)
class SignedOut extends Error {}

async function problem(res) {
  try { const p = await res.json(); return p.detail || p.title || `HTTP ${res.status}`; } catch { return `HTTP ${res.status}`; }
}

async function session() {
  let res;
  try {
    res = await fetch("/workspace/inspections-session", { credentials: "same-origin", cache: "no-store" });
  } catch (err) {
    throw new Retry(String(err));
  }
  if (res.status === 401) throw new SignedOut();
  if (!res.ok) throw new Retry(`HTTP ${res.status}`);
  return res.json();
}

/** A refusal that sending again cannot fix (invalid result, unknown site): kept and shown, not retried. */
const final = (status) => status >= 400 && status < 500 && ![401, 403, 408, 425, 429].includes(status);

async function send(url, init) {
  try {
    return await fetch(url, { credentials: "same-origin", cache: "no-store", ...init });
  } catch (err) {
    throw new Retry(String(err));
  }
}

async function sendEntry(entry, token) {
  const headers = { "X-CSRF-Token": token, Accept: "application/json" };
  if (!entry.inspection_id) {
    const res = await send(`/workspace/inspections/${entry.campaign}/results`, {
      method: "POST", headers: { ...headers, "Content-Type": "application/json", "Idempotency-Key": entry.key },
      body: JSON.stringify({ site_code: entry.site_code, result: entry.result, notes: entry.notes,
        inspected_on: entry.inspected_on }),
    });
    if (final(res.status)) { entry.error = await problem(res); await put(entry); return false; }
    if (!res.ok) throw new Retry(await problem(res));
    entry.inspection_id = (await res.json()).id;
    await put(entry);
  }
  for (const photo of entry.photos) {
    if (photo.sent) continue;
    const body = new FormData();
    body.append("file", photo.blob, photo.name || "photo.jpg");
    const res = await send(`/workspace/inspections/results/${entry.inspection_id}/photos`, {
      method: "POST", headers: { ...headers, "Idempotency-Key": photo.key }, body,
    });
    if (final(res.status)) { entry.error = await problem(res); await put(entry); return false; }
    if (!res.ok) throw new Retry(await problem(res));
    photo.sent = true;
    photo.blob = null;  // the server has it: free the phone's storage
    await put(entry);
  }
  await remove(entry.key);
  return true;
}

let running = null;

/**
 * Send what can be sent. Returns {sent, left, signedOut, retry}: `retry` is true when a later attempt
 * may succeed (no connection, server busy). One run at a time: a second call joins the running one.
 */
export function flush() {
  running ||= (async () => {
    const out = { sent: [], left: 0, signedOut: false, retry: false };
    try {
      const entries = (await all()).filter((e) => !e.error);
      if (!entries.length) return out;
      const who = await session();
      for (const entry of entries) {
        if (entry.user !== who.username) continue;  // never sent under someone else's name
        entry.attempts += 1;
        if (await sendEntry(entry, who.csrf_token)) out.sent.push(entry);
      }
    } catch (err) {
      if (err instanceof SignedOut) out.signedOut = true;
      else if (err instanceof Retry) out.retry = true;
      else throw err;
    } finally {
      running = null;
    }
    out.left = (await all()).length;
    return out;
  })();
  return running;
}

/** Drop an entry the server refused for good (after the inspector has read why). */
export const discard = (key) => remove(key);
