"""Public means public: every GET endpoint, every layer, every tile zoom, asked anonymously.

The walk enumerates the app's own routes (the OpenAPI paths plus the routes kept out of the
schema), fills their path parameters from the layer registry and the hand-made world, and runs a
leak detector on every answer: no `STAFFONLY` value, no staff-only layer, no staff-only field as
a property key, tile field, queryable, legend or page column. A route whose parameters the walk
cannot fill must be listed in `SKIPPED_ROUTES` with a reason, so a new endpoint fails this test
until someone decides how it is walked. The counter-checks prove the detector can fail: staff see
what the public may not, and a staff field declared public by mistake trips it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import mapbox_vector_tile
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.routing import Mount

from api.app import create_app
from geo.clock import CHINA
from geo.monitoring.devices import register_device
from geo.monitoring.readings import ReadingRow, known_months, store_readings
from geo.settings import DatabaseSettings, LayerSettings, Settings
from layers.cql2_filter import CGCS2000
from layers.declarations import Audience, Layer
from layers.registry import LAYERS
from layers.sources import quoted
from tests.conftest import use_session
from tests.factories import COUNTY, credit_code
from tests.layer_fixtures import PUBLIC_PENALTY_NO, STAFF_MARKER, World, build_world
from tests.routes import flat_routes, staff_routes
from tests.test_draws import add_published_draw

STAFF = {"Authorization": "Bearer dev-admin-token"}  # admins may call every staff route
ZOOMS = range(17)
EDGE_MARGIN = 0.05  # of a tile: a point this close to an edge is drawn in the neighbour too
DENSE_UNITS = 300  # more than tile_max_features' floor (256): low zooms come as clusters
DENSE_CENTRE = (106.095, 29.095)
# GET routes that need a signed-in caller (found from their RoleCheck dependency): anonymously
# they answer 401.
STAFF_ONLY_ROUTES = {
    path for (method, path) in staff_routes(create_app(Settings())) if method == "GET"
}
# Query strings a route needs to answer 200 (a search without a term is a 400).
ROUTE_QUERIES = {
    "/api/units/search": "q=测试单位",
    "/siting/report": urlencode(
        {"geometry": '{"type": "Point", "coordinates": [106.05, 29.05]}', "industry_code": "2614"}
    ),
}
EVIDENCE_PDF = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"
# Routes the walk does not request, each with the reason.
SKIPPED_ROUTES = {
    "/static/{path}": "vendored JS/CSS/fonts copied into the package; no database behind them",
}
# Documents describing every route of the API, staff ones included: their schemas name staff
# fields by design (a route's shape, not data), so only values and staff layers are checked.
API_DESCRIPTIONS = {"/openapi.json", "/docs", "/"}
# Staff field names that are also ordinary members of JSON documents ("status" of a problem
# details object): outside a layer's own documents they are not taken for a field.
GENERIC = frozenset({"status"})


# --- what the public may not see, from the declarations ---------------------------------------


@dataclass(frozen=True)
class Rules:
    """What must not reach the public, snapshotted from the registry."""

    staff_layers: frozenset[str]
    staff_fields: dict[str, frozenset[str]]  # per layer: its fields with public=False
    staff_titles: dict[str, frozenset[str]]  # per layer: titles only staff fields carry
    public_fields: dict[str, frozenset[str]]
    public_classes: dict[str, frozenset[str]]  # values of the public style's classes
    staff_only_names: frozenset[str]  # staff field names no public layer uses publicly
    staff_layer_titles: frozenset[str]
    tile_keys: dict[str, frozenset[str]]  # per layer: what a public tile feature may carry

    @classmethod
    def from_registry(cls, layers: dict[str, Layer]) -> Rules:
        public_layers = [layer for layer in layers.values() if layer.visible_to(Audience.PUBLIC)]
        public_names = {f.name for layer in public_layers for f in layer.fields if f.public}
        staff_names = {f.name for layer in layers.values() for f in layer.fields if not f.public}
        titles: dict[str, frozenset[str]] = {}
        for layer in layers.values():
            public_titles = {t for f in layer.fields if f.public for t in (f.title_zh, f.title_en)}
            titles[layer.id] = (
                frozenset(t for f in layer.fields if not f.public for t in (f.title_zh, f.title_en))
                - public_titles
            )
        return cls(
            staff_layers=frozenset(i for i, layer in layers.items() if layer not in public_layers),
            staff_fields={
                i: frozenset(f.name for f in layer.fields if not f.public)
                for i, layer in layers.items()
            },
            staff_titles=titles,
            public_fields={
                i: frozenset(f.name for f in layer.fields if f.public)
                for i, layer in layers.items()
            },
            public_classes={
                i: frozenset(c.value for c in layer.style_for(Audience.PUBLIC).classes)
                for i, layer in layers.items()
            },
            staff_only_names=frozenset(staff_names - public_names),
            tile_keys={i: _public_tile_keys(layer) for i, layer in layers.items()},
            staff_layer_titles=frozenset(
                t
                for i, layer in layers.items()
                if layer not in public_layers
                for t in (layer.title_zh, layer.title_en)
            ),
        )


def _public_tile_keys(layer: Layer) -> frozenset[str]:
    keys = {f.name for f in layer.fields if f.public}
    if layer.aggregate:
        classes = layer.style_for(Audience.PUBLIC).classes
        keys |= {"count", "cluster"} | {f"n_{c.value}" for c in classes}
    return frozenset(keys)


RULES = Rules.from_registry(LAYERS)


# --- the detector -------------------------------------------------------------------------------


def find_leaks(
    rules: Rules, route: str, content_type: str, body: bytes, layer_id: str | None
) -> list[str]:
    """What in one 2xx answer the public may not see (empty when nothing)."""
    found = []
    if STAFF_MARKER.encode() in body:
        found.append(f"value {STAFF_MARKER}")
    if "vnd.mapbox-vector-tile" in content_type:
        found += _tile_leaks(rules, body)
    elif "json" in content_type:
        found += _json_leaks(rules, json.loads(body), layer_id, route in API_DESCRIPTIONS)
    else:
        text_body = body.decode("utf-8", errors="replace")  # images and files: their text parts
        found += _text_leaks(rules, text_body, layer_id, route in API_DESCRIPTIONS)
    return found


def _tile_leaks(rules: Rules, body: bytes) -> list[str]:
    found = []
    for name, tile_layer in mapbox_vector_tile.decode(body).items():
        if name in rules.staff_layers or name not in LAYERS:
            found.append(f"tile layer {name!r}")
            continue
        for feature in tile_layer["features"]:
            keys = set(feature["properties"])
            found += [f"tile field {name}.{k}" for k in keys & rules.staff_fields[name]]
            found += [f"undeclared tile field {name}.{k}" for k in keys - rules.tile_keys[name]]
            values = " ".join(str(v) for v in feature["properties"].values())
            if STAFF_MARKER in values:
                found.append(f"tile value {STAFF_MARKER} in {name}")
    return found


def _json_leaks(
    rules: Rules, document: Any, layer_id: str | None, describes_api: bool
) -> list[str]:
    found = []
    for node in _nodes(document):
        if isinstance(node, str):
            found += [f"{leak}: {node}" for leak in _staff_links(rules, node)]
        elif isinstance(node, dict) and not describes_api:
            found += _object_leaks(rules, node, layer_id)
    return found


def _staff_links(rules: Rules, text: str) -> list[str]:
    return [
        f"link to staff layer {i!r}"
        for i in sorted(rules.staff_layers)
        if f"/collections/{i}" in text or f"/tiles/{i}" in text
    ]


def _object_leaks(rules: Rules, node: dict[str, Any], layer_id: str | None) -> list[str]:
    """One JSON object: a staff layer entry, a staff parameter, staff properties or fields."""
    found = [
        f"staff layer entry {node[key]!r}"
        for key in ("id", "name")
        if isinstance(node.get(key), str) and node[key] in rules.staff_layers
    ]
    if node.get("in") in ("query", "path") and node.get("name") in rules.staff_only_names:
        found.append(f"parameter {node['name']!r}")
    entry_id = node.get("id") if isinstance(node.get("id"), str) else None
    if entry_id in LAYERS:  # an /api/layers entry, a TileJSON vector layer, a collection
        found += _layer_entry_leaks(rules, node)
        layer_id = entry_id
    return found + _property_leaks(rules, node, layer_id)


def _property_leaks(rules: Rules, node: dict[str, Any], layer_id: str | None) -> list[str]:
    """Staff field names as keys of `properties` (GeoJSON, queryables, JSON schemas)."""
    properties = node.get("properties")
    if not isinstance(properties, dict):
        return []
    forbidden = rules.staff_fields[layer_id] if layer_id else rules.staff_only_names - GENERIC
    found = [f"property {k!r}" for k in set(properties) & forbidden]
    if node.get("type") == "Feature" and layer_id:
        found += [
            f"undeclared property {k!r}" for k in set(properties) - rules.public_fields[layer_id]
        ]
    return found


def _layer_entry_leaks(rules: Rules, entry: dict[str, Any]) -> list[str]:
    """An /api/layers entry or TileJSON vector layer: its fields, style and legend."""
    layer_id = entry["id"]
    fields = entry.get("fields")
    names = (
        set(fields)
        if isinstance(fields, dict)
        else {f["name"] for f in fields or [] if isinstance(f, dict) and "name" in f}
    )
    found = [f"field {layer_id}.{n}" for n in names & rules.staff_fields[layer_id]]
    style_by = (entry.get("style") or {}).get("by")
    if style_by in rules.staff_fields[layer_id]:
        found.append(f"style of {layer_id} by staff field {style_by!r}")
    for item in entry.get("legend") or []:
        if item.get("value") and item["value"] not in rules.public_classes[layer_id]:
            found.append(f"legend class {layer_id}.{item['value']}")
    return found


def _text_leaks(rules: Rules, page: str, layer_id: str | None, describes_api: bool) -> list[str]:
    found = [f"staff layer title {t!r}" for t in rules.staff_layer_titles if t in page]
    found += _staff_links(rules, page)
    if layer_id is not None and not describes_api:
        for name in rules.staff_fields[layer_id]:
            if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", page):
                found.append(f"field name {layer_id}.{name} in page")
        # Chinese titles only: the English ones are ordinary words a description may use
        titles = {t for t in rules.staff_titles[layer_id] if not t.isascii()}
        found += [f"field title {t!r} in page" for t in titles if t in page]
    return found


def _nodes(document: Any) -> Iterator[Any]:
    yield document
    if isinstance(document, dict):
        for value in document.values():
            yield from _nodes(value)
    elif isinstance(document, list):
        for value in document:
            yield from _nodes(value)


# --- the walk ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request of the walk: the route it exercises and the layer it is about."""

    route: str
    url: str
    layer_id: str | None = None


