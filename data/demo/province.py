"""Assemble the whole demo province as tables ready for COPY (no database needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from data.demo.inventory import county_of, credit_codes, generate_units, industries
from data.demo.layout import Layout, ZoneDraft, build_layout
from data.demo.names import short_county
from data.demo.options import DemoOptions
from data.demo.outfalls import TYPE_LETTERS, generate_outfalls, receiving_waters
from data.demo.permits import authorities, generate_outlets, generate_permits, generate_pollutants
from data.demo.planted import PlantedCase, plant_cases
from data.demo.zones import (
    control_units,
    red_lines_and_reserves,
    water_sources,
    water_zone_drafts,
)
from geo.crs import STORAGE_SRID, transformer

ZONE_SOURCE = "permitmap demo generator (synthetic)"
WATER_MARGIN_M = 300.0
OTHER_MARGIN_M = 100.0
HEAVY_AND_CHEMICAL = (
    *sorted(industries().loc[industries()["heavy_water_polluter"], "code"]),
    "25",
    "26",
)
ACCESS_LISTS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "priority": [
        (
            "spatial_layout",
            "禁止新建、扩建《水污染防治法》第四十七条所列严重污染水环境的生产项目及"
            "石化、化工、焦化项目",
            HEAVY_AND_CHEMICAL,
        ),
        ("discharge_control", "不得新增主要污染物排放量；现有排污单位实施总量削减", ()),
        ("risk_prevention", "禁止新建涉及有毒有害物质的环境风险项目", ()),
        ("resource_efficiency", "严格控制取用水总量，禁止新建高耗水项目", ()),
    ],
    "key": [
        ("spatial_layout", "新建工业项目原则上进入工业园区；禁止新建高污染燃料设施", ()),
        ("discharge_control", "新建项目实行主要污染物排放等量或减量替代", ()),
        ("risk_prevention", "工业园区编制突发环境事件应急预案并定期演练", ()),
        ("resource_efficiency", "单位工业增加值能耗、水耗达到国内先进水平", ()),
    ],
    "general": [
        ("spatial_layout", "执行区域生态环境保护的基本要求", ()),
        ("discharge_control", "落实污染物排放标准和总量控制要求", ()),
    ],
}


@dataclass
class DemoData:
    """Every table of the demo, in load order, plus the planted cases."""

    tables: dict[str, pd.DataFrame]
    planted: list[PlantedCase]
    layout: Layout


def ewkb(geometries: list[BaseGeometry] | np.ndarray) -> np.ndarray:
    """Hex EWKB with SRID 4326, what COPY hands straight to PostGIS."""
    with_srid = shapely.set_srid(np.asarray(geometries, dtype=object), STORAGE_SRID)
    return shapely.to_wkb(with_srid, hex=True, include_srid=True)


def point_ewkb(layout: Layout, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Metric x/y → lon/lat points as hex EWKB."""
    lon, lat = transformer(layout.epsg, STORAGE_SRID).transform(x, y)
    return ewkb(shapely.points(lon, lat))


def region_table(layout: Layout) -> pd.DataFrame:
    """Province, cities and counties."""
    geography = layout.geography
    county_codes = {c.code for c in geography.counties}
    # A province-administered county-level city appears as city and county: keep the county.
    cities = [c for c in geography.cities if c.code not in county_codes]
    regions = [geography.province, *cities, *geography.counties]
    parents = [
        geography.province.code if r.parent_code == r.code else r.parent_code for r in regions
    ]
    return pd.DataFrame(
        {
            "code": [r.code for r in regions],
            "name": [r.name for r in regions],
            "level": [r.level for r in regions],
            "parent_code": parents,
            "geom": ewkb([shapely.MultiPolygon(r.geometry) for r in regions]),
        }
    )


def zone_table(layout: Layout, drafts: list[ZoneDraft], options: DemoOptions) -> pd.DataFrame:
    """Zones (version 1, valid from the start of the reference year)."""
    lonlat = [layout.to_lonlat(d.geometry) for d in drafts]
    valid_from = f"{options.as_of.year}-01-01"
    return pd.DataFrame(
        {
            "id": np.arange(1, len(drafts) + 1),
            "kind": [d.kind for d in drafts],
            "grade": [d.grade for d in drafts],
            "code": [d.code for d in drafts],
            "name": [d.name for d in drafts],
            "parent_code": [d.parent_code for d in drafts],
            "geom": ewkb(
                [
                    shapely.MultiPolygon(shapely.get_parts(g))
                    if g.geom_type != "MultiPolygon"
                    else g
                    for g in lonlat
                ]
            ),
            "source": ZONE_SOURCE,
            "approval_doc": [d.approval_doc for d in drafts],
            "approved_on": f"{options.as_of.year - 1}-12-20",
            "version": 1,
            "valid_from": valid_from,
            "valid_to": None,
        }
    )


