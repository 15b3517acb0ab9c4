// The staff workspace's one entry script (no inline script: strict CSP). It loads the vendored htmx
// and makes every htmx request carry the session's CSRF token (from <meta name="csrf-token">) in the
// X-CSRF-Token header the server checks on each state-changing request, and the page's language; a
// refused or failed htmx request is said in words where the person acted (see sayProblem).

import htmx from "../../vendor/htmx/htmx.esm.js";

const token = document.querySelector('meta[name="csrf-token"]')?.content || "";

document.body.addEventListener("htmx:configRequest", (event) => {
  if (token) event.detail.headers["X-CSRF-Token"] = token;
  // a partial speaks its page's language: ?lang= wins over the remembered choice (app/language.py), so a tab
  // left in English keeps English panels even after another tab switched the cookie to Vietnamese
  const lang = document.documentElement.lang;
  if (lang) {
    const url = new URL(event.detail.path, window.location.href);
    if (url.origin === window.location.origin) {
      url.searchParams.set("lang", lang);
      event.detail.path = url.pathname + url.search + url.hash;
    }
  }
});

// a form that asks to be confirmed first (data-confirm="question"): used by revoke/disable buttons
document.body.addEventListener("submit", (event) => {
  const question = event.target.getAttribute?.("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// a refusal answered as HTML for the form that asked (data-swap-errors, e.g. 409 on a stale version):
// htmx drops 4xx answers by default, which would leave the person with no word on why nothing changed
document.body.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  const asker = event.detail.requestConfig?.elt;
  const html = (event.detail.xhr.getResponseHeader("Content-Type") || "").startsWith("text/html");
  if (status >= 400 && status < 500 && html && asker?.closest?.("[data-swap-errors]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// a refusal answered as problem+json (an expired CSRF token, a role that may not, a rule of the API) or a
// request that never reached the server: htmx swaps nothing then, so the person would see no change and no
// reason. Say it where they acted: in the form that asked, else at the top of the part it was to fill. The
// problem's title and detail come translated by the server; the two fallbacks come from <body data-msg-*>.
const PROBLEM_MARK = "data-htmx-problem";

function sayProblem(detail, text) {
  const asker = detail.requestConfig?.elt || detail.elt;
  const place = asker?.closest?.("form") || detail.target || asker;
  if (!place?.isConnected) return;
  let box = place.querySelector(`:scope > [${PROBLEM_MARK}]`);
  if (!box) {
    box = document.createElement("p");
    box.className = "error";
    box.setAttribute("role", "alert");
    box.setAttribute(PROBLEM_MARK, "");
    place.prepend(box);
  }
  box.textContent = text;
}

function problemText(xhr) {
  const type = (xhr.getResponseHeader("Content-Type") || "").toLowerCase();
  if (type.startsWith("application/problem+json") || type.startsWith("application/json")) {
    try {
      const problem = JSON.parse(xhr.responseText);
      const parts = [problem.title, problem.detail].filter((part) => typeof part === "string" && part);
      if (parts.length) return parts.join(": ");
    } catch { /* not the JSON it claims: fall back below */ }
  }
  return document.body.dataset.msgFailed || `HTTP ${xhr.status}`;
}

document.body.addEventListener("htmx:beforeRequest", (event) => {
  const asker = event.detail.requestConfig?.elt || event.detail.elt;
  const place = asker?.closest?.("form") || event.detail.target || asker;
  place?.querySelectorAll?.(`:scope > [${PROBLEM_MARK}]`).forEach((box) => box.remove());
});

document.body.addEventListener("htmx:responseError", (event) => {
  sayProblem(event.detail, problemText(event.detail.xhr));
});

document.body.addEventListener("htmx:sendError", (event) => {
  sayProblem(event.detail, document.body.dataset.msgOffline || "offline");
});

window.htmx = htmx; // htmx's own extensions and the console find it here
htmx.process(document.body);
