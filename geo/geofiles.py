"""Proposed geometries: from GeoJSON objects and uploaded files (GeoJSON, KML, zipped Shapefile,
GeoPackage), and prepared for checks (converted to WGS84, made valid, dissolved).

Every problem is a ValidationError naming the field (`geometry` for a GeoJSON body, `file` for an
upload) with a message safe to show; a reader's own error text goes to `detail` (the log only).
Features are combined, not dissolved, when read; `prepare_geometry` makes each part valid first,
so an invalid part is reported rather than failing a union. Files declaring a CRS other than
WGS84 / CGCS2000 are reprojected to EPSG:4326 (CGCS2000 is taken as WGS84, as in `geo.coords`);
files without one are read as longitude/latitude.
"""

from __future__ import annotations

import io
import json
import math
import re
import tempfile
import zipfile
from collections.abc import Sequence
from numbers import Real
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.errors
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.coords import InputCRS, parse_crs, to_wgs84_arrays
from geo.errors import ValidationError

SUPPORTED_EXTENSIONS = (".geojson", ".json", ".kml", ".zip", ".gpkg")
ZIP_EXPANSION_LIMIT = 20  # a zip may unpack to at most this many times the upload limit
_MAX_NESTING = 8
# Nesting depth of `coordinates` per geometry type (0 = a single position).
_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}
_READ_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    CRSError,
    ProjError,
    shapely.errors.GEOSException,
    OSError,
    ValueError,
)
_LONLAT = (CRS.from_epsg(4326), CRS.from_epsg(4490))


# ---- GeoJSON -----------------------------------------------------------------------------


def geometry_from_geojson(obj: object, field: str = "geometry") -> BaseGeometry:
    """A shapely geometry from a GeoJSON Geometry, Feature or FeatureCollection (RFC 7946).

    Coordinates are taken as they are (the caller knows their CRS). Features without a geometry
    are skipped; several geometries are combined into one multi-geometry or collection (not
    dissolved). Raises ValidationError(field=field) naming the path of what is wrong: a missing
    or unknown type, missing coordinates, wrong nesting, a non-numeric or non-finite number,
    too few positions in a line or ring, an unclosed ring.
    """
    return combine_parts(_geojson_parts(obj, field, field, 0))


def combine_parts(parts: Sequence[BaseGeometry]) -> BaseGeometry:
    """One geometry from parts: itself when single, else a collection (2D, not dissolved)."""
    parts = [shapely.force_2d(part) for part in parts]
    return parts[0] if len(parts) == 1 else shapely.GeometryCollection(parts)


def _geojson_parts(obj: object, field: str, path: str, depth: int) -> list[BaseGeometry]:
    if depth > _MAX_NESTING:
        raise _invalid(field, path, "is nested too deeply")
    if not isinstance(obj, dict):
        raise _invalid(field, path, f"must be a GeoJSON object, got {_kind(obj)}")
    kind = obj.get("type")
    if kind is None:
        raise _invalid(field, path, "has no 'type'")
    if kind == "FeatureCollection":
        features = _member(obj, "features", field, path)
        return [
            part
            for i, feature in enumerate(features)
            for part in _feature_parts(feature, field, f"{path}.features[{i}]", depth + 1)
        ]
    if kind == "Feature":
        return _feature_parts(obj, field, path, depth)
    if kind == "GeometryCollection":
        members = _member(obj, "geometries", field, path)
        parts = [
            part
            for i, member in enumerate(members)
            for part in _geojson_parts(member, field, f"{path}.geometries[{i}]", depth + 1)
        ]
        return [shapely.GeometryCollection(parts)] if parts else []
    if kind not in _DEPTH:
        known = ", ".join([*_DEPTH, "GeometryCollection", "Feature", "FeatureCollection"])
        raise _invalid(field, f"{path}.type", f"{kind!r} is not a GeoJSON type ({known})", kind)
    coordinates = _member(obj, "coordinates", field, path)
    _check_nesting(coordinates, _DEPTH[kind], field, f"{path}.coordinates")
    _check_counts(kind, coordinates, field, f"{path}.coordinates")
    return [shape({"type": kind, "coordinates": coordinates})]


