// Starts Swagger UI from the page's data attributes: the docs pages run no inline script.
(function () {
  const root = document.getElementById("swagger-ui");
  const ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayOperationId: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, // the default sends the document to an outside validator
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
  const oauth = JSON.parse(root.dataset.oauth || "{}");
  if (oauth.clientId) {
    ui.initOAuth(oauth);
  }
  window.ui = ui;
})();
