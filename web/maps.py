"""The pages' Leaflet maps, built with folium from the layer registry's descriptions.

Every layer is a VectorGrid of permitmap's own vector tiles; the default base map is permitmap's
too (admin regions, rivers and water bodies from its database). How a layer is drawn is decided
in the browser by `permitmap.vectorOptions(id)` (web/static/permitmap/map.js) from the same
description the legend is made of, so tiles, legends and pages share one style declaration.
An external XYZ base map is added only when configured (e.g. Tianditu with a key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import folium
from branca.element import MacroElement
from folium.plugins import Draw, VectorGridProtobuf
from folium.template import Template

from web.offline import localize_tree

BASE_LAYERS = ("admin_regions", "water_bodies", "rivers")


@dataclass(frozen=True)
class MapParts:
    """A rendered map, in the three places a page puts it."""

    head: str  # <script>/<link> tags and the map's CSS
    body: str  # the map's <div>
    script: str  # the map's inline JavaScript


@dataclass(frozen=True)
class MapSpec:
    """What to put on a page's map."""

    layers: Sequence[Mapping[str, Any]]  # layer descriptions (layers.metadata.describe_layer)
    shown: frozenset[str]  # overlays visible on opening
    language: str
    bounds: tuple[float, float, float, float] | None  # west, south, east, north
    max_zoom: int | None = None  # when fitting small bounds (a site)
    # where the data are (the province): no layer asks for tiles outside it (west, south, east,
    # north; None: anywhere)
    data_bounds: tuple[float, float, float, float] | None = None
    draw: bool = False
    xyz_url: str | None = None
    xyz_attribution: str = ""


class _PageStart(MacroElement):
    """Hands the map and its layers to the page's script once folium has made them."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        permitmap.start({{ this._parent.get_name() }}, {
        {%- for id, layer in this.layers.items() %}
          {{ id|tojson }}: {{ layer.get_name() }},
        {%- endfor %}
        });
        {% endmacro %}"""
    )

    def __init__(self, layers: Mapping[str, VectorGridProtobuf]) -> None:
        super().__init__()
        self._name = "PageStart"
        self.layers = dict(layers)


def build_map(spec: MapSpec) -> MapParts:
    """The folium map of a page, rendered with every asset served by permitmap itself."""
    world = folium.Map(
        tiles=None, location=[30.0, 107.0], zoom_start=7, control_scale=True, prefer_canvas=True
    )
    if spec.bounds is not None:
        west, south, east, north = spec.bounds
        world.fit_bounds([[south, west], [north, east]], max_zoom=spec.max_zoom)
    title_key = f"title_{spec.language}"
    base = folium.FeatureGroup(name=_base_title(spec.language), overlay=False).add_to(world)
    if spec.xyz_url:
        attribution = spec.xyz_attribution or urlsplit(spec.xyz_url).netloc or "XYZ"
        folium.TileLayer(spec.xyz_url, attr=attribution, name=attribution, overlay=False).add_to(
            world
        )
    extent = json.dumps(_padded(spec.data_bounds))
    drawn: dict[str, VectorGridProtobuf] = {}
    for layer in spec.layers:
        layer_id = layer["id"]
        parent = base if layer_id in BASE_LAYERS else world
        grid = VectorGridProtobuf(
            f"/tiles/{layer_id}/{{z}}/{{x}}/{{y}}.mvt",
            name=layer[title_key],
            options=f"permitmap.vectorOptions({json.dumps(layer_id)}, {extent})",
            overlay=layer_id not in BASE_LAYERS,
            control=layer_id not in BASE_LAYERS,
            show=layer_id in BASE_LAYERS or layer_id in spec.shown,
        )
        grid.add_to(parent)
        drawn[layer_id] = grid
    if spec.draw:
        Draw(
            export=False,
            draw_options={"circle": False, "circlemarker": False},
            edit_options={"edit": False},
        ).add_to(world)
    folium.LayerControl(collapsed=False).add_to(world)
    world.add_child(_PageStart(drawn))
    localize_tree(world)
    root = world.get_root()
    root.render()
    return MapParts(root.header.render(), root.html.render(), root.script.render())


def _padded(
    bounds: tuple[float, float, float, float] | None, margin: float = 0.05
) -> list[list[float]] | None:
    """Leaflet [[south, west], [north, east]] of `bounds` widened by `margin` degrees."""
    if bounds is None:
        return None
    west, south, east, north = bounds
    return [[south - margin, west - margin], [north + margin, east + margin]]


def _base_title(language: str) -> str:
    return "permitmap 底图" if language == "zh" else "permitmap base map"
