"""Chinese names for generated places, parks, units, streets and rivers (seeded, vectorised)."""

from __future__ import annotations

import numpy as np

TOWN_FIRST = list("青龙石白马新兴安平清桥双金凤黄沙观太永回长高花龙华铜宝福德")
TOWN_SECOND = list("溪坝场湾口坪寺桥滩塘岩关庙沱垭坡")
BRANDS = list("鑫达华兴盛源泰丰恒润宏利安康瑞祥永昌通发金德成荣隆诚信和嘉益")
ROADS = [
    "工业大道",
    "滨江路",
    "建设路",
    "人民路",
    "解放路",
    "新华路",
    "园区路",
    "兴业路",
    "创业大道",
    "科技路",
    "环城路",
    "朝阳路",
]
RIVER_FIRST = list("清黄白乌龙綦濑御大小长芙梅磨渠涪")
RIVER_SECOND = ["河", "溪", "江"]
COUNTY_SUFFIXES = (
    "土家族苗族自治县",
    "苗族土家族自治县",
    "土家族自治县",
    "自治县",
    "区",
    "县",
    "市",
)


def short_county(name: str) -> str:
    """ "江津区" → "江津", "石柱土家族自治县" → "石柱"."""
    for suffix in COUNTY_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def town_names(rng: np.random.Generator, count: int) -> list[str]:
    """`count` distinct town names such as "青溪镇" (at most 480 exist)."""
    names: list[str] = []
    while len(names) < min(count, len(TOWN_FIRST) * len(TOWN_SECOND)):
        name = f"{rng.choice(TOWN_FIRST)}{rng.choice(TOWN_SECOND)}镇"
        if name not in names:
            names.append(name)
    return names


def river_name(rng: np.random.Generator) -> str:
    """A river name such as "清溪河"."""
    middle = rng.choice(["水", "溪", "龙", "滩", "石"])
    return f"{rng.choice(RIVER_FIRST)}{middle}{rng.choice(RIVER_SECOND)}"


def industry_word(industry_name: str) -> str:
    """The trade word of an industry name: "水泥制造" → "水泥", "火力发电" → "火力发电"."""
    for suffix in ("及其他制品制造", "制品制造", "加工", "制造", "生产", "冶炼", "饲养", "治理"):
        if industry_name.endswith(suffix) and len(industry_name) > len(suffix) + 1:
            return industry_name[: -len(suffix)]
    return industry_name


def company_names(
    rng: np.random.Generator, place_prefixes: np.ndarray, industry_words: np.ndarray
) -> np.ndarray:
    """Company names: place + two-character brand + trade + 有限公司."""
    count = len(place_prefixes)
    brands = np.asarray(BRANDS)
    first = brands[rng.integers(0, len(brands), count)]
    second = brands[rng.integers(0, len(brands), count)]
    return np.char.add(
        np.char.add(np.char.add(place_prefixes.astype(str), first), second),
        np.char.add(industry_words.astype(str), "有限公司"),
    )


def addresses(
    rng: np.random.Generator, county_names: np.ndarray, town_names_: np.ndarray, province_name: str
) -> np.ndarray:
    """Street addresses: province + county + town + road + number."""
    count = len(county_names)
    roads = np.asarray(ROADS)[rng.integers(0, len(ROADS), count)]
    numbers = rng.integers(1, 999, count).astype(str)
    prefix = np.char.add(
        np.char.add(province_name, county_names.astype(str)), town_names_.astype(str)
    )
    return np.char.add(np.char.add(prefix, roads), np.char.add(numbers, "号"))
