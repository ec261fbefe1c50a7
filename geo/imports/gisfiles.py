"""GIS files to import (GeoPackage, zipped Shapefile, GeoJSON) read as one layer of features:
attributes as text cells, geometries as longitude/latitude in EPSG:4326.

The format is told by content, not by name: a GeoPackage by its SQLite header, a zip by its
members (a `.shp` makes it a Shapefile, an `xl/` folder a spreadsheet), GeoJSON by its opening
brace; anything else is taken for a table (.xlsx/.csv). A file must hold one layer of the wanted
geometry; a layer is read whole by GDAL (pyogrio) from a temporary copy.

Coordinate systems: a file's declared CRS (.prj, the GeoPackage's SRS, GeoJSON's legacy `crs`
member; RFC 7946 GeoJSON is WGS84) is reprojected with pyproj; WGS84 and CGCS2000 are taken as
identical. A file without a CRS is refused unless the user names the CRS of its coordinates
(`ImportSource.crs`: WGS84, CGCS2000, GCJ-02, BD-09); a named CRS also overrides a file that
declares longitude/latitude (GCJ-02 data saved as "WGS84" is common), but not a projected CRS.

Shapefile attributes: a `.cpg` names the encoding and GDAL honours it. Without one the `.dbf` is
read as strict UTF-8 and, if any byte sequence is not UTF-8, again as GB18030 (a superset of
GBK): the encodings Chinese Shapefiles come in. A note in the report says which was used.
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import pyogrio.raw
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.coords import InputCRS, to_wgs84_arrays
from geo.errors import ValidationError
from geo.geofiles import is_lonlat, shapefile_members, to_lonlat
from geo.imports.base import ImportReport, ImportSource, Problem

GEOPACKAGE, SHAPEFILE, GEOJSON, TABLE = "GeoPackage", "Shapefile", "GeoJSON", "table"
POLYGONAL = ("Polygon", "MultiPolygon")
_SUFFIX = {GEOPACKAGE: ".gpkg", SHAPEFILE: ".zip", GEOJSON: ".geojson"}
_READ_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FieldError,
    CRSError,
    OSError,
    ValueError,
    shapely.errors.GEOSException,
)


@dataclass(frozen=True)
class FeatureTable:
    """Features as read: one row per feature.

    `frame`: one column per attribute (the header as in the file), every cell a `str` ('' when
    empty). `geometries`: shapely geometries in EPSG:4326 lon/lat (None where a feature has
    none). `rows`: the number a problem names for each feature (its 1-based position in the
    layer; for a corner-point table, the zone's first row).
    """

    frame: pd.DataFrame
    geometries: np.ndarray
    rows: np.ndarray


def file_format(data: bytes) -> str:
    """GEOPACKAGE, SHAPEFILE, GEOJSON or TABLE, from the file's content.

    Raises ValidationError(field="file") for a bare .shp (it must come zipped with its
    companions), a zip that is neither a Shapefile nor a spreadsheet, and KML or other XML.
    """
    if data.startswith(b"SQLite format 3\x00"):
        return GEOPACKAGE
    if data.startswith(b"\x00\x00\x27\x0a"):
        raise ValidationError(
            "file: upload a Shapefile as a .zip holding its .shp, .shx, .dbf and .prj "
            "(and .cpg if there is one)",
            field="file",
        )
    if data.startswith(b"PK\x03\x04"):
        try:
            names = [name.lower() for name in zipfile.ZipFile(BytesIO(data)).namelist()]
        except zipfile.BadZipFile as exc:
            raise ValidationError("file: the zip archive is damaged", field="file") from exc
        if any(name.endswith(".shp") for name in names):
            return SHAPEFILE
        if any(name.startswith("xl/") for name in names):
            return TABLE
        raise ValidationError(
            "file: the zip archive holds neither a Shapefile (.shp) nor a spreadsheet",
            field="file",
        )
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"{":
        return GEOJSON
    if start == b"<":
        raise ValidationError(
            "file: KML and other XML files are not imported; use a GeoPackage, a zipped "
            "Shapefile, GeoJSON or a corner-point table (.xlsx/.csv)",
            field="file",
        )
    return TABLE


def read_gis_layer(
    source: ImportSource,
    fmt: str,
    report: ImportReport,
    *,
    geometry_types: tuple[str, ...] = POLYGONAL,
) -> FeatureTable | None:
    """The features of the file's one layer of `geometry_types`, in EPSG:4326.

    Problems (and None) for a file with no such layer or several, a Shapefile without its .dbf
    or .shx, a file whose CRS is unknown (no .prj) when `source.crs` is not given, a CRS given
    for a projected file, and coordinates that are not longitude/latitude. Raises
    ValidationError(field="file") for a file over `source.limits.max_bytes`, one GDAL cannot
    read, or one with more features than `source.limits.max_rows`.
    """
    if len(source.data) > source.limits.max_bytes:
        raise ValidationError(
            f"file: the file is over the limit of {source.limits.max_bytes:,} bytes", field="file"
        )
    with tempfile.TemporaryDirectory(prefix="permitmap-import-") as folder:
        path = Path(folder) / f"upload{_SUFFIX[fmt]}"
        path.write_bytes(source.data)
        if fmt == SHAPEFILE:
            opened = _shapefile(path, source, report)
        elif fmt == GEOPACKAGE:
            opened = _geopackage_layer(path, geometry_types, report)
        else:
            opened = (str(path), None, None, True)
        if opened is None:
            return None
        dataset, layer, encoding, declared = opened
        meta, wkb, fields = _read(dataset, layer, encoding, source)
    file_crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
    geometries = shapely.from_wkb(np.asarray(wkb, dtype=object))
    geometries = _in_lonlat(geometries, file_crs, source.crs, fmt, declared, report)
    if geometries is None:
        return None
    frame = pd.DataFrame(
        {str(name): _as_text(values) for name, values in zip(meta["fields"], fields, strict=True)}
    )
    return FeatureTable(frame, geometries, np.arange(1, len(geometries) + 1))


def _shapefile(
    path: Path, source: ImportSource, report: ImportReport
) -> tuple[str, None, str | None, bool] | None:
    """(GDAL path, layer, encoding, has a .prj) of the zip's one Shapefile, or None."""
    shapefiles = shapefile_members(source.data, max_unzipped=source.limits.max_unzipped_bytes)
    if len(shapefiles) > 1:
        report.add(
            Problem(
                f"the zip archive holds {len(shapefiles)} Shapefiles ({', '.join(shapefiles)}); "
                "import one at a time",
                field="file",
            )
        )
        return None
    member = PurePosixPath(shapefiles[0])
    names = {name.lower() for name in zipfile.ZipFile(path).namelist()}
    stem = str(member.with_suffix("")).lower()
    missing = [ext for ext in (".shx", ".dbf") if stem + ext not in names]
    for companion in missing:
        report.add(Problem(f"the Shapefile has no {companion}; zip it with the .shp", field="file"))
    if missing:
        return None
    dataset = f"/vsizip/{path}/{member}"
    encoding = None if stem + ".cpg" in names else _dbf_encoding(dataset, report)
    return dataset, None, encoding, stem + ".prj" in names


def _dbf_encoding(dataset: str, report: ImportReport) -> str:
    """UTF-8 if every attribute decodes as UTF-8, else GB18030 (GBK); noted in the report."""
    try:
        pyogrio.raw.read(dataset, encoding="utf-8", read_geometry=False)
    except UnicodeDecodeError:
        report.note(
            "the Shapefile has no .cpg and its attributes are not UTF-8: read as GBK (GB18030)"
        )
        return "gb18030"
    except _READ_ERRORS as exc:
        raise _unreadable(exc) from exc
    report.note("the Shapefile has no .cpg: attributes read as UTF-8")
    return "utf-8"


def _geopackage_layer(
    path: Path, geometry_types: tuple[str, ...], report: ImportReport
) -> tuple[str, str, None, bool] | None:
    """The GeoPackage's one layer of the wanted geometry, or None with a problem."""
    try:
        layers = pyogrio.list_layers(str(path))
    except _READ_ERRORS as exc:
        raise _unreadable(exc) from exc
    wanted = {kind.lower() for kind in geometry_types} | {"unknown", "geometry"}
    found = [str(name) for name, kind in layers if kind and str(kind).lower() in wanted]
    if len(found) == 1:
        return str(path), found[0], None, True
    what = " or ".join(geometry_types)
    report.add(
        Problem(
            f"the GeoPackage holds no layer of {what} features"
            if not found
            else f"the GeoPackage holds {len(found)} layers of {what} features "
            f"({', '.join(found)}); keep one",
            field="file",
        )
    )
    return None


def _read(
    dataset: str, layer: str | None, encoding: str | None, source: ImportSource
) -> tuple[dict, np.ndarray, list[np.ndarray]]:
    try:
        meta, _, wkb, fields = pyogrio.raw.read(
            dataset,
            layer=layer,
            encoding=encoding,
            force_2d=True,
            datetime_as_string=True,
            max_features=source.limits.max_rows + 1,
        )
    except (*_READ_ERRORS, UnicodeDecodeError) as exc:
        raise _unreadable(exc) from exc
    if len(wkb) > source.limits.max_rows:
        raise ValidationError(
            f"file: the file holds more than {source.limits.max_rows:,} features",
            field="file",
        )
    return meta, wkb, fields


def _in_lonlat(
    geometries: np.ndarray,
    file_crs: CRS | None,
    given: InputCRS | None,
    fmt: str,
    declared: bool,
    report: ImportReport,
) -> np.ndarray | None:
    """The geometries in EPSG:4326 by the rules of the module docstring, or None (problem)."""
    if file_crs is None and given is None:
        report.add(Problem(_no_crs_message(fmt, declared), field="file"))
        return None
    if file_crs is not None and not is_lonlat(file_crs):
        if given is not None:
            report.add(
                Problem(
                    f"the file declares a projected CRS ({file_crs.name}); a CRS given for the "
                    "import applies only to longitude/latitude files — leave it out",
                    field="crs",
                    value=str(given),
                )
            )
            return None
        geometries = to_lonlat(geometries, file_crs)
        report.note(f"reprojected from {file_crs.name} to WGS84 (EPSG:4326)")
    elif given is not None:
        if given not in (InputCRS.WGS84, InputCRS.CGCS2000):
            geometries = shapely.transform(
                geometries,
                lambda xy: np.column_stack(to_wgs84_arrays(xy[:, 0], xy[:, 1], given)),
            )
        report.note(f"coordinates taken as {given.value.upper()} longitude/latitude, as given")
    return geometries if _are_lonlat(geometries, report) else None


def _no_crs_message(fmt: str, declared: bool) -> str:
    hint = (
        " (or, for longitude/latitude coordinates, give their CRS: WGS84, CGCS2000, GCJ-02 "
        "or BD-09)"
    )
    if fmt == SHAPEFILE and not declared:
        return (
            "the Shapefile has no .prj: its coordinate system is unknown; add the .prj the "
            "data came with" + hint
        )
    return f"the {fmt} declares no coordinate system; save it with its CRS" + hint


def _are_lonlat(geometries: np.ndarray, report: ImportReport) -> bool:
    xy = shapely.get_coordinates(geometries)
    outside = ~((np.abs(xy[:, 0]) <= 180) & (np.abs(xy[:, 1]) <= 90))  # also catches NaN
    if outside.any():
        x, y = xy[np.flatnonzero(outside)[0]]
        report.add(
            Problem(
                f"coordinates such as ({x:.6g}, {y:.6g}) are not longitude/latitude: the file "
                "is projected, so its .prj (CRS) is needed",
                field="file",
            )
        )
        return False
    return True


def _as_text(values: np.ndarray) -> pd.Series:
    """A column of attribute values as text cells ('' for null; whole floats without '.0')."""
    if values.dtype.kind == "f":
        return pd.Series(
            [
                ""
                if not np.isfinite(v)
                else f"{v:.0f}"
                if float(v).is_integer()
                else repr(float(v))
                for v in values
            ],
            dtype=object,
        )
    return pd.Series(
        [
            "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
            for v in values
        ],
        dtype=object,
    )


def _unreadable(exc: Exception) -> ValidationError:
    return ValidationError(
        "file: cannot read the file; is it really a GeoPackage, a zipped Shapefile or GeoJSON?",
        field="file",
        detail=f"{type(exc).__name__}: {exc}",
    )
