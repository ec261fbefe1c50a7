"""Query parameters of OGC API – Features requests, parsed and checked.

Every problem is a `QueryError` naming the parameter, which the API turns into a 400.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from geo.errors import QueryError
from layers.cql2_filter import CGCS2000, CRS84, LANGS

SUPPORTED_CRS = (CRS84, CGCS2000)
CRS_ALIASES = {
    CRS84: CRS84,
    "[OGC:CRS84]": CRS84,
    "OGC:CRS84": CRS84,
    CGCS2000: CGCS2000,
    "[EPSG:4490]": CGCS2000,
    "EPSG:4490": CGCS2000,
}
FORMATS = ("json", "geojson", "html")
ITEMS_PARAMETERS = (
    *("limit", "offset", "bbox", "bbox-crs", "crs", "datetime"),
    *("filter", "filter-lang", "filter-crs", "f"),
)
DEFAULT_LIMIT = 10
Instant = datetime | None


@dataclass(frozen=True)
class ItemsQuery:
    """A parsed `/items` request: paging, extent, time, filter and output CRS."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    bbox: tuple[float, float, float, float] | None = None
    interval: tuple[Instant, Instant] | None = None
    filter_text: str | None = None
    filter_lang: str = "cql2-text"
    filter_crs: str = CRS84
    crs: str = CRS84
    properties: dict[str, str] = field(default_factory=dict)


def parse_items_query(
    params: Mapping[str, str], *, property_names: set[str], max_limit: int
) -> ItemsQuery:
    """Parse `/items` query parameters; unknown ones are refused rather than ignored."""
    for name in params:
        if name not in ITEMS_PARAMETERS and name not in property_names:
            raise QueryError(
                f"unknown query parameter {name!r}; properties of this collection and"
                f" {', '.join(ITEMS_PARAMETERS)} are accepted",
                field=name,
            )
    bbox_crs = parse_crs(params.get("bbox-crs"), "bbox-crs")
    if "bbox-crs" in params and "bbox" not in params:
        raise QueryError("bbox-crs given without bbox", field="bbox-crs")
    return ItemsQuery(
        limit=parse_int(params.get("limit"), "limit", DEFAULT_LIMIT, 1, max_limit),
        offset=parse_int(params.get("offset"), "offset", 0, 0, 10**9),
        bbox=parse_bbox(params["bbox"], bbox_crs) if "bbox" in params else None,
        interval=parse_interval(params["datetime"]) if "datetime" in params else None,
        filter_text=params.get("filter"),
        filter_lang=parse_choice(params.get("filter-lang"), "filter-lang", LANGS),
        filter_crs=parse_crs(params.get("filter-crs"), "filter-crs"),
        crs=parse_crs(params.get("crs"), "crs"),
        properties={k: v for k, v in params.items() if k in property_names},
    )


def parse_int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """An integer parameter within [low, high]."""
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise QueryError(f"{name} must be an integer", field=name, value=value) from None
    if not low <= number <= high:
        raise QueryError(f"{name} must be between {low} and {high}", field=name, value=value)
    return number


def parse_choice(value: str | None, name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (the first when absent)."""
    if value is None:
        return choices[0]
    if value not in choices:
        raise QueryError(f"{name} must be one of {', '.join(choices)}", field=name, value=value)
    return value


def parse_crs(value: str | None, name: str) -> str:
    """A supported CRS URI (CRS84 when absent); `[EPSG:4490]`-style CURIEs are accepted."""
    if value is None:
        return CRS84
    crs = CRS_ALIASES.get(value.strip())
    if crs is None:
        raise QueryError(
            f"{name} must be one of {', '.join(SUPPORTED_CRS)}", field=name, value=value
        )
    return crs


def parse_bbox(value: str, crs: str) -> tuple[float, float, float, float]:
    """`minx,miny,maxx,maxy` (6 numbers: heights ignored) as CRS84 west, south, east, north."""
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise QueryError("bbox takes 4 or 6 comma-separated numbers", field="bbox", value=value)
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise QueryError("bbox takes numbers only", field="bbox", value=value) from None
    if not all(math.isfinite(n) for n in numbers):
        raise QueryError("bbox numbers must be finite", field="bbox", value=value)
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if crs == CGCS2000:  # EPSG:4490 orders latitude first
        numbers = [numbers[1], numbers[0], numbers[3], numbers[2]]
    west, south, east, north = numbers
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise QueryError(
            "bbox must be west,south,east,north within ±180° and ±90°, west ≤ east, south ≤ north",
            field="bbox",
            value=value,
        )
    return west, south, east, north


def parse_interval(value: str) -> tuple[Instant, Instant]:
    """An RFC 3339 instant, or an interval `start/end` with `..` (or nothing) for an open end."""
    if "/" not in value:
        instant = parse_instant(value)
        return instant, instant
    start_text, _, end_text = value.partition("/")
    start, end = _open_or_instant(start_text), _open_or_instant(end_text)
    if start is None and end is None:
        raise QueryError("datetime interval must have at least one end", field="datetime")
    if start is not None and end is not None and start > end:
        raise QueryError("datetime interval ends before it starts", field="datetime", value=value)
    return start, end


def parse_instant(value: str) -> datetime:
    """A date (`2026-01-01`, midnight UTC) or an RFC 3339 date-time."""
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        instant = datetime.fromisoformat(text.upper())  # RFC 3339 allows a lowercase t and z
    except ValueError:
        raise QueryError(
            "datetime must be an RFC 3339 date or date-time, or an interval a/b",
            field="datetime",
            value=value,
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _open_or_instant(text: str) -> Instant:
    return None if text in ("", "..") else parse_instant(text)


def parse_format(params: Mapping[str, str], accept: str, *, default: str) -> str:
    """`f` when given, else HTML for browsers (Accept prefers text/html), else `default`."""
    if "f" in params:
        return parse_choice(params["f"], "f", FORMATS)
    wants_html = "text/html" in accept and "json" not in accept.split("text/html")[0]
    return "html" if wants_html else default
