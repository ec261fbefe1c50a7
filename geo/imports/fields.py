"""Fields several imports share (credit code, site number, coordinates, county, receiving water)
and the reading context that turns a file's text cells into checked columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.coords import InputCRS, to_wgs84_arrays
from geo.credit_code import ALPHABET, FORMAT, check_digits
from geo.imports.base import ImportReport, ImportSource, Problem
from geo.imports.columns import Column, ColumnMap, map_columns, report_where
from geo.imports.tables import read_table
from geo.imports.values import blank, parse_angles, parse_choices, parse_integers, parse_numbers

CREDIT_CODE = Column(
    "credit_code",
    ("统一社会信用代码", "社会信用代码", "信用代码", "credit_code", "unified social credit code"),
    True,
    "18 characters (GB 32100-2015), check digit verified",
)
SITE_SEQ = Column(
    "site_seq",
    ("厂区序号", "site_seq", "site number"),
    False,
    "1–999 when an enterprise has several sites; 1 when absent",
)
LONGITUDE = Column(
    "lon", ("经度", "中心经度", "longitude", "lon"), True, "decimal degrees or DMS (106°33′12″E)"
)
LATITUDE = Column(
    "lat", ("纬度", "中心纬度", "latitude", "lat"), True, "decimal degrees or DMS (29°33′N)"
)
COUNTY = Column(
    "county_code",
    ("区县代码", "行政区划代码", "county_code", "county code"),
    False,
    "6-digit county code; from the point when absent, else the point must lie in or near it",
)
RECEIVING_WATER = Column(
    "receiving_water", ("受纳水体", "receiving_water", "receiving water"), False, "river or lake"
)
_BYTE_INDEX = np.zeros(256, dtype=np.int64)  # a code character's byte → its alphabet index
_BYTE_INDEX[np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)] = np.arange(len(ALPHABET))


@dataclass
class Cells:
    """A file's cells being read: the frame, its columns, the row numbers users see, and the
    report problems go to."""

    frame: pd.DataFrame
    columns: ColumnMap
    rows: np.ndarray
    report: ImportReport

    def __post_init__(self) -> None:
        self.frame = self.frame.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.frame)

    def has(self, name: str) -> bool:
        """Whether the file has the field's column."""
        return self.columns.has(name)

    def header(self, name: str) -> str:
        """The field's header as written in the file."""
        return self.columns.header(name)

    def text(self, name: str) -> pd.Series:
        """The field's cells as read (`read_table` strips them; '' everywhere when the column
        is absent)."""
        if not self.has(name):
            return pd.Series([""] * len(self.frame), index=self.frame.index, dtype=object)
        return self.frame[self.header(name)]

    def flag(self, mask: np.ndarray, name: str, message: str) -> int:
        """Record a problem in the field's column for each row where `mask` holds."""
        if not np.any(mask):
            return 0
        return report_where(
            self.report, mask, self.text(name), self.rows, self.header(name), message
        )

    def required(self, name: str) -> pd.Series:
        """The field's cells, each empty one a problem."""
        values = self.text(name)
        if self.has(name):
            self.flag(blank(values), name, "a value is required")
        return values

    def choice(self, name: str, choices: dict[str, str], default: str | None) -> pd.Series:
        """A field holding one of `choices` (label → value); empty cells take `default` (a
        problem when there is none)."""
        values = self.text(name)
        if not self.has(name):
            return pd.Series([default] * len(values), index=values.index, dtype=object)
        mapped, bad = parse_choices(values, choices)
        labels = " / ".join(dict.fromkeys(choices))
        self.flag(bad, name, f"not one of: {labels}")
        empty = blank(values)
        if default is None:
            self.flag(empty, name, "a value is required")
        return mapped.where(~empty, default)

    def duplicates(self, keys: list[pd.Series], name: str, what: str) -> None:
        """A problem on every row whose `keys` repeat an earlier row's (naming that row)."""
        frame = pd.DataFrame({f"k{i}": key.to_numpy() for i, key in enumerate(keys)})
        positions = np.flatnonzero(frame.duplicated(keep="first").to_numpy())
        if not len(positions):
            return
        first = (
            pd.Series(self.rows, index=frame.index)
            .groupby([frame[c] for c in frame.columns], sort=False, dropna=False)
            .transform("first")
            .to_numpy()
        )
        values = self.text(name)
        room = max(self.report.max_problems - len(self.report.problems), 0)
        self.report.add_many(
            [
                Problem(
                    f"{what} repeats row {int(first[i])}",
                    row=int(self.rows[i]),
                    field=self.header(name),
                    value=str(values.iat[i]),
                )
                for i in positions[:room]
            ]
        )
        self.report.problem_count += max(len(positions) - room, 0)


