"""Downloads of a layer's features as CSV, XLSX, GeoJSON or GeoPackage.

The rows come from `layers.features` (the same conditions, CQL2 compiler and audience field split
as OGC /items), a page at a time; the writers here turn pages into bytes. CSV and GeoJSON stream
page by page; XLSX is assembled in a temporary file (openpyxl's write-only mode, bounded memory)
and streamed when complete, as a zip cannot be written before its parts are. A GeoPackage is an
SQLite database GDAL must write to a real file: pages are appended to a named temporary file,
which is streamed when complete and deleted afterwards (also when the client goes away).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import numpy as np
import pyogrio.raw
import shapely
import shapely.geometry
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy.orm import Session

from geo.errors import QueryError
from layers.cql2_parse import LANGS
from layers.declarations import Audience, Field, Layer
from layers.features import count_matching, feature_pages
from layers.ogc_params import ItemsQuery, parse_bbox, parse_choice, parse_crs, parse_interval

FORMATS = ("csv", "xlsx", "geojson", "gpkg")
LANGUAGES = ("zh", "en")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
}
EXPORT_PARAMETERS = (
    *("format", "lang", "filter", "filter-lang", "filter-crs", "bbox", "bbox-crs", "datetime"),
)
XLSX_MAX_ROWS = 1_048_575  # an Excel sheet holds 1,048,576 rows, one of them the header
PAGE_SIZE = 5_000
CHINA_TIME = timezone(timedelta(hours=8), "CST")  # Excel has no time zones: times in UTC+8
LONLAT_TITLES = {"zh": ("经度", "纬度"), "en": ("longitude", "latitude")}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GPKG_GEOMETRY_TYPES = {"point": "Point", "line": "MultiLineString", "polygon": "MultiPolygon"}
GDAL_UTC = 100  # GDAL's time zone flag for UTC (RFC 56)


@dataclass(frozen=True)
class ExportRequest:
    """What to export: the format, the language of headers, the features' conditions."""

    format: str
    lang: str
    query: ItemsQuery


@dataclass(frozen=True)
class Export:
    """An export ready to stream: the layer, who asks, and what."""

    layer: Layer
    audience: Audience
    request: ExportRequest

    @property
    def media_type(self) -> str:
        """The response's content type."""
        return MEDIA_TYPES[self.request.format]

    @property
    def title(self) -> str:
        """The layer's title in the export's language."""
        return self.layer.title_zh if self.request.lang == "zh" else self.layer.title_en

    @property
    def content_disposition(self) -> str:
        """`attachment` with an ASCII file name and the titled one per RFC 5987/6266."""
        ext = self.request.format
        titled = quote(f"{self.title}.{ext}", safe="")
        return f"attachment; filename=\"{self.layer.id}.{ext}\"; filename*=UTF-8''{titled}"


def parse_export_request(params: Mapping[str, str], *, property_names: set[str]) -> ExportRequest:
    """`format`, `lang` and the conditions /items takes (CQL2 `filter`, bbox, datetime,
    property equality); unknown parameters are refused, each problem names its parameter."""
    for name in params:
        if name not in EXPORT_PARAMETERS and name not in property_names:
            raise QueryError(
                f"unknown query parameter {name!r}; properties of this layer and"
                f" {', '.join(EXPORT_PARAMETERS)} are accepted",
                field=name,
            )
    bbox_crs = parse_crs(params.get("bbox-crs"), "bbox-crs")
    query = ItemsQuery(
        bbox=parse_bbox(params["bbox"], bbox_crs) if "bbox" in params else None,
        interval=parse_interval(params["datetime"]) if "datetime" in params else None,
        filter_text=params.get("filter"),
        filter_lang=parse_choice(params.get("filter-lang"), "filter-lang", LANGS),
        filter_crs=parse_crs(params.get("filter-crs"), "filter-crs"),
        properties={k: v for k, v in params.items() if k in property_names},
    )
    return ExportRequest(
        format=parse_choice(params.get("format"), "format", FORMATS),
        lang=parse_choice(params.get("lang"), "lang", LANGUAGES),
        query=query,
    )


