"""Downloads of a layer's features as CSV, XLSX or GeoJSON.

The rows come from `layers.features` (the same conditions, CQL2 compiler and audience field split
as OGC /items), a page at a time; the writers here turn pages into bytes. CSV and GeoJSON stream
page by page; XLSX is assembled in a temporary file (openpyxl's write-only mode, bounded memory)
and streamed when complete, as a zip cannot be written before its parts are.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy.orm import Session

from geo.errors import QueryError
from layers.cql2_parse import LANGS
from layers.declarations import Audience, Layer
from layers.features import count_matching, feature_pages
from layers.ogc_params import ItemsQuery, parse_bbox, parse_choice, parse_crs, parse_interval

FORMATS = ("csv", "xlsx", "geojson")
LANGUAGES = ("zh", "en")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
}
EXPORT_PARAMETERS = (
    *("format", "lang", "filter", "filter-lang", "filter-crs", "bbox", "bbox-crs", "datetime"),
)
XLSX_MAX_ROWS = 1_048_575  # an Excel sheet holds 1,048,576 rows, one of them the header
PAGE_SIZE = 5_000
CHINA_TIME = timezone(timedelta(hours=8), "CST")  # Excel has no time zones: times in UTC+8
LONLAT_TITLES = {"zh": ("经度", "纬度"), "en": ("longitude", "latitude")}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
        ext = "xlsx" if self.request.format == "xlsx" else self.request.format
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
    shape = "geojson" if export.request.format == "geojson" else "values"
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
