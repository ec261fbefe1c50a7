"""Units (排污单位) of the demo province, vectorised with numpy so a million take seconds.

Units cluster around towns (60 %) and inside industrial parks (30 %); the rest are scattered
(farms, mines). Industry follows the place (heavy industry in parks, livestock in the country),
the management category follows the industry's typical tier with some noise, and credit codes
carry valid check digits except a few, as early pilot-area codes do.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from data.demo.layout import Layout, random_points_in
from data.demo.names import addresses, company_names, industry_word, short_county
from data.demo.options import DemoOptions
from geo.credit_code import ALPHABET, check_digits
from geo.crs import STORAGE_SRID, transformer

INDUSTRY_CSV = Path(__file__).resolve().parents[1] / "reference" / "industry_codes.csv"
CONTEXT_SHARES = {"town": 0.6, "park": 0.3, "scattered": 0.1}
# (section filter, typical category filter, share) per context.
INDUSTRY_GROUPS: dict[str, list[tuple[str, str | None, float]]] = {
    "park": [
        ("C", "key", 0.45),
        ("C", "simplified", 0.38),
        ("D", None, 0.05),
        ("C", "registration", 0.12),
    ],
    "town": [
        ("C", "simplified", 0.3),
        ("C", "registration", 0.35),
        ("C", "key", 0.05),
        ("QNO", None, 0.3),
    ],
    "scattered": [("A", None, 0.45), ("B", None, 0.25), ("C", None, 0.3)],
}
CATEGORY_NOISE = {
    "key": (("key", 0.85), ("simplified", 0.15)),
    "simplified": (("simplified", 0.75), ("registration", 0.2), ("key", 0.05)),
    "registration": (("registration", 0.95), ("simplified", 0.05)),
}
STATUS_SHARES = (("operating", 0.92), ("suspended", 0.05), ("closed", 0.03))
LOCATION_SHARES = (
    ("surveyed", 0.6),
    ("reported", 0.25),
    ("geocoded", 0.1),
    ("converted_gcj02", 0.04),
    ("converted_bd09", 0.01),
)
GB11714_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])
BAD_CHECK_DIGIT_SHARE = 0.003
SECOND_SITE_SHARE = 0.02
MAX_REDRAWS = 20


@lru_cache(maxsize=1)
def industries() -> pd.DataFrame:
    """The GB/T 4754 reference table with its demo category prior."""
    with INDUSTRY_CSV.open(encoding="utf-8") as handle:
        frame = pd.DataFrame(list(csv.DictReader(handle)))
    frame["heavy_water_polluter"] = frame["heavy_water_polluter"] == "true"
    return frame


def pick(rng: np.random.Generator, shares: tuple[tuple[str, float], ...], count: int) -> np.ndarray:
    """Draw labels by their shares."""
    labels = np.array([label for label, _ in shares])
    weights = np.array([share for _, share in shares], dtype=float)
    return labels[rng.choice(len(labels), size=count, p=weights / weights.sum())]


def _draw_points(layout: Layout, contexts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Metric coordinates per unit, by context (around towns, in parks, scattered)."""
    xy = np.empty((len(contexts), 2))
    towns = layout.towns
    town_xy = np.array([[t.point.x, t.point.y] for t in towns])
    weights = np.array([4.0 if t.kind == "county_seat" else 1.0 for t in towns])
    sigma = np.array([2_000.0 if t.kind == "county_seat" else 900.0 for t in towns])
    in_town = np.flatnonzero(contexts == "town")
    chosen = rng.choice(len(towns), size=len(in_town), p=weights / weights.sum())
    xy[in_town] = town_xy[chosen] + rng.normal(0, 1, (len(in_town), 2)) * sigma[chosen, None]
    in_park = np.flatnonzero(contexts == "park")
    areas = np.array([p.geometry.area for p in layout.parks])
    park_of = rng.choice(len(layout.parks), size=len(in_park), p=areas / areas.sum())
    for index, park in enumerate(layout.parks):
        members = in_park[park_of == index]
        xy[members] = random_points_in(park.geometry, len(members), rng)
    scattered = np.flatnonzero(contexts == "scattered")
    xy[scattered] = random_points_in(layout.province, len(scattered), rng)
    return xy


def unit_points(
    layout: Layout, contexts: np.ndarray, rng: np.random.Generator, avoid: BaseGeometry
) -> np.ndarray:
    """Unit locations in the province and outside `avoid` (where the law forbids them: only the
    planted cases go there); points that land badly are drawn again, then placed anywhere free."""
    xy = _draw_points(layout, contexts, rng)
    shapely.prepare(avoid)
    for _ in range(MAX_REDRAWS):
        bad = ~shapely.contains_xy(layout.province, xy[:, 0], xy[:, 1]) | shapely.contains_xy(
            avoid, xy[:, 0], xy[:, 1]
        )
        if not bad.any():
            return xy
        xy[bad] = _draw_points(layout, contexts[bad], rng)
    xy[bad] = random_points_in(layout.province.difference(avoid), int(bad.sum()), rng)
    return xy


def county_of(layout: Layout, xy: np.ndarray) -> np.ndarray:
    """Index of the county containing each point (nearest county for boundary slivers)."""
    points = shapely.points(xy)
    tree = shapely.STRtree(layout.county_shapes)
    found = np.full(len(xy), -1)
    point_index, county_index = tree.query(points, predicate="intersects")
    found[point_index] = county_index
    missing = np.flatnonzero(found < 0)
    if len(missing):
        found[missing] = tree.query_nearest(points[missing], all_matches=False)[1]
    return found