@dataclass
class Answer:
    probe: Probe
    status: int
    content_type: str
    body: bytes
    cache_control: str = ""


def get_routes(app: FastAPI) -> list[str]:
    """Every GET route: the OpenAPI paths, plus the routes kept out of the schema (pages)."""
    paths = [p for p, item in app.openapi()["paths"].items() if "get" in item]
    for full_path, route in flat_routes(app.routes):
        # a mounted app serves any path below it: a route the walk cannot fill on its own
        path = f"{full_path}/{{path}}" if isinstance(route, Mount) else full_path
        is_get = isinstance(route, Mount) or "GET" in (getattr(route, "methods", None) or ())
        if is_get and path not in paths:
            paths.append(path)
    return paths


@dataclass
class Samples:
    """Per layer, from its whole source (read as staff): points on its features, and ids."""

    points: dict[str, list[tuple[float, float]]]
    ids: dict[str, list[str]]


def sample_layers(session: Session, max_ids: int = 12) -> Samples:
    points, ids = {}, {}
    for layer in LAYERS.values():
        geom, source = quoted(layer.geom_column), quoted(layer.source)
        point = f"ST_PointOnSurface({geom})"
        rows = session.execute(text(f"SELECT DISTINCT ST_X({point}), ST_Y({point}) FROM {source}"))
        points[layer.id] = [(x, y) for x, y in rows]
        id_column = quoted(layer.id_field)
        rows = session.execute(
            text(f"SELECT {id_column}::text FROM {source} ORDER BY {id_column} LIMIT {max_ids}")
        )
        ids[layer.id] = [*rows.scalars(), "999999", "not-an-id"]
    return Samples(points, ids)


