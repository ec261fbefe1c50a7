"""The OpenAPI 3.0.3 document of the `/ogc` API (OGC API – Features Parts 1, 2 and 3), per audience.

Built from the layer registry: a path, a parameter or a schema property exists only for the layers
and fields the audience may see, so staff-only layers and fields never reach the public document.
OpenAPI 3.0 rather than 3.1 because OGC validators and GDAL read 3.0. Each collection gets its own
explicit paths (as pygeoapi does), so clients see its property filters and feature schema.
"""

from __future__ import annotations

from typing import Any

from layers.cql2_filter import CGCS2000, CRS84, LANGS
from layers.declarations import JSON_SCHEMA_TYPES, Audience, Field, Layer
from layers.registry import layers_for

OPENAPI_VERSION = "3.0.3"
OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
API_VERSION = "1.0.0"
GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
PROBLEM = "application/problem+json"
SCHEMA_JSON = "application/schema+json"
CRS_URIS = (CRS84, CGCS2000)
SERVER_TAG = "server"
ITEMS_PARAMETERS = ("limit", "offset", "bbox", "bbox-crs", "crs")
FILTER_PARAMETERS = ("filter", "filter-lang", "filter-crs", "f-features")
# Query parameter names of the API itself: a field with one of these names gets no equality filter.
RESERVED_PARAMETERS = frozenset(
    {*ITEMS_PARAMETERS, "datetime", "filter", "filter-lang", "filter-crs", "f", "properties"}
)
GEOMETRY_TYPES = [
    f"{multi}{kind}" for kind in ("Point", "LineString", "Polygon") for multi in ("", "Multi")
]


def openapi_document(audience: Audience, base_url: str, max_limit: int) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document describing `/ogc` as `audience` sees it.

    `base_url` is the application's external URL without a trailing slash; the document's server
    is `{base_url}/ogc` and every path is relative to it. `max_limit` caps the `limit` parameter.
    """
    layers = layers_for(audience)
    paths = _service_paths()
    for layer in layers:
        paths |= _collection_paths(layer, audience)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "permitmap OGC API – Features",
            "version": API_VERSION,
            "description": (
                "排污许可监管地图的 OGC API – Features 服务"
                f"（Part 1 Core、Part 2 CRS、Part 3 CQL2）。 Audience: {audience.value}."
            ),
        },
        "servers": [{"url": f"{base_url.rstrip('/')}/ogc"}],
        "tags": [
            {"name": SERVER_TAG, "description": "Landing page, conformance and collections"},
            *({"name": layer.id, "description": _layer_title(layer)} for layer in layers),
        ],
        "paths": paths,
        "components": _components(layers, audience, max_limit),
    }


def _layer_title(layer: Layer) -> str:
    """The collection's human title, Chinese then English."""
    return f"{layer.title_zh} ({layer.title_en})"


def _operation_name(layer: Layer) -> str:
    """`zones_water_protection` → `ZonesWaterProtection`, for operationIds and schema names."""
    return "".join(part[:1].upper() + part[1:] for part in layer.id.replace("-", "_").split("_"))


def _ref(kind: str, name: str) -> dict[str, str]:
    """A `$ref` to `components/{kind}/{name}`."""
    return {"$ref": f"#/components/{kind}/{name}"}


def _ok(schema: dict[str, Any], media: tuple[str, ...], crs: bool = False) -> dict[str, Any]:
    """A 200 response offering `schema` in each media type (HTML as a plain string)."""
    content = {m: {"schema": {"type": "string"} if m == HTML else schema} for m in media}
    response: dict[str, Any] = {"description": "Success", "content": content}
    if crs:
        response["headers"] = {"Content-Crs": _ref("headers", "Content-Crs")}
    return {"200": response}


def _operation(
    ids: tuple[str, str, str], parameters: list[dict[str, Any]], ok: dict[str, Any]
) -> dict[str, Any]:
    """One GET operation (`ids` = operationId, tag, summary) with its problem-details errors."""
    operation_id, tag, summary = ids
    errors = {"400": _ref("responses", "BadRequest"), "500": _ref("responses", "ServerError")}
    if tag != SERVER_TAG:
        errors["404"] = _ref("responses", "NotFound")
    return {
        "get": {
            "operationId": operation_id,
            "tags": [tag],
            "summary": summary,
            "parameters": parameters,
            "responses": ok | dict(sorted(errors.items())),
        }
    }


SERVICE_PATHS = (
    ("/", "getLandingPage", "Landing page", "LandingPage"),
    ("/api", "getOpenapi", "This API definition", None),
    ("/conformance", "getConformanceDeclaration", "Conformance classes", "ConfClasses"),
    ("/collections", "getCollections", "The feature collections", "Collections"),
)