def _feature_parts(feature: object, field: str, path: str, depth: int) -> list[BaseGeometry]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _invalid(field, path, "must be a Feature")
    if "geometry" not in feature:
        raise _invalid(field, path, "has no 'geometry' member")
    if feature["geometry"] is None:
        return []
    return _geojson_parts(feature["geometry"], field, f"{path}.geometry", depth + 1)


def _member(obj: dict, name: str, field: str, path: str) -> list:
    if name not in obj:
        raise _invalid(field, path, f"has no '{name}'")
    if not isinstance(obj[name], list):
        raise _invalid(field, f"{path}.{name}", f"must be an array, got {_kind(obj[name])}")
    return obj[name]


def _check_nesting(value: object, depth: int, field: str, path: str) -> None:
    """Positions at exactly `depth` levels of arrays, each 2 or 3 finite numbers."""
    if not isinstance(value, list):
        raise _invalid(field, path, f"must be an array, got {_kind(value)}", value)
    if depth == 0:
        if len(value) not in (2, 3) or any(isinstance(v, list) for v in value):
            raise _invalid(field, path, "must be a position [longitude, latitude]", value)
        for i, number in enumerate(value):
            if not isinstance(number, Real) or isinstance(number, bool):
                raise _invalid(field, f"{path}[{i}]", f"{number!r} is not a number", number)
            if not math.isfinite(number):
                raise _invalid(field, f"{path}[{i}]", f"{number!r} is not finite", number)
        return
    for i, item in enumerate(value):
        _check_nesting(item, depth - 1, field, f"{path}[{i}]")


def _check_counts(kind: str, coordinates: list, field: str, path: str) -> None:
    """Lines need 2 positions; polygon rings need 4 and must be closed (empty arrays are empty)."""
    if kind == "LineString":
        lines = [(path, coordinates)]
    elif kind == "MultiLineString":
        lines = [(f"{path}[{i}]", line) for i, line in enumerate(coordinates)]
    elif kind == "Polygon":
        lines = [(f"{path}[{r}]", ring) for r, ring in enumerate(coordinates)]
    elif kind == "MultiPolygon":
        lines = [
            (f"{path}[{p}][{r}]", ring)
            for p, rings in enumerate(coordinates)
            for r, ring in enumerate(rings)
        ]
    else:
        return
    rings = kind.endswith("Polygon")
    for where, line in lines:
        if not rings and len(line) == 1:
            raise _invalid(field, where, "is a line with only 1 position")
        if rings and len(line) < 4:
            raise _invalid(field, where, "is a ring with fewer than 4 positions")
        if rings and line[0] != line[-1]:
            raise _invalid(field, where, "is a ring that is not closed (first != last position)")


def _invalid(field: str, path: str, why: str, value: object = None) -> ValidationError:
    shown = value if isinstance(value, str | Real | None) else repr(value)[:80]
    return ValidationError(f"{field}: invalid GeoJSON: {path} {why}", field=field, value=shown)


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), repr(value))


# ---- files -------------------------------------------------------------------------------


def read_geometry(data: bytes, filename: str, *, max_bytes: int) -> BaseGeometry:
    """The combined geometry of every feature of an uploaded file, in longitude/latitude.

    `filename` only chooses the format by its extension (.geojson/.json, .kml, .zip holding a
    Shapefile, .gpkg). Raises ValidationError(field="file") for an upload over `max_bytes`, an
    unknown extension, an unreadable file, a CRS that cannot be converted, or a file with no
    feature geometry.
    """
    if len(data) > max_bytes:
        raise ValidationError(
            f"file: the upload is {_size(len(data))}, over the limit of {_size(max_bytes)}",
            field="file",
            value=len(data),
        )
    extension = Path(filename or "").suffix.lower()
    if extension not in SUPPORTED_EXTENSIONS:
        raise ValidationError(
            f"file: unsupported file type {extension or filename!r}; upload GeoJSON (.geojson, "
            ".json), KML (.kml), a zipped Shapefile (.zip) or a GeoPackage (.gpkg)",
            field="file",
            value=filename,
        )
    if not data:
        raise ValidationError("file: the file is empty", field="file", value=filename)
    if extension in (".geojson", ".json"):
        return _read_geojson(data)
    parts = _read_with_gdal(data, extension, max_bytes)
    if not parts:
        raise ValidationError("file: the file holds no feature with a geometry", field="file")
    return combine_parts(parts)


