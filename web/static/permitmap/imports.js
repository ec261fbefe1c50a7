/* permitmap import page (/imports): sends the form to POST /api/imports (multipart, with the
 * page's CSRF token) and shows what came back: the report of a dry run or of a written import,
 * or every problem of a refused file (row, field, value, what is wrong). Nothing is written
 * unless every row passes (the API's all-or-nothing). */
(function () {
  "use strict";

  function json(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }
  var messages = null;
  function t(key) {
    if (messages === null) messages = json("pm-messages") || {};
    return messages[key] || key;
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) {
      return name in values ? String(values[name]) : all;
    });
  }
  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (k) {
      if (k === "text") node.textContent = attributes[k];
      else node.setAttribute(k, attributes[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }
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
    var token = json("pm-csrf");
    button.disabled = true;
    box.setAttribute("data-state", "running");
    box.replaceChildren(el("p", { "class": "pm-note", text: t("import_running") }));
    fetch("/api/imports", {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: Object.assign({ Accept: "application/json" }, token ? { "X-CSRF-Token": token } : {})
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.ok) showReport(box, body);
        else if (body.problems) showProblems(box, body);
        else showError(box, body.title || response.statusText);
      });
    }).catch(function (error) {
      showError(box, error.message);
    }).then(function () {
      button.disabled = false;
    });
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
