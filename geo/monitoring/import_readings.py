"""`permitmap monitor import FILE`: readings from a spreadsheet (.xlsx, .csv), for bureaus
without a receiver, stored like received ones and checked (events opened and closed).

Every row is checked first; any problem writes nothing (the report lists them, with the row and
column as the file shows them). A reading is (device or outlet, pollutant code, data type, data
time) → value, with the same rules as a packet (`geo.monitoring.ingest`): HJ 212-2017 factor
codes, a data time in China time within the stored range (not before the retention start, at
most a day ahead), a one-letter data flag. A reading stored before (a file imported twice) is
not stored again and counts as unchanged. The outlet is given by the MN of a registered device
or by permitmap's outlet id; when both are given they must agree.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.clock import CHINA
from geo.errors import ValidationError
from geo.imports.base import ImportRejectedError, ImportReport, ImportSource, Problem
from geo.imports.columns import Column
from geo.imports.fields import Cells, read_cells
from geo.imports.values import blank, parse_integers, parse_numbers
from geo.monitoring.checks import run_checks
from geo.monitoring.ingest import DATA_FLAG, POLLUTANT_CODE
from geo.monitoring.readings import FUTURE_SLACK, ReadingRow, known_months, store_readings
from geo.monitoring.writer import retention_start

READING_COLUMNS: tuple[Column, ...] = (
    Column("mn", ("MN", "设备编号", "数采仪编号", "mn"), False, "a registered device's MN"),
    Column(
        "outlet_id",
        ("排放口ID", "排放口", "outlet_id", "outlet id"),
        False,
        "permitmap's outlet id (when there is no MN column or cell)",
    ),
    Column(
        "pollutant_code",
        ("污染物代码", "监测因子代码", "因子代码", "pollutant_code", "pollutant code"),
        True,
        "HJ 212-2017 factor code, e.g. w01018 (COD), a21026 (SO2)",
    ),
    Column(
        "data_time",
        ("数据时间", "监测时间", "data_time", "data time", "DataTime"),
        True,
        "China time: 2026-11-20 10:00[:00], 2026/11/20 10:00, 20261120100000",
    ),
    Column("value", ("数值", "监测值", "value"), True, "the value (Rtd or Avg), a number"),
    Column(
        "data_type",
        ("数据类型", "data_type", "data type", "CN"),
        False,
        "分钟 / 小时 / 日 / 实时 (or 2051 / 2061 / 2031 / 2011); 小时 when absent",
    ),
    Column("flag", ("标记", "数据标记", "flag"), False, "data flag: N, F, M, S, D, C, T, B…"),
    Column("min", ("最小值", "min"), False, "Min, a number"),
    Column("max", ("最大值", "max"), False, "Max, a number"),
    Column("cou", ("排放量", "累计值", "cou"), False, "Cou (a day's quantity: kg), a number"),
)
DATA_TYPES = {
    **dict.fromkeys(("实时", "实时数据", "realtime", "2011"), "2011"),
    **dict.fromkeys(("分钟", "分钟数据", "minute", "2051"), "2051"),
    **dict.fromkeys(("小时", "小时数据", "hour", "hourly", "2061"), "2061"),
    **dict.fromkeys(("日", "天", "日数据", "day", "daily", "2031"), "2031"),
}
DEFAULT_DATA_TYPE = "2061"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def import_readings(
    session: Session,
    source: ImportSource,
    *,
    now: datetime,
    retention_months: int,
    dry_run: bool = False,
) -> ImportReport:
    """Import a file of readings (see the module docstring); ImportRejectedError when any row
    has a problem. `report.inserted` / `unchanged`: new and already stored readings;
    `report.screening`: the events the checks opened and closed."""
    report = ImportReport(
        "readings", source.filename, dry_run, max_problems=source.limits.max_problems
    )
    try:
        cells = read_cells(source, report, READING_COLUMNS)
    except ValidationError as exc:  # the file as a whole is unusable
        report.add(Problem(exc.message))
        raise ImportRejectedError(report) from exc
    if cells is not None and not (cells.has("mn") or cells.has("outlet_id")):
        report.add(Problem("the column MN or 排放口ID is missing: one of them names the outlet"))
    if cells is None or not report.ok:
        raise ImportRejectedError(report)
    if not cells.has("data_type"):
        report.note(f"no 数据类型 column: every row taken as hourly data (CN {DEFAULT_DATA_TYPE})")
    rows = _read(session, cells, earliest=retention_start(now, retention_months), now=now)
    if not report.ok:
        raise ImportRejectedError(report)
    if dry_run:
        report.inserted = len(rows)
        return report
    stored = store_readings(session, rows, known_months(session))
    summary = run_checks(session, now=now)
    report.inserted, report.unchanged = stored, len(rows) - stored
    report.screening = f"checks: {len(summary.opened)} events opened, {len(summary.closed)} closed"
    return report


def _read(session: Session, cells: Cells, *, earliest: datetime, now: datetime) -> list[ReadingRow]:
    """The rows' readings (problems go to the report; the list is only used when none)."""
    outlets = _outlets(session, cells)
    codes = cells.required("pollutant_code").str.strip()
    cells.flag(
        ~codes.str.fullmatch(POLLUTANT_CODE.pattern).to_numpy(dtype=bool) & ~blank(codes),
        "pollutant_code",
        "not an HJ 212-2017 factor code (w or a and 5 digits, e.g. w01018)",
    )
    times = _times(cells, earliest=earliest, now=now)
    cns = cells.choice("data_type", DATA_TYPES, DEFAULT_DATA_TYPE)
    value = _numbers(cells, "value", required=True)
    low, high, total = (_numbers(cells, name) for name in ("min", "max", "cou"))
    flags = cells.text("flag").str.upper()
    if cells.has("flag"):
        cells.flag(
            ~flags.str.fullmatch(DATA_FLAG.pattern).to_numpy(dtype=bool) & ~blank(flags),
            "flag",
            "a data flag is one letter (N normal, F stopped, M maintenance, D fault…)",
        )
    cells.duplicates(
        [pd.Series(outlets), codes, cns, times],
        "data_time",
        "the same reading (outlet, code, type, time)",
    )
    if not cells.report.ok:
        return []
    moments = times.dt.tz_convert(CHINA).dt.to_pydatetime()
    return [
        ReadingRow(
            int(outlets[i]),
            codes.iat[i],
            int(cns.iat[i]),
            moments[i],
            float(value[i]),
            _optional(low[i]),
            _optional(high[i]),
            _optional(total[i]),
            flags.iat[i] or None,
        )
        for i in range(len(cells))
    ]