def prepare_export(
    session: Session,
    layer: Layer,
    audience: Audience,
    request: ExportRequest,
    *,
    max_rows: int,
    timeout_ms: int,
) -> Export:
    """Check the request against the data before anything is sent: the filter compiles and
    runs, and no more features match than the cap (the format's, if lower) allows."""
    cap = min(max_rows, XLSX_MAX_ROWS) if request.format == "xlsx" else max_rows
    matched = count_matching(
        session, layer, audience, request.query, timeout_ms=timeout_ms, at_most=cap
    )
    if matched > cap:
        raise QueryError(
            f"more than {cap:,} features match; an export holds at most {cap:,}"
            f"{' in XLSX' if cap < max_rows else ''}: narrow the filter",
            field="filter",
        )
    return Export(layer, audience, request)


def export_chunks(session: Session, export: Export, *, timeout_ms: int) -> Iterator[bytes]:
    """The export's bytes, read from the database a page at a time."""
    shape = "geojson" if export.request.format in ("geojson", "gpkg") else "values"
    pages = feature_pages(
        session,
        export.layer,
        export.audience,
        export.request.query,
        shape=shape,
        page_size=PAGE_SIZE,
        timeout_ms=timeout_ms,
    )
    if export.request.format == "geojson":
        return geojson_chunks(export.layer.id, pages)
    if export.request.format == "gpkg":
        fields = export.layer.fields_for(export.audience)
        return gpkg_chunks(export.layer, fields, export.title, export.request.lang, pages)
    header = headers(export.layer, export.audience, export.request.lang)
    if export.request.format == "csv":
        return csv_chunks(header, pages)
    return xlsx_chunks(export.title, header, pages)


def headers(layer: Layer, audience: Audience, lang: str) -> list[str]:
    """Column titles: the audience's fields in the language, then lon/lat for point layers."""
    titles = [f.title_zh if lang == "zh" else f.title_en for f in layer.fields_for(audience)]
    if layer.geometry == "point":
        titles += LONLAT_TITLES[lang]
    return titles


def csv_chunks(header: list[str], pages: Iterable[list[tuple[Any, ...]]]) -> Iterator[bytes]:
    """UTF-8 CSV with a byte-order mark (so Excel reads it as UTF-8), one chunk per page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield b"\xef\xbb\xbf" + buffer.getvalue().encode()
    for page in pages:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([_csv_value(v) for v in row] for row in page)
        yield buffer.getvalue().encode()


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value  # a spreadsheet would run it as a formula (CSV injection)
    return value


def xlsx_chunks(
    title: str, header: list[str], pages: Iterable[list[tuple[Any, ...]]]
) -> Iterator[bytes]:
    """One sheet named after the layer: a bold, frozen header row, dates as dates."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_sheet_title(title))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    sheet.append([_bold_cell(sheet, text, bold) for text in header])
    for page in pages:
        for row in page:
            sheet.append([_xlsx_value(sheet, v) for v in row])
    with tempfile.TemporaryFile() as file:
        workbook.save(file)
        file.seek(0)
        while chunk := file.read(1 << 20):
            yield chunk


def _bold_cell(sheet: WriteOnlyWorksheet, value: str, font: Font) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.font = font
    return cell


def _xlsx_value(sheet: WriteOnlyWorksheet, value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(CHINA_TIME).replace(tzinfo=None)
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters XML cannot hold
    if value.startswith("="):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # text, never a formula
        return cell
    return value


def _sheet_title(title: str) -> str:
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in title).strip("'")
    return cleaned[:31] or "Sheet1"


