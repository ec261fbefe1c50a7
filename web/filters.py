"""The staff map's filters: which layer field each one narrows, and the choices it offers.

Choices come from the layers' legends (the same declarations that colour the tiles) or from
reference lists the page is given (counties); the page turns the chosen values into a CQL2
filter on the layer's tiles and exports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CATEGORIES = {
    "key": {"zh": "重点管理", "en": "key"},
    "simplified": {"zh": "简化管理", "en": "simplified"},
    "registration": {"zh": "登记管理", "en": "registration"},
}


@dataclass(frozen=True)
class MapFilter:
    """One filter control: a choice list (`choices`), or else a prefix text box (industry codes,
    suggested by the page from `/api/industries`)."""

    name: str
    label: str
    layer: str
    field: str
    choices: tuple[tuple[str, str], ...] = ()


def _legend_choices(layer: Mapping[str, Any], language: str) -> tuple[tuple[str, str], ...]:
    return tuple((entry["value"], entry[f"label_{language}"]) for entry in layer["legend"])


def staff_filters(
    layers: Sequence[Mapping[str, Any]],
    counties: Sequence[tuple[str, str]],
    labels: Mapping[str, str],
    language: str,
) -> list[MapFilter]:
    """The filters of the staff map for the layers it shows (units, outlets by live status,
    flags)."""
    by_id = {layer["id"]: layer for layer in layers}
    found: list[MapFilter] = []
    if "units" in by_id:
        units = by_id["units"]
        found += [
            MapFilter(
                "status",
                labels["status"],
                "units",
                "enforcement_status",
                _legend_choices(units, language),
            ),
            MapFilter(
                "category",
                labels["category"],
                "units",
                "category",
                tuple((value, names[language]) for value, names in CATEGORIES.items()),
            ),
            MapFilter("industry", labels["industry"], "units", "industry_code"),
            MapFilter("county", labels["county"], "units", "county_code", tuple(counties)),
        ]
    outlets = by_id.get("outlets")
    if outlets is not None and outlets["style"]["by"] == "live_status":  # staff: online status
        found.append(
            MapFilter(
                "live",
                labels["live_filter"],
                "outlets",
                "live_status",
                _legend_choices(outlets, language),
            )
        )
    if "flags" in by_id:
        found.append(
            MapFilter(
                "severity",
                labels["severity"],
                "flags",
                "severity",
                _legend_choices(by_id["flags"], language),
            )
        )
    return found