def _optional(number: float) -> float | None:
    return None if np.isnan(number) else float(number)


def _numbers(cells: Cells, name: str, *, required: bool = False) -> np.ndarray:
    values = cells.required(name) if required else cells.text(name)
    numbers, bad = parse_numbers(values)
    if cells.has(name):
        cells.flag(bad, name, "not a number")
    return numbers


def _times(cells: Cells, *, earliest: datetime, now: datetime) -> pd.Series:
    """Data times (China time → aware), a problem for a bad or implausible one."""
    values = cells.required("data_time")
    cleaned = values.str.replace("/", "-", regex=False).str.replace("T", " ", regex=False)
    cleaned = cleaned.str.replace(
        r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$", r"\1-\2-\3 \4:\5:\6", regex=True
    )
    cleaned = cleaned.str.replace(r"^([^ ]+ \d{1,2}:\d{2})$", r"\1:00", regex=True)
    cleaned = cleaned.str.replace(r"^(\d{4}-\d{1,2}-\d{1,2})$", r"\1 00:00:00", regex=True)
    parsed = pd.to_datetime(cleaned, format=TIME_FORMAT, errors="coerce").dt.tz_localize(CHINA)
    bad = parsed.isna().to_numpy() & ~blank(values)
    cells.flag(bad, "data_time", "not a date and time (2026-11-20 10:00:00, China time)")
    outside = parsed.notna().to_numpy() & ~(
        (parsed >= pd.Timestamp(earliest)) & (parsed <= pd.Timestamp(now + FUTURE_SLACK))
    ).to_numpy(dtype=bool)
    cells.flag(
        outside,
        "data_time",
        f"outside the stored range ({earliest:%Y-%m-%d} to a day from now, China time)",
    )
    return parsed


def _outlets(session: Session, cells: Cells) -> np.ndarray:
    """Each row's outlet id (0 where it could not be told; a problem then)."""
    outlet_ids = np.zeros(len(cells), dtype=np.int64)
    given = np.zeros(len(cells), dtype=bool)
    if cells.has("outlet_id"):
        numbers, bad = parse_integers(cells.text("outlet_id"))
        cells.flag(bad, "outlet_id", "an outlet id is a whole number (permitmap's id)")
        known = set(
            session.execute(
                text("SELECT id FROM outlets WHERE id = ANY(:ids)"),
                {"ids": sorted({int(n) for n in numbers[np.isfinite(numbers)]})},
            ).scalars()
        )
        found = np.isfinite(numbers)
        missing = found & ~np.isin(np.nan_to_num(numbers), list(known))
        cells.flag(missing, "outlet_id", "no outlet has this id")
        outlet_ids[found] = numbers[found].astype(np.int64)
        given |= found & ~missing
    if cells.has("mn"):
        mns = cells.text("mn")
        devices = dict(
            session.execute(
                text("SELECT mn, outlet_id FROM monitoring_devices WHERE mn = ANY(:mns)"),
                {"mns": sorted(set(mns[~blank(mns)]))},
            ).all()
        )
        of_mn = mns.map(devices).to_numpy()
        named = ~blank(mns)
        cells.flag(named & pd.isna(of_mn), "mn", "no device with this MN is registered")
        resolved = named & pd.notna(of_mn)
        clash = resolved & given & (outlet_ids != np.nan_to_num(of_mn.astype(float)))
        cells.flag(clash, "mn", "this MN's device is registered on another outlet than 排放口ID")
        outlet_ids[resolved] = of_mn[resolved].astype(np.int64)
        given |= resolved
    column = "mn" if cells.has("mn") else "outlet_id"
    none = ~given & blank(cells.text("mn")) & blank(cells.text("outlet_id"))
    cells.flag(none, column, "MN or 排放口ID is required")
    return outlet_ids
