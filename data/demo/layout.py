"""The human geography of the demo province: towns, industrial parks, river names.

Everything is computed in a metric CRS (CGCS2000 Gauss-Kruger) so distances are in metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from data.demo.names import river_name, short_county, town_names
from data.demo.options import DemoOptions
from data.geography import ProvinceGeography, Region, load_province
from geo.crs import STORAGE_SRID, metric_crs_for, reproject

MAIN_RIVER_NAMES = {"500000": "长江", "420000": "长江", "510000": "长江", "320000": "长江"}
PARK_KINDS = ("工业园区", "经济开发区", "工业集中区", "高新技术产业园")


@dataclass(frozen=True)
class Town:
    """A county seat or a town, where units cluster."""

    name: str
    kind: str  # "county_seat" | "town"
    county_code: str
    point: Point  # metric


@dataclass(frozen=True)
class ZoneDraft:
    """A zone before loading (metric geometry)."""

    kind: str
    grade: str | None
    code: str
    name: str
    geometry: BaseGeometry
    parent_code: str | None = None
    approval_doc: str | None = None


@dataclass
class Layout:
    """Real regions and rivers plus generated towns and parks, in metric coordinates."""

    geography: ProvinceGeography
    epsg: int
    province: MultiPolygon
    counties: list[Region]
    county_shapes: list[MultiPolygon]
    rivers: list[LineString]
    river_names: list[str]
    towns: list[Town] = field(default_factory=list)
    parks: list[ZoneDraft] = field(default_factory=list)

    def to_metric(self, geometry: BaseGeometry) -> BaseGeometry:
        """Lon/lat → this layout's metric CRS."""
        return reproject(geometry, STORAGE_SRID, self.epsg)

    def to_lonlat(self, geometry: BaseGeometry) -> BaseGeometry:
        """Metric → lon/lat (EPSG:4326)."""
        return reproject(geometry, self.epsg, STORAGE_SRID)

    def county_name(self, code: str) -> str:
        """Name of a county by code."""
        return next(c.name for c in self.counties if c.code == code)


