"""The layer registry is consistent with the database and never styles the public by a staff
field (cluster counts per class would leak it)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from geo.migrations.sql_0004 import VERSIONED_TABLES as VERSIONED_0004
from layers.declarations import Audience
from layers.registry import LAYERS
from layers.sources import class_expression, quoted, select_list

# migration 0010 versions the problem ledger, 0013 the monitoring events and devices
VERSIONED_TABLES = (*VERSIONED_0004, "problems", "monitoring_events", "monitoring_devices")
TYPES = {
    "string": {"text", "character varying", "character"},
    "integer": {"integer", "bigint", "smallint"},
    "number": {"double precision", "numeric", "real"},
    "boolean": {"boolean"},
    "date": {"date"},
    "datetime": {"timestamp with time zone"},
}


@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
def test_every_declared_field_exists_with_its_type(session, layer) -> None:
    fields = layer.fields_for(Audience.STAFF)
    types = ", ".join(f"pg_typeof({f.expression})::text" for f in fields)
    session.execute(text(f"SELECT {select_list(layer.fields)} FROM {quoted(layer.source)} LIMIT 0"))
    row = session.execute(
        text(f"SELECT {types} FROM (SELECT * FROM {quoted(layer.source)} LIMIT 0) AS s"
             f" RIGHT JOIN (SELECT 1) AS one ON true")
    ).one()  # fmt: skip
    for field, pg_type in zip(fields, row, strict=True):
        assert pg_type in TYPES[field.type], (layer.id, field.name, pg_type)


@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
def test_sources_and_styles_are_sound(session, layer) -> None:
    assert re.fullmatch(r"[a-z_]+", layer.id)
    assert set(layer.sources) <= set(VERSIONED_TABLES), layer.id
    assert layer.id_field in {f.name for f in layer.fields_for(Audience.PUBLIC)} or (
        layer.audience == Audience.STAFF
    )
    for audience in Audience:
        if not layer.visible_to(audience):
            continue
        style = layer.style_for(audience)
        if style.by is not None:
            assert style.by in {f.name for f in layer.tile_fields_for(audience)}, (
                layer.id,
                audience,
            )
    for table in filter(None, (layer.count_source, layer.cluster_source)):
        session.execute(text(f"SELECT {quoted(layer.geom_column)} FROM {quoted(table)} LIMIT 0"))
    if layer.aggregate:
        for audience in Audience:
            source = quoted(layer.cluster_source or layer.source)
            expression = class_expression(layer, layer.style_for(audience))
            session.execute(text(f"SELECT {expression} FROM {source} LIMIT 0"))


def test_the_public_sees_units_by_permit_state_and_staff_by_enforcement_status() -> None:
    units = LAYERS["units"]
    assert units.style_for(Audience.PUBLIC).by == "permit_state"
    assert units.style_for(Audience.STAFF).by == "enforcement_status"
    assert not units.field("enforcement_status").public