def geojson_chunks(name: str, pages: Iterable[list[tuple[Any, ...]]]) -> Iterator[bytes]:
    """A FeatureCollection (CRS84), its features as /items writes them."""
    yield b'{"type":"FeatureCollection","name":' + json.dumps(name).encode() + b',"features":['
    separator = b"\n"
    for page in pages:
        yield separator + ",\n".join(row[0] for row in page).encode()
        separator = b",\n"
    yield b"\n]}\n"


def gpkg_chunks(
    layer: Layer,
    fields: tuple[Field, ...],
    title: str,
    lang: str,
    pages: Iterable[list[tuple[Any, ...]]],
) -> Iterator[bytes]:
    """A GeoPackage with one layer named after the layer id: EPSG:4326 geometries, a column per
    field named by the field's (ASCII) name, typed (dates as dates, times in UTC). The titles in
    the export's language go in gpkg_contents: the layer's as its identifier, the columns' in
    its description. `pages` are /items GeoJSON feature texts (CRS84, i.e. EPSG:4326 axes)."""
    names = [f.name for f in fields]
    options = {
        "IDENTIFIER": title,
        "DESCRIPTION": "; ".join(
            f"{f.name}: {f.title_zh if lang == 'zh' else f.title_en}" for f in fields
        ),
    }
    with tempfile.NamedTemporaryFile(prefix="permitmap-", suffix=".gpkg", delete=False) as file:
        path = file.name
    try:
        written = False
        for page in pages:
            _write_gpkg_page(
                path,
                layer,
                fields,
                names,
                [json.loads(row[0]) for row in page],
                options,
                append=written,
            )
            written = True
        if not written:  # no feature matched: still a layer, with its columns
            _write_gpkg_page(path, layer, fields, names, [], options, append=False)
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                yield chunk
    finally:
        os.unlink(path)


def _write_gpkg_page(
    path: str,
    layer: Layer,
    fields: tuple[Field, ...],
    names: list[str],
    features: list[dict[str, Any]],
    options: dict[str, str],
    *,
    append: bool,
) -> None:
    geometries = np.array(
        [shapely.geometry.shape(f["geometry"]) if f["geometry"] else None for f in features],
        dtype=object,
    )
    data, masks, tz_offsets = [], [], {}
    for field in fields:
        values = [f["properties"].get(field.name) for f in features]
        array, mask = _gpkg_column(field, values)
        data.append(array)
        masks.append(mask)
        if field.type == "datetime":
            tz_offsets[field.name] = np.full(len(values), GDAL_UTC, dtype="int64")
    pyogrio.raw.write(
        path,
        shapely.to_wkb(geometries),
        data,
        names,
        field_mask=masks,
        layer=layer.id,
        driver="GPKG",
        geometry_type=GPKG_GEOMETRY_TYPES[layer.geometry],
        crs="EPSG:4326",
        encoding="UTF-8",
        promote_to_multi=layer.geometry != "point",
        append=append,
        layer_options=None if append else options,
        gdal_tz_offsets=tz_offsets,
    )


def _gpkg_column(field: Field, values: list[Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """A field's values (as JSON gives them) as an array of its type, and the nulls' mask."""
    nulls = np.array([v is None for v in values], dtype=bool)
    if field.type == "date":
        return np.array([v or "NaT" for v in values], dtype="datetime64[D]"), None
    if field.type == "datetime":
        utc = [
            "NaT" if v is None else datetime.fromisoformat(v).astimezone(UTC).replace(tzinfo=None)
            for v in values
        ]
        return np.array(utc, dtype="datetime64[ms]"), None
    if field.type == "integer":
        return np.array([0 if v is None else v for v in values], dtype="int64"), nulls
    if field.type == "number":
        return np.array([np.nan if v is None else v for v in values], dtype="float64"), None
    if field.type == "boolean":
        return np.array([bool(v) for v in values], dtype=bool), nulls
    return np.array([v if v is None else str(v) for v in values], dtype=object), None