def river_tables(layout: Layout) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rivers (directed reaches) and water bodies (real lakes; reservoirs are added later)."""
    geography = layout.geography
    rivers = pd.DataFrame(
        {
            "id": np.arange(1, len(geography.rivers) + 1),
            "name": layout.river_names,
            "from_node": [r.from_node for r in geography.rivers],
            "to_node": [r.to_node for r in geography.rivers],
            "stream_order": [r.stream_order for r in geography.rivers],
            "is_main": [r.is_main for r in geography.rivers],
            "source": geography.river_source,
            "geom": ewkb([r.geometry for r in geography.rivers]),
        }
    )
    lakes = pd.DataFrame(
        {
            "name": [lake.name for lake in geography.lakes],
            "kind": "lake",
            "source": "Natural Earth 10m lakes",
            "geom": ewkb([lake.geometry for lake in geography.lakes]),
        }
    )
    return rivers, lakes


def apply_planted_units(
    layout: Layout, units: pd.DataFrame, cases: list[PlantedCase], options: DemoOptions
) -> None:
    """The first units become the planted ones (fixed names, codes, places)."""
    unit_cases = [c for c in cases if c.feature in ("unit", "outlet")][: len(units)]
    if not unit_cases:
        return
    points = [c.unit_point or c.point for c in unit_cases]
    xy = np.array([[p.x, p.y] for p in points])
    rows = np.arange(len(unit_cases))
    counties = np.array([c.code for c in layout.counties])[county_of(layout, xy)]
    lon, lat = transformer(layout.epsg, STORAGE_SRID).transform(xy[:, 0], xy[:, 1])
    prefix = [short_county(layout.county_name(code)) for code in counties]
    columns = {
        "credit_code": credit_codes(counties, options.rng(61), body_prefix="MA"),
        "site_seq": 1,
        "name": [f"{p}{c.key}{c.name}有限公司" for p, c in zip(prefix, unit_cases, strict=True)],
        "industry_code": [c.industry_code for c in unit_cases],
        "category": "key",
        "county_code": counties,
        "status": "operating",
        "planted": 1,
        "location_source": [c.location_source for c in unit_cases],
        "x": xy[:, 0],
        "y": xy[:, 1],
        "lon": lon,
        "lat": lat,
    }
    for column, values in columns.items():
        units.loc[rows, column] = values


def place_planted_outlet(
    outlets: pd.DataFrame, units: pd.DataFrame, cases: list[PlantedCase]
) -> None:
    """The outlet case: the planted unit's DW001 moves to its planted point."""
    for case in cases:
        if case.feature != "outlet":
            continue
        unit_id = units.loc[units["name"].str.contains(case.key, regex=False), "id"]
        mask = (outlets["unit_id"].isin(unit_id)) & (outlets["code"] == "DW001")
        outlets.loc[mask, ["x", "y"]] = [case.point.x, case.point.y]


def forbidden_ground(drafts: list[ZoneDraft]) -> tuple[BaseGeometry, BaseGeometry]:
    """Where generated features must not go (only planted cases do): water-source zones with a
    margin wide enough that no outlet of a unit outside reaches them, and the rest of the
    protected land (priority control units: red lines, reserves) with a smaller margin."""
    water = shapely.union_all([d.geometry for d in drafts if d.kind == "water_protection"])
    priority = shapely.union_all(
        [d.geometry for d in drafts if d.kind == "control_unit" and d.grade == "priority"]
    )
    return water.buffer(WATER_MARGIN_M, quad_segs=4), priority.buffer(OTHER_MARGIN_M, quad_segs=4)


def access_list_table(drafts: list[ZoneDraft]) -> pd.DataFrame:
    """Access-list requirements (生态环境准入清单) of every control unit, by its grade."""
    rows = [
        {
            "zone_code": d.code,
            "dimension": dimension,
            "requirement": requirement,
            "prohibited_industries": "{" + ",".join(banned) + "}",
        }
        for d in drafts
        if d.kind == "control_unit"
        for dimension, requirement, banned in ACCESS_LISTS[d.grade]
    ]
    frame = pd.DataFrame(rows)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    return frame


