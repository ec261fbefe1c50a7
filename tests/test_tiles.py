"""Vector tiles: fields per audience, clusters under the feature cap, cache and its invalidation,
HTTP caching headers, errors."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import re

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.settings import DatabaseSettings, LayerSettings, Settings
from layers.cells import CellGrid, cell_points_sql
from layers.declarations import Audience, StyleClass
from layers.registry import LAYERS
from tests.conftest import use_session
from tests.factories import COUNTY, add_region, credit_code
from tests.layer_fixtures import build_world

STAFF = {"Authorization": "Bearer dev-staff-token"}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The XYZ tile holding a point."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def decode(response) -> list[dict]:
    """Features of the single layer of a tile response."""
    assert response.status_code == 200, response.text
    layers = mapbox_vector_tile.decode(response.content)
    return next(iter(layers.values()))["features"] if layers else []


@pytest.fixture
def capped_client(db_url, session):
    """The app with the smallest feature cap (256) and an 8 × 8 cluster grid."""
    settings = Settings(
        database=DatabaseSettings(database_url=db_url, db_warm_pool=False),
        layers=LayerSettings(tile_max_features=256, tile_cluster_grid=8),
    )
    app = create_app(settings)
    use_session(app, session)
    with TestClient(app) as test_client:
        yield test_client


def add_crowd(session, count: int, lon: float, lat: float, spread: float) -> None:
    """`count` operating units on a small grid around (lon, lat), each with a valid permit."""
    if (
        session.execute(text("SELECT 1 FROM admin_regions WHERE code = :c"), {"c": COUNTY}).first()
        is None
    ):
        add_region(session)
    session.execute(
        text("""
        WITH new AS (
          INSERT INTO units (credit_code, name, industry_code, category, county_code, status, geom,
                             location_source)
          SELECT c.code, '人群单位' || c.i, '2614', 'simplified', :county, 'operating',
                 ST_SetSRID(ST_MakePoint(:lon + (c.i % 20) * :step, :lat + (c.i / 20) * :step),
                            4326), 'surveyed'
          FROM unnest(CAST(:codes AS text[])) WITH ORDINALITY AS c(code, i)
          RETURNING id, credit_code)
        INSERT INTO permits (permit_no, unit_id, kind, report_frequencies, issued_on, valid_from,
                             valid_to, status, authority)
        SELECT credit_code || '001V', id, 'permit', '{annual}', current_date, current_date,
               current_date + 1000, 'valid', 'x' FROM new
    """),
        {
            "codes": [credit_code(50_000 + i) for i in range(count)],
            "county": COUNTY,
            "lon": lon,
            "lat": lat,
            "step": spread / 20,
        },
    )


def test_public_tiles_carry_public_fields_and_staff_tiles_all(client, session) -> None:
    build_world(session)
    z, x, y = tile_of(106.05, 29.05, 14)
    public = decode(client.get(f"/tiles/units/{z}/{x}/{y}.mvt"))
    staff = decode(client.get(f"/tiles/units/{z}/{x}/{y}.mvt", headers=STAFF))
    units = LAYERS["units"]
    assert public and len(public) == len(staff)
    public_names = {f.name for f in units.tile_fields_for(Audience.PUBLIC)}
    assert all(set(f["properties"]) == public_names for f in public)
    staff_names = {f.name for f in units.tile_fields_for(Audience.STAFF)}
    assert all(set(f["properties"]) == staff_names for f in staff)
    assert "permit_no" not in public_names  # details come from the OGC item, not the tile
    statuses = {f["properties"]["name"]: f["properties"]["enforcement_status"] for f in staff}
    assert statuses["测试单位violation"] == "violation"


def test_every_layer_renders_a_tile_over_the_world(client, session) -> None:
    build_world(session)
    z, x, y = tile_of(106.05, 29.05, 12)
    for layer in LAYERS.values():
        if not layer.minzoom <= z <= layer.maxzoom:
            continue
        response = client.get(f"/tiles/{layer.id}/{z}/{x}/{y}.mvt", headers=STAFF)
        assert response.status_code == 200, (layer.id, response.text)
    assert decode(client.get(f"/tiles/zones_water_protection/{z}/{x}/{y}.mvt"))


def test_zone_tiles_show_the_version_in_force_today(client, session) -> None:
    world = build_world(session)
    z, x, y = tile_of(106.03, 29.03, 11)
    ids = {f["id"] for f in decode(client.get(f"/tiles/zones_water_protection/{z}/{x}/{y}.mvt"))}
    assert ids == {world.zone_now}


def test_dense_tiles_become_clusters_that_count_every_unit(capped_client, session) -> None:
    add_crowd(session, 400, 106.01, 29.01, 0.08)
    z, x, y = tile_of(106.05, 29.05, 9)
    features = decode(capped_client.get(f"/tiles/units/{z}/{x}/{y}.mvt"))
    assert 1 < len(features) <= 64  # an 8 × 8 grid
    assert all(f["properties"]["cluster"] for f in features)
    assert sum(f["properties"]["count"] for f in features) == 400
    assert sum(f["properties"]["n_valid"] for f in features) == 400
    staff = decode(capped_client.get(f"/tiles/units/{z}/{x}/{y}.mvt", headers=STAFF))
    assert sum(f["properties"]["n_valid"] for f in staff) == 400
    assert "n_violation" in staff[0]["properties"]


def test_no_tile_carries_more_than_the_cap(capped_client, session) -> None:
    add_crowd(session, 600, 106.02, 29.02, 0.002)  # 20 × 30 units within ~200 × 300 m
    clustered_zooms = []
    for zoom in range(0, 19):
        z, x, y = tile_of(106.021, 29.021, zoom)
        features = decode(capped_client.get(f"/tiles/units/{z}/{x}/{y}.mvt"))
        assert 0 < len(features) <= 256, z
        whole_crowd_inside = tile_of(106.02, 29.02, z) == tile_of(106.0219, 29.0229, z)
        if whole_crowd_inside:  # clusters account for everyone, stored or live (z > 12)
            assert sum(f["properties"]["count"] for f in features) == 600, z
            assert all(f["properties"]["cluster"] for f in features), z
            clustered_zooms.append(z)
    assert max(clustered_zooms) > 12  # the live path, not only the stored cells
    z, x, y = tile_of(106.0201, 29.0201, 22)
    single = decode(capped_client.get(f"/tiles/units/{z}/{x}/{y}.mvt"))
    assert single and all("cluster" not in f["properties"] for f in single)


def test_sparse_tiles_carry_every_feature(capped_client, session) -> None:
    world = build_world(session)
    z, x, y = tile_of(106.05, 29.05, 8)
    features = decode(capped_client.get(f"/tiles/units/{z}/{x}/{y}.mvt"))
    assert {f["id"] for f in features} == set(world.units.values())


def test_cache_serves_repeats_and_forgets_after_a_write(client, session) -> None:
    build_world(session)
    cache = client.app.state.tile_cache
    path = "/tiles/units/{}/{}/{}.mvt".format(*tile_of(106.05, 29.05, 10))
    first = client.get(path)
    hits = cache.hits
    assert client.get(path).content == first.content
    assert cache.hits == hits + 1
    session.execute(text("UPDATE units SET name = '改名单位' WHERE name = '测试单位valid'"))
    names = {f["properties"]["name"] for f in decode(client.get(path))}
    assert "改名单位" in names and cache.hits == hits + 1


def test_clusters_follow_a_permit_change(capped_client, session) -> None:
    add_crowd(session, 300, 106.01, 29.01, 0.05)
    path = "/tiles/units/{}/{}/{}.mvt".format(*tile_of(106.03, 29.03, 8))
    before = decode(capped_client.get(path))
    assert sum(f["properties"]["n_revoked"] for f in before) == 0
    session.execute(text("UPDATE permits SET status = 'revoked' WHERE permit_no LIKE '%001V'"))
    after = decode(capped_client.get(path))
    assert sum(f["properties"]["n_revoked"] for f in after) == 300


def test_http_caching_and_compression(client, session) -> None:
    build_world(session)
    path = "/tiles/units/{}/{}/{}.mvt".format(*tile_of(106.05, 29.05, 13))
    zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert zipped.headers["cache-control"].startswith("public")
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(gzip.compress(plain.content)) == zipped.content  # httpx unzipped it
    etag = plain.headers["etag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    staff = client.get(path, headers=STAFF)
    assert staff.headers["cache-control"].startswith("private")
    assert staff.headers["etag"] != etag


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tiles/nope/1/0/0.mvt", 404),
        ("/tiles/units/25/0/0.mvt", 404),
        ("/tiles/units/3/8/0.mvt", 404),
        ("/tiles/units/3/0/-1.mvt", 404),
        ("/tiles/units/99999999999999999999/0/0.mvt", 404),
        ("/tiles/outlets/2/1/1.mvt", 404),  # below the layer's minzoom
        ("/tiles/flags/1/0/0.mvt", 403),
        ("/tiles/flags.json", 403),
        ("/tiles/nope.json", 404),
        ("/tiles/units/a/0/0.mvt", 422),
    ],
)
def test_bad_tile_requests_are_problems_not_crashes(client, path, status) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_staff_layers_open_with_a_token(client, session) -> None:
    build_world(session)
    z, x, y = tile_of(106.05, 29.05, 14)
    features = decode(client.get(f"/tiles/flags/{z}/{x}/{y}.mvt", headers=STAFF))
    assert {f["properties"]["severity"] for f in features} >= {"prohibited", "restricted"}


def test_tilejson_describes_the_audience_fields(client, session) -> None:
    build_world(session)
    doc = client.get("/tiles/units.json").json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"][0].endswith("/tiles/units/{z}/{x}/{y}.mvt")
    west, south, east, north = doc["bounds"]
    assert 106.0 <= west <= east <= 106.1 and 29.0 <= south <= north <= 29.1
    fields = doc["vector_layers"][0]["fields"]
    assert fields["name"] == "String" and fields["count"] == "Number"
    assert "enforcement_status" not in fields and "n_valid" in fields
    staff = client.get("/tiles/units.json", headers=STAFF).json()
    assert "enforcement_status" in staff["vector_layers"][0]["fields"]


def test_layer_list_has_legends_from_the_styles(client) -> None:
    public = {layer["id"]: layer for layer in client.get("/api/layers").json()}
    assert "flags" not in public
    units = public["units"]
    assert units["style"]["by"] == "permit_state"
    assert [e["value"] for e in units["legend"]] == [
        c.value for c in LAYERS["units"].public_style.classes
    ]
    staff = {layer["id"]: layer for layer in client.get("/api/layers", headers=STAFF).json()}
    assert staff["units"]["style"]["by"] == "enforcement_status" and "flags" in staff
    assert client.get("/api/layers/flags").status_code == 403


def test_the_cluster_grid_must_fit_under_the_cap() -> None:
    with pytest.raises(ValueError, match="CLUSTER_GRID"):
        LayerSettings(tile_max_features=256, tile_cluster_grid=17)
    assert LayerSettings(tile_max_features=256, tile_cluster_grid=16).tile_cluster_grid == 16


def test_a_changed_style_rebuilds_its_clusters_and_drops_the_old_ones(
    capped_client, session, monkeypatch
) -> None:
    add_crowd(session, 300, 106.01, 29.01, 0.05)
    path = "/tiles/units/{}/{}/{}.mvt".format(*tile_of(106.03, 29.03, 8))
    assert "n_archived" not in decode(capped_client.get(path))[0]["properties"]
    units = LAYERS["units"]
    extra = StyleClass("archived", "#000000", "归档", "archived")
    style = dataclasses.replace(units.public_style, classes=(*units.public_style.classes, extra))
    monkeypatch.setitem(LAYERS, "units", dataclasses.replace(units, public_style=style))
    capped_client.app.state.tile_cache.clear()  # the registry is code: a new process
    clusters = decode(capped_client.get(path))
    assert all(f["properties"]["n_archived"] == 0 for f in clusters)
    assert sum(f["properties"]["n_valid"] for f in clusters) == 300
    keys = session.execute(
        text("SELECT DISTINCT layer FROM layer_cells WHERE layer LIKE 'units:permit_state:%'")
    ).scalars()
    assert len(list(keys)) == 1


def test_a_filter_keeps_only_matching_features(client, session) -> None:
    build_world(session)
    z, x, y = tile_of(106.05, 29.05, 14)
    path = f"/tiles/units/{z}/{x}/{y}.mvt"
    everyone = decode(client.get(path, headers=STAFF))
    wanted = "enforcement_status = 'violation'"
    kept = decode(client.get(path, params={"filter": wanted}, headers=STAFF))
    expected = {f["id"] for f in everyone if f["properties"]["enforcement_status"] == "violation"}
    assert kept and {f["id"] for f in kept} == expected < {f["id"] for f in everyone}
    public = decode(client.get(path, params={"filter": "permit_state = 'valid'"}))
    assert public and all(f["properties"]["permit_state"] == "valid" for f in public)


def test_dense_filtered_tiles_cluster_only_the_matching_points(capped_client, session) -> None:
    add_crowd(session, 400, 106.01, 29.01, 0.08)
    session.execute(
        text("UPDATE units SET category = 'key' WHERE name LIKE '人群单位%' AND id % 4 = 0")
    )
    keys = session.execute(
        text("SELECT count(*) FROM units WHERE name LIKE '人群单位%' AND category = 'key'")
    ).scalar_one()
    z, x, y = tile_of(106.05, 29.05, 9)
    path = f"/tiles/units/{z}/{x}/{y}.mvt"
    simplified = decode(capped_client.get(path, params={"filter": "category = 'simplified'"}))
    assert all(f["properties"]["cluster"] for f in simplified)  # 300 > the cap of 256
    assert sum(f["properties"]["count"] for f in simplified) == 400 - keys
    key_units = decode(capped_client.get(path, params={"filter": "category = 'key'"}))
    assert len(key_units) == keys and not any("cluster" in f["properties"] for f in key_units)


@pytest.mark.parametrize(
    ("filter_text", "audience"),
    [
        ("enforcement_status = 'violation'", {}),  # a staff field, asked anonymously
        ("no_such_field = 1", STAFF),
        ("category = ", STAFF),
        ("category = 'key'; DROP TABLE units", STAFF),
        ("x" * 2001, STAFF),
    ],
)
def test_bad_tile_filters_are_400_naming_the_filter(client, filter_text, audience) -> None:
    response = client.get(
        "/tiles/units/10/830/420.mvt", params={"filter": filter_text}, headers=audience
    )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "filter"


def test_filtered_and_unfiltered_tiles_are_cached_apart(client, session) -> None:
    build_world(session)
    path = "/tiles/units/{}/{}/{}.mvt".format(*tile_of(106.05, 29.05, 14))
    everyone = client.get(path, headers=STAFF)
    filtered = client.get(
        path, params={"filter": "enforcement_status = 'violation'"}, headers=STAFF
    )
    assert everyone.headers["etag"] != filtered.headers["etag"]
    assert client.get(path, headers=STAFF).content == everyone.content


def _built_for(session, pattern: str) -> str:
    return session.execute(
        text("SELECT DISTINCT built_for FROM layer_cells_state WHERE layer LIKE :p"), {"p": pattern}
    ).scalar_one()


def test_a_ledger_write_re_clusters_staff_tiles_only(capped_client, session) -> None:
    """A problem opened changes staff colours (enforcement status), not the public's: the
    public tile stays cached and its clusters are not rebuilt."""
    add_crowd(session, 300, 106.01, 29.01, 0.05)
    path = "/tiles/units/{}/{}/{}.mvt".format(*tile_of(106.03, 29.03, 8))
    public, staff = capped_client.get(path), capped_client.get(path, headers=STAFF)
    public_cells = _built_for(session, "units:permit_state:%")
    staff_cells = _built_for(session, "units:enforcement_status:%")
    unit_id = session.execute(text("SELECT min(id) FROM units")).scalar_one()
    session.execute(
        text(
            "INSERT INTO problems (source, problem_type, unit_id, finding, department, deadline,"
            " status, opened_on, opened_by) VALUES ('inspection', 'rectification_order', :unit,"
            " '现场检查发现问题', '执法支队', current_date + 30, 'open', current_date, 'tester')"
        ),
        {"unit": unit_id},
    )
    hits = capped_client.app.state.tile_cache.hits
    assert capped_client.get(path).headers["etag"] == public.headers["etag"]
    assert capped_client.app.state.tile_cache.hits == hits + 1
    assert _built_for(session, "units:permit_state:%") == public_cells
    after = decode(capped_client.get(path, headers=STAFF))
    assert sum(f["properties"]["n_open_problem"] for f in after) == 1
    assert after != decode(staff)
    assert _built_for(session, "units:enforcement_status:%") != staff_cells


def test_public_tiles_read_only_their_public_sources(session) -> None:
    """The tables the public's tile and cluster queries read are all in the layer's
    `public_sources`: a change anywhere else cannot change what the public sees."""
    narrowed = [layer for layer in LAYERS.values() if layer.public_sources is not None]
    assert {"units", "outlets"} <= {layer.id for layer in narrowed}
    for layer in narrowed:
        fields = ", ".join(f.expression for f in layer.fields_for(Audience.PUBLIC))
        features = f"SELECT {fields}, geom FROM {layer.source}"
        clusters = cell_points_sql(CellGrid(layer, layer.style_for(Audience.PUBLIC), 8), 8)
        for sql in (features, clusters):
            plan = session.execute(text(f"EXPLAIN (FORMAT JSON) {sql}")).scalar_one()
            read = set(re.findall(r'"Relation Name": "(\w+)"', json.dumps(plan)))
            assert read <= set(layer.public_sources), (layer.id, read)
            assert read, layer.id
