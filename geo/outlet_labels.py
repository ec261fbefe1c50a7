"""What an outlet's sign (排放口标志牌) needs: its code and medium, its unit's name, credit code
and site — the address of the unit's public page that the sign's QR code points to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import QueryError


@dataclass(frozen=True)
class OutletLabel:
    """One outlet's sign."""

    outlet_id: int
    code: str
    medium: str
    unit_name: str
    credit_code: str
    site: int
    county_code: str


def outlet_labels(
    session: Session,
    *,
    county: str | None = None,
    unit_id: int | None = None,
    outlet_id: int | None = None,
    at_most: int = 2000,
) -> list[OutletLabel]:
    """The signs of the outlets matching every given filter, by county, unit and code; more
    than `at_most` is refused (a sheet is printed per county or unit)."""
    rows = session.execute(
        text(
            "SELECT o.id, o.code, o.medium::text, u.name, u.credit_code, u.site_seq, u.county_code"
            " FROM outlets o JOIN units u ON u.id = o.unit_id"
            " WHERE (CAST(:county AS text) IS NULL OR u.county_code = :county)"
            " AND (CAST(:unit AS bigint) IS NULL OR u.id = :unit)"
            " AND (CAST(:outlet AS bigint) IS NULL OR o.id = :outlet)"
            " ORDER BY u.county_code, u.id, o.code LIMIT :limit"
        ),
        {"county": county, "unit": unit_id, "outlet": outlet_id, "limit": at_most + 1},
    ).all()
    if len(rows) > at_most:
        message = f"more than {at_most} outlets match: choose a county or a unit"
        raise QueryError(message, field="county")
    return [OutletLabel(*row) for row in rows]
