/* permitmap monitoring charts, drawn with uPlot (vendored, /static/vendor/uplot-1.6.32; loaded
 * before this file by the pages that chart). Staff map: per outlet of the unit panel, a chart
 * per pollutant over 24 h / 7 d / 30 d against its limits (/api/outlets/{id}/readings), its open
 * events each with a form that opens its problem on the ledger, and the county summary (/api/monitoring/summary). A key unit's public page: its daily averages against
 * the permitted limit, from the page's own JSON block (nothing is fetched). Times are Beijing
 * time whatever the browser's zone. */
(function () {
  "use strict";

  var ZONE = "Asia/Shanghai";
  var WINDOWS = ["24h", "7d", "30d"];
  var COLORS = { value: "#0b5394", limit: "#c62828", special: "#ef6c00" };
  var WIDTH = 330, HEIGHT = 150;

  var kit = window.permitmapKit;
  var data = kit.data, t = kit.t, el = kit.el, getJSON = kit.getJSON, postJSON = kit.postJSON;
  function number(value) {
    if (value === null || value === undefined) return "—";
    return String(Math.round(value * 1000) / 1000);
  }

  // ---- time: epoch seconds <-> Beijing wall time ---------------------------------------------
  function beijing(seconds) { return uPlot.tzDate(new Date(seconds * 1000), ZONE); }
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function dayLabel(d) { return two(d.getMonth() + 1) + "-" + two(d.getDate()); }
  function hourLabel(d) { return two(d.getHours()) + ":00"; }
  function fullLabel(seconds, step) {
    var d = beijing(seconds);
    var day = d.getFullYear() + "-" + dayLabel(d);
    return step === "day" ? day : day + " " + hourLabel(d);
  }
  function epoch(iso) { return Math.round(Date.parse(iso) / 1000); }

  // Every bin of the window (so the limit spans it and gaps show as gaps).
  function bins(start, end, step) {
    var out = [], s = epoch(start), e = epoch(end), size = step === "day" ? 86400 : 3600;
    for (var x = s; x < e; x += size) out.push(x);
    return out;
  }

  // ---- one chart: a pollutant's values, its limit and special limit as lines ----------------
  function chart(target, spec) {
    var xs = spec.xs, values = {};
    spec.points.forEach(function (p) { values[p.x] = p.value; });
    var data = [xs, xs.map(function (x) { return x in values ? values[x] : null; })];
    var unit = spec.unit ? " (" + spec.unit + ")" : "";
    var series = [
      { label: t("time"), value: function (u, x) { return x === null ? "—" : fullLabel(x, spec.step); } },
      {
        label: (spec.name || spec.code) + unit, stroke: COLORS.value, width: 1.5,
        points: { show: spec.step === "day" || spec.points.length < 3, size: 5 },
        value: function (u, v) { return number(v); }
      }
    ];
    [["limit", spec.limit, COLORS.limit, [6, 4]], ["special_limit", spec.special, COLORS.special, [2, 3]]]
      .forEach(function (line) {
        if (line[1] === null || line[1] === undefined) return;
        data.push(xs.map(function () { return line[1]; }));
        series.push({
          label: t(line[0]), stroke: line[2], width: 1.2, dash: line[3], points: { show: false },
          value: function (u, v) { return number(v); }
        });
      });
    var span = xs.length ? xs[xs.length - 1] - xs[0] : 0;
    var options = {
      width: WIDTH, height: HEIGHT, tzDate: function (x) { return beijing(x); },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      series: series,
      axes: [
        {
          size: 30, font: "11px sans-serif",
          values: function (u, splits) {
            return splits.map(function (x) {
              var d = beijing(x);
              return spec.step === "hour" && span <= 86400 ? hourLabel(d) : dayLabel(d);
            });
          }
        },
        { size: 42, font: "11px sans-serif" }
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } }
    };
    return new uPlot(options, data, target);
  }

  function figure(series, step, xs, attributes) {
    var box = el("div", { "class": "pm-chart-canvas" });
    var limit = series.concentration_limit;
    var caption = (series.pollutant_name || series.pollutant_code) + " · " + series.pollutant_code;
    if (limit !== null && limit !== undefined) caption += " · " + t("limit") + " " + number(limit) + " " + (series.unit || "");
    var node = el("figure", Object.assign({ "class": "pm-chart" }, attributes), [el("figcaption", { text: caption }), box]);
    if (!series.points.length) {
      box.appendChild(el("p", { "class": "pm-note", text: t("no_data") }));
      return node;
    }
    chart(box, {
      xs: xs, step: step, code: series.pollutant_code, name: series.pollutant_name, unit: series.unit,
      limit: limit, special: series.special_limit,
      points: series.points.map(function (p) { return { x: epoch(p.t || p.date + "T00:00:00+08:00"), value: p.value }; })
    });
    return node;
  }

  // ---- staff: an outlet's open events, each able to open its problem on the ledger ----------
  var KIND_MESSAGES = { exceedance: "exceeding", abnormal: "abnormal", offline: "offline" };

  function minuteLabel(iso) {
    var d = beijing(epoch(iso));
    return d.getFullYear() + "-" + dayLabel(d) + " " + two(d.getHours()) + ":" + two(d.getMinutes());
  }
  function eventSummary(event) {
    var what = [t(KIND_MESSAGES[event.kind] || event.kind)];
    if (event.pollutant_code) what.push(event.pollutant_name || event.pollutant_code);
    what.push(t("since") + " " + minuteLabel(event.started_at));
    if (event.peak_value !== null && event.peak_value !== undefined) {
      var peak = t("peak") + " " + number(event.peak_value);
      if (event.limit_value !== null && event.limit_value !== undefined) peak += " / " + t("limit") + " " + number(event.limit_value);
      what.push(peak + (event.concentration_unit ? " " + event.concentration_unit : ""));
    }
    return what.join(" · ");
  }

  function problemNote(problemId) {
    return el("span", { "class": "pm-event-problem", text: t("problem_opened").replace("{id}", problemId) });
  }

  // One action: the department that will handle it, then the button (the finding is the event's
  // own description; a deadline, when one is due, is set on the ledger).
  function openProblemForm(event, item) {
    var department = el("input", {
      type: "text", name: "department", required: "required", maxlength: "200",
      "class": "form-control form-control-sm", placeholder: t("department"), "aria-label": t("department")
    });
    var button = el("button", { type: "submit", "class": "btn btn-sm btn-outline-danger" }, [t("open_problem")]);
    var message = el("span", { "class": "pm-error", role: "alert" });
    var form = el("form", { "class": "pm-event-form" }, [department, button, message]);
    form.addEventListener("submit", function (submitted) {
      submitted.preventDefault();
      button.disabled = true;
      message.textContent = "";
      postJSON("/api/monitoring/events/" + encodeURIComponent(event.id) + "/problem", { department: department.value.trim() })
        .then(function (problem) {
          form.replaceWith(problemNote(problem.id));
          item.setAttribute("data-problem", String(problem.id));
        })
        .catch(function (error) {
          message.textContent = t("error") + ": " + error.message;
          button.disabled = false;
        });
    });
    return form;
  }

  function eventsBlock(outlet) {
    var box = el("div", { "class": "pm-events", "data-state": "loading" });
    getJSON("/api/monitoring/events?open=true&outlet_id=" + encodeURIComponent(outlet.id)).then(function (events) {
      if (!events.length) {
        box.hidden = true;  // the status badge already says the outlet is in order
      } else {
        box.replaceChildren(el("h5", { text: t("open_events") }), el("ul", { "class": "list-unstyled" }, events.map(function (event) {
          var item = el("li", { "data-event": String(event.id), "class": "pm-event pm-event-" + event.kind }, [
            el("div", { text: eventSummary(event) })
          ]);
          if (event.problem_id) item.setAttribute("data-problem", String(event.problem_id));
          item.appendChild(event.problem_id ? problemNote(event.problem_id) : openProblemForm(event, item));
          return item;
        })));
      }
      box.setAttribute("data-state", "ready");
    }).catch(function (error) {
      box.replaceChildren(el("p", { "class": "pm-error", text: t("error") + ": " + error.message }));
      box.setAttribute("data-state", "error");
    });
    return box;
  }

  // ---- staff: an outlet's charts in the unit panel -----------------------------------------
  // The live status as the map's legend names and colours it (layers/registry.py).
  function liveClass(status) {
    var layers = data("pm-layers") || [], lang = (data("pm-page") || {}).lang || "zh";
    var outlets = layers.filter(function (l) { return l.id === "outlets"; })[0];
    var hit = outlets && outlets.legend.filter(function (e) { return e.value === status; })[0];
    return hit ? { label: hit["label_" + lang], color: hit.color } : { label: status, color: null };
  }

  function outletBlock(outlet) {
    var charts = el("div", { "class": "pm-charts" }, [el("p", { "class": "pm-note", text: t("loading") })]);
    var status = el("span", { "class": "pm-live" });
    var buttons = WINDOWS.map(function (w) {
      return el("button", { type: "button", "class": "btn btn-sm btn-outline-secondary", "data-window": w, "aria-pressed": "false" }, [t("window_" + w)]);
    });
    var bar = el("div", { "class": "pm-windows", role: "group", "aria-label": t("monitoring") }, buttons);
    var block = el("section", { "class": "pm-monitor", "data-outlet": String(outlet.id) }, [
      el("h4", {}, [outlet.code + " · " + t("monitoring") + " ", status]), eventsBlock(outlet), bar, charts
    ]);
    function load(window) {
      buttons.forEach(function (b) { b.setAttribute("aria-pressed", String(b.getAttribute("data-window") === window)); });
      block.setAttribute("data-state", "loading");
      getJSON("/api/outlets/" + encodeURIComponent(outlet.id) + "/readings?window=" + window)
        .then(function (body) { show(body); })
        .catch(function (error) {
          charts.replaceChildren(el("p", { "class": "pm-error", text: t("error") + ": " + error.message }));
          block.setAttribute("data-state", "error");
        });
    }
    function show(body) {
      var live = liveClass(body.live_status);
      status.textContent = live.label;
      status.className = "pm-live pm-live-" + body.live_status;
      if (live.color) status.style.backgroundColor = live.color;
      var any = body.series.some(function (s) { return s.points.length; });
      if (!body.monitored && !any) {
        bar.hidden = true;
        charts.replaceChildren(el("p", { "class": "pm-note", text: t("not_monitored_outlet") }));
      } else {
        var xs = bins(body.start, body.end, body.step);
        charts.replaceChildren.apply(charts, body.series.map(function (s) {
          return figure(s, body.step, xs, { "data-pollutant": s.pollutant_code });
        }));
      }
      block.setAttribute("data-window", body.window);
      block.setAttribute("data-state", "ready");
    }
    buttons.forEach(function (b) { b.addEventListener("click", function () { load(b.getAttribute("data-window")); }); });
    load("24h");
    return block;
  }

  // ---- staff: the county summary ----------------------------------------------------------
  var SUMMARY_COLUMNS = ["online", "exceeding", "abnormal", "offline"];

  function summary(container, onCounty) {
    getJSON("/api/monitoring/summary").then(function (body) {
      var rows = body.counties.filter(function (c) { return c.monitored > 0; });
      if (!rows.length) {
        container.replaceChildren(el("p", { "class": "pm-note", text: t("no_monitored_outlets") }));
        return;
      }
      function row(c, label, code) {
        var cells = [el(code ? "th" : "td", { scope: "row", text: label })].concat(
          [el("td", { text: c.online + "/" + c.monitored })],
          SUMMARY_COLUMNS.slice(1).map(function (k) { return el("td", { "class": c[k] ? "pm-count-" + k : "", text: String(c[k]) }); }));
        var tr = el("tr", code ? { "data-county": code } : { "class": "pm-total" }, cells);
        if (code && onCounty) { tr.addEventListener("click", function () { onCounty(code); }); tr.title = t("county"); }
        return tr;
      }
      var head = el("tr", {}, [el("th", { scope: "col", text: t("county") })].concat(SUMMARY_COLUMNS.map(function (k) {
        return el("th", k === "online" ? { scope: "col", text: t(k), title: t("online_hint") } : { scope: "col", text: t(k) });
      })));
      var body_rows = rows.map(function (c) { return row(c, c.county_name || c.county_code, c.county_code); });
      body_rows.push(row(body.total, t("total"), null));
      container.replaceChildren(el("table", { "class": "table table-sm pm-summary", id: "pm-summary-table" }, [
        el("thead", {}, [head]), el("tbody", {}, body_rows)
      ]));
    }).catch(function (error) {
      container.replaceChildren(el("p", { "class": "pm-error", text: t("error") + ": " + error.message }));
    });
  }

  // ---- public: a key unit's daily averages ---------------------------------------------------
  function publicCharts() {
    var record = data("pm-monitoring-data");
    if (!record) return;
    var xs = bins(record.start + "T00:00:00+08:00", addDay(record.end) + "T00:00:00+08:00", "day");
    record.outlets.forEach(function (outlet) {
      outlet.pollutants.forEach(function (p) {
        var slot = document.querySelector(".pm-chart-slot[data-outlet='" + outlet.code + "'][data-pollutant='" + p.pollutant_code + "']");
        if (!slot) return;
        slot.replaceChildren(figure({
          pollutant_code: p.pollutant_code, pollutant_name: p.pollutant_name, unit: p.concentration_unit,
          concentration_limit: p.concentration_limit, special_limit: null, points: p.daily
        }, "day", xs, {}));
      });
    });
    document.body.setAttribute("data-charts", "ready");
  }
  function addDay(isoDate) {
    var d = new Date(isoDate + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10);
  }

  window.permitmapMonitoring = { outletBlock: outletBlock, summary: summary, publicCharts: publicCharts };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", publicCharts);
  else publicCharts();
})();
