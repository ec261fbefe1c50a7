"""The public information-disclosure record of a unit (信息公开), anonymous or not.

The response model is made from the disclosure declaration in `layers/disclosure.py`, typed by
the registry's field types: it is also a whitelist, dropping any key it does not declare.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, create_model

from api.deps import SessionDep
from layers.declarations import Field, FieldType
from layers.disclosure import OUTLET_PUBLIC, UNIT_PUBLIC, public_unit

router = APIRouter(prefix="/api/public", tags=["disclosure"])
PYTHON_TYPES: dict[FieldType, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "date": date,
    "datetime": datetime,
}


def _fields(fields: tuple[Field, ...]) -> dict[str, Any]:
    return {f.name: (PYTHON_TYPES[f.type] | None, None) for f in fields}


class PublicPollutant(BaseModel):
    """A permitted pollutant and its limits."""

    pollutant_code: str
    pollutant_name: str
    concentration_limit: float
    concentration_unit: str
    annual_limit_t: float | None


PublicOutlet = create_model(
    "PublicOutlet",
    __doc__="An outlet: its code, kind and medium, and its permitted pollutants.",
    **_fields(OUTLET_PUBLIC),
    pollutants=(list[PublicPollutant], ...),
)
PublicUnit = create_model(
    "PublicUnit",
    __doc__="What the permit regulations disclose about a unit (one site of a credit code).",
    site=(int, ...),
    sites=(list[int], ...),
    **_fields(UNIT_PUBLIC),
    lon=(float, ...),
    lat=(float, ...),
    outlets=(list[PublicOutlet], ...),  # type: ignore[valid-type]
    penalties=(list[dict[str, Any]], ...),
)


@router.get("/units/{credit_code}", response_model=PublicUnit)
def get_public_unit(
    credit_code: str,
    session: SessionDep,
    site: Annotated[
        int | None, Query(ge=1, le=999, description="site number (default: the lowest)")
    ] = None,
) -> dict[str, Any]:
    """The disclosure record of a unit: name, credit code, site, management category, industry,
    county, location, permit number, validity and state; outlets with permitted limits; the
    penalty decisions recorded as public."""
    return public_unit(session, credit_code=credit_code, site=site)
