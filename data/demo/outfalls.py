"""River outfalls (入河排污口) of the demo province, and where each water outlet discharges.

Outfalls sit on the river line (snapped). Codes follow a local scheme, county adcode + class
letter + sequence: G industrial, S municipal WWTP, N agricultural, Q other (HJ 1312-2023 classes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from data.demo.layout import Layout
from data.demo.names import short_county
from data.demo.options import DemoOptions

TYPE_LETTERS = {"industrial": "G", "municipal_wwtp": "S", "agricultural": "N", "other": "Q"}
DIRECT_DISCHARGE_METRES = 3_000
STEP_DOWNSTREAM_M = 250.0


def snap_to_rivers(layout: Layout, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Nearest river per point: (river index, snapped x, snapped y, distance in metres)."""
    points = shapely.points(x, y)
    if not layout.rivers:
        nowhere = np.full(len(x), np.inf)
        return np.full(len(x), -1), x, y, nowhere
    tree = shapely.STRtree(layout.rivers)
    (_, river_index), distance = tree.query_nearest(points, all_matches=False, return_distance=True)
    lines = np.asarray(layout.rivers, dtype=object)[river_index]
    snapped = shapely.line_interpolate_point(lines, shapely.line_locate_point(lines, points))
    return river_index, shapely.get_x(snapped), shapely.get_y(snapped), distance


def receiving_waters(layout: Layout, units: pd.DataFrame, outlets: pd.DataFrame) -> np.ndarray:
    """Receiving water per outlet: the river when the unit is near one, else the county WWTP."""
    water = (outlets["medium"] == "water").to_numpy()
    result = np.full(len(outlets), None, dtype=object)
    owner = outlets["owner"].to_numpy()[water]
    river_index, _, _, distance = snap_to_rivers(
        layout, units["x"].to_numpy()[owner], units["y"].to_numpy()[owner]
    )
    names = np.asarray([*layout.river_names, ""], dtype=object)[river_index]
    plant_of_county = {c.code: f"{short_county(c.name)}城市污水处理厂" for c in layout.counties}
    wwtp = units["county_code"].map(plant_of_county).to_numpy()[owner]
    result[water] = np.where(distance <= DIRECT_DISCHARGE_METRES, names, wwtp)
    return result


def _outfall_frame(
    layout: Layout,
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    county_codes: np.ndarray,
    names: np.ndarray,
) -> pd.DataFrame:
    river_index, sx, sy, _ = snap_to_rivers(layout, x, y)
    river_names = np.asarray([*layout.river_names, ""], dtype=object)[river_index]
    return pd.DataFrame(
        {
            "outfall_type": kind,
            "county_code": county_codes,
            "name": names,
            "river_id": river_index + 1,
            "receiving_water": river_names,
            "x": sx,
            "y": sy,
        }
    )


def move_downstream(layout: Layout, outfalls: pd.DataFrame, avoid: BaseGeometry) -> pd.DataFrame:
    """Slide outfalls that sit in `avoid` (protection zones) downstream along their river until
    they are clear; drop those that cannot get clear (the planted cases are added later)."""
    shapely.prepare(avoid)
    blocked = np.flatnonzero(shapely.contains_xy(avoid, outfalls["x"], outfalls["y"]))
    keep = np.ones(len(outfalls), dtype=bool)
    for row in blocked:  # a few hundred at most: outfalls near a water source
        river = layout.rivers[int(outfalls["river_id"].iat[row]) - 1]
        start = river.project(shapely.Point(outfalls["x"].iat[row], outfalls["y"].iat[row]))
        for along in np.arange(start + STEP_DOWNSTREAM_M, river.length, STEP_DOWNSTREAM_M):
            point = river.interpolate(along)
            if not avoid.contains(point):
                outfalls.iloc[row, outfalls.columns.get_indexer(["x", "y"])] = [point.x, point.y]
                break
        else:
            keep[row] = False
    return outfalls[keep].reset_index(drop=True)


