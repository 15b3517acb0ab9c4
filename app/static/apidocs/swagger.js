// Starts Swagger UI on /docs from a file, because the page's Content-Security-Policy allows no inline
// script. The OpenAPI document's URL comes from the page (data-openapi), so a root path is honoured.
// validatorUrl: null stops Swagger UI's badge, which would ask validator.swagger.io about our API.
const root = document.getElementById("swagger-ui");
window.ui = window.SwaggerUIBundle({
  url: root.dataset.openapi,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  presets: [window.SwaggerUIBundle.presets.apis],
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
});