def industry_codes_for(contexts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An industry code per unit, drawn from the groups of its context."""
    table = industries()
    codes = np.empty(len(contexts), dtype=object)
    for context, groups in INDUSTRY_GROUPS.items():
        members = np.flatnonzero(contexts == context)
        shares = np.array([share for _, _, share in groups])
        group_of = rng.choice(len(groups), size=len(members), p=shares / shares.sum())
        for index, (sections, category, _) in enumerate(groups):
            pool = table[table["section"].isin(list(sections))]
            if category:
                pool = pool[pool["typical_category"] == category]
            chosen = members[group_of == index]
            codes[chosen] = pool["code"].to_numpy()[rng.integers(0, len(pool), len(chosen))]
    return codes


def categories_for(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Management category: the industry's typical tier, with some noise."""
    typical = industries().set_index("code")["typical_category"]
    tiers = typical.reindex(codes).to_numpy()
    result = np.empty(len(codes), dtype=object)
    for tier, shares in CATEGORY_NOISE.items():
        members = np.flatnonzero(tiers == tier)
        result[members] = pick(rng, shares, len(members))
    return result


def credit_codes(
    county_codes: np.ndarray, rng: np.random.Generator, body_prefix: str | None = None
) -> np.ndarray:
    """Distinct 18-character codes: 91 + county adcode + organisation code (with its own
    GB 11714 check) + GB 32100 check digit; a few carry a wrong check digit.

    Generated bodies start with a digit; `body_prefix` (letters, e.g. "MA") marks a separate
    series that can never collide with them.
    """
    count = len(county_codes)
    free = 8 - len(body_prefix or "")
    space = 31 ** (free - 1) * (31 if body_prefix else 10)
    multiplier = 1 + 2 * int(rng.integers(0, 10**6))
    while np.gcd(multiplier, space) != 1:
        multiplier += 2
    serial = (np.arange(count, dtype=np.int64) * multiplier + int(rng.integers(0, space))) % space
    body = np.stack([(serial // 31**p) % 31 for p in range(free - 1, -1, -1)], axis=1)
    if body_prefix:
        prefix = np.array([ALPHABET.index(c) for c in body_prefix])
        body = np.column_stack([np.tile(prefix, (count, 1)), body])
    # GB 11714 values: digits 0-9, letters A=10 … Z=35; its check 10 → "X", 11 → "0".
    gb11714_value = np.array([int(c, 36) for c in ALPHABET])
    inner = 11 - (gb11714_value[body] * GB11714_WEIGHTS).sum(axis=1) % 11
    inner_index = np.where(inner == 10, ALPHABET.index("X"), np.where(inner == 11, 0, inner))
    unique_counties, county_position = np.unique(county_codes, return_inverse=True)
    county_table = np.array([[ALPHABET.index(c) for c in code] for code in unique_counties])
    values = np.column_stack(
        [
            np.full(count, 9),
            np.full(count, 1),
            county_table[county_position],
            body,
            inner_index,
        ]
    )
    check = check_digits(values)
    if body_prefix is None:
        wrong = rng.random(count) < BAD_CHECK_DIGIT_SHARE
        check[wrong] = (check[wrong] + 1) % 31
    alphabet = np.array(list(ALPHABET))
    chars = np.ascontiguousarray(alphabet[np.column_stack([values, check])])
    return chars.view("<U18").ravel()


def second_sites(count: int, rng: np.random.Generator) -> np.ndarray:
    """Mask of units that are an enterprise's second site (share the previous unit's code)."""
    share = rng.random(count) < SECOND_SITE_SHARE
    share[0] = False
    return share & ~np.roll(share, 1)


def generate_units(layout: Layout, options: DemoOptions, avoid: BaseGeometry) -> pd.DataFrame:
    """The unit table (metric x/y and lon/lat included), none of them inside `avoid`."""
    rng = options.rng(10)
    count = options.units
    contexts = pick(rng, tuple(CONTEXT_SHARES.items()), count)
    if not layout.parks:
        contexts[contexts == "park"] = "town"
    xy = unit_points(layout, contexts, rng, avoid)
    county_index = county_of(layout, xy)
    county_codes = np.array([c.code for c in layout.counties])[county_index]
    county_names = np.array([c.name for c in layout.counties])[county_index]
    codes = industry_codes_for(contexts, rng)
    second = second_sites(count, rng)
    credit = credit_codes(county_codes, rng)
    credit[second] = credit[np.flatnonzero(second) - 1]
    town_tree = shapely.STRtree([t.point for t in layout.towns])
    nearest_town = town_tree.query_nearest(shapely.points(xy), all_matches=False)[1]
    town_names = np.array([t.name for t in layout.towns])[nearest_town]
    words = industries().set_index("code")["name"].map(industry_word).reindex(codes).to_numpy()
    prefixes = np.array([short_county(c.name) for c in layout.counties])[county_index]
    lon, lat = transformer(layout.epsg, STORAGE_SRID).transform(xy[:, 0], xy[:, 1])
    return pd.DataFrame(
        {
            "id": np.arange(1, count + 1),
            "credit_code": credit,
            "site_seq": np.where(second, 2, 1),
            "name": company_names(rng, prefixes, words.astype(str)),
            "industry_code": codes,
            "category": categories_for(codes, rng),
            "county_code": county_codes,
            "address": addresses(rng, county_names, town_names, layout.geography.province.name),
            "status": pick(rng, STATUS_SHARES, count),
            "location_source": pick(rng, LOCATION_SHARES, count),
            "context": contexts,
            "planted": np.zeros(count, dtype=int),
            "x": xy[:, 0],
            "y": xy[:, 1],
            "lon": lon,
            "lat": lat,
        }
    )
