// Vietnamese (default) and English UI strings. Static text in index.html carries data-i18n keys;
// strings built in JS go through t(). The chosen language is remembered in localStorage.
//
// The texts live in the server's message catalog (planning/locale/…/btsplan.po, context "map"; the keys in
// app/map_strings.py), like every other text a person reads, and come from /map/i18n/{lang}.json (ETag:
// a reload revalidates with a 304). Both languages are loaded up front, so switching is instant and a
// key missing in English still falls back to Vietnamese.

const LANGS = ["vi", "en"];

async function load(code) {
  try {
    const res = await fetch(`/map/i18n/${code}.json`, { headers: { Accept: "application/json" } });
    return res.ok ? await res.json() : {};
  } catch (_) {
    return {}; // offline and not cached: keys show rather than a blank page
  }
}

// Top-level await: the modules that import t() run once the texts are here.
const STRINGS = Object.fromEntries(await Promise.all(LANGS.map(async (code) => [code, await load(code)])));

const KEY = "btsplan.lang";
let lang = (() => {
  try {
    const saved = window.localStorage.getItem(KEY);
    if (saved && saved in STRINGS) return saved;
  } catch (_) { /* storage disabled */ }
  const fromUrl = new URLSearchParams(window.location.search).get("lang");
  return fromUrl && fromUrl in STRINGS ? fromUrl : "vi";
})();

const listeners = [];

export function currentLang() { return lang; }

/** Translate a key, filling {placeholders}; unknown keys fall back to Vietnamese, then to the key. */
export function t(key, params = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.vi[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in params ? String(params[k]) : `{${k}}`));
}

/** Like t(), but returns null when there is no translation (used for enum values such as statuses). */
export function tMaybe(key) {
  return STRINGS[lang][key] ?? STRINGS.vi[key] ?? null;
}

export function applyStatic(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

export function setLang(next) {
  if (!(next in STRINGS) || next === lang) return;
  lang = next;
  try { window.localStorage.setItem(KEY, lang); } catch (_) { /* storage disabled */ }
  applyStatic();
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) { listeners.push(fn); }

/** Numbers the Vietnamese way (1.234,5) or the English way (1,234.5). */
export function fmt(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "–";
  return Number(n).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB",
    { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
