"""Cell values as people type them, read a whole column at a time.

Each reader takes a column of text cells and returns the values with a mask of the cells it could
not read (empty cells are not "bad": whether a value is required is the caller's rule). Numbers
and dates are parsed with pandas in one pass; only coordinates that are not plain decimals (DMS,
hemisphere letters) go through `geo.coords.parse_angle` one by one.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from geo.coords import Axis, parse_angle
from geo.errors import ValidationError

_DATE_SEPARATORS = re.compile(r"[年月/.]")
_DATE_END = re.compile(r"[日号]$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_RANGE_SPLIT = re.compile(r"\s*(?:至|到|~|～|—|――|－－|--|\s-\s)\s*")
_RANGE_WORDS = re.compile(r"^自|止$")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3})")


def blank(values: pd.Series) -> np.ndarray:
    """Cells that are empty (cells come stripped from `read_table`)."""
    return values.eq("").to_numpy()


def _clean_dates(values: pd.Series) -> pd.Series:
    text = values.str.strip().str.split(r"[ T]", n=1, regex=True).str[0]
    text = text.str.replace(_DATE_END, "", regex=True)
    text = text.str.replace(_DATE_SEPARATORS, "-", regex=True)
    return text.str.replace(_COMPACT_DATE, r"\1-\2-\3", regex=True)


def parse_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Dates from `2023-01-05`, `2023/1/5`, `2023.1.5`, `2023年1月5日`, `20230105` (a time part
    after a space is ignored). Returns (datetime64 series, NaT where empty or bad; bad mask)."""
    parsed = pd.to_datetime(_clean_dates(values), format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna().to_numpy() & ~blank(values)
    return parsed, bad


def parse_date_ranges(values: pd.Series) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """Validity ranges as the platform writes 有效期限: `2020-01-01至2025-12-31`,
    `自2020年01月01日至2025年12月31日止`, `2020-01-01 ~ 2025-12-31`. Returns (start, end, bad)."""
    text = values.str.strip().str.replace(_RANGE_WORDS, "", regex=True)
    parts = text.str.split(_RANGE_SPLIT, n=1, regex=True)
    two = parts.str.len().eq(2).to_numpy()
    start, bad_start = parse_dates(parts.str[0].fillna("").where(two, ""))
    end, bad_end = parse_dates(parts.str[1].fillna("").where(two, ""))
    bad = ~blank(values) & (~two | bad_start | bad_end | start.isna().to_numpy())
    return start, end, bad


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Decimal numbers (thousands separators allowed). Returns (float array, NaN where empty or
    bad; bad mask)."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, copy=True)
    retry = np.flatnonzero(~np.isfinite(numbers) & ~blank(values))
    if len(retry):  # only cells plain parsing missed may carry thousands separators
        text = values.iloc[retry].str.replace(_THOUSANDS, "", regex=True)
        numbers[retry] = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers) & ~blank(values)
    numbers[~np.isfinite(numbers)] = np.nan
    return numbers, bad


def parse_angles(
    values: pd.Series, axis: Axis, *, numbers: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes or latitudes in decimal degrees or DMS (`106°33′12.3″E`, `东经106度33分`…),
    range-checked for the axis (`numbers`: the cells as plain numbers, when already parsed).
    Returns (degrees, NaN where empty or bad; bad mask)."""
    degrees = (parse_numbers(values)[0] if numbers is None else numbers).copy()
    limit = 180.0 if axis == "lon" else 90.0
    out_of_range = np.abs(degrees) > limit
    degrees[out_of_range] = np.nan
    bad = out_of_range.copy()
    for i in np.flatnonzero(np.isnan(degrees) & ~blank(values) & ~out_of_range):
        try:
            degrees[i] = parse_angle(values.iat[i], axis=axis, field=axis)
        except ValidationError:
            bad[i] = True
    return degrees, bad


def parse_choices(values: pd.Series, choices: dict[str, str]) -> tuple[pd.Series, np.ndarray]:
    """One of a set of values, by any of its labels (`choices` maps a label, compared without
    spaces and case, to the stored value). Returns (values, None where empty or bad; bad)."""
    lookup = {re.sub(r"\s+", "", label).lower(): value for label, value in choices.items()}
    # few distinct cells (categories, statuses): normalise those, not every cell
    found = {cell: lookup.get(re.sub(r"\s+", "", cell).lower()) for cell in values.unique()}
    mapped = values.map(found)
    bad = mapped.isna().to_numpy() & ~blank(values)
    return mapped.where(mapped.notna(), None), bad


def parse_integers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Whole numbers (`3`, `3.0`). Returns (float array with NaN where empty or bad; bad)."""
    numbers, bad = parse_numbers(values)
    fractional = np.isfinite(numbers) & (numbers != np.round(numbers))
    numbers[fractional] = np.nan
    return numbers, bad | fractional