def tile_of(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Fractional XYZ tile coordinates of a point at zoom z."""
    n = 2**z
    x = (lon + 180) / 360 * n
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return min(max(x, 0), n - 1e-9), min(max(y, 0), n - 1e-9)


def tiles_around(points: list[tuple[float, float]]) -> list[tuple[int, int, int]]:
    """At every zoom of ZOOMS, the tile holding each point, and the neighbour tiles whose
    rendering buffer (64/4096 of a tile) the point falls in: every tile a feature is drawn in."""
    tiles = set()
    margin = EDGE_MARGIN
    for z in ZOOMS:
        for lon, lat in points:
            fx, fy = tile_of(lon, lat, z)
            x, y = int(fx), int(fy)
            xs = {x + d for d, near in ((-1, fx - x < margin), (1, x + 1 - fx < margin)) if near}
            ys = {y + d for d, near in ((-1, fy - y < margin), (1, y + 1 - fy < margin)) if near}
            for tx in {x, *xs}:
                for ty in {y, *ys}:
                    if 0 <= tx < 2**z and 0 <= ty < 2**z:
                        tiles.add((z, tx, ty))
    return sorted(tiles)


def probes(
    routes: list[str], samples: Samples, fillers: dict[str, list[str]]
) -> tuple[list[Probe], list[str]]:
    """Requests for every route; routes whose parameters cannot be filled are returned apart.

    Layer routes are asked for every registry layer (staff ones included) and an unknown one;
    tiles at every zoom where the layer's features are (and at an anchor point of the world, so
    empty layers are walked too); features by every sampled id of the collection.
    """
    anchor = next(p for points in samples.points.values() for p in points)
    made: list[Probe] = []
    unfilled = []
    for route in routes:
        if route in SKIPPED_ROUTES:
            continue
        params = set(re.findall(r"{(\w+)}", route))
        layer_param = params & {"layer_id", "collection_id"}
        rest = params - layer_param - {"feature_id", "z", "x", "y"}
        if any(p not in fillers for p in rest) or (params - rest - layer_param and not layer_param):
            unfilled.append(route)
            continue
        for layer_id in [*LAYERS, "no_such_layer"] if layer_param else [None]:
            known = layer_id in LAYERS
            context = Context(
                fillers,
                samples.ids[layer_id] if known else ["1"],
                tiles_around([*samples.points[layer_id], anchor] if known else [anchor]),
            )
            for url in _urls(route, params, context, layer_id):
                made.append(Probe(route, url, layer_id if known else None))
    return made, unfilled


@dataclass(frozen=True)
class Context:
    fillers: dict[str, list[str]]
    ids: list[str]
    tiles: list[tuple[int, int, int]]


def _urls(route: str, params: set[str], context: Context, layer_id: str | None) -> Iterator[str]:
    variants = [route]
    if layer_id is not None:
        variants = [route.replace("{layer_id}", layer_id).replace("{collection_id}", layer_id)]
    for name in params - {"layer_id", "collection_id", "feature_id", "z", "x", "y"}:
        variants = [
            v.replace(f"{{{name}}}", value) for v in variants for value in context.fillers[name]
        ]
    if "feature_id" in params:
        variants = [v.replace("{feature_id}", i) for v in variants for i in context.ids]
    if {"z", "x", "y"} <= params:
        variants = [
            v.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
            for v in variants
            for z, x, y in context.tiles
        ]
    if route in ROUTE_QUERIES:
        variants = [f"{v}?{ROUTE_QUERIES[route]}" for v in variants]
    for url in variants:
        yield url
        if url.startswith("/ogc"):
            yield f"{url}?f=html"
            yield f"{url}?f=json"


def extra_probes() -> list[Probe]:
    """Every collection's items at the largest page: JSON, HTML, CGCS2000, from offset 1, and
    (temporal layers) every version rather than those in force today."""
    made = []
    for layer_id, layer in LAYERS.items():
        items = f"/ogc/collections/{layer_id}/items"
        variants = [{"f": "json"}, {"f": "html"}, {"crs": CGCS2000}, {"offset": "1"}]
        if layer.temporal is not None:  # all versions, not only those in force today
            variants.append({"datetime": "1900-01-01/.."})
        for params in ({"limit": "10000", **v} for v in variants):
            url = f"{items}?{urlencode(params)}"
            made.append(Probe("/ogc/collections/{collection_id}/items", url, layer_id))
    return made


def walk(
    client: TestClient, made: list[Probe], headers: dict[str, str] | None = None
) -> list[Answer]:
    answers = []
    for probe in made:
        response = client.get(probe.url, headers=headers or {})
        answers.append(
            Answer(
                probe,
                response.status_code,
                response.headers.get("content-type", ""),
                response.content,
                response.headers.get("cache-control", ""),
            )
        )
    return answers


def status_problems(answers: list[Answer], rules: Rules) -> list[str]:
    """Anonymous statuses: never 5xx; 401 only on staff routes; staff layers never served."""
    problems = []
    for answer in answers:
        status, probe = answer.status, answer.probe
        where = f"{status} GET {probe.url}"
        if status >= 500:
            problems.append(f"server error: {where}")
        elif probe.route in STAFF_ONLY_ROUTES:
            if status not in (401, 403):
                problems.append(f"staff-only route answered the public: {where}")
        elif probe.layer_id in rules.staff_layers:
            if status not in (403, 404):
                problems.append(f"staff layer answered the public: {where}")
        elif status not in (200, 404):
            problems.append(f"unexpected status: {where}")
    return problems


def leaks_in(answers: list[Answer], rules: Rules) -> list[str]:
    return [
        f"GET {a.probe.url}: {leak}"
        for a in answers
        if 200 <= a.status < 300
        for leak in find_leaks(rules, a.probe.route, a.content_type, a.body, a.probe.layer_id)
    ]


# --- fixtures ----------------------------------------------------------------------------------


def add_dense_units(session: Session, count: int = DENSE_UNITS) -> None:
    """Units packed around DENSE_CENTRE, so low zooms are clustered (stored and live cells)."""
    cx, cy = DENSE_CENTRE
    rows = [
        {
            "code": credit_code(5000 + i),
            "address": f"{STAFF_MARKER} 密集地址 {i}",
            "x": cx + (i % 20) * 0.0002,
            "y": cy + (i // 20) * 0.0002,
        }
        for i in range(count)
    ]
    session.execute(
        text("""
        INSERT INTO units (credit_code, name, industry_code, category, county_code, address,
                           status, geom, location_source)
        VALUES (:code, '密集测试单位', '2614', 'simplified', :county, :address, 'operating',
                ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'geocoded')
    """),
        [{**row, "county": COUNTY} for row in rows],
    )


@pytest.fixture
def client(db_url: str, session: Session) -> Iterator[TestClient]:
    """conftest's client, with the lowest tile cap so DENSE_UNITS make cluster tiles."""
    settings = Settings(
        database=DatabaseSettings(database_url=db_url, db_warm_pool=False),
        layers=LayerSettings(tile_max_features=256),
    )
    app = create_app(settings)
    use_session(app, session)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass
