// Starts ReDoc on /redoc from a file (no inline script under the page's Content-Security-Policy).
// The OpenAPI document's URL comes from the page (data-openapi), so a root path is honoured.
const root = document.getElementById("redoc");
window.Redoc.init(root.dataset.openapi, {}, root);
