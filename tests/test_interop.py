"""Clients nobody here wrote, against a live server: GDAL's OAPIF driver, OWSLib, and
mapbox-vector-tile decoding the tiles a TileJSON points to.

The world is committed (the server opens its own sessions) with DENSE_UNITS packed in a corner
and the lowest tile cap, so low zooms come as clusters. Expected counts come from SQL on the
same database.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mapbox_vector_tile
import pytest
from owslib.ogcapi.features import Features
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from geo.settings import DatabaseSettings, LayerSettings, Settings
from layers.declarations import Audience, Layer
from layers.registry import LAYERS, layers_for
from layers.sources import quoted
from tests.browser import live_server
from tests.layer_fixtures import STAFF_MARKER, World, build_world
from tests.test_public_leak import DENSE_CENTRE, DENSE_UNITS, add_dense_units

STAFF = {"Authorization": "Bearer dev-staff-token"}
PUBLIC_IDS = [layer.id for layer in layers_for(Audience.PUBLIC)]
STAFF_IDS = [i for i in LAYERS if i not in PUBLIC_IDS]
CLIENT_ENV = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


@dataclass(frozen=True)
class Live:
    """The running server and what was committed for it."""

    url: str
    world: World
    engine: Engine

    @property
    def ogc(self) -> str:
        return f"{self.url}/ogc"

    def scalar(self, sql: str, **params: object) -> object:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar_one()

    def scalars(self, sql: str, **params: object) -> list[object]:
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params).scalars())


@pytest.fixture(scope="module")
def live(engine: Engine, db_url: str) -> Iterator[Live]:
    with Session(engine) as session, session.begin():
        world = build_world(session)
        add_dense_units(session)
    settings = Settings(
        database=DatabaseSettings(database_url=db_url),
        layers=LayerSettings(tile_max_features=256),
    )
    with live_server(create_app(settings)) as url:
        yield Live(url, world, engine)


def declared_count(live: Live, layer: Layer) -> int:
    """Features of a layer as its declaration selects them (zones: the versions in force)."""
    conditions = [c for c in (layer.where, layer.default_where) if c]
    where = " AND ".join(f"({c})" for c in conditions) or "true"
    return int(live.scalar(f"SELECT count(*) FROM {quoted(layer.source)} WHERE {where}"))


def public_fields(layer_id: str) -> list[str]:
    return [f.name for f in LAYERS[layer_id].fields_for(Audience.PUBLIC)]


def public_tile_fields(layer_id: str) -> list[str]:
    return [f.name for f in LAYERS[layer_id].tile_fields_for(Audience.PUBLIC)]


# --- GDAL ----------------------------------------------------------------------------------------


def gdal(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a GDAL utility (ogrinfo, ogr2ogr); fail, never skip, when GDAL is missing."""
    if shutil.which(args[0]) is None:
        pytest.fail(f"{args[0]} missing: run make test (installs gdal-bin)")
    return subprocess.run(
        args, capture_output=True, text=True, timeout=120, env=CLIENT_ENV, check=False
    )


def gdal_fields(layer: Layer) -> list[str]:
    """The fields GDAL shows: the public ones, after an "id" field when feature ids are not
    integers (GDAL keeps a string GeoJSON id as a field, OGR's own ids being integers)."""
    string_id = layer.field(layer.id_field).type != "integer"
    return ["id", *public_fields(layer.id)] if string_id else public_fields(layer.id)


def fetched(stderr: str, path: str) -> list[str]:
    """URLs GDAL fetched (from its --debug on output) whose path contains `path`."""
    return [u for u in re.findall(r"HTTP: Fetch\((\S+)\)", stderr) if path in u]


def test_gdal_lists_the_public_collections(live: Live) -> None:
    result = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{live.ogc}")
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^\d+: (\S+)", result.stdout, flags=re.MULTILINE)
    assert listed == PUBLIC_IDS
    assert not set(STAFF_IDS) & set(listed)
    refused = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{live.ogc}", "flags")
    assert refused.returncode != 0 and "flags" in refused.stdout + refused.stderr


def test_gdal_reports_schema_and_feature_counts(live: Live) -> None:
    result = gdal("ogrinfo", "-ro", "-so", "-al", f"OAPIF:{live.ogc}")
    assert result.returncode == 0, result.stderr
    blocks = re.split(r"^Layer name: ", result.stdout, flags=re.MULTILINE)[1:]
    reported = {}
    for block in blocks:
        name = block.split("\n", 1)[0].strip()
        reported[name] = int(re.search(r"^Feature Count: (\d+)", block, re.MULTILINE).group(1))
        fields = re.findall(r"^(\w+): \w+ \(", block, flags=re.MULTILINE)
        if reported[name]:  # GDAL 3.6 learns the fields from the first page of features
            assert fields == gdal_fields(LAYERS[name]), name
    assert reported == {i: declared_count(live, LAYERS[i]) for i in PUBLIC_IDS}
    assert reported["units"] == live.scalar("SELECT count(*) FROM units") == 11 + DENSE_UNITS
    assert STAFF_MARKER not in result.stdout


