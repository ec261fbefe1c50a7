/* permitmap problem page (/ledger/{id}): a step button sends the step, with the note and the
 * version the page was rendered at, to POST /api/problems/{id}/transitions; the evidence form
 * sends its file to POST /api/problems/{id}/attachments. Either way the page then reloads to
 * show the new status, history and evidence; a refusal (a stale version, a missing note or
 * evidence, a role that may not) is shown beside the form and nothing changes. */
(function () {
  "use strict";

  var kit = window.permitmapKit;

  function start() {
    var main = document.querySelector("main.pm-problem");
    if (!main) return;
    var base = "/api/problems/" + encodeURIComponent(main.getAttribute("data-problem"));
    var version = Number(main.getAttribute("data-version"));

    var steps = document.getElementById("pm-steps");
    if (steps) {
      var error = document.getElementById("pm-step-error");
      Array.prototype.forEach.call(steps.querySelectorAll("button.pm-step"), function (button) {
        button.addEventListener("click", function () {
          var note = steps.querySelector("textarea").value.trim();
          error.textContent = "";
          button.disabled = true;
          kit.postJSON(base + "/transitions", { to: button.getAttribute("data-to"), version: version, note: note || null })
            .then(function () { window.location.reload(); })
            .catch(function (failure) {
              error.textContent = kit.t("error") + ": " + failure.message;
              button.disabled = false;
            });
        });
      });
    }

    var evidence = document.getElementById("pm-evidence-form");
    if (evidence) {
      var evidenceError = document.getElementById("pm-evidence-error");
      evidence.addEventListener("submit", function (event) {
        event.preventDefault();
        evidenceError.textContent = "";
        kit.request(base + "/attachments", { method: "POST", body: new FormData(evidence), headers: kit.csrfHeaders() })
          .then(function () { window.location.reload(); })
          .catch(function (failure) { evidenceError.textContent = kit.t("error") + ": " + failure.message; });
      });
    }
    document.body.setAttribute("data-ready", "true");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