class Walked:
    world: World
    probes: list[Probe]
    unfilled: list[str]
    routes: list[str]


def add_problem_with_evidence(client: TestClient, unit_id: int) -> tuple[int, int]:
    """A problem on the unit with one evidence file (made through the API, as staff would)."""
    body = {
        "source": "inspection",
        "problem_type": "inspection_finding",
        "unit_id": unit_id,
        "finding": f"{STAFF_MARKER} 现场检查发现",
        "department": "执法支队",
    }
    problem = client.post("/api/problems", json=body, headers=STAFF)
    assert problem.status_code == 201, problem.text
    problem_id = problem.json()["id"]
    files = {"file": ("evidence.pdf", EVIDENCE_PDF, "application/pdf")}
    attached = client.post(f"/api/problems/{problem_id}/attachments", files=files, headers=STAFF)
    assert attached.status_code == 201, attached.text
    return problem_id, attached.json()["id"]


PUBLIC_DAILY_VALUE = 21.5  # an hourly average two days ago: the public sees it as that day's
RAW_VALUE = 4321.5  # a real-time value flagged faulty: never averaged, never shown


def add_monitoring(session: Session, outlet_id: int) -> None:
    """A device on the outlet (its MN carries the marker) and readings: an hourly average two
    days ago, and in the same hour a real-time value the device flagged faulty."""
    register_device(session, mn=f"{STAFF_MARKER}1", outlet_id=outlet_id, password="secret")
    day = (datetime.now(CHINA) - timedelta(days=2)).date()
    hour = datetime(day.year, day.month, day.day, 3, tzinfo=CHINA)
    rows = [
        ReadingRow(outlet_id, "w01018", 2061, hour, PUBLIC_DAILY_VALUE, flag="N"),
        ReadingRow(outlet_id, "w01018", 2011, hour + timedelta(minutes=5), RAW_VALUE, flag="D"),
    ]
    store_readings(session, rows, known_months(session))