def _service_paths() -> dict[str, Any]:
    """The paths that do not depend on a collection: landing page, API, conformance, collections."""
    paths = {}
    for path, operation_id, summary, schema_name in SERVICE_PATHS:
        if schema_name is None:  # the OpenAPI document itself
            ok = _ok({"type": "object"}, (OPENAPI_MEDIA_TYPE, JSON, HTML))
        else:
            ok = _ok(_ref("schemas", schema_name), (JSON, HTML))
        paths[path] = _operation((operation_id, SERVER_TAG, summary), _refs("f"), ok)
    return paths


def _refs(*names: str) -> list[dict[str, str]]:
    """References to shared parameters."""
    return [_ref("parameters", name) for name in names]


def _collection_paths(layer: Layer, audience: Audience) -> dict[str, Any]:
    """The four paths of one collection: description, items, one item and queryables."""
    name, tag, title = _operation_name(layer), layer.id, _layer_title(layer)
    base = f"/collections/{layer.id}"
    features = _ref("schemas", f"{name}FeatureCollection")
    feature = _ref("schemas", f"{name}Feature")
    item_parameters = [_feature_id_parameter(layer), *_refs("crs", "f-features")]
    return {
        base: _operation(
            (f"describe{name}Collection", tag, f"Describe {title}"),
            _refs("f"),
            _ok(_ref("schemas", "Collection"), (JSON, HTML)),
        ),
        f"{base}/items": _operation(
            (f"get{name}Features", tag, f"Features of {title}"),
            _items_parameters(layer, audience),
            _ok(features, (GEOJSON, JSON, HTML), crs=True),
        ),
        f"{base}/items/{{featureId}}": _operation(
            (f"get{name}Feature", tag, f"One feature of {title}"),
            item_parameters,
            _ok(feature, (GEOJSON, JSON, HTML), crs=True),
        ),
        f"{base}/queryables": _operation(
            (f"get{name}Queryables", tag, f"Queryables of {title}"),
            _refs("f"),
            _ok(_ref("schemas", "Queryables"), (SCHEMA_JSON, JSON, HTML)),
        ),
    }


def _items_parameters(layer: Layer, audience: Audience) -> list[dict[str, Any]]:
    """Shared items parameters, `datetime` for temporal layers, then one filter per field."""
    temporal = ("datetime",) if layer.temporal is not None else ()
    shared = _refs(*ITEMS_PARAMETERS, *temporal, *FILTER_PARAMETERS)
    fields = [f for f in layer.fields_for(audience) if f.name not in RESERVED_PARAMETERS]
    return shared + [_field_parameter(field) for field in fields]


def _field_parameter(field: Field) -> dict[str, Any]:
    """An optional equality filter on one property (`?county_code=330102`)."""
    description = f"{field.title_zh} ({field.title_en}): features whose value equals this"
    return _query(field.name, description, dict(JSON_SCHEMA_TYPES[field.type]))


def _feature_id_parameter(layer: Layer) -> dict[str, Any]:
    """The `featureId` path parameter, typed like the layer's id field."""
    id_type = layer.field(layer.id_field).type
    return {
        "name": "featureId",
        "in": "path",
        "required": True,
        "description": f"The feature's `{layer.id_field}`",
        "schema": dict(JSON_SCHEMA_TYPES[id_type]),
    }


