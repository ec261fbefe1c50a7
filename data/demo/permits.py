"""Permits, outlets and permitted pollutants of the demo units (vectorised).

Key and simplified units hold a permit (suffix P, HJ 608-2017), registration units a registration
(suffix W: an assumption, DOMAIN.md §1). Both run five years (条例 Art. 14). Issue dates spread over
the last 5.2 years before the reference date, so some permits have expired and some expire within
90 days; a few were revoked (撤销) or withdrawn (吊销), and closed units' permits are cancelled
(注销). About 3 % of key/simplified units have no permit at all (应发未发).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.demo.inventory import industries, pick
from data.demo.options import DemoOptions

VALIDITY_DAYS = 5 * 365
ISSUE_SPREAD_DAYS = 1_900
WATER_MAIN = (
    ("w01018", "化学需氧量", 50, 100, "mg/L"),
    ("w21003", "氨氮", 5, 15, "mg/L"),
    ("w21011", "总磷", 0.5, 1.0, "mg/L"),
    ("w21001", "总氮", 15, 20, "mg/L"),
)
AIR_MAIN = (
    ("a21026", "二氧化硫", 35, 200, "mg/m³"),
    ("a21002", "氮氧化物", 50, 300, "mg/m³"),
    ("a34013", "颗粒物", 10, 30, "mg/m³"),
)
AIR_GENERAL = (("a34013", "颗粒物", 10, 30, "mg/m³"), ("a24088", "非甲烷总烃", 60, 120, "mg/m³"))
POLLUTANTS = {
    ("water", "main"): WATER_MAIN,
    ("water", "general"): WATER_MAIN[:2],
    ("air", "main"): AIR_MAIN,
    ("air", "general"): AIR_GENERAL,
}
REPORTS = {"key": "{annual,quarterly}", "simplified": "{annual}", "registration": "{}"}


def generate_permits(
    units: pd.DataFrame, options: DemoOptions, authority: dict[str, str]
) -> pd.DataFrame:
    """One permit or registration per unit (except the 3 % that lack one)."""
    rng = options.rng(20)
    registration = (units["category"] == "registration").to_numpy()
    holds = registration | (rng.random(len(units)) > 0.03)
    chosen = units[holds]
    count = len(chosen)
    is_registration = registration[holds]
    age = rng.integers(0, ISSUE_SPREAD_DAYS, count)
    issued = np.datetime64(options.as_of) - age.astype("timedelta64[D]")
    valid_to = issued + np.timedelta64(VALIDITY_DAYS - 1, "D")
    status = np.where(valid_to < np.datetime64(options.as_of), "expired", "valid").astype(object)
    sanction = pick(rng, (("none", 0.994), ("revoked", 0.004), ("withdrawn", 0.002)), count)
    status[sanction != "none"] = sanction[sanction != "none"]
    status[(chosen["status"] == "closed").to_numpy() & (rng.random(count) < 0.8)] = "cancelled"
    suffix = np.where(is_registration, "W", "P")
    seq = chosen["site_seq"].to_numpy().astype(str)
    monthly = (chosen["category"] == "key").to_numpy() & (rng.random(count) < 0.1)
    reports = chosen["category"].map(REPORTS).to_numpy().astype(object)
    reports[monthly] = "{annual,quarterly,monthly}"
    return pd.DataFrame(
        {
            "id": np.arange(1, count + 1),
            "permit_no": chosen["credit_code"].to_numpy().astype(str)
            + np.char.zfill(seq, 3)
            + suffix,
            "unit_id": chosen["id"].to_numpy(),
            "kind": np.where(is_registration, "registration", "permit"),
            "report_frequencies": reports,
            "issued_on": issued.astype("datetime64[D]").astype(str),
            "valid_from": issued.astype("datetime64[D]").astype(str),
            "valid_to": valid_to.astype("datetime64[D]").astype(str),
            "status": status,
            "authority": chosen["county_code"].map(authority).to_numpy(),
        }
    )


def authorities(counties: list, province_name: str) -> dict[str, str]:
    """Issuing authority per county: the county-level ecology and environment bureau."""
    return {c.code: f"{province_name}{c.name}生态环境局" for c in counties}


def outlet_counts(units: pd.DataFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Water and air outlets per unit: registration units have none."""
    table = industries().set_index("code")
    heavy = table["heavy_water_polluter"].reindex(units["industry_code"]).to_numpy()
    section = table["section"].reindex(units["industry_code"]).to_numpy()
    permitted = (units["category"] != "registration").to_numpy()
    water = np.where(heavy | (rng.random(len(units)) < 0.45), 1, 0) + (
        rng.random(len(units)) < 0.15
    )
    water = np.maximum(water, units["planted"].to_numpy())
    air_sections = np.isin(section, ["B", "C", "D"])
    air = np.where(air_sections, rng.integers(1, 4, len(units)), rng.integers(0, 2, len(units)))
    return water * permitted, air * permitted


def generate_outlets(units: pd.DataFrame, options: DemoOptions) -> pd.DataFrame:
    """DW/DA outlets 10-150 m from their unit; the first of a key unit's outlets is main."""
    rng = options.rng(30)
    water, air = outlet_counts(units, rng)
    frames = []
    for medium, counts, letter in (("water", water, "W"), ("air", air, "A")):
        owner = np.repeat(np.arange(len(units)), counts)
        ordinal = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts) + 1
        is_key = units["category"].to_numpy()[owner] == "key"
        frames.append(
            pd.DataFrame(
                {
                    "owner": owner,
                    "medium": medium,
                    "code": np.char.add(f"D{letter}", np.char.zfill(ordinal.astype(str), 3)),
                    "kind": np.where(is_key & (ordinal == 1), "main", "general"),
                }
            )
        )
    outlets = pd.concat(frames, ignore_index=True)
    offsets = rng.uniform(-150, 150, (len(outlets), 2))
    outlets["x"] = units["x"].to_numpy()[outlets["owner"]] + offsets[:, 0]
    outlets["y"] = units["y"].to_numpy()[outlets["owner"]] + offsets[:, 1]
    outlets["unit_id"] = units["id"].to_numpy()[outlets["owner"]]
    outlets["id"] = np.arange(1, len(outlets) + 1)
    return outlets


def generate_pollutants(outlets: pd.DataFrame, options: DemoOptions) -> pd.DataFrame:
    """Permitted pollutants per outlet: concentration limits; annual tonnage at main outlets."""
    rng = options.rng(31)
    frames = []
    for (medium, kind), pollutants in POLLUTANTS.items():
        chosen = outlets[(outlets["medium"] == medium) & (outlets["kind"] == kind)]
        for code, name, low, high, unit in pollutants:
            limits = np.round(rng.uniform(low, high, len(chosen)), 1 if high < 5 else 0)
            annual = np.round(rng.uniform(0.5, 200, len(chosen)), 2) if kind == "main" else None
            frames.append(
                pd.DataFrame(
                    {
                        "outlet_id": chosen["id"].to_numpy(),
                        "pollutant_code": code,
                        "pollutant_name": name,
                        "concentration_limit": np.maximum(limits, low),
                        "concentration_unit": unit,
                        "annual_limit_t": annual,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)