def add_monitoring_event(session: Session, outlet_id: int) -> int:
    """An open exceedance event on the outlet (its detail carries the marker)."""
    return session.execute(
        text("""
        INSERT INTO monitoring_events (outlet_id, pollutant_code, kind, rule, started_at,
                                       peak_value, peak_at, limit_value, detail)
        VALUES (:o, 'w01018', 'exceedance', 'hourly_average', now() - interval '2 hours', 80,
                now() - interval '1 hour', 50, :detail) RETURNING id
    """),
        {"o": outlet_id, "detail": f"{STAFF_MARKER} 超标"},
    ).scalar_one()


@pytest.fixture
def walked(client: TestClient, session: Session) -> Walked:
    world = build_world(session)
    add_dense_units(session)
    session.flush()
    routes = get_routes(client.app)
    fillers = {"code": ["WP1-UNIT"], "flag_id": [str(i) for i in world.flags.values()]}
    unit_ids = [world.units["violation"], world.units["outlet_flag"]]
    codes = session.execute(
        text("SELECT credit_code FROM units WHERE id = ANY(:ids) ORDER BY id"), {"ids": unit_ids}
    ).scalars()
    fillers["unit_id"] = [str(i) for i in unit_ids]
    fillers["credit_code"] = [*codes, "91500116MA5U7C1234"]  # units with flags, and no unit
    fillers["draw_id"] = [str(add_published_draw(session))]
    fillers["permit_id"] = [str(session.execute(text("SELECT min(id) FROM permits")).scalar())]
    fillers["outlet_id"] = [str(session.execute(text("SELECT min(id) FROM outlets")).scalar())]
    add_monitoring(session, world.outlets["outlet_flag"])  # its unit's code is a filler
    problem, attachment = add_problem_with_evidence(client, world.units["violation"])
    fillers["problem_id"], fillers["attachment_id"] = [str(problem)], [str(attachment)]
    fillers["event_id"] = [str(add_monitoring_event(session, world.outlets["outlet_flag"]))]
    fillers["pollutant_code"] = ["w01018"]
    made, unfilled = probes(routes, sample_layers(session), fillers)
    return Walked(world, made + extra_probes(), unfilled, routes)


