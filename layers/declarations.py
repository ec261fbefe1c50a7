"""What a layer is: the dataclasses a declaration is made of, and who may see which part."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

FieldType = Literal["string", "integer", "number", "boolean", "date", "datetime"]
GeometryKind = Literal["point", "line", "polygon"]
JSON_SCHEMA_TYPES: dict[FieldType, dict[str, str]] = {  # how each field type reads in JSON
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}


class Audience(StrEnum):
    """Who is asking: the anonymous public or authenticated staff."""

    PUBLIC = "public"
    STAFF = "staff"


@dataclass(frozen=True)
class Field:
    """One attribute of a layer's features.

    `public` fields are disclosure data anyone may see; the others are for staff only. `sql` is
    the expression behind the field in the layer's source when it is not a plain column. Fields
    not `in_tiles` are left out of vector tiles (a map draws, labels and filters without them;
    a click reads the whole feature from OGC API Features), which keeps dense tiles small.
    """

    name: str
    type: FieldType
    public: bool
    title_zh: str
    title_en: str
    sql: str | None = None
    in_tiles: bool = True

    @property
    def expression(self) -> str:
        """The SQL expression that yields this field (a quoted column unless declared)."""
        return self.sql or f'"{self.name}"'


@dataclass(frozen=True)
class StyleClass:
    """One value of the styled field, its colour and its legend labels."""

    value: str
    color: str
    label_zh: str
    label_en: str


@dataclass(frozen=True)
class Style:
    """How a layer is drawn: colour by the value of `by` (None: one colour for all)."""

    by: str | None
    classes: tuple[StyleClass, ...]
    color: str = "#555555"
    stroke: str | None = None
    opacity: float = 0.35
    radius: int = 5
    weight: float = 1.5

    def color_of(self, value: str | None) -> str:
        """The colour of features whose styled field holds `value`."""
        return next((c.color for c in self.classes if c.value == value), self.color)


@dataclass(frozen=True)
class Temporal:
    """The fields a layer's `datetime` filter applies to (an instant field or an interval)."""

    start: str
    end: str | None = None


@dataclass(frozen=True)
class Layer:
    """A map layer declared once: tiles, OGC collections, legends and field access derive from it.

    `source` is a table or view whose rows are the layer's features; `where` narrows it with a
    fixed condition from the declaration; `default_where` applies unless the client filters by
    datetime (e.g. zones in force today); `count_source`, when given, is a table with exactly one
    row per feature, cheaper to count than the view; `cluster_source`, a narrower table or view
    with the geometry and the styled fields, feeds the clusters. `sources` lists the tables whose
    changes invalidate the layer's caches; `public_sources`, when given, those of the public's
    tiles (the public style's own grid: a table feeding only staff fields, such as the ledger or
    open monitoring events, does not make the public map re-render or re-cluster). Point layers
    with `aggregate` are clustered at zooms where a tile would carry more than the configured
    number of features.
    """

    id: str
    title_zh: str
    title_en: str
    source: str
    geometry: GeometryKind
    fields: tuple[Field, ...]
    style: Style
    sources: tuple[str, ...]
    audience: Audience = Audience.PUBLIC
    public_style: Style | None = None
    public_sources: tuple[str, ...] | None = None
    id_field: str = "id"
    count_source: str | None = None
    cluster_source: str | None = None
    geom_column: str = "geom"
    where: str | None = None
    default_where: str | None = None
    temporal: Temporal | None = None
    minzoom: int = 0
    maxzoom: int = 22
    aggregate: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.public_sources is None:
            return
        if self.public_style is None:
            raise ValueError(f"{self.id}: public_sources needs a public_style (a grid of its own)")
        if not set(self.public_sources) <= set(self.sources):
            raise ValueError(f"{self.id}: public_sources must be among sources")

    def sources_for(self, audience: Audience) -> tuple[str, ...]:
        """The tables whose changes invalidate this audience's tiles and clusters."""
        if audience == Audience.PUBLIC and self.public_sources is not None:
            return self.public_sources
        return self.sources

    @property
    def clustered(self) -> bool:
        """Whether dense tiles of this layer carry clusters (point layers declared `aggregate`)."""
        return self.aggregate and self.geometry == "point"

    def visible_to(self, audience: Audience) -> bool:
        """Whether the layer exists at all for this audience."""
        return self.audience == Audience.PUBLIC or audience == Audience.STAFF

    def fields_for(self, audience: Audience) -> tuple[Field, ...]:
        """The fields this audience may see (public ones only for the public)."""
        if audience == Audience.STAFF:
            return self.fields
        return tuple(f for f in self.fields if f.public)

    def tile_fields_for(self, audience: Audience) -> tuple[Field, ...]:
        """The audience's fields that vector tiles carry."""
        return tuple(f for f in self.fields_for(audience) if f.in_tiles)

    def field(self, name: str) -> Field:
        """The declared field called `name`."""
        return next(f for f in self.fields if f.name == name)

    def style_for(self, audience: Audience) -> Style:
        """The style this audience sees (the public one colours by public fields only)."""
        if audience == Audience.PUBLIC and self.public_style is not None:
            return self.public_style
        return self.style
