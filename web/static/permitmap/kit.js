/* permitmap's small page kit, loaded first on every page: the page's JSON blocks (messages,
 * layers, CSRF token…), its messages, DOM building, and JSON requests to permitmap's own API
 * with the page's CSRF token (errors come back as RFC 9457 problems: their title or detail is
 * what the user reads). pages.js, monitoring.js and imports.js build on it. */
(function () {
  "use strict";

  var cache = {};
  // A <script type="application/json" id=…> block of the page, parsed once (null if absent).
  function data(id) {
    if (!(id in cache)) {
      var element = document.getElementById(id);
      cache[id] = element ? JSON.parse(element.textContent) : null;
    }
    return cache[id];
  }
  function t(key) { return (data("pm-messages") || {})[key] || key; }
  // A message with its {name} slots filled.
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
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }
  function csrfHeaders() {
    var token = data("pm-csrf");
    return token ? { "X-CSRF-Token": token } : {};
  }
  // fetch → the parsed body, or an Error carrying the problem's title.
  function request(url, options) {
    var headers = Object.assign({ Accept: "application/json" }, (options || {}).headers || {});
    return fetch(url, Object.assign({ credentials: "same-origin" }, options || {}, { headers: headers }))
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            var error = new Error(body.title || body.detail || response.statusText);
            error.problem = body;
            throw error;
          }
          return body;
        });
      });
  }
  function getJSON(url) { return request(url); }
  function postJSON(url, body) {
    return request(url, {
      method: "POST", body: JSON.stringify(body),
      headers: Object.assign({ "Content-Type": "application/json" }, csrfHeaders())
    });
  }

  window.permitmapKit = {
    data: data, t: t, fill: fill, el: el, csrfHeaders: csrfHeaders,
    request: request, getJSON: getJSON, postJSON: postJSON
  };
})();