# --- tests -------------------------------------------------------------------------------------


def test_rules_come_from_the_registry() -> None:
    assert "flags" in RULES.staff_layers and "units" not in RULES.staff_layers
    assert {"address", "enforcement_status", "open_flags"} <= RULES.staff_fields["units"]
    assert "legal_basis" in RULES.staff_only_names and "name" not in RULES.staff_only_names
    assert RULES.public_classes["units"] == {"valid", "expiring", "expired", "revoked", "none"}


def test_every_route_is_walked_or_skipped_with_a_reason(walked: Walked) -> None:
    assert not walked.unfilled, (
        f"routes whose parameters the walk cannot fill: {walked.unfilled}; teach `probes` to"
        " fill them or add them to SKIPPED_ROUTES with a reason"
    )
    walked_routes = {p.route for p in walked.probes}
    assert walked_routes | set(SKIPPED_ROUTES) == set(walked.routes)
    assert walked_routes >= STAFF_ONLY_ROUTES
    tile_probes = [p for p in walked.probes if p.url.endswith(".mvt")]
    assert {int(p.url.split("/")[3]) for p in tile_probes} == set(ZOOMS)


def test_anonymous_walk_sees_public_data_only(client: TestClient, walked: Walked) -> None:
    answers = walk(client, walked.probes)
    problems = status_problems(answers, RULES) + leaks_in(answers, RULES)
    assert not problems, f"{len(problems)} problems, first ones:\n" + "\n".join(problems[:40])
    served = [a for a in answers if a.status == 200]
    # the walk did reach data: public tiles with features and with clusters, items, pages
    tiles = [mapbox_vector_tile.decode(a.body) for a in served if a.probe.url.endswith(".mvt")]
    unit_features = [f for t in tiles for f in t.get("units", {}).get("features", [])]
    assert any(f["properties"].get("cluster") for f in unit_features)
    assert any("permit_state" in f["properties"] for f in unit_features)
    assert any("n_none" in f["properties"] for f in unit_features)
    assert any(a.probe.url.endswith("?f=html") and a.probe.layer_id == "units" for a in served)
    # public penalty decisions are disclosed (the non-public one carries the marker, never seen)
    disclosures = [a for a in served if a.probe.route.startswith(("/api/public/", "/public/"))]
    assert any(PUBLIC_PENALTY_NO in a.body.decode() for a in disclosures)
    # a key unit's daily averages are disclosed; the raw stream never is
    monitoring = [a for a in disclosures if a.probe.route.endswith("/monitoring")]
    assert any(str(PUBLIC_DAILY_VALUE) in a.body.decode() for a in monitoring)
    assert not any(str(RAW_VALUE).encode() in a.body for a in served)
    public_tiles = [a for a in served if a.probe.url.endswith(".mvt")]
    assert all(a.cache_control.startswith("public") for a in public_tiles)


