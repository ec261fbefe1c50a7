/*
 * permitmap: make Leaflet.VectorGrid 1.3.0 (last release, 2017) work with Leaflet 1.9.4.
 * Load after Leaflet.VectorGrid.bundled.min.js and before any map script.
 *
 * 1. L.Canvas.Tile#_onClick calls L.DomEvent.fakeStop(e), which Leaflet removed in 1.8, so every
 *    click on an interactive feature throws "L.DomEvent.fakeStop is not a function"
 *    (Leaflet.VectorGrid#274; fixed upstream by PR #288, never released). Leaflet >= 1.8 canvases
 *    carry _leaflet_disable_events, so the map no longer sees their DOM clicks at all: the renderer
 *    must fire them itself, for a hit *and* for a miss (else clicks on empty tile area never reach
 *    the map). Below is Leaflet 1.9.4's own L.Canvas#_onClick, plus VectorGrid's tile offset.
 *    A no-op L.DomEvent.fakeStop shim would fix only hits, and would define a removed Leaflet API
 *    that other plugins feature-detect.
 * 2. Point features are L.CircleMarker subclasses without a latlng; Map#_fireDOMEvent treats a
 *    target with getLatLng() and radius <= 10 as a marker and projects getLatLng() -> undefined ->
 *    TypeError on click/hover (VectorGrid#168, #267, #294; upstream PR #157 set getLatLng to null,
 *    also unreleased). Dropping getLatLng per point feature makes the event use the pointer position.
 */
(function (L) {
	'use strict';
	if (!L || !L.Canvas || !L.Canvas.Tile || !L.VectorGrid) { return; }

	L.Canvas.Tile.include({
		_onClick: function (e) {
			var point = this._map.mouseEventToLayerPoint(e).subtract(this.getOffset()),
			    layer, clickedLayer;

			for (var id in this._layers) {
				layer = this._layers[id];
				if (layer.options.interactive && layer._containsPoint(point) &&
				    (!(e.type === 'click' || e.type === 'preclick') || !this._map._draggableMoved(layer))) {
					clickedLayer = layer;
				}
			}
			this._fireEvent(clickedLayer ? [clickedLayer] : false, e);
		}
	});

	var createLayer = L.VectorGrid.prototype._createLayer;
	L.VectorGrid.include({
		_createLayer: function (feat, pxPerExtent, layerStyle) {
			var layer = createLayer.call(this, feat, pxPerExtent, layerStyle);
			if (feat.type === 1) { layer.getLatLng = null; }
			return layer;
		}
	});
}(window.L));
