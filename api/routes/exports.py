"""Downloads of a layer's features (CSV, XLSX, GeoJSON, GeoPackage), for whoever may see the
layer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.auth import AudienceDep
from api.deps import SessionFactoryDep
from layers.export import MEDIA_TYPES, export_chunks, parse_export_request, prepare_export
from layers.registry import visible_layer

router = APIRouter(tags=["layers"])
EXPORT_RESPONSES: dict[int | str, dict] = {
    200: {"content": {media: {} for media in MEDIA_TYPES.values()}, "description": "a file"}
}


@router.get(
    "/api/layers/{layer_id}/export",
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES,
)
def export_layer(
    layer_id: str, request: Request, sessions: SessionFactoryDep, audience: AudienceDep
) -> StreamingResponse:
    """Every feature of the layer that matches, as a file: `format` csv (default; UTF-8 with a
    BOM), xlsx, geojson or gpkg (GeoPackage: a layer named by the layer id, EPSG:4326, columns
    named by field name); `lang` zh (default) or en for the column titles; the conditions OGC
    /items takes (CQL2 `filter`, `bbox`, `datetime`, property=value). The public gets public
    layers and fields only. More matches than PERMITMAP_EXPORT_MAX_ROWS is a 400."""
    layer = visible_layer(layer_id, audience)
    settings = request.app.state.settings.layers
    names = {f.name for f in layer.fields_for(audience)}
    export_request = parse_export_request(request.query_params, property_names=names)
    timeout_ms = settings.filter_timeout_ms
    with ExitStack() as stack:  # the transaction stays open while the body streams
        session = stack.enter_context(sessions())
        export = prepare_export(
            session,
            layer,
            audience,
            export_request,
            max_rows=settings.export_max_rows,
            timeout_ms=timeout_ms,
        )
        owned = stack.pop_all()

    def body() -> Iterator[bytes]:
        with owned:
            yield from export_chunks(session, export, timeout_ms=timeout_ms)

    headers = {"Content-Disposition": export.content_disposition, "Cache-Control": "no-store"}
    return StreamingResponse(body(), media_type=export.media_type, headers=headers)