def random_points_in(shape: BaseGeometry, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` uniform points inside a polygon (rejection sampling), as an (n, 2) array."""
    shapely.prepare(shape)
    minx, miny, maxx, maxy = shape.bounds
    found: list[np.ndarray] = []
    remaining = count
    while remaining > 0:
        batch = max(remaining * 3, 16)
        xs = rng.uniform(minx, maxx, batch)
        ys = rng.uniform(miny, maxy, batch)
        inside = shapely.contains_xy(shape, xs, ys)
        chosen = np.column_stack([xs[inside], ys[inside]])[:remaining]
        found.append(chosen)
        remaining -= len(chosen)
    return np.concatenate(found) if found else np.empty((0, 2))


def blob(center: Point, radius: float, rng: np.random.Generator, vertices: int = 14) -> Polygon:
    """An irregular, roughly round polygon (a park, a reservoir, a reserve)."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, vertices))
    radii = radius * rng.uniform(0.7, 1.15, vertices)
    ring = np.column_stack([center.x + radii * np.cos(angles), center.y + radii * np.sin(angles)])
    return shapely.make_valid(Polygon(ring)).buffer(radius * 0.08)


def build_layout(options: DemoOptions) -> Layout:
    """Load the real province and place towns, parks and river names on it."""
    geography = load_province(options.province)
    center = geography.province.geometry.centroid
    epsg = metric_crs_for(center.x)
    layout = Layout(
        geography=geography,
        epsg=epsg,
        province=reproject(geography.province.geometry, STORAGE_SRID, epsg),
        counties=geography.counties,
        county_shapes=[reproject(c.geometry, STORAGE_SRID, epsg) for c in geography.counties],
        rivers=[reproject(r.geometry, STORAGE_SRID, epsg) for r in geography.rivers],
        river_names=name_rivers(geography, options),
    )
    layout.towns = place_towns(layout, options.rng(1))
    layout.parks = place_parks(layout, options.rng(2))
    return layout


def name_rivers(geography: ProvinceGeography, options: DemoOptions) -> list[str]:
    """The main stem gets the province's main river name; each tributary chain one name."""
    rng = options.rng(3)
    main_name = MAIN_RIVER_NAMES.get(options.province, "干流")
    by_to_node: dict[int, list[int]] = {}
    for index, river in enumerate(geography.rivers):
        by_to_node.setdefault(river.to_node, []).append(index)
    names: dict[int, str] = {}
    # Walk downstream-first: a reach continuing the biggest upstream reach keeps its name.
    order = sorted(range(len(geography.rivers)), key=lambda i: -geography.rivers[i].stream_order)
    for index in order:
        river = geography.rivers[index]
        if river.is_main:
            names[index] = main_name
            continue
        downstream = [i for i, r in enumerate(geography.rivers) if r.from_node == river.to_node]
        upstream_peers = by_to_node.get(river.to_node, [])
        biggest = max(upstream_peers, key=lambda i: geography.rivers[i].stream_order)
        if (
            downstream
            and biggest == index
            and downstream[0] in names
            and not (geography.rivers[downstream[0]].is_main)
        ):
            names[index] = names[downstream[0]]
        else:
            names[index] = river_name(rng)
    return [names[i] for i in range(len(geography.rivers))]


def _nearest_river_point(layout: Layout, point: Point, within: float) -> Point | None:
    """The nearest point on any river, if one lies within `within` metres."""
    best: Point | None = None
    best_distance = within
    for river in layout.rivers:
        distance = river.distance(point)
        if distance < best_distance:
            best, best_distance = river.interpolate(river.project(point)), distance
    return best


def place_towns(layout: Layout, rng: np.random.Generator) -> list[Town]:
    """A seat per county (on a river when one passes near) and 3-10 towns by area."""
    towns: list[Town] = []
    for county, shape in zip(layout.counties, layout.county_shapes, strict=True):
        seat = shape.representative_point()
        on_river = _nearest_river_point(layout, seat, 15_000)
        if on_river is not None and shape.contains(on_river):
            seat = Point(on_river.x + 600, on_river.y + 600)
            seat = seat if shape.contains(seat) else on_river
        towns.append(Town(f"{short_county(county.name)}城区", "county_seat", county.code, seat))
        count = int(np.clip(shape.area / 4e8, 3, 10))
        points = random_points_in(shape, count, rng)
        # Town names repeat across counties, as real ones do; within a county they are distinct.
        for name, xy in zip(town_names(rng, count), points, strict=True):
            towns.append(Town(name, "town", county.code, Point(xy)))
    return towns


def place_parks(layout: Layout, rng: np.random.Generator) -> list[ZoneDraft]:
    """One industrial park near each county seat (two in large counties)."""
    parks: list[ZoneDraft] = []
    seats = {t.county_code: t for t in layout.towns if t.kind == "county_seat"}
    for county, shape in zip(layout.counties, layout.county_shapes, strict=True):
        count = 2 if shape.area > 3e9 else 1
        for number in range(1, count + 1):
            angle = rng.uniform(0, 2 * np.pi)
            distance = rng.uniform(3_000, 7_000)
            seat = seats[county.code].point
            center = Point(seat.x + distance * np.cos(angle), seat.y + distance * np.sin(angle))
            polygon = blob(center, rng.uniform(900, 2_200), rng).intersection(shape)
            if polygon.is_empty or polygon.area < 5e5:
                continue
            kind = PARK_KINDS[int(rng.integers(0, len(PARK_KINDS)))]
            parks.append(
                ZoneDraft(
                    kind="industrial_park",
                    grade=None,
                    code=f"YQ{county.code}{number:02d}",
                    name=f"{short_county(county.name)}{kind}" + ("" if number == 1 else "二期"),
                    geometry=polygon,
                    approval_doc=f"{layout.geography.province.name}人民政府批复",
                )
            )
    return parks