def _read_geojson(data: bytes) -> BaseGeometry:
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ValidationError("file: the file is not UTF-8 text", field="file") from exc
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"file: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            field="file",
        ) from exc
    geometry = geometry_from_geojson(obj, field="file")
    declared = obj.get("crs") if isinstance(obj, dict) else None
    if declared is None:
        return geometry
    try:
        crs = CRS.from_user_input(declared["properties"]["name"])
    except (CRSError, KeyError, TypeError) as exc:
        raise ValidationError(
            "file: the GeoJSON 'crs' member names no known CRS", field="file", detail=str(exc)
        ) from exc
    return _to_lonlat(geometry, crs)


def _read_with_gdal(data: bytes, extension: str, max_bytes: int) -> list[BaseGeometry]:
    """Every feature geometry of every layer, read by GDAL from a temporary copy."""
    with tempfile.TemporaryDirectory(prefix="permitmap-upload-") as folder:
        path = Path(folder) / f"upload{extension}"
        path.write_bytes(data)
        if extension == ".zip":
            datasets = [(f"/vsizip/{path}/{m}", None) for m in _shapefiles(data, max_bytes)]
        else:
            datasets = [(str(path), name) for name in _layers(str(path))]
        parts: list[BaseGeometry] = []
        for source, layer in datasets:
            parts.extend(_read_layer(source, layer))
        return parts


def _layers(path: str) -> list[str]:
    try:
        layers = pyogrio.list_layers(path)
    except _READ_ERRORS as exc:
        raise _unreadable(exc) from exc
    return [str(name) for name, geometry_type in layers if geometry_type is not None]


def _shapefiles(data: bytes, max_bytes: int) -> list[str]:
    """The .shp members of a zip archive (checked against a zip bomb)."""
    return shapefile_members(data, max_unzipped=max_bytes * ZIP_EXPANSION_LIMIT)


def shapefile_members(data: bytes, *, max_unzipped: int) -> list[str]:
    """The .shp members of a zipped Shapefile upload (`__MACOSX/` entries skipped).

    Raises ValidationError(field="file") for a file that is not a zip archive, an archive whose
    members unpack to more than `max_unzipped` bytes (a zip bomb), or one holding no .shp.
    """
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile as exc:
        raise _unreadable(exc, "the file is not a zip archive") from exc
    if sum(m.file_size for m in members) > max_unzipped:
        raise ValidationError(
            f"file: the zip archive unpacks to more than {_size(max_unzipped)}",
            field="file",
        )
    shapefiles = [
        m.filename
        for m in members
        if m.filename.lower().endswith(".shp") and not m.filename.startswith("__MACOSX/")
    ]
    if not shapefiles:
        raise ValidationError(
            "file: the zip archive holds no Shapefile (.shp with its .shx, .dbf and .prj)",
            field="file",
        )
    return shapefiles


def _read_layer(source: str, layer: str | None) -> list[BaseGeometry]:
    try:
        meta, _, wkb, _ = pyogrio.raw.read(source, layer=layer, columns=[], force_2d=True)
        crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
        geometries = shapely.from_wkb(np.asarray([g for g in wkb if g is not None], dtype=object))
    except _READ_ERRORS as exc:
        raise _unreadable(exc) from exc
    parts = [g for g in geometries if g is not None and not g.is_empty]
    return [_to_lonlat(g, crs) for g in parts]


def is_lonlat(crs: CRS) -> bool:
    """Whether `crs` is WGS84 or CGCS2000 longitude/latitude (taken as identical, as in
    `geo.coords`), in either axis order."""
    return any(crs.equals(known, ignore_axis_order=True) for known in _LONLAT)


def to_lonlat(geometries: np.ndarray, crs: CRS) -> np.ndarray:
    """An array of geometries in `crs` reprojected to EPSG:4326 (unchanged when `crs` is WGS84
    or CGCS2000). Raises ValidationError(field="file") when the conversion fails or leaves
    non-finite coordinates."""
    return _to_lonlat(geometries, crs)  # shapely's transform takes arrays as well


