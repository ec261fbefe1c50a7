"""Planted cases: units, an outlet and river outfalls placed where the law forbids them.

They depend on the seed and province only (not on --units), so `data/demo/README.md` can list
them and a person can find them on the map. Each sits at least 60 m inside its zone (or exactly
30 m outside a boundary for the near-boundary case), so screening has something true to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from data.demo.layout import Layout, ZoneDraft, random_points_in
from data.demo.options import DemoOptions
from data.demo.zones import WaterSource

INSIDE_MARGIN = 60.0
NEAR_BOUNDARY_OFFSET = 30.0


@dataclass(frozen=True)
class PlantedCase:
    """One planted case: what, where, and why it matters."""

    key: str
    feature: str  # "unit" | "outlet" | "river_outfall"
    name: str
    industry_code: str | None
    zone_code: str | None  # None: in no zone of that kind (a negative control)
    expectation: str  # "inside" | "outside" | "near_boundary"
    why: str
    point: Point  # metric
    location_source: str = "surveyed"
    outfall_type: str | None = None
    unit_point: Point | None = None  # an outlet's unit, when it differs


def _interior_point(zone: BaseGeometry, rng: np.random.Generator) -> Point:
    core = zone.buffer(-INSIDE_MARGIN)
    return Point(random_points_in(core if not core.is_empty else zone, 1, rng)[0])


def _river_point_in(
    zone: BaseGeometry, layout: Layout, source: WaterSource, rng: np.random.Generator
) -> Point:
    """A point on a river inside the zone (a reservoir source: anywhere inside)."""
    core = zone.buffer(-INSIDE_MARGIN)
    for river in layout.rivers:
        on_river = river.intersection(core)
        if not on_river.is_empty and on_river.length > 0:
            pieces = [g for g in shapely.get_parts(on_river) if isinstance(g, LineString)]
            longest = max(pieces, key=lambda g: g.length)
            return longest.interpolate(0.5, normalized=True)
    return _interior_point(zone, rng)


def _zone(drafts: list[ZoneDraft], code: str) -> ZoneDraft:
    return next(d for d in drafts if d.code == code)


def _outside_point(zone: BaseGeometry, layout: Layout, distance: float) -> Point:
    """A point `distance` metres outside the zone's outline, inside the province."""
    ring = (
        zone.buffer(distance).exterior
        if zone.geom_type == "Polygon"
        else max(zone.buffer(distance).geoms, key=lambda g: g.area).exterior
    )
    for fraction in np.linspace(0.05, 0.95, 19):
        point = ring.interpolate(fraction, normalized=True)
        if layout.province.buffer(-200).contains(point):
            return point
    return ring.interpolate(0.5, normalized=True)