def read_cells(
    source: ImportSource, report: ImportReport, spec: tuple[Column, ...]
) -> Cells | None:
    """Read a spreadsheet source and match its columns to `spec` (None when columns are
    missing or repeated: the problems are in the report)."""
    table = read_table(source.data, source.filename, limits=source.limits, encoding=source.encoding)
    report.rows = len(table.frame)
    source.progress("read", report.rows, report.rows)
    columns = map_columns(list(table.frame.columns), spec, report)
    if columns is None:
        return None
    return Cells(table.frame, columns, table.row_numbers, report)


def read_credit_codes(cells: Cells) -> tuple[pd.Series, np.ndarray]:
    """Credit codes, upper-cased (a problem for a malformed one), and a mask of the well-formed
    ones whose check digit is wrong (whether that is a problem is the caller's rule)."""
    codes = cells.required(CREDIT_CODE.name).str.upper()
    well_formed = codes.str.fullmatch(FORMAT.pattern.strip("^$")).to_numpy(dtype=bool)
    cells.flag(
        ~well_formed & ~blank(codes),
        CREDIT_CODE.name,
        "a credit code has 18 characters of 0-9 and A-Y without I, O, S, V, Z (GB 32100-2015)",
    )
    wrong = np.zeros(len(codes), dtype=bool)
    checked = np.flatnonzero(well_formed)
    if len(checked):  # well-formed codes are 18 ASCII characters: one byte array, one lookup
        joined = "".join(codes.to_numpy()[checked]).encode("ascii")
        indexes = _BYTE_INDEX[np.frombuffer(joined, dtype=np.uint8).reshape(-1, 18)]
        wrong[checked] = check_digits(indexes[:, :17]) != indexes[:, 17]
    return codes, wrong


def read_site_seq(cells: Cells) -> np.ndarray:
    """Site numbers (1 when the column or the cell is empty)."""
    values = cells.text(SITE_SEQ.name)
    numbers, bad = parse_integers(values)
    if cells.has(SITE_SEQ.name):
        out_of_range = np.isfinite(numbers) & ((numbers < 1) | (numbers > 999))
        cells.flag(bad | out_of_range, SITE_SEQ.name, "a site number is a whole number 1–999")
    return np.nan_to_num(numbers, nan=1.0).astype(np.int64)


def read_points(cells: Cells, crs: InputCRS) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes converted from `crs` to WGS84 (NaN where missing or bad)."""
    lon_text = cells.required(LONGITUDE.name)
    lat_text = cells.required(LATITUDE.name)
    lon_number, _ = parse_numbers(lon_text)
    lat_number, _ = parse_numbers(lat_text)
    lon, bad_lon = parse_angles(lon_text, "lon", numbers=lon_number)
    lat, bad_lat = parse_angles(lat_text, "lat", numbers=lat_number)
    # China's longitudes are 73–135 and latitudes 18–54: a pair the other way round is swapped
    swapped = (lon_number < 60) & (lat_number > 70) & (lat_number <= 180)
    cells.flag(swapped, LONGITUDE.name, "longitude and latitude look swapped")
    cells.flag(
        bad_lon & ~swapped, LONGITUDE.name, "not a longitude (decimal degrees or DMS, -180 to 180)"
    )
    cells.flag(
        bad_lat & ~swapped, LATITUDE.name, "not a latitude (decimal degrees or DMS, -90 to 90)"
    )
    lon[swapped] = np.nan
    lat[swapped] = np.nan
    both = np.isfinite(lon) & np.isfinite(lat)
    if crs not in (InputCRS.WGS84, InputCRS.CGCS2000) and both.any():
        x, y = to_wgs84_arrays(lon[both], lat[both], crs)
        lon[both], lat[both] = x, y
    return lon, lat


def read_county(cells: Cells) -> pd.Series:
    """County codes given in the file ('' when absent): six digits or a problem."""
    values = cells.text(COUNTY.name)
    if cells.has(COUNTY.name):
        bad = ~values.str.fullmatch(r"\d{6}").to_numpy(dtype=bool) & ~blank(values)
        cells.flag(bad, COUNTY.name, "a county code has 6 digits")
    return values
