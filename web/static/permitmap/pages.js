/* permitmap pages: how layers are drawn, and what the staff map, the siting page and the
 * public map do. Loaded in <head>; folium's map script (end of <body>) calls
 * permitmap.vectorOptions(id) for each layer and then permitmap.start(map, layers).
 * Everything it fetches comes from permitmap's own origin. */
(function () {
  "use strict";

  var kit = window.permitmapKit;
  var data = kit.data, t = kit.t, el = kit.el, csrfHeaders = kit.csrfHeaders, getJSON = kit.getJSON;
  function layerById(id) {
    return (data("pm-layers") || []).filter(function (l) { return l.id === id; })[0];
  }

  function colorOf(layer, value) {
    var hit = layer.legend.filter(function (e) { return e.value === value; })[0];
    return hit ? hit.color : layer.style.color;
  }

  // A cluster is filled with its most numerous class (n_<class> counts) and ringed with the
  // first class of the legend present in it (legends list the gravest first).
  function dominantClass(layer, properties) {
    var best = null, most = -1;
    layer.legend.forEach(function (entry) {
      var n = properties["n_" + entry.value] || 0;
      if (n > most) { most = n; best = entry.value; }
    });
    return best;
  }
  function gravestClass(layer, properties) {
    var hit = layer.legend.filter(function (e) { return (properties["n_" + e.value] || 0) > 0; })[0];
    return hit ? hit.value : null;
  }

  function featureStyle(layer, properties) {
    var style = layer.style;
    if (layer.geometry === "point") {
      if (properties.cluster) {
        var count = properties.count || 1;
        var fillClass = dominantClass(layer, properties), ringClass = gravestClass(layer, properties);
        var ringed = ringClass !== null && ringClass !== fillClass;
        return {
          radius: Math.min(16, 4 + 3 * Math.log10(count + 1)),
          fill: true, fillColor: colorOf(layer, fillClass), fillOpacity: 0.7,
          color: ringed ? colorOf(layer, ringClass) : "#ffffff", weight: ringed ? 2.5 : 1
        };
      }
      var value = style.by ? properties[style.by] : null;
      return {
        radius: style.radius, fill: true, fillColor: colorOf(layer, value), fillOpacity: 0.9,
        color: "#ffffff", weight: 1
      };
    }
    var color = colorOf(layer, style.by ? properties[style.by] : null);
    if (layer.geometry === "line") return { color: color, weight: style.weight, opacity: 0.9 };
    return {
      fill: true, fillColor: color, fillOpacity: style.opacity, color: color,
      weight: style.weight, opacity: 0.9
    };
  }

  // `extent`: [[south, west], [north, east]] of the data; no tile is asked for outside it.
  function vectorOptions(id, extent) {
    var layer = layerById(id);
    var styles = {};
    styles[id] = function (properties) { return featureStyle(layer, properties); };
    // Points above lines above areas; only points answer clicks, so a zone under a unit never
    // takes the click meant for it.
    var order = { point: 400, line: 300, polygon: 200 };
    return {
      rendererFactory: L.canvas.tile,
      interactive: layer.geometry === "point",
      zIndex: order[layer.geometry] || 100,
      minZoom: 0,
      maxNativeZoom: layer.maxzoom,
      maxZoom: 20,
      vectorTileLayerStyles: styles,
      bounds: extent ? L.latLngBounds(extent) : undefined,
      getFeatureId: function (f) { return f.properties.cluster ? undefined : f.properties.id; }
    };
  }

  // ---- small DOM helpers -----------------------------------------------------------------
  // A coded value (category, statuses, medium…) as the page's language names it (pm-values).
  function label(field, value) {
    var labels = (data("pm-values") || {})[field] || {};
    return Object.prototype.hasOwnProperty.call(labels, value) ? labels[value] : value;
  }
  function shown(value) { return value === null || value === undefined || value === "" ? "—" : String(value); }
  function facts(rows) {
    var list = el("dl", { "class": "pm-facts" });
    rows.forEach(function (row) {
      list.appendChild(el("dt", { text: row[0] }));
      list.appendChild(el("dd", { text: shown(row[1]) }));
    });
    return list;
  }
  function table(headings, rows) {
    var head = el("tr", {}, headings.map(function (h) { return el("th", { text: h }); }));
    var body = rows.map(function (r) {
      return el("tr", {}, r.map(function (v) { return el("td", { text: shown(v) }); }));
    });
    return el("table", { "class": "table table-sm" }, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }
  // ---- side panel ------------------------------------------------------------------------
  function panel() {
    var box = document.getElementById("pm-panel");
    var body = document.getElementById("pm-panel-body");
    document.getElementById("pm-panel-close").addEventListener("click", function () { box.hidden = true; });
    return {
      show: function (nodes) {
        body.replaceChildren.apply(body, nodes);
        box.hidden = false;
      },
      html: function (markup) { body.innerHTML = markup; box.hidden = false; },
      message: function (text) { body.replaceChildren(el("p", { text: text })); box.hidden = false; }
    };
  }

  function validity(from, to) { return shown(from) + " — " + shown(to); }

  function staffUnit(record) {
    var unit = record.unit, permit = record.permit || {};
    var nodes = [
      el("h2", { text: unit.name, id: "pm-panel-title" }),
      facts([
        [t("credit_code"), unit.credit_code], [t("category"), label("category", unit.category)],
        [t("industry"), (unit.industry_code || "") + " " + (unit.industry_name || "")],
        [t("county"), unit.county_name], [t("site_address"), unit.address],
        [t("status"), label("enforcement_status", unit.enforcement_status)],
        [t("permit_state"), label("permit_state", unit.permit_state)]
      ]),
      el("h3", { text: t("permit") }),
      facts([[t("permit_no"), permit.permit_no], [t("validity"), validity(permit.valid_from, permit.valid_to)]]),
      el("h3", { text: t("permit_history") }),
      table([t("permit_no"), t("permit_state"), t("validity")], (record.permits || []).map(function (p) {
        return [p.permit_no, label("permit_status", p.status), validity(p.valid_from, p.valid_to)];
      })),
      el("h3", { text: t("outlets") }),
      table([t("outlets"), t("limits")], (record.outlets || []).map(function (o) {
        return [o.code + " (" + (label("medium", o.medium) || "") + ")", (o.pollutants || []).map(function (p) {
          return (p.pollutant_name || p.pollutant_code) + " " + shown(p.concentration_limit) + " " + (p.concentration_unit || "");
        }).join("; ")];
      })),
      monitoringSection(record.outlets || []),
      el("h3", { text: t("flags") }),
      table([t("flags"), t("severity"), t("legal_basis")], (record.flags || []).map(function (f) {
        return [f.rule_code + " · " + (f.zone_code || "") + " · " + label("flag_status", f.status),
          label("severity", f.severity), f.legal_basis];
      })),
      el("p", {}, [el("a", { href: "/ledger?unit_id=" + encodeURIComponent(unit.id), id: "pm-unit-ledger" }, [t("ledger_of_unit")])]),
      el("h3", { text: t("enforcement") }),
      (record.enforcement || []).length ? table(["", ""], record.enforcement.map(function (e) { return [e.date, e.summary]; }))
        : el("p", { text: t("none") })
    ];
    return nodes;
  }

  // Per outlet, its online monitoring charts (web/static/permitmap/monitoring.js, with uPlot).
  function monitoringSection(outlets) {
    var monitoring = window.permitmapMonitoring;
    if (!monitoring || !outlets.length) return el("div", { hidden: "hidden" });
    return el("div", { id: "pm-monitoring" }, [el("h3", { text: t("monitoring") })].concat(
      outlets.map(function (o) { return monitoring.outletBlock(o); })));
  }

  function publicUnit(feature) {
    var p = feature.properties;
    return [
      el("h2", { text: p.name, id: "pm-panel-title" }),
      facts([
        [t("credit_code"), p.credit_code], [t("category"), label("category", p.category)],
        [t("industry"), (p.industry_code || "") + " " + (p.industry_name || "")],
        [t("county"), p.county_name], [t("permit_no"), p.permit_no],
        [t("validity"), validity(p.permit_valid_from, p.permit_valid_to)],
        [t("permit_state"), label("permit_state", p.permit_state)]
      ]),
      el("p", {}, [el("a", { href: "/public/units/" + encodeURIComponent(p.credit_code), id: "pm-public-link" }, [t("public_page")])])
    ];
  }

  // ---- what a click on a unit does ---------------------------------------------------------
  // `key`: the property holding the unit's id ("id" on units, "unit_id" on outlets)
  function onUnitClick(map, grid, open, key) {
    grid.on("click", function (event) {
      var properties = event.layer && event.layer.properties;
      if (!properties) return;
      if (properties.cluster) { map.setView(event.latlng, Math.min(map.getZoom() + 2, 18)); return; }
      open(properties[key || "id"]);
    });
  }

  function staffOpener(side) {
    return function (id) {
      side.message(t("loading"));
      getJSON("/api/units/" + encodeURIComponent(id))
        .then(function (record) { side.show(staffUnit(record)); })
        .catch(function (error) { side.message(t("error") + ": " + error.message); });
    };
  }

  function publicOpener(side) {
    return function (id) {
      side.message(t("loading"));
      getJSON("/ogc/collections/units/items/" + encodeURIComponent(id) + "?f=json")
        .then(function (feature) { side.show(publicUnit(feature)); })
        .catch(function (error) { side.message(t("error") + ": " + error.message); });
    };
  }

  // ---- staff map: search, filters, export --------------------------------------------------
  function cqlString(value) { return "'" + String(value).replace(/'/g, "''") + "'"; }

  function filterExpressions(form) {
    var byLayer = {};
    form.querySelectorAll("[data-layer]").forEach(function (input) {
      var value = input.value.trim();
      if (!value) return;
      var field = input.getAttribute("data-field"), layer = input.getAttribute("data-layer");
      var term = input.getAttribute("data-match") === "prefix"
        ? field + " LIKE " + cqlString(value.replace(/[%_\\]/g, "") + "%")
        : field + " = " + cqlString(value);
      (byLayer[layer] = byLayer[layer] || []).push(term);
    });
    Object.keys(byLayer).forEach(function (k) { byLayer[k] = byLayer[k].join(" AND "); });
    return byLayer;
  }

  function applyFilters(grids, form) {
    var expressions = filterExpressions(form);
    Object.keys(grids).forEach(function (id) {
      var url = "/tiles/" + id + "/{z}/{x}/{y}.mvt";
      if (expressions[id]) url += "?filter=" + encodeURIComponent(expressions[id]);
      if (grids[id]._url !== url) grids[id].setUrl(url);
      // a filter on a hidden layer (outlets by live status) shows it
      if (expressions[id] && window.permitmap.map && !window.permitmap.map.hasLayer(grids[id])) {
        window.permitmap.map.addLayer(grids[id]);
      }
    });
    ["csv", "xlsx", "geojson", "gpkg"].forEach(function (format) {
      var link = document.getElementById("pm-export-" + format);
      if (!link) return;
      var href = "/api/layers/units/export?format=" + format + "&lang=" + data("pm-page").lang;
      if (expressions.units) href += "&filter=" + encodeURIComponent(expressions.units);
      link.setAttribute("href", href);
    });
    document.body.setAttribute("data-filters", JSON.stringify(expressions));
  }

  function setUpSearch(map, open) {
    var form = document.getElementById("pm-search");
    var input = document.getElementById("pm-search-q");
    var list = document.getElementById("pm-search-results");
    var timer = null;
    function go(hit) {
      map.setView([hit.lat, hit.lon], 17);
      open(hit.id);
    }
    function search(then) {
      var q = input.value.trim();
      if (q.length < 2) { list.replaceChildren(); return; }
      getJSON("/api/units/search?q=" + encodeURIComponent(q)).then(function (hits) {
        list.replaceChildren.apply(list, hits.length ? hits.map(function (hit) {
          var button = el("button", { type: "button", "class": "pm-hit" }, [hit.name + " · " + (hit.permit_no || hit.credit_code)]);
          button.addEventListener("click", function () { go(hit); });
          return el("li", {}, [button]);
        }) : [el("li", { text: t("no_results") })]);
        if (then && hits.length) then(hits[0]);
      }).catch(function (error) { list.replaceChildren(el("li", { text: error.message })); });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(search, 250); });
    form.addEventListener("submit", function (event) { event.preventDefault(); search(go); });
  }

  function startStaff(map, grids) {
    var side = panel(), open = staffOpener(side);
    if (grids.units) onUnitClick(map, grids.units, open);
    if (grids.outlets) onUnitClick(map, grids.outlets, open, "unit_id");
    setUpSearch(map, open);
    document.querySelectorAll(".pm-industry-input").forEach(suggestIndustries);
    var form = document.getElementById("pm-filters");
    form.addEventListener("submit", function (event) { event.preventDefault(); applyFilters(grids, form); });
    form.addEventListener("reset", function () { setTimeout(function () { applyFilters(grids, form); }, 0); });
    var summary = document.getElementById("pm-monitoring-summary-body");
    if (summary && window.permitmapMonitoring) {
      window.permitmapMonitoring.summary(summary, function (county) {  // a county's row filters the map
        var select = document.getElementById("pm-filter-county");
        if (select) { select.value = county; applyFilters(grids, form); }
      });
    }
    var wanted = new URLSearchParams(location.search).get("unit");
    if (wanted) {
      getJSON("/api/units/" + encodeURIComponent(wanted)).then(function (record) {
        map.setView([record.unit.lat, record.unit.lon], 17);
        side.show(staffUnit(record));
      }).catch(function (error) { side.message(error.message); });
    }
  }

  function startPublic(map, grids) {
    var side = panel(), open = publicOpener(side);
    if (grids.units) onUnitClick(map, grids.units, open);
  }

  // Industry codes (GB/T 4754) suggested as the user types a code or a name.
  function suggestIndustries(input) {
    var options = document.getElementById("pm-industries"), timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        getJSON("/api/industries?limit=30&q=" + encodeURIComponent(input.value.trim())).then(function (rows) {
          options.replaceChildren.apply(options, rows.map(function (row) {
            return el("option", { value: row.code }, [row.code + " " + row.name]);
          }));
        });
      }, 200);
    });
  }

  // ---- siting ------------------------------------------------------------------------------
  function startSiting(map) {
    var side = panel();
    var form = document.getElementById("pm-siting");
    var error = document.getElementById("pm-siting-error");
    var industry = document.getElementById("pm-siting-industry");
    suggestIndustries(industry);
    var drawn = null, drawnLayer = null;
    map.on("draw:created", function (event) {
      if (drawnLayer) map.removeLayer(drawnLayer);
      drawnLayer = event.layer;
      drawnLayer.addTo(map);
      drawn = event.layer.toGeoJSON().geometry;
      document.body.setAttribute("data-site", "drawn");
    });
    function fail(message) { error.textContent = message; error.hidden = false; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      error.hidden = true;
      var file = document.getElementById("pm-siting-file").files[0];
      var code = industry.value.trim().split(/\s+/)[0];
      var media = Array.prototype.map.call(form.querySelectorAll("input[name=media]:checked"), function (i) { return i.value; });
      var project = form.querySelector("input[name=project]:checked").value;
      if (!code) { fail(t("need_industry")); return; }
      if (!file && !drawn) { fail(t("need_geometry")); return; }
      var request;
      if (file) {
        var body = new FormData();
        body.append("file", file);
        body.append("industry_code", code);
        body.append("media", media.join(","));
        body.append("project", project);
        request = { method: "POST", body: body, headers: csrfHeaders(), url: "/siting/check-file" };
      } else {
        var headers = csrfHeaders();
        headers["Content-Type"] = "application/json";
        request = {
          method: "POST", headers: headers, url: "/siting/check",
          body: JSON.stringify({ geometry: drawn, industry_code: code, media: media, project: project })
        };
      }
      side.message(t("loading"));
      fetch(request.url, { method: request.method, body: request.body, headers: request.headers, credentials: "same-origin" })
        .then(function (response) {
          if (response.ok) return response.text().then(function (markup) { side.html(markup); });
          return response.json().then(function (problem) {
            side.message(t("error") + ": " + (problem.title || response.statusText));
          });
        })
        .catch(function (e) { side.message(t("error") + ": " + e.message); });
    });
  }

  function startReport(map) {
    var page = data("pm-page");
    if (page.site) L.geoJSON(page.site, { style: { color: "#d50000", weight: 3 } }).addTo(map);
  }

  function start(map, grids) {
    var page = data("pm-page") || {};
    window.permitmap.map = map;
    window.permitmap.grids = grids;
    if (page.kind === "staff") startStaff(map, grids);
    else if (page.kind === "public") startPublic(map, grids);
    else if (page.kind === "siting") startSiting(map);
    else if (page.kind === "report") startReport(map);
    document.body.setAttribute("data-ready", "true");
  }

  window.permitmap = { vectorOptions: vectorOptions, start: start, featureStyle: featureStyle };
})();
