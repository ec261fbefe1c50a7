/* permitmap import page (/imports): sends the form to POST /api/imports (multipart, with the
 * page's CSRF token) and shows what came back: the report of a dry run or of a written import,
 * or every problem of a refused file (row, field, value, what is wrong). Nothing is written
 * unless every row passes (the API's all-or-nothing). */
(function () {
  "use strict";

  var kit = window.permitmapKit;
  var t = kit.t, fill = kit.fill, el = kit.el;
  function shown(value) { return value === null || value === undefined || value === "" ? "—" : String(value); }

  function problemsTable(problems) {
    var head = el("tr", {}, ["import_row", "import_field", "import_value", "import_problem"].map(function (k) {
      return el("th", { scope: "col", text: t(k) });
    }));
    var rows = problems.map(function (p) {
      return el("tr", {}, [p.row, p.field, p.value, p.message].map(function (v) { return el("td", { text: shown(v) }); }));
    });
    return el("table", { "class": "table table-sm", id: "pm-import-problems" }, [el("thead", {}, [head]), el("tbody", {}, rows)]);
  }

  function notes(list) {
    return el("ul", { "class": "pm-import-notes" }, (list || []).map(function (n) { return el("li", { text: n }); }));
  }

  function showReport(box, report) {
    var summary = fill(t(report.dry_run ? "import_checked" : "import_written"), report);
    var parts = [el("p", { "class": report.dry_run ? "pm-note" : "pm-ok", id: "pm-import-summary", text: summary })];
    if (report.screening) parts.push(el("p", { "class": "pm-note", text: report.screening }));
    parts.push(notes(report.notes));
    box.replaceChildren.apply(box, parts);
    box.setAttribute("data-state", report.dry_run ? "checked" : "written");
  }

  function showProblems(box, body) {
    var problems = body.problems || [];
    var count = body.problem_count || problems.length;
    box.replaceChildren(
      el("p", { "class": "pm-error", role: "alert", id: "pm-import-summary", text: fill(t("import_rejected"), { count: count }) }),
      notes(body.notes),
      problemsTable(problems)
    );
    box.setAttribute("data-state", "rejected");
  }

  function showError(box, message) {
    box.replaceChildren(el("p", { "class": "pm-error", role: "alert", id: "pm-import-summary", text: t("error") + ": " + message }));
    box.setAttribute("data-state", "error");
  }

  function submit(form, box, button) {
    button.disabled = true;
    box.setAttribute("data-state", "running");
    box.replaceChildren(el("p", { "class": "pm-note", text: t("import_running") }));
    kit.request("/api/imports", { method: "POST", body: new FormData(form), headers: kit.csrfHeaders() })
      .then(function (report) { showReport(box, report); })
      .catch(function (error) {
        if (error.problem && error.problem.problems) showProblems(box, error.problem);
        else showError(box, error.message);
      })
      .then(function () { button.disabled = false; });
  }

  function start() {
    var form = document.getElementById("pm-import");
    if (!form) return;
    var box = document.getElementById("pm-import-result");
    var button = document.getElementById("pm-import-submit");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit(form, box, button);
    });
    document.body.setAttribute("data-ready", "true");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