def generate_outfalls(
    layout: Layout,
    units: pd.DataFrame,
    outlets: pd.DataFrame,
    options: DemoOptions,
    avoid: BaseGeometry,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outfalls (none inside `avoid`) and their links to units/outlets."""
    rng = options.rng(50)
    frames: list[pd.DataFrame] = []
    links: list[pd.DataFrame] = []
    seats = [t for t in layout.towns if t.kind == "county_seat"]
    seat_x = np.array([t.point.x for t in seats])
    seat_y = np.array([t.point.y for t in seats])
    _, _, _, seat_distance = snap_to_rivers(layout, seat_x, seat_y)
    near = seat_distance < 10_000
    seat_counties = np.array([t.county_code for t in seats])
    seat_names = np.array([short_county(layout.county_name(c)) for c in seat_counties])
    frames.append(
        _outfall_frame(
            layout,
            "municipal_wwtp",
            seat_x[near],
            seat_y[near],
            seat_counties[near],
            np.char.add(seat_names[near], "城市污水处理厂入河排污口"),
        )
    )
    links.append(
        pd.DataFrame(
            {
                "unit_id": pd.array([None] * int(near.sum()), "Int64"),
                "outlet_id": pd.array([None] * int(near.sum()), "Int64"),
            }
        )
    )
    direct = outlets[
        (outlets["code"] == "DW001")
        & outlets["receiving_water"].notna()
        & ~outlets["receiving_water"].astype(str).str.endswith("污水处理厂")
    ]
    direct = direct[rng.random(len(direct)) < 0.25]
    owners = units.iloc[direct["owner"].to_numpy()]
    frames.append(
        _outfall_frame(
            layout,
            "industrial",
            direct["x"].to_numpy(),
            direct["y"].to_numpy(),
            owners["county_code"].to_numpy(),
            np.char.add(owners["name"].to_numpy().astype(str), "入河排污口"),
        )
    )
    links.append(
        pd.DataFrame({"unit_id": owners["id"].to_numpy(), "outlet_id": direct["id"].to_numpy()})
    )
    farms = units[units["industry_code"].str.startswith("03")]
    _, _, _, farm_distance = snap_to_rivers(layout, farms["x"].to_numpy(), farms["y"].to_numpy())
    farms = farms[(farm_distance < 5_000) & (rng.random(len(farms)) < 0.5)]
    frames.append(
        _outfall_frame(
            layout,
            "agricultural",
            farms["x"].to_numpy(),
            farms["y"].to_numpy(),
            farms["county_code"].to_numpy(),
            np.char.add(farms["name"].to_numpy().astype(str), "排口"),
        )
    )
    links.append(
        pd.DataFrame(
            {"unit_id": farms["id"].to_numpy(), "outlet_id": pd.array([None] * len(farms), "Int64")}
        )
    )
    outfalls = pd.concat(frames, ignore_index=True)
    outfalls[["unit_id", "outlet_id"]] = pd.concat(links, ignore_index=True)
    outfalls = move_downstream(layout, outfalls, avoid)
    link_frame = outfalls[["unit_id", "outlet_id"]].copy()
    outfalls = outfalls.drop(columns=["unit_id", "outlet_id"])
    outfalls["code"] = outfall_codes(outfalls)
    outfalls["id"] = np.arange(1, len(outfalls) + 1)
    link_frame["outfall_id"] = outfalls["id"]
    return outfalls, link_frame.dropna(subset=["unit_id"])


def outfall_codes(outfalls: pd.DataFrame) -> np.ndarray:
    """County adcode + class letter + 4-digit sequence per county and class."""
    letters = outfalls["outfall_type"].map(TYPE_LETTERS)
    keys = outfalls["county_code"] + letters
    sequence = keys.groupby(keys).cumcount() + 1
    return (keys + sequence.astype(str).str.zfill(4)).to_numpy()
