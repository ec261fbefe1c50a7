"""The planted-case table of `data/demo/README.md`, generated from the demo itself.

Run `python -m data.demo.readme` to print it for the default seed and province; a test keeps the
README in step with the generator.
"""

from __future__ import annotations

from data.demo.options import DemoOptions
from data.demo.province import DemoData, build_demo

EXPECTATION_LABELS = {
    "inside": "inside",
    "outside": "outside every protection zone",
    "near_boundary": "30 m outside (near boundary)",
}


def _identity(demo: DemoData, key: str, feature: str) -> tuple[str, str, float, float]:
    """Name, code and lon/lat of the planted feature with this key."""
    if feature == "river_outfall":
        frame = demo.tables["river_outfalls"]
        row = frame[frame["name"].str.startswith(key)].iloc[0]
        code = row["code"]
    else:
        units = demo.tables["units"]
        row = units[units["name"].str.contains(key, regex=False)].iloc[0]
        code = row["credit_code"]
        if feature == "outlet":
            outlets = demo.tables["outlets"]
            row = outlets[(outlets["unit_id"] == row["id"]) & (outlets["code"] == "DW001")].iloc[0]
            code = f"{code} DW001"
            row = row.copy()
            row["name"] = units[units["id"] == row["unit_id"]]["name"].iloc[0]
    point = demo.layout.to_lonlat(_point(demo, key))
    return row["name"], code, point.x, point.y


def _point(demo: DemoData, key: str):  # noqa: ANN202 - a shapely Point
    return next(c.point for c in demo.planted if c.key == key)


def planted_cases_markdown(demo: DemoData) -> str:
    """A markdown table: one row per planted case."""
    lines = [
        "| case | feature | name | code | zone | expected | why | lon, lat |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in demo.planted:
        name, code, lon, lat = _identity(demo, case.key, case.feature)
        zone = case.zone_code or "—"
        expected = EXPECTATION_LABELS[case.expectation]
        lines.append(
            f"| {case.key} | {case.feature} | {name} | {code} | {zone} | {expected} | "
            f"{case.why} | {lon:.5f}, {lat:.5f} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Print the table for the default demo (the seed and province `make run` loads)."""
    print(planted_cases_markdown(build_demo(DemoOptions(units=200))))


if __name__ == "__main__":
    main()
