// Starts Swagger UI on this origin's generated document. A file, not an inline script, so the
// Content-Security-Policy keeps script-src 'self'.
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayRequestDuration: true,
    // the default asks a public validator for a badge: this page talks to its origin only
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