def test_staff_routes_refuse_the_public(client: TestClient, walked: Walked) -> None:
    staff_probes = [p for p in walked.probes if p.route in STAFF_ONLY_ROUTES]
    for answer in walk(client, staff_probes):
        assert answer.status == 401, answer.probe.url
    for answer in walk(client, staff_probes, STAFF):
        assert answer.status == 200, answer.probe.url


def staff_filters(name: str) -> list[dict[str, str]]:
    """CQL2 filters naming a field: text (plain, quoted, upper case, inside OR) and JSON."""
    text_filters = [f"{name} IS NOT NULL", f'"{name}" IS NULL', f"{name.upper()} = 'x'"]
    text_filters.append(f"name = 'x' OR {name} IS NULL")
    cql2_json = json.dumps({"op": "isNull", "args": [{"property": name}]})
    return [{"filter": f, "filter-lang": "cql2-text"} for f in text_filters] + [
        {"filter": cql2_json, "filter-lang": "cql2-json"}
    ]


def test_filters_on_staff_fields_are_refused(client: TestClient, session: Session) -> None:
    """A filter naming a staff field is a 400 on every public collection, and the error names
    no other staff field (the list of queryables it offers is the public one)."""
    build_world(session)
    all_staff_names = {n for names in RULES.staff_fields.values() for n in names}
    checked = 0
    for layer_id in LAYERS:
        if layer_id in RULES.staff_layers:
            continue
        hidden = all_staff_names - RULES.public_fields[layer_id]
        for name in sorted(hidden):
            for params in staff_filters(name):
                response = client.get(f"/ogc/collections/{layer_id}/items", params=params)
                assert response.status_code == 400, (layer_id, params, response.text)
                assert STAFF_MARKER not in response.text
                title = response.json()["title"]
                named = {n for n in hidden - {name} if re.search(rf"\b{n}\b", title)}
                assert not named, (layer_id, params, title)
                checked += 1
    assert checked > 100


def test_property_equality_on_staff_fields_is_refused(client: TestClient, session: Session) -> None:
    build_world(session)
    for name in sorted(RULES.staff_fields["units"]):
        response = client.get("/ogc/collections/units/items", params={name: "x"})
        assert response.status_code == 400, (name, response.text)
    anonymous = client.get("/ogc/collections/flags/items", params={"filter": "severity = 'x'"})
    assert anonymous.status_code == 403