def plant_cases(
    layout: Layout, sources: list[WaterSource], zones: list[ZoneDraft], options: DemoOptions
) -> list[PlantedCase]:
    """The documented cases (14) for the seed and province."""
    rng = options.rng(60)
    river_sources = [s for s in sources if s.reservoir is None] or sources
    main = max(river_sources, key=lambda s: s.quasi.area)
    holed = next((s for s in sources if s.village_hole is not None), main)
    reservoir = next((s for s in sources if s.reservoir is not None), sources[-1])
    red = next(z for z in zones if z.kind == "ecological_redline")
    core = next(z for z in zones if z.kind == "nature_reserve" and z.grade == "core")
    experimental = _zone(zones, core.code.replace("-core", "-experimental"))
    quasi_outline = shapely.union_all([main.quasi, main.grade_2, main.grade_1])
    edge = _outside_point(quasi_outline, layout, 0.0)
    outward = np.array([edge.x - main.intake.x, edge.y - main.intake.y])
    outward /= np.linalg.norm(outward)
    art = "《水污染防治法》"
    cases = [
        (
            "U01",
            "unit",
            "纸业",
            "2221",
            f"{main.code}-I",
            "inside",
            f"{art}第六十五条：一级保护区内禁止建设与供水无关的项目",
            _interior_point(main.grade_1, rng),
        ),
        (
            "U02",
            "unit",
            "电镀",
            "3360",
            f"{main.code}-II",
            "inside",
            f"{art}第六十六条：二级保护区内禁止建设排放污染物的项目",
            _interior_point(main.grade_2, rng),
        ),
        (
            "U03",
            "unit",
            "水泥",
            "3011",
            f"{main.code}-quasi",
            "inside",
            f"{art}第六十七条：准保护区内禁止新建、扩建严重污染水体的项目",
            _interior_point(main.quasi, rng),
        ),
        (
            "U04",
            "unit",
            "生猪养殖",
            "0313",
            f"{reservoir.code}-II",
            "inside",
            f"{art}第六十六条（水库型水源二级保护区）",
            _interior_point(reservoir.grade_2, rng),
        ),
        (
            "U05",
            "unit",
            "化工",
            "2614",
            red.code,
            "inside",
            "生态保护红线内禁止开发性、生产性建设活动",
            _interior_point(red.geometry, rng),
        ),
        (
            "U06",
            "unit",
            "焦化",
            "2521",
            core.code,
            "inside",
            "《自然保护区条例》第三十二条：核心区和缓冲区内不得建设任何生产设施",
            _interior_point(core.geometry, rng),
        ),
        (
            "U07",
            "unit",
            "印染",
            "1713",
            experimental.code,
            "inside",
            "《自然保护区条例》第三十二条：实验区内不得建设污染环境的生产设施",
            _interior_point(experimental.geometry, rng),
        ),
        (
            "U08",
            "unit",
            "机械加工",
            "3311",
            None,
            "outside",
            f"负对照：位于{holed.code}-II 的“天窗”（村庄排除区）内，不在任何水源保护区内",
            holed.village_hole,
        ),
        (
            "U09",
            "unit",
            "家具",
            "2110",
            red.code,
            "near_boundary",
            "距生态保护红线边界 30 米（界外）：应现场核查",
            _outside_point(red.geometry, layout, NEAR_BOUNDARY_OFFSET),
        ),
        (
            "U10",
            "unit",
            "食品",
            "1391",
            f"{main.code}-II",
            "inside",
            "坐标由高德（GCJ-02）转换而来，位于二级保护区：位置存在不确定性",
            _interior_point(main.grade_2, rng),
        ),
    ]
    planted = [
        PlantedCase(
            key,
            feature,
            name,
            code,
            zone,
            expect,
            why,
            point,
            "converted_gcj02" if key == "U10" else "surveyed",
        )
        for key, feature, name, code, zone, expect, why, point in cases
    ]
    planted.append(
        PlantedCase(
            "O01",
            "outlet",
            "化工",
            "2619",
            f"{main.code}-quasi",
            "inside",
            f"{art}第六十四条：单位在准保护区外 200 米，其废水排放口 DW001 在准保护区内",
            Point(edge.x - 100 * outward[0], edge.y - 100 * outward[1]),
            unit_point=Point(edge.x + 200 * outward[0], edge.y + 200 * outward[1]),
        )
    )
    outfalls = (
        ("R01", "industrial", main.grade_1, "I", "工业"),
        ("R02", "municipal_wwtp", main.grade_2, "II", "城镇污水处理厂"),
        ("R03", "agricultural", main.quasi, "quasi", "农业"),
    )
    for key, kind, zone, grade, label in outfalls:
        planted.append(
            PlantedCase(
                key,
                "river_outfall",
                f"{main.name}{label}排污口",
                None,
                f"{main.code}-{grade}",
                "inside",
                f"{art}第六十四条：饮用水水源保护区内禁止设置排污口",
                _river_point_in(zone, layout, main, rng),
                outfall_type=kind,
            )
        )
    return planted