def _to_lonlat(geometry: BaseGeometry, crs: CRS | None) -> BaseGeometry:
    """Reproject to EPSG:4326 unless the CRS is unknown, WGS84 or CGCS2000 (kept as given)."""
    if crs is None or any(crs.equals(known, ignore_axis_order=True) for known in _LONLAT):
        return geometry
    try:
        forward = Transformer.from_crs(crs, 4326, always_xy=True)
        moved = shapely.transform(
            geometry, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1]))
        )
    except _READ_ERRORS as exc:
        raise ValidationError(
            f"file: cannot convert from the file's CRS ({crs.name}) to WGS84",
            field="file",
            detail=str(exc),
        ) from exc
    if not np.isfinite(shapely.get_coordinates(moved)).all():
        raise ValidationError(
            f"file: coordinates fall outside the file's CRS ({crs.name})", field="file"
        )
    return moved


def _unreadable(exc: Exception, why: str = "") -> ValidationError:
    return ValidationError(
        f"file: cannot read the file{f' ({why})' if why else ''}; is it really GeoJSON, KML, "
        "a zipped Shapefile or a GeoPackage?",
        field="file",
        detail=f"{type(exc).__name__}: {exc}",
    )


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MB ({count} bytes)" if count >= 2**20 else f"{count} bytes"


# ---- preparing for checks ----------------------------------------------------------------


def prepare_geometry(
    geometry: BaseGeometry, crs: InputCRS | str, *, field: str = "geometry"
) -> tuple[BaseGeometry, list[str]]:
    """The geometry in WGS84, each part made valid, parts dissolved; with notes on repairs.

    Raises ValidationError(field=field) for non-finite or out-of-range coordinates and for an
    empty (or wholly degenerate) geometry.
    """
    crs = parse_crs(crs)
    if not isinstance(geometry, BaseGeometry):
        raise ValidationError(f"{field}: no geometry given", field=field)
    geometry = shapely.transform(shapely.force_2d(geometry), lambda xy: _to_wgs84(xy, crs))
    lon, lat = shapely.get_coordinates(geometry).T
    if not (np.abs(lon) <= 180).all() or not (np.abs(lat) <= 90).all():  # also catches NaN
        raise ValidationError(
            f"{field}: coordinates must be longitude -180..180 and latitude -90..90; "
            "was the geometry projected?",
            field=field,
        )
    parts = _flatten(geometry)
    if len(parts) == 0:
        raise ValidationError(f"{field}: the geometry is empty", field=field)
    parts, notes = _make_valid(parts)
    if len(parts) == 0:
        raise ValidationError(
            f"{field}: the geometry is degenerate (a polygon without area or a line without "
            "length) and cannot be checked",
            field=field,
        )
    return shapely.union_all(parts), notes


def _to_wgs84(xy: np.ndarray, crs: InputCRS) -> np.ndarray:
    return np.column_stack(to_wgs84_arrays(xy[:, 0], xy[:, 1], crs))


def _flatten(geometry: BaseGeometry) -> np.ndarray:
    """Single-part, non-empty geometries (collections and multi-geometries taken apart)."""
    parts = np.asarray([geometry], dtype=object)
    while (shapely.get_type_id(parts) >= 4).any():
        parts = shapely.get_parts(parts)
    return parts[~shapely.is_empty(parts)]


def _make_valid(parts: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Parts made valid: polygons keep only their areas; notes say what was repaired."""
    invalid = ~shapely.is_valid(parts)
    if not invalid.any():
        return parts, []
    notes = [repair_note(reason) for reason in shapely.is_valid_reason(parts[invalid])]
    polygonal = shapely.get_type_id(parts) == 3
    fixed = parts.copy()
    fixed[invalid & polygonal] = shapely.make_valid(
        parts[invalid & polygonal], method="structure", keep_collapsed=False
    )
    fixed[invalid & ~polygonal] = shapely.make_valid(parts[invalid & ~polygonal])
    return _flatten(shapely.GeometryCollection(list(fixed))), list(dict.fromkeys(notes))


def repair_note(reason: str) -> str:
    """A short note from shapely's `is_valid_reason` of a geometry that was made valid."""
    where = re.sub(r"^.*\[(.*)\]$", r"at \1", reason) if "[" in reason else ""
    if "self-intersection" in reason.lower():
        return f"polygon was self-intersecting ({where}) and was made valid".replace(" ()", "")
    return f"geometry was not valid ({reason}) and was made valid"
