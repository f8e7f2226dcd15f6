// The panel's few behaviours that HTML alone does not give: modal dialogs, copying the KYC link,
// and the CSRF token on htmx requests. No inline script anywhere (the Content-Security-Policy forbids it).
(function () {
  "use strict";

  function openModals(root) {
    root.querySelectorAll("dialog[data-show-modal]").forEach(function (dialog) {
      if (!dialog.open) { dialog.showModal(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { openModals(document); });
  document.addEventListener("htmx:load", function (event) { openModals(event.target); });

  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.body.dataset.csrfToken;
    if (token) { event.detail.headers["X-CSRF-Token"] = token; }
  });

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    var opener = target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog && !dialog.open) { dialog.showModal(); }
      return;
    }
    var closer = target.closest("[data-close-dialog]");
    if (closer) {
      var open = closer.closest("dialog");
      if (open) { open.close(); }
      return;
    }
    var copier = target.closest("[data-copy]");
    if (copier) {
      var id = copier.getAttribute("data-copy");
      var field = document.getElementById(id);
      var status = document.querySelector('[data-copy-status="' + id + '"]');
      if (!field) { return; }
      var done = function () { if (status) { status.textContent = "Link copied to the clipboard."; } };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          field.select(); if (status) { status.textContent = "Press Ctrl+C to copy the selected link."; }
        });
      } else {
        field.select(); if (status) { status.textContent = "Press Ctrl+C to copy the selected link."; }
      }
    }
  });
})();
