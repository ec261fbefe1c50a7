"""Zoning of the demo province: water-source protection zones, red lines, reserves, control units.

Drinking-water protection zones sit around intakes on rivers (or around generated reservoirs in
counties no river crosses): grade I around the intake, grade II as a ring around grade I (its
hole is grade I, as real delineations are drawn), the quasi zone as a ring around grade II. Every
third grade II zone has an extra hole (an excluded village); every fourth quasi zone an island (a
detached headwater patch). Control units tile each county: priority protection over protected
land, key control around towns and parks, general control for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely import ops
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from data.demo.layout import Layout, Town, ZoneDraft, blob, random_points_in
from data.demo.names import short_county

MOUNTAIN_WORDS = ("山", "岭", "峰", "坪", "林")
CONTROL_GRADES = (
    ("priority", "1", "优先保护单元"),
    ("key", "2", "重点管控单元"),
    ("general", "3", "一般管控单元"),
)
MIN_ZONE_AREA = 2e4  # m²: slivers below this are dropped


@dataclass(frozen=True)
class WaterSource:
    """A drinking-water intake and its three nested zones (metric)."""

    code: str
    name: str
    intake: Point
    county_code: str
    grade_1: BaseGeometry
    grade_2: BaseGeometry
    quasi: BaseGeometry
    reservoir: BaseGeometry | None
    village_hole: Point | None


def _river_stretch(line: LineString, at: float, up: float, down: float) -> LineString:
    """The part of a (downstream-oriented) reach from `up` m above to `down` m below `at`."""
    return ops.substring(line, max(at - up, 0.0), min(at + down, line.length))


def _nested_rings(core: BaseGeometry, widths: tuple[BaseGeometry, BaseGeometry]) -> tuple:
    """Grade I = core; grade II = its outer minus core; quasi = outer minus grade II's outer."""
    outer_2, outer_q = widths
    return core, outer_2.difference(core), outer_q.difference(outer_2)


def river_source(
    layout: Layout, town: Town, number: int, rng: np.random.Generator
) -> WaterSource | None:
    """Zones around an intake on the river nearest the town, upstream of it."""
    best = min(
        range(len(layout.rivers)), key=lambda i: layout.rivers[i].distance(town.point), default=None
    )
    if best is None or layout.rivers[best].distance(town.point) > 12_000:
        return None
    line = layout.rivers[best]
    at = max(line.project(town.point) - rng.uniform(1_500, 4_000), 0.0)
    intake = line.interpolate(at)
    grade_1 = _river_stretch(line, at, 1_000, 100).buffer(300)
    outer_2 = _river_stretch(line, at, 3_000, 300).buffer(1_000)
    outer_q = _river_stretch(line, at, 8_000, 500).buffer(2_500)
    name = f"{layout.river_names[best]}{town.name}"
    return _finish(layout, town, number, intake, name, (grade_1, outer_2, outer_q), None, rng)


def reservoir_source(
    layout: Layout, town: Town, number: int, rng: np.random.Generator
) -> WaterSource:
    """A generated reservoir a few km from the town, with its zones."""
    shape = next(
        s
        for c, s in zip(layout.counties, layout.county_shapes, strict=True)
        if c.code == town.county_code
    )
    ring = shape.intersection(town.point.buffer(9_000)).difference(town.point.buffer(4_000))
    target = ring if not ring.is_empty else shape
    center = Point(random_points_in(target, 1, rng)[0])
    reservoir = blob(center, rng.uniform(400, 800), rng)
    zones = (reservoir.buffer(200), reservoir.buffer(1_200), reservoir.buffer(3_000))
    name = f"{town.name.removesuffix('城区')}{'水库'}"
    return _finish(layout, town, number, center, name, zones, reservoir, rng)


def _finish(
    layout: Layout,
    town: Town,
    number: int,
    intake: Point,
    name: str,
    outers: tuple[BaseGeometry, BaseGeometry, BaseGeometry],
    reservoir: BaseGeometry | None,
    rng: np.random.Generator,
) -> WaterSource:
    grade_1, grade_2, quasi = _nested_rings(outers[0], (outers[1], outers[2]))
    hole = None
    if number % 3 == 0:
        hole = _village_hole(grade_2, rng)
        grade_2 = grade_2.difference(hole.buffer(300))
    if number % 4 == 0:
        island = blob(Point(intake.x + 6_000, intake.y + 5_000), 1_500, rng)
        quasi = quasi.union(island.difference(outers[2]))
    clip = layout.province
    return WaterSource(
        code=f"SY{town.county_code}{number:03d}",
        name=name,
        intake=intake,
        county_code=town.county_code,
        grade_1=grade_1.intersection(clip),
        grade_2=grade_2.intersection(clip),
        quasi=quasi.intersection(clip),
        reservoir=reservoir,
        village_hole=hole,
    )


def _village_hole(grade_2: BaseGeometry, rng: np.random.Generator) -> Point:
    """A point deep enough inside grade II that a 300 m hole around it stays inside."""
    core = grade_2.buffer(-450)
    return Point(random_points_in(core if not core.is_empty else grade_2, 1, rng)[0])


def water_sources(layout: Layout, rng: np.random.Generator) -> list[WaterSource]:
    """One source per county seat: on a river where one is near, else a reservoir."""
    sources: list[WaterSource] = []
    for number, town in enumerate((t for t in layout.towns if t.kind == "county_seat"), start=1):
        source = river_source(layout, town, number, rng)
        sources.append(source or reservoir_source(layout, town, number, rng))
    return sources


