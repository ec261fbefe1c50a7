"""A unit's public page (the stable address QR codes on outlets point to): the disclosure
record laid out as facts and an outlets table, labelled with the registry's own field titles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from layers.registry import OUTLETS, UNITS
from web.filters import CATEGORIES
from web.i18n import messages

FACT_FIELDS = (
    *("name", "credit_code", "category", "industry_name", "county_name"),
    *("permit_no", "permit_valid_from", "permit_valid_to", "permit_state"),
)


def public_unit_view(
    record: Mapping[str, Any], language: str, monitoring: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What `pages/public_unit.html` shows of a disclosure record, in one language; with a key
    unit's daily averages of online monitoring (`monitoring`, the public record of
    `geo.monitoring.series.public_daily_averages`) when given."""
    title = f"title_{language}"
    states = {c.value: getattr(c, f"label_{language}") for c in UNITS.public_style.classes}
    shown = dict(record)
    shown["category"] = CATEGORIES.get(record["category"], {}).get(language, record["category"])
    shown["permit_state"] = states.get(record["permit_state"], record["permit_state"])
    shown["industry_name"] = f"{record['industry_code']} {record['industry_name'] or ''}".strip()
    facts = [(getattr(UNITS.field(name), title), shown[name]) for name in FACT_FIELDS]
    t = messages(language)
    headings = [getattr(OUTLETS.field(name), title) for name in ("code", "kind", "medium")]
    rows = [
        [outlet["code"], outlet["kind"], outlet["medium"], _limits(outlet["pollutants"])]
        for outlet in record["outlets"]
    ]
    return {
        "unit": record,
        "facts": facts,
        "outlet_headings": [*headings, t["limits"]],
        "outlets": rows,
        "penalties": [_penalty(p, language) for p in record["penalties"]],
        "monitoring": _monitoring(monitoring, t) if monitoring is not None else None,
        "monitoring_data": monitoring,
    }


def _monitoring(monitoring: Mapping[str, Any], t: Mapping[str, str]) -> dict[str, Any]:
    """Per outlet a table: one row per day (newest first), one column per pollutant with its
    limit in the heading; a value above the limit is marked."""
    outlets = []
    for outlet in monitoring["outlets"]:
        pollutants = outlet["pollutants"]
        values = [{d["date"]: d["value"] for d in p["daily"]} for p in pollutants]
        days = sorted({day for by_day in values for day in by_day}, reverse=True)
        rows = [
            (
                day,
                [
                    _cell(by_day.get(day), p["concentration_limit"])
                    for p, by_day in zip(pollutants, values, strict=True)
                ],
            )
            for day in days
        ]
        outlets.append(
            {
                "code": outlet["code"],
                "medium": t.get(outlet["medium"], outlet["medium"]),
                "pollutants": [
                    {
                        "code": p["pollutant_code"],
                        "name": p["pollutant_name"] or p["pollutant_code"],
                        "unit": p["concentration_unit"] or "",
                        "limit": _number(p["concentration_limit"]),
                    }
                    for p in pollutants
                ],
                "rows": rows,
            }
        )
    note = t["daily_note"].format(start=monitoring["start"], end=monitoring["end"])
    return {"note": note, "outlets": outlets}


def _cell(value: float | None, limit: float | None) -> tuple[str, bool]:
    """A value as shown, and whether it is above the limit."""
    if value is None:
        return "—", False
    return _number(value), limit is not None and value > limit


def _number(value: float | None) -> str:
    return "—" if value is None else f"{round(value, 3):g}"


def _penalty(penalty: Mapping[str, Any], language: str) -> str:
    """One public penalty decision as a line: number, date, violation, legal basis, amount."""
    amount = f"{penalty['amount_yuan']:,.2f}"
    if language == "zh":
        return (
            f"{penalty['decision_no']}（{penalty['decided_on']}）：{penalty['violation']}；"
            f"依据 {penalty['legal_basis']}；罚款 {amount} 元"
        )
    return (
        f"{penalty['decision_no']} ({penalty['decided_on']}): {penalty['violation']}; "
        f"under {penalty['legal_basis']}; fine CNY {amount}"
    )


def _limits(pollutants: list[Mapping[str, Any]]) -> str:
    return "; ".join(
        f"{p['pollutant_name'] or p['pollutant_code']} {p['concentration_limit']:g}"
        f" {p['concentration_unit'] or ''}".strip()
        for p in pollutants
        if p["concentration_limit"] is not None
    )
