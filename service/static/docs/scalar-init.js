// Starts Scalar from the page's data attributes, with no web fonts and no outside calls.
(function () {
  const root = document.getElementById("api-reference");
  Scalar.createApiReference(root, {
    url: root.dataset.openapiUrl,
    withDefaultFonts: false,
    hideClientButton: true,
    telemetry: false,
  });
})();