def test_gdal_reads_every_unit_page_by_page(live: Live) -> None:
    args = ("-ro", "-al", "-q", "-oo", "PAGE_SIZE=3", f"OAPIF:{live.ogc}", "units")
    result = gdal("ogrinfo", "--debug", "on", *args)
    assert result.returncode == 0, result.stderr
    total = live.scalar("SELECT count(*) FROM units")
    assert result.stdout.count("OGRFeature(units):") == total
    ids = [int(i) for i in re.findall(r"^  id \(Integer\) = (\d+)$", result.stdout, re.MULTILINE)]
    assert sorted(ids) == live.scalars("SELECT id FROM units ORDER BY id")
    pages = fetched(result.stderr, "/collections/units/items")
    assert len(pages) >= math.ceil(total / 3)
    assert all("limit=3" in page for page in pages)
    assert STAFF_MARKER not in result.stdout
    assert "address" not in result.stdout and "enforcement_status" not in result.stdout


def test_ogr2ogr_copies_units_to_geojson(live: Live, tmp_path: Path) -> None:
    target = tmp_path / "units.geojson"
    result = gdal(
        "ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{live.ogc}", "units",
        "-oo", "PAGE_SIZE=3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    features = json.loads(target.read_text())["features"]
    assert len(features) == live.scalar("SELECT count(*) FROM units")
    assert all(set(f["properties"]) == set(public_fields("units")) for f in features)
    valid = next(f for f in features if f["properties"]["id"] == live.world.units["valid"])
    assert valid["geometry"]["coordinates"] == pytest.approx([106.010, 29.010])
    assert valid["properties"]["permit_state"] == "valid"


@pytest.mark.parametrize(
    ("where", "server_side"),
    [
        ("permit_state = 'none' AND category = 'key'", "permit_state=none&category=key"),
        ("permit_state = 'none'", "permit_state=none"),
        ("id > 100 AND permit_state = 'none'", "permit_state=none"),  # id > 100: GDAL's side
        ("county_code = '500116' AND permit_state = 'valid'", "permit_state=valid"),
    ],
)
def test_gdal_where_matches_sql(live: Live, where: str, server_side: str) -> None:
    """GDAL 3.6 sends the equalities of a -where as queryable query parameters (Part 1) and
    evaluates the rest itself (it knows CQL only by its draft names, "cql-text", which this
    server, speaking CQL2, does not advertise); the count must be SQL's either way."""
    args = ("-ro", "-al", "-q", "-oo", "PAGE_SIZE=50", "-where", where, f"OAPIF:{live.ogc}")
    result = gdal("ogrinfo", "--debug", "on", *args, "units")
    assert result.returncode == 0, result.stderr
    expected = live.scalar(f"SELECT count(*) FROM layer_units WHERE {where}")
    assert expected > 0
    assert result.stdout.count("OGRFeature(units):") == expected
    pages = fetched(result.stderr, "/collections/units/items")
    assert any(server_side in page for page in pages), pages


def test_gdal_cannot_filter_on_a_staff_field(live: Live) -> None:
    args = ("-ro", "-al", "-q", "-where", "address IS NOT NULL", f"OAPIF:{live.ogc}", "units")
    result = gdal("ogrinfo", *args)
    assert "OGRFeature(" not in result.stdout
    assert "address" in result.stderr  # GDAL: not an available field
    assert STAFF_MARKER not in result.stdout + result.stderr


# --- OWSLib --------------------------------------------------------------------------------------


def test_owslib_reads_the_public_collections(live: Live) -> None:
    features = Features(live.ogc)
    ids = [c["id"] for c in features.collections()["collections"]]
    assert ids == PUBLIC_IDS and "flags" not in ids
    assert features.feature_collections() == PUBLIC_IDS
    conforms = features.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conforms
    assert features.collection("units")["id"] == "units"

    page = features.collection_items("units", limit=5)
    assert page["numberReturned"] == len(page["features"]) == 5
    assert page["numberMatched"] == live.scalar("SELECT count(*) FROM units")
    assert all(list(f["properties"]) == public_fields("units") for f in page["features"])
    assert STAFF_MARKER not in json.dumps(page, ensure_ascii=False)

    queryables = features.collection_queryables("units")
    assert set(queryables["properties"]) == {*public_fields("units"), "geometry"}

    filtered = features.collection_items("units", limit=5, filter="permit_state = 'none'")
    expected = live.scalar("SELECT count(*) FROM layer_units WHERE permit_state = 'none'")
    assert filtered["numberMatched"] == expected


def test_owslib_with_a_staff_token_sees_the_staff_layer(live: Live) -> None:
    """The counter-check: the same client, authenticated, gets `flags` and staff fields."""
    features = Features(live.ogc, headers=STAFF)
    assert "flags" in [c["id"] for c in features.collections()["collections"]]
    flags = features.collection_items("flags", limit=100)
    assert flags["numberMatched"] == len(live.world.flags)
    assert STAFF_MARKER in flags["features"][0]["properties"]["legal_basis"]
    units = features.collection_items("units", limit=1)
    assert "enforcement_status" in units["features"][0]["properties"]


# --- mapbox-vector-tile --------------------------------------------------------------------------


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tile_url(tilejson: dict[str, object], z: int, x: int, y: int) -> str:
    template = tilejson["tiles"][0]  # type: ignore[index]
    return template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))