def water_zone_drafts(sources: list[WaterSource], approval: str) -> list[ZoneDraft]:
    """The three zones of every source as drafts."""
    drafts: list[ZoneDraft] = []
    labels = (
        ("I", "一级保护区", "grade_1"),
        ("II", "二级保护区", "grade_2"),
        ("quasi", "准保护区", "quasi"),
    )
    for source in sources:
        for grade, label, attribute in labels:
            geometry = getattr(source, attribute)
            if geometry.area < MIN_ZONE_AREA:
                continue
            drafts.append(
                ZoneDraft(
                    kind="water_protection",
                    grade=grade,
                    code=f"{source.code}-{grade}",
                    name=f"{source.name}饮用水水源{label}",
                    geometry=geometry,
                    parent_code=source.code,
                    approval_doc=approval,
                )
            )
    return drafts


def _remote_points(layout: Layout, count: int, rng: np.random.Generator) -> list[Point]:
    """Points far from every town (where red lines and reserves go)."""
    towns = shapely.MultiPoint([t.point for t in layout.towns])
    candidates = [Point(xy) for xy in random_points_in(layout.province.buffer(-5_000), 400, rng)]
    candidates.sort(key=lambda p: -p.distance(towns))
    chosen: list[Point] = []
    for point in candidates:
        if all(point.distance(other) > 30_000 for other in chosen):
            chosen.append(point)
        if len(chosen) == count:
            break
    return chosen


def red_lines_and_reserves(
    layout: Layout, rng: np.random.Generator, approval: str
) -> list[ZoneDraft]:
    """Ecological red lines on remote land; a nature reserve (core/buffer/experimental) in some."""
    province_code = layout.geography.province.code
    drafts: list[ZoneDraft] = []
    for number, center in enumerate(_remote_points(layout, 10, rng), start=1):
        county = _county_at(layout, center)
        mountain = f"{short_county(county)}{MOUNTAIN_WORDS[number % len(MOUNTAIN_WORDS)]}"
        red = blob(center, rng.uniform(7_000, 13_000), rng, vertices=20)
        drafts.append(
            ZoneDraft(
                kind="ecological_redline",
                grade=None,
                code=f"HX{province_code}{number:03d}",
                name=f"{mountain}生态保护红线",
                geometry=red.intersection(layout.province),
                approval_doc=approval,
            )
        )
        if number % 2 == 0:
            drafts.extend(_reserve(layout, center, number, mountain, rng))
    return drafts


def _reserve(
    layout: Layout, center: Point, number: int, mountain: str, rng: np.random.Generator
) -> list[ZoneDraft]:
    core = blob(center, rng.uniform(2_000, 3_000), rng)
    buffer_outer = core.buffer(2_000)
    experimental_outer = buffer_outer.buffer(2_000)
    code = f"ZR{layout.geography.province.code}{number:02d}"
    parts = (
        ("core", "核心区", core),
        ("buffer", "缓冲区", buffer_outer.difference(core)),
        ("experimental", "实验区", experimental_outer.difference(buffer_outer)),
    )
    return [
        ZoneDraft(
            kind="nature_reserve",
            grade=grade,
            code=f"{code}-{grade}",
            name=f"{mountain}自然保护区{label}",
            geometry=shape.intersection(layout.province),
            parent_code=code,
            approval_doc="国务院/省级人民政府批准建立",
        )
        for grade, label, shape in parts
    ]


def _county_at(layout: Layout, point: Point) -> str:
    distances = [shape.distance(point) for shape in layout.county_shapes]
    return layout.counties[int(np.argmin(distances))].name


def control_units(layout: Layout, protected: list[ZoneDraft]) -> list[ZoneDraft]:
    """Priority / key / general control units tiling every county.

    The cut happens in lon/lat on the counties' own outlines: a node added to a county edge then
    stays on the edge its neighbour shares (in a metric CRS the straight edge bends slightly).
    """
    protected_union = layout.to_lonlat(shapely.union_all([z.geometry for z in protected]))
    developed = layout.to_lonlat(
        shapely.union_all(
            [t.point.buffer(5_000 if t.kind == "county_seat" else 2_500) for t in layout.towns]
            + [p.geometry.buffer(1_000) for p in layout.parks]
        )
    )
    drafts: list[ZoneDraft] = []
    for county in layout.counties:
        pieces = _partition(county.geometry, protected_union, developed)
        priority, key, general = (layout.to_metric(piece) for piece in pieces)
        short = short_county(county.name)
        for (grade, digit, label), geometry in zip(
            CONTROL_GRADES, (priority, key, general), strict=True
        ):
            polygons = _polygons(geometry)
            if polygons.is_empty or polygons.area < MIN_ZONE_AREA:
                continue
            drafts.append(
                ZoneDraft(
                    kind="control_unit",
                    grade=grade,
                    code=f"ZH{county.code}{digit}0001",
                    name=f"{short}{label}",
                    geometry=polygons,
                    parent_code=county.code,
                    approval_doc=f"{layout.geography.province.name}生态环境分区管控方案",
                )
            )
    return drafts


def _partition(
    shape: BaseGeometry, protected: BaseGeometry, developed: BaseGeometry
) -> tuple[BaseGeometry, BaseGeometry, BaseGeometry]:
    """Split a county into priority (protected land), key (near towns and parks) and general."""
    priority = _polygons(shapely.intersection(shape, protected))
    key = _polygons(shapely.difference(shapely.intersection(shape, developed), protected))
    general = _polygons(shapely.difference(shapely.difference(shape, protected), developed))
    return priority, key, general


def _polygons(geometry: BaseGeometry) -> MultiPolygon:
    """Only the polygonal parts, as a MultiPolygon (intersections can add lines and points)."""
    parts = [p for p in shapely.get_parts(geometry) if isinstance(p, Polygon | MultiPolygon)]
    flat = [g for p in parts for g in (p.geoms if isinstance(p, MultiPolygon) else [p])]
    return MultiPolygon([g for g in flat if g.area > 0])
