// The staff workspace's one entry script (no inline script: strict CSP). It loads the vendored htmx
// and makes every htmx request carry the session's CSRF token (from <meta name="csrf-token">) in the
// X-CSRF-Token header the server checks on each state-changing request.

import htmx from "../../vendor/htmx/htmx.esm.js";

const token = document.querySelector('meta[name="csrf-token"]')?.content || "";

document.body.addEventListener("htmx:configRequest", (event) => {
  if (token) event.detail.headers["X-CSRF-Token"] = token;
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
  if (status >= 400 && status < 500 && asker?.closest?.("[data-swap-errors]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

window.htmx = htmx; // htmx's own extensions and the console find it here
htmx.process(document.body);