def test_staff_walk_sees_what_the_public_cannot(client: TestClient, walked: Walked) -> None:
    """Counter-check: the same walk with a staff token trips the detector in the right places."""
    answers = walk(client, walked.probes, STAFF)
    server_errors = [f"{a.status} {a.probe.url}" for a in answers if a.status >= 500]
    assert not server_errors
    leaks = leaks_in(answers, RULES)
    joined = "\n".join(leaks)
    assert f"value {STAFF_MARKER}" in joined
    assert re.search(r"/tiles/units/1[3-6]/.*tile field units\.enforcement_status", joined)
    assert re.search(r"/tiles/units/\d/.*undeclared tile field units\.n_violation", joined)
    assert re.search(r"/ogc/collections\?f=json: staff layer entry 'flags'", joined)
    assert re.search(r"/ogc/collections/units/items\?.*property 'enforcement_status'", joined)
    assert re.search(r"/api/layers: legend class units\.violation", joined)
    assert re.search(r"/tiles/units\.json: field units\.open_flags", joined)
    assert re.search(r"/ogc/collections/units/queryables: property 'address'", joined)
    assert re.search(r"/ogc/collections/units/items\?f=html.*field title '地址' in page", joined)
    assert re.search(r"/tiles/flags/\d+/\d+/\d+\.mvt: tile layer 'flags'", joined)
    assert re.search(r"/api/layers/units/export: field title '监管状态' in page", joined)
    assert re.search(r"/api/units/\d+: value STAFFONLY", joined)
    staff_tiles = [a for a in answers if a.probe.url.endswith(".mvt") and a.status == 200]
    assert staff_tiles and all(a.cache_control.startswith("private") for a in staff_tiles)


def test_a_staff_field_declared_public_trips_the_detector(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flip `address` to public: the app serves it, and the walk's checks catch it."""
    world = build_world(session)
    units = LAYERS["units"]
    leaky = dataclasses.replace(
        units,
        fields=tuple(
            dataclasses.replace(f, public=True, in_tiles=True) if f.name == "address" else f
            for f in units.fields
        ),
    )
    monkeypatch.setitem(LAYERS, "units", leaky)
    unit_id = world.units["valid"]
    x, y = (int(c) for c in tile_of(106.010, 29.010, 16))
    made = [
        Probe("/tiles/{layer_id}/{z}/{x}/{y}.mvt", f"/tiles/units/16/{x}/{y}.mvt", "units"),
        Probe("/ogc/collections/{collection_id}/items/{feature_id}",
              f"/ogc/collections/units/items/{unit_id}", "units"),
        Probe("/ogc/collections/{collection_id}/queryables",
              "/ogc/collections/units/queryables", "units"),
        Probe("/tiles/{layer_id}.json", "/tiles/units.json", "units"),
    ]  # fmt: skip
    answers = walk(client, made)
    assert [a.status for a in answers] == [200] * len(made)
    for answer in answers:
        leaks = find_leaks(RULES, answer.probe.route, answer.content_type, answer.body, "units")
        assert any("address" in leak or STAFF_MARKER in leak for leak in leaks), answer.probe.url
    # and with the patched declaration as the rule book, the sentinel alone still trips it
    patched_rules = Rules.from_registry(LAYERS)
    item = answers[1]
    assert find_leaks(patched_rules, item.probe.route, item.content_type, item.body, "units") == [
        f"value {STAFF_MARKER}"
    ]


INT8_OVERFLOW = "99999999999999999999"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/ogc/collections/units/items/%00", 404),
        ("/ogc/collections/units/items?filter=name%20%3D%20%27%00%27", 400),
        (f"/ogc/collections/units/items?filter=id%20%3D%20{INT8_OVERFLOW}", 400),
        ("/ogc/collections/rivers/items?is_main=maybe", 400),
        ("/tiles/units/99999999999/0/0.mvt", 404),
        ("/tiles/units/3/-1/0.mvt", 404),
        (f"/ogc/collections/units/items?id={INT8_OVERFLOW}", 400),
        (f"/ogc/collections/units/items/{INT8_OVERFLOW}", 404),
        (f"/ogc/collections/outlets/items?unit_id={INT8_OVERFLOW}", 400),
        ("/ogc/collections/units/items?name=%00", 400),
        ("/ogc/collections/admin_regions/items/%00", 404),
        ("/ogc/collections/admin_regions/items?code=%00", 400),
    ],
)
def test_odd_values_from_the_public_are_client_errors(
    client: TestClient, session: Session, url: str, expected: int
) -> None:
    """The walk's rule "never a 5xx", for values no map client sends but anyone can."""
    build_world(session)
    response = client.get(url)
    assert response.status_code == expected, response.text
