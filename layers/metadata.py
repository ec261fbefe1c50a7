"""What clients learn about a layer: TileJSON, legends and extents, all from the declaration."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.declarations import Audience, Field, Layer, Style
from layers.sources import data_version, fixed_conditions, quoted, where_sql

TILEJSON_TYPES = {
    "string": "String",
    "integer": "Number",
    "number": "Number",
    "boolean": "Boolean",
    "date": "String",
    "datetime": "String",
}
CHINA = (73.0, 18.0, 135.5, 53.6)


def layer_bounds(session: Session, layer: Layer) -> tuple[float, float, float, float]:
    """The extent of the layer's features in CRS84 (China's when the layer is empty)."""
    row = session.execute(
        text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT"
            f" ST_Extent({quoted(layer.geom_column)}) AS e FROM {quoted(layer.source)}"
            f" {where_sql(fixed_conditions(layer))}) AS extent"
        )
    ).one()
    return CHINA if row[0] is None else (row[0], row[1], row[2], row[3])


class ExtentCache:
    """Layer extents remembered per data version (an extent over a million rows is not free)."""

    def __init__(self) -> None:
        self._extents: dict[tuple[str, str], tuple[float, float, float, float]] = {}

    def bounds(self, session: Session, layer: Layer) -> tuple[float, float, float, float]:
        """The layer's extent at the current data version (of every source: staff's)."""
        key = (layer.id, data_version(session, layer, Audience.STAFF))
        if key not in self._extents:
            self._extents = {k: v for k, v in self._extents.items() if k[0] != layer.id}
            self._extents[key] = layer_bounds(session, layer)
        return self._extents[key]


def tile_fields(layer: Layer, audience: Audience) -> dict[str, str]:
    """Field name → TileJSON type of the features in the audience's tiles (clusters included)."""
    fields = {f.name: TILEJSON_TYPES[f.type] for f in layer.tile_fields_for(audience)}
    if layer.clustered:
        fields |= {"count": "Number", "cluster": "Boolean"}
        fields |= {f"n_{c.value}": "Number" for c in layer.style_for(audience).classes}
    return fields


def tilejson(
    layer: Layer, audience: Audience, base_url: str, bounds: tuple[float, ...]
) -> dict[str, Any]:
    """The layer's TileJSON 3.0.0 document."""
    west, south, east, north = bounds
    center_zoom = max(layer.minzoom, min(layer.maxzoom, 7))
    return {
        "tilejson": "3.0.0",
        "name": layer.id,
        "description": layer.description or layer.title_en,
        "attribution": "permitmap",
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [f"{base_url}/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, center_zoom],
        "vector_layers": [
            {
                "id": layer.id,
                "description": layer.title_zh,
                "minzoom": layer.minzoom,
                "maxzoom": layer.maxzoom,
                "fields": tile_fields(layer, audience),
            }
        ],
    }


def legend(style: Style) -> list[dict[str, str]]:
    """Legend entries of a style: one per class, or a single swatch."""
    if not style.classes:
        return [{"value": "", "color": style.color, "label_zh": "", "label_en": ""}]
    return [
        {"value": c.value, "color": c.color, "label_zh": c.label_zh, "label_en": c.label_en}
        for c in style.classes
    ]


def describe_layer(layer: Layer, audience: Audience, base_url: str) -> dict[str, Any]:
    """What a map page needs to draw the layer: titles, style, legend, fields, links."""
    style = layer.style_for(audience)
    return {
        "id": layer.id,
        "title_zh": layer.title_zh,
        "title_en": layer.title_en,
        "geometry": layer.geometry,
        "audience": layer.audience.value,
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "clustered": layer.clustered,
        "style": {
            "by": style.by,
            "color": style.color,
            "opacity": style.opacity,
            "radius": style.radius,
            "weight": style.weight,
        },
        "legend": legend(style),
        "fields": [_describe_field(f) for f in layer.fields_for(audience)],
        "tilejson": f"{base_url}/tiles/{layer.id}.json",
        "tiles": f"{base_url}/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.mvt",
        "collection": f"{base_url}/ogc/collections/{layer.id}",
    }


def _describe_field(field: Field) -> dict[str, str]:
    return {
        "name": field.name,
        "type": field.type,
        "title_zh": field.title_zh,
        "title_en": field.title_en,
    }