def build_demo(options: DemoOptions) -> DemoData:
    """Generate every table of the demo province."""
    layout = build_layout(options)
    approval = f"{layout.geography.province.name}人民政府关于饮用水水源保护区划定方案的批复"
    sources = water_sources(layout, options.rng(4))
    protected = water_zone_drafts(sources, approval) + red_lines_and_reserves(
        layout, options.rng(5), f"{layout.geography.province.name}生态保护红线划定方案"
    )
    drafts = layout.parks + protected + control_units(layout, protected)
    cases = plant_cases(layout, sources, drafts, options)
    water_margin, other_margin = forbidden_ground(drafts)
    units = generate_units(layout, options, shapely.union(water_margin, other_margin))
    apply_planted_units(layout, units, cases, options)
    permits = generate_permits(
        units, options, authorities(layout.counties, layout.geography.province.name)
    )
    outlets = generate_outlets(units, options)
    place_planted_outlet(outlets, units, cases)
    outlets["receiving_water"] = receiving_waters(layout, units, outlets)
    outfalls, links = generate_outfalls(layout, units, outlets, options, water_margin)
    outfalls = add_planted_outfalls(layout, outfalls, cases)
    rivers, lakes = river_tables(layout)
    reservoirs = pd.DataFrame(
        {
            "name": [s.name for s in sources if s.reservoir is not None],
            "kind": "reservoir",
            "source": "permitmap demo generator (synthetic)",
            "geom": ewkb(
                [
                    shapely.MultiPolygon([layout.to_lonlat(s.reservoir)])
                    for s in sources
                    if s.reservoir is not None
                ]
            ),
        }
    )
    water_bodies = pd.concat([lakes, reservoirs], ignore_index=True)
    water_bodies.insert(0, "id", np.arange(1, len(water_bodies) + 1))
    tables = {
        "admin_regions": region_table(layout),
        "rivers": rivers,
        "water_bodies": water_bodies,
        "places": place_table(layout),
        "zones": zone_table(layout, drafts, options),
        "access_list_items": access_list_table(drafts),
        "units": unit_rows(layout, units),
        "permits": permits,
        "outlets": outlet_rows(layout, outlets),
        "outlet_pollutants": generate_pollutants(outlets, options),
        "river_outfalls": outfall_rows(layout, outfalls),
        "outfall_links": links[["outfall_id", "unit_id", "outlet_id"]],
    }
    return DemoData(tables=tables, planted=cases, layout=layout)


def add_planted_outfalls(
    layout: Layout, outfalls: pd.DataFrame, cases: list[PlantedCase]
) -> pd.DataFrame:
    """Append the planted river outfalls (coded with a P series so they never clash)."""
    planted = [c for c in cases if c.feature == "river_outfall"]
    xy = np.array([[c.point.x, c.point.y] for c in planted])
    counties = np.array([c.code for c in layout.counties])[county_of(layout, xy)]
    river_index = [int(np.argmin([r.distance(c.point) for r in layout.rivers])) for c in planted]
    extra = pd.DataFrame(
        {
            "outfall_type": [c.outfall_type for c in planted],
            "county_code": counties,
            "name": [f"{c.key}{c.name}" for c in planted],
            "river_id": [i + 1 for i in river_index],
            "receiving_water": [layout.river_names[i] for i in river_index],
            "x": xy[:, 0],
            "y": xy[:, 1],
        }
    )
    letters = extra["outfall_type"].map(TYPE_LETTERS)
    extra["code"] = (extra["county_code"] + letters + "P" + [c.key[1:] for c in planted]).to_numpy()
    extra["id"] = np.arange(len(outfalls) + 1, len(outfalls) + len(extra) + 1)
    return pd.concat([outfalls, extra], ignore_index=True)


def place_table(layout: Layout) -> pd.DataFrame:
    """Towns and county seats."""
    towns = layout.towns
    return pd.DataFrame(
        {
            "id": np.arange(1, len(towns) + 1),
            "name": [t.name for t in towns],
            "kind": [t.kind for t in towns],
            "county_code": [t.county_code for t in towns],
            "geom": point_ewkb(
                layout, np.array([t.point.x for t in towns]), np.array([t.point.y for t in towns])
            ),
        }
    )


def unit_rows(layout: Layout, units: pd.DataFrame) -> pd.DataFrame:
    """The columns of table `units`."""
    rows = units[
        [
            "id",
            "credit_code",
            "site_seq",
            "name",
            "industry_code",
            "category",
            "county_code",
            "address",
            "status",
            "location_source",
        ]
    ].copy()
    rows["geom"] = ewkb(shapely.points(units["lon"].to_numpy(), units["lat"].to_numpy()))
    return rows


def outlet_rows(layout: Layout, outlets: pd.DataFrame) -> pd.DataFrame:
    """The columns of table `outlets`."""
    rows = outlets[["id", "unit_id", "code", "medium", "kind", "receiving_water"]].copy()
    rows["geom"] = point_ewkb(layout, outlets["x"].to_numpy(), outlets["y"].to_numpy())
    return rows


def outfall_rows(layout: Layout, outfalls: pd.DataFrame) -> pd.DataFrame:
    """The columns of table `river_outfalls`."""
    rows = outfalls[["id", "code", "name", "outfall_type", "river_id", "receiving_water"]].copy()
    rows["geom"] = point_ewkb(layout, outfalls["x"].to_numpy(), outfalls["y"].to_numpy())
    return rows
