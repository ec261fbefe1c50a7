/* bench/web_probe.js: the in-page half of `python -m bench.web`, installed by Playwright before
 * any of the page's scripts (BrowserContext.add_init_script), after a one-line script that sets
 * window.__benchTiles to the substring that marks a tile URL. All times are performance.now(),
 * i.e. milliseconds since the navigation started (performance.timeOrigin).
 *
 * The page under test exposes its Leaflet map and its VectorGrid layers as
 * window.permitmap.{map, grids} (permitmap's pages) or window.benchPeer.{map, grids} (the peer
 * page), and sets <body data-ready="true"> once they exist.
 */
(function () {
  "use strict";
  var pattern = window.__benchTiles || "/tiles/";
  var started = []; // tile fetches issued: {url, t}
  var readyAt = null;
  performance.setResourceTimingBufferSize(100000);

  // VectorGrid fetches its tiles with window.fetch: note each tile request as it is issued.
  var realFetch = window.fetch;
  window.fetch = function (input) {
    var url = typeof input === "string" ? input : (input && input.url) || String(input);
    if (url.indexOf(pattern) >= 0) started.push({ url: url, t: performance.now() });
    return realFetch.apply(this, arguments);
  };

  // The moment the page marks itself ready (a mutation observer: exact, unlike polling).
  new MutationObserver(function () {
    if (readyAt === null && document.body && document.body.getAttribute("data-ready") === "true") {
      readyAt = performance.now();
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-ready"] });

  function finished() { // tile responses received in full (their resource timing entries)
    return performance.getEntriesByType("resource").filter(function (e) {
      return e.name.indexOf(pattern) >= 0;
    });
  }

  function target() {
    var pm = window.permitmap;
    if (pm && pm.map && pm.grids) return pm;
    return window.benchPeer && window.benchPeer.map ? window.benchPeer : null;
  }

  function ready() {
    if (readyAt === null && document.body && document.body.getAttribute("data-ready") === "true") {
      readyAt = performance.now();
    }
    return readyAt !== null && target() !== null;
  }

  function activeGrids() {
    var t = target(), found = {};
    Object.keys(t.grids).forEach(function (id) {
      if (t.map.hasLayer(t.grids[id])) found[id] = t.grids[id];
    });
    return found;
  }

  function idle(grid) { return !grid._loading && grid._noTilesToLoad(); }

  // Resolves once the page is ready, every shown grid has drawn all its tiles, every tile request
  // issued has been answered in full, and the next frame after that has been produced (checked
  // on one animation frame, confirmed and timed on the next: the "double rAF").
  function settled(timeoutMs) {
    var t0 = performance.now(), gridIdle = {};
    return new Promise(function (resolve) {
      var confirming = false;
      function check() {
        if (!ready()) return false;
        var grids = activeGrids(), all = true, now = performance.now();
        Object.keys(grids).forEach(function (id) {
          if (idle(grids[id])) { if (!(id in gridIdle)) gridIdle[id] = now; }
          else { delete gridIdle[id]; all = false; }
        });
        return all && finished().length >= started.length;
      }
      function frame() {
        var now = performance.now();
        var done = check();
        if (done && confirming) {
          resolve({ t: now, timeout: false, grids: gridIdle, ready: readyAt });
          return;
        }
        confirming = done;
        if (now - t0 > timeoutMs) {
          resolve({ t: now, timeout: true, grids: gridIdle, ready: readyAt });
          return;
        }
        requestAnimationFrame(frame);
      }
      requestAnimationFrame(frame);
    });
  }

  function tilesBetween(t0, t1) {
    return {
      issued: started.filter(function (s) { return s.t >= t0 && s.t <= t1; }).length,
      done: finished().filter(function (e) { return e.responseEnd >= t0 && e.responseEnd <= t1; })
        .map(function (e) { return e.name; })
    };
  }

  // `steps` frames, each moving the map by (dx, dy) pixels without animation, driven by
  // requestAnimationFrame; the duration of every frame from the rAF timestamps.
  function pan(steps, dx, dy) {
    var map = target().map, frames = [], last = null, i = 0;
    return new Promise(function (resolve) {
      function frame(ts) {
        if (last !== null) frames.push(ts - last);
        last = ts;
        if (i < steps) {
          map.panBy([dx, dy], { animate: false });
          i += 1;
          requestAnimationFrame(frame);
        } else {
          resolve(frames);
        }
      }
      requestAnimationFrame(frame);
    });
  }

  function view() {
    var map = target().map, centre = map.getCenter(), size = map.getSize();
    return { lat: centre.lat, lng: centre.lng, zoom: map.getZoom(), width: size.x, height: size.y };
  }

  // Where the first paint's time went: document TTFB, page ready, first tile asked, last answered.
  function breakdown() {
    var nav = performance.getEntriesByType("navigation")[0];
    return {
      ttfb: nav.responseStart,
      ready: readyAt,
      first_tile: Math.min.apply(null, started.map(function (s) { return s.t; })),
      last_tile: Math.max.apply(null, finished().map(function (e) { return e.responseEnd; }))
    };
  }

  window.__bench = {
    view: view,
    breakdown: breakdown,
    started: started,
    finished: finished,
    settled: settled,
    tilesBetween: tilesBetween,
    pan: pan,
    target: target,
    activeGrids: activeGrids
  };
})();
