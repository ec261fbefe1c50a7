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


def public_unit_view(record: Mapping[str, Any], language: str) -> dict[str, Any]:
    """What `pages/public_unit.html` shows of a disclosure record, in one language."""
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
    }


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