def _query(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An optional query parameter."""
    parameter = {"name": name, "in": "query", "required": False, "description": description}
    return parameter | {"schema": schema, "style": "form", "explode": False} | extra


def _shared_parameters(max_limit: int) -> dict[str, Any]:
    """`components/parameters`: the standard query parameters of Parts 1–3 and the format."""
    crs = {"type": "string", "format": "uri", "enum": list(CRS_URIS), "default": CRS84}
    text = {"type": "string"}
    formats = {"type": "string", "enum": ["json", "html"]}
    table: dict[str, tuple[str, str, dict[str, Any]]] = {
        "limit": (
            "limit",
            f"How many features to return (at most {max_limit})",
            {"type": "integer", "minimum": 1, "maximum": max_limit, "default": 10},
        ),
        "offset": (
            "offset",
            "How many matching features to skip",
            {"type": "integer", "minimum": 0, "default": 0},
        ),
        "bbox": (
            "bbox",
            "Features meeting this box: minx,miny,maxx,maxy (6 numbers with heights) in bbox-crs",
            {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 6},
        ),
        "bbox-crs": ("bbox-crs", "The CRS of bbox (EPSG:4490 is latitude first)", crs),
        "crs": ("crs", "The CRS of the returned geometries", crs),
        "datetime": ("datetime", "An instant or interval (RFC 3339, `..` open end)", text),
        "filter": ("filter", "A CQL2 expression over the queryables", text),
        "filter-lang": (
            "filter-lang",
            "The language of filter",
            {"type": "string", "enum": list(LANGS), "default": LANGS[0]},
        ),
        "filter-crs": ("filter-crs", "The CRS of geometry literals in filter", crs),
        "f": ("f", "Response format (else from the Accept header)", formats),
        "f-features": (
            "f",
            "Response format (else from the Accept header)",
            {"type": "string", "enum": ["json", "geojson", "html"]},
        ),
    }
    return {key: _query(*spec) for key, spec in table.items()}


def _object(properties: dict[str, Any], *required: str, **extra: Any) -> dict[str, Any]:
    """An object schema."""
    schema: dict[str, Any] = {"type": "object"} | extra
    if required:
        schema["required"] = list(required)
    return schema | {"properties": properties}


def _texts(*names: str) -> dict[str, Any]:
    """String properties called `names`."""
    return {name: {"type": "string"} for name in names}


def _array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An array schema."""
    return {"type": "array", "items": items} | extra


def _document_schemas() -> dict[str, Any]:
    """Links and the documents made of them: landing page, conformance, collections, queryables."""
    links = _array(_ref("schemas", "Link"))
    return {
        "Link": _object(_texts("href", "rel", "type", "title", "hreflang"), "href", "rel"),
        "LandingPage": _object(_texts("title", "description") | {"links": links}, "links"),
        "ConfClasses": _object({"conformsTo": _array({"type": "string"})}, "conformsTo"),
        "Collections": _object(
            {"links": links, "collections": _array(_ref("schemas", "Collection"))},
            "links",
            "collections",
        ),
        "Queryables": _object(
            _texts("$id", "title") | {"type": {"type": "string"}, "properties": {"type": "object"}},
            description="A JSON Schema of the collection's queryable properties",
        ),
        "ProblemDetails": _object(
            _texts("type", "title", "detail", "field")
            | {"status": {"type": "integer"}, "value": {}}
        ),
    }


def _collection_schema() -> dict[str, Any]:
    """A collection's description, with its spatial and temporal extent."""
    instant = {"type": "string", "format": "date-time", "nullable": True}
    bbox = _array(_array({"type": "number"}, minItems=4, maxItems=6))
    extent = {
        "spatial": _object({"bbox": bbox} | _texts("crs")),
        "temporal": _object(
            {"interval": _array(_array(instant, minItems=2, maxItems=2))} | _texts("trs")
        ),
    }
    properties = _texts("id", "title", "description", "itemType", "storageCrs") | {
        "extent": _object(extent),
        "crs": _array({"type": "string"}),
        "links": _array(_ref("schemas", "Link")),
    }
    geometry = {"type": {"type": "string", "enum": GEOMETRY_TYPES}}
    return {
        "Collection": _object(properties, "id", "links"),
        "Geometry": _object(geometry, "type", nullable=True),
    }


def _layer_schemas(layer: Layer, audience: Audience) -> dict[str, Any]:
    """The collection's properties, Feature and FeatureCollection schemas."""
    name = _operation_name(layer)
    properties = {
        field.name: JSON_SCHEMA_TYPES[field.type]
        | {"title": field.title_zh, "description": field.title_en, "nullable": True}
        for field in layer.fields_for(audience)
    }
    feature = {
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": dict(JSON_SCHEMA_TYPES[layer.field(layer.id_field).type]),
            "geometry": _ref("schemas", "Geometry"),
            "properties": _ref("schemas", f"{name}Properties"),
            "links": _array(_ref("schemas", "Link")),
        },
    }
    collection = {
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": _ref("schemas", f"{name}Feature")},
            "links": _array(_ref("schemas", "Link")),
            "timeStamp": {"type": "string", "format": "date-time"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
        },
    }
    return {
        f"{name}Properties": {"type": "object", "properties": properties},
        f"{name}Feature": feature,
        f"{name}FeatureCollection": collection,
    }


def _components(layers: list[Layer], audience: Audience, max_limit: int) -> dict[str, Any]:
    """`components`: schemas (shared and per collection), parameters, responses and headers."""
    schemas = _document_schemas() | _collection_schema()
    for layer in layers:
        schemas |= _layer_schemas(layer, audience)
    problem = {PROBLEM: {"schema": _ref("schemas", "ProblemDetails")}}
    return {
        "schemas": schemas,
        "parameters": _shared_parameters(max_limit),
        "responses": {
            "BadRequest": {"description": "A parameter is invalid", "content": problem},
            "NotFound": {"description": "No such collection or feature", "content": problem},
            "ServerError": {"description": "A server error", "content": problem},
        },
        "headers": {
            "Content-Crs": {
                "description": "The CRS of the geometries in the response, as `<uri>`",
                "schema": {"type": "string"},
            }
        },
    }