def a_feature_point(live: Live, layer: Layer) -> tuple[str, float, float] | None:
    """The id and a point of the layer's first feature (None when the layer is empty)."""
    conditions = [c for c in (layer.where, layer.default_where) if c]
    where = " AND ".join(f"({c})" for c in conditions) or "true"
    point = f"ST_PointOnSurface({quoted(layer.geom_column)})"
    id_column = quoted(layer.id_field)
    with live.engine.connect() as connection:
        row = connection.execute(
            text(
                f"SELECT {id_column}::text, ST_X({point}), ST_Y({point})"
                f" FROM {quoted(layer.source)} WHERE {where} ORDER BY {id_column} LIMIT 1"
            )
        ).first()
    return None if row is None else (row[0], row[1], row[2])


@pytest.mark.parametrize("layer_id", PUBLIC_IDS)
def test_tiles_carry_the_tilejson_fields(live: Live, layer_id: str) -> None:
    """At zoom 16, a feature's tile properties are its OGC properties without the nulls, and
    exactly the fields the TileJSON declares (cluster fields aside)."""
    layer = LAYERS[layer_id]
    with httpx.Client(trust_env=False) as client:
        tilejson = client.get(f"{live.url}/tiles/{layer_id}.json").json()
        vector_layer = tilejson["vector_layers"][0]
        assert vector_layer["id"] == layer_id
        fields = set(vector_layer["fields"])
        cluster_fields = {"count", "cluster"} | {
            f"n_{c.value}" for c in layer.style_for(Audience.PUBLIC).classes
        }
        plain_fields = fields - cluster_fields if layer.aggregate else fields
        assert plain_fields == set(public_tile_fields(layer_id))
        sample = a_feature_point(live, layer)
        if sample is None:
            return  # an empty layer: its TileJSON is still complete
        feature_id, lon, lat = sample
        z = max(16, layer.minzoom)
        response = client.get(tile_url(tilejson, z, *tile_of(lon, lat, z)))
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        tile = mapbox_vector_tile.decode(response.content)
        assert list(tile) == [layer_id]
        features = tile[layer_id]["features"]
        assert features and all(set(f["properties"]) <= plain_fields for f in features)
        id_field = layer.id_field
        mine = next(f for f in features if str(f["properties"][id_field]) == feature_id)
        item = client.get(f"{live.ogc}/collections/{layer_id}/items/{feature_id}").json()
    in_tiles = set(public_tile_fields(layer_id))
    expected = {k: v for k, v in item["properties"].items() if v is not None and k in in_tiles}
    assert mine["properties"] == expected


def test_low_zoom_unit_tiles_are_clusters(live: Live) -> None:
    layer = LAYERS["units"]
    classes = {c.value for c in layer.style_for(Audience.PUBLIC).classes}
    with httpx.Client(trust_env=False) as client:
        tilejson = client.get(f"{live.url}/tiles/units.json").json()
        fields = set(tilejson["vector_layers"][0]["fields"])
        for z in (8, 14):  # 8: stored cells; 14 (above the stored zooms): cells made live
            x, y = tile_of(*DENSE_CENTRE, z)
            tile = mapbox_vector_tile.decode(client.get(tile_url(tilejson, z, x, y)).content)
            clusters = tile["units"]["features"]
            keys = {"count", "cluster"} | {f"n_{v}" for v in classes}
            assert clusters and all(set(f["properties"]) == keys for f in clusters), z
            assert keys <= fields
            for cluster in clusters:
                per_class = sum(cluster["properties"][f"n_{v}"] for v in classes)
                assert cluster["properties"]["cluster"] is True
                assert per_class == cluster["properties"]["count"]
            in_tile = live.scalar(
                "SELECT count(*) FROM units"
                " WHERE geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)",
                z=z,
                x=x,
                y=y,
            )
            assert sum(f["properties"]["count"] for f in clusters) == in_tile
