"""Tabular files (.xlsx, .csv) read into a frame of text cells, with the row numbers the user sees.

The format is told by content, and the name must agree: a zip is an .xlsx when its
`[Content_Types].xml` names a spreadsheet main part (name .xlsx; .xlsm/.xlsb refused); an OLE2
file is a legacy .xls (or a password-protected workbook): "save as .xlsx or .csv"; PDF, images,
archives and other binary content are "not a spreadsheet"; text is CSV (name .csv or .txt).

.xlsx: `geo.imports.xlsx_guard` checks the package and streams the sheet's XML once before the
reader sees it (zip bomb, sparse used area, row count, formulas, merged cells), because
python-calamine lays out a dense range and trusts the zip. Formulas are refused (a program that
wrote the file may have left no cached value: "paste values only"), as are merged cells in the
header or data. Cells become text: str as is, whole numbers without ".0", other numbers in their
shortest round-tripping form without exponent, numbers ≥ 1e15 refused (an 18-digit credit code
stored as a number has already lost digits), booleans "true"/"false", dates "YYYY-MM-DD",
date-times "YYYY-MM-DD HH:MM:SS", times "HH:MM:SS", empty "". Row numbers are Excel's.

.csv: decoded by BOM (UTF-8, UTF-16/32), else strict UTF-8, else strict GB18030 (a superset of
GBK; charset guessers are wrong on short GBK samples), else refused; a given `encoding` is used
strictly and a failure names the line. The delimiter is a comma unless the header line has tabs
(or semicolons) and none of the other two. pandas' C parser reads every field as text; a record
with more fields than the header is refused (located with the csv module), fewer are padded with
"". Row numbers are physical lines (1-based) where each record starts: quoted fields spanning
lines are counted from the line breaks they hold.

Both: every cell is stripped of surrounding whitespace, nothing else is changed. The first row
with any non-blank cell is the header; header cells also lose inner line breaks. A column without
a header but with values, or two columns with the same header, are refused; entirely blank rows
are dropped (their numbers skipped); more data rows than `limits.max_rows` are refused.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from python_calamine import CalamineError, CalamineWorkbook

from geo.errors import ValidationError
from geo.imports.xlsx_guard import check_xlsx, column_letters, is_zip, parse_range
from geo.settings import ImportSettings

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
NOT_TABLES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
)
BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
CSV_SUFFIXES = (".csv", ".txt")
CONTROLS = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])  # no text holds these
FIRST_LINE = re.compile(r"^[^\n]*[^\s,;\t][^\n]*$", re.MULTILINE)
LINE_BREAKS = re.compile(r"[\r\n]+")
LONG_NUMBER = 1e15  # floats from here on have lost digits or soon will
SAVE_AS = "save it as UTF-8 (in Excel: CSV UTF-8) or choose the file's encoding"


@dataclass(frozen=True)
class RawTable:
    """A sheet or CSV file as text.

    `frame`: one column per header cell (header text stripped of surrounding whitespace and
    line breaks), every cell a `str` ('' when empty), no entirely empty rows. `row_numbers`: for
    each frame row, the row number the user sees (spreadsheet row / CSV line, the header counting
    as its row). `encoding`: the CSV's encoding as detected or given; `sheet`: the sheet read.
    """

    frame: pd.DataFrame
    row_numbers: np.ndarray
    encoding: str | None = None
    sheet: str | None = None


def _size(count: int) -> str:
    return f"{count / 2**20:.0f} MB" if count >= 2**20 else f"{count / 1024:.0f} KB"


def _refuse(message: str, detail: str | None = None) -> ValidationError:
    return ValidationError(message, field="file", detail=detail)


def read_table(
    data: bytes,
    filename: str,
    *,
    limits: ImportSettings,
    sheet: str | None = None,
    encoding: str | None = None,
) -> RawTable:
    """Read an .xlsx or .csv file (by content, the name's extension must agree) into a RawTable.

    Raises ValidationError(field="file", ...) with a message safe to show for anything unusable.
    `sheet` picks an .xlsx sheet by name (default: the first visible one); `encoding` forces a
    CSV's text encoding (default: BOM, UTF-8, GB18030).
    """
    if not data:
        raise _refuse("the file is empty")
    if len(data) > limits.max_bytes:
        raise _refuse(
            f"the file is larger than {_size(limits.max_bytes)}: split it or raise "
            "PERMITMAP_IMPORT_MAX_BYTES"
        )
    if is_zip(data):
        return _read_xlsx(data, filename, limits, sheet)
    if data.startswith(OLE2):
        raise _refuse(
            "the file is an old-format Excel workbook (.xls) or a password-protected one: open "
            "it in Excel and save it as .xlsx (without a password) or .csv"
        )
    for magic, what in NOT_TABLES:
        if data.startswith(magic):
            raise _refuse(f"the file is {what}, not a spreadsheet (.xlsx or .csv)")
    return _read_csv(data, filename, limits, encoding)


# --- .xlsx -------------------------------------------------------------------------------


class _LongNumberError(Exception):
    """A number too long to be kept exactly as a float."""


def cell_text(value: object) -> str:
    """The text of one spreadsheet cell value as python-calamine returns it (see module doc)."""
    kind = type(value)
    if kind is str:
        return value.strip()  # type: ignore[union-attr]
    if kind is float:
        number: float = value  # type: ignore[assignment]
        if abs(number) >= LONG_NUMBER:
            raise _LongNumberError
        if number.is_integer():
            return str(int(number))
        shown = repr(number)
        return format(Decimal(shown), "f") if "e" in shown else shown
    if kind is bool:
        return "true" if value else "false"
    if kind is datetime:
        return value.strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[attr-defined]
    if kind is date:
        return value.isoformat()  # type: ignore[attr-defined]
    if kind is time:
        return value.strftime("%H:%M:%S")  # type: ignore[attr-defined]
    if kind is timedelta:
        seconds = int(value.total_seconds())  # type: ignore[attr-defined]
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return "" if value is None else str(value).strip()


def _read_xlsx(data: bytes, filename: str, limits: ImportSettings, sheet: str | None) -> RawTable:
    scan = check_xlsx(data, filename, limits, sheet)
    if scan.formulas:
        first = parse_range(scan.formulas[0])
        where = f"row {first[0]}, column {column_letters(first[1])}" if first else "a cell"
        cells_named = ", ".join(scan.formulas)
        raise _refuse(
            f"{where} holds a formula (cells with formulas: {cells_named}…); paste values only: "
            "copy the cells, Paste Special → Values, and save"
        )
    rows: list[list[str]] = []
    numbers: list[int] = []
    try:
        with CalamineWorkbook.from_filelike(io.BytesIO(data)) as book:
            worksheet = book.get_sheet_by_name(scan.sheet)
            first_col = worksheet.start[1] if worksheet.start else 0
            # iter_rows starts at row 1 but at the used area's first column
            for number, values in enumerate(worksheet.iter_rows(), start=1):
                try:
                    cells = [v.strip() if type(v) is str else cell_text(v) for v in values]
                except _LongNumberError:
                    raise _long_number(values, number, first_col) from None
                if any(cells):
                    rows.append(cells)
                    numbers.append(number)
    except CalamineError as exc:
        raise _refuse(
            "the Excel file cannot be read: open it in Excel and save it again as .xlsx",
            f"{type(exc).__name__}: {exc}",
        ) from exc
    width = max(map(len, rows), default=0)
    frame = pd.DataFrame(rows, columns=range(width), dtype=str)
    header = _header_index(frame)
    header_row = numbers[header]
    for ref in scan.merges:
        bounds = parse_range(ref)
        if bounds and bounds[0] <= numbers[-1] and bounds[2] >= header_row:
            if bounds[0] <= header_row:
                raise _refuse(
                    f"merged cells {ref} in the header: unmerge them so that each column has "
                    "its own header"
                )
            raise _refuse(
                f"merged cells {ref} (rows {bounds[0]}–{bounds[2]}): unmerge them and fill in "
                "each cell"
            )
    return _finish(
        frame, np.asarray(numbers, dtype=np.int64), header, limits, None, scan.sheet, first_col
    )


def _long_number(values: list[object], number: int, first_col: int) -> ValidationError:
    for index, value in enumerate(values):
        if type(value) is float and abs(value) >= LONG_NUMBER:
            column = column_letters(first_col + index + 1)
            return _refuse(
                f"row {number}, column {column}: a long number stored as a number loses digits "
                f"(Excel keeps 15; it reads {value:.0f}); format the column as text and enter "
                "the numbers again"
            )
    return _refuse(f"row {number}: a long number stored as a number loses digits")


# --- .csv --------------------------------------------------------------------------------


def _read_csv(data: bytes, filename: str, limits: ImportSettings, encoding: str | None) -> RawTable:
    suffix = Path(filename.lower()).suffix
    bom = any(data.startswith(mark) for mark, _ in BOMS[1:])
    if suffix not in CSV_SUFFIXES:
        looks_binary = b"\x00" in data[:65536] and not bom
        if looks_binary or _try_decode(data) is None:
            raise _refuse("the file is not a spreadsheet (.xlsx or .csv)")
        if suffix in (".xlsx", ".xls", ".xlsm"):
            raise _refuse(
                f"the file's name ends in {suffix} but it holds plain text, not an Excel "
                "workbook: if it is CSV, name it .csv"
            )
        raise _refuse("a table file's name must end in .xlsx, .csv or .txt")
    if b"\x00" in data[:65536] and not bom:
        raise _refuse("the file is not a spreadsheet (.xlsx or .csv): it holds binary data")
    text, used = _decode(data, encoding)
    if text.lstrip().startswith("<"):
        raise _refuse(
            "the file is a web page or XML, not CSV: open it in Excel and save it as .xlsx or .csv"
        )
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    raw = text.encode("utf-8")  # pandas' C parser reads bytes 2-3× faster than a StringIO
    if len(raw.translate(None, CONTROLS)) != len(raw):
        raise _refuse("the file is not a spreadsheet (.xlsx or .csv): it holds binary data")
    first = FIRST_LINE.search(text)
    if first is None:
        raise _refuse("the file holds no rows: the header row is missing")
    line = first.group(0)
    sep = ","
    if "," not in line and ("\t" in line) != (";" in line):
        sep = "\t" if "\t" in line else ";"
    try:
        width = len(next(csv.reader(io.StringIO(text[first.start() :]), delimiter=sep)))
    except csv.Error as exc:
        raise _csv_problem(text, sep, 1 << 30, exc) from exc
    try:
        frame = pd.read_csv(
            io.BytesIO(raw),
            encoding="utf-8",
            sep=sep,
            header=None,
            names=range(width),
            index_col=False,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise _csv_problem(text, sep, width, exc) from exc
    lines = text.count("\n") + (not text.endswith("\n"))
    if len(frame) == lines:
        numbers = np.arange(1, len(frame) + 1, dtype=np.int64)
    else:  # quoted fields span lines: a record starts after the line breaks before it
        spans = 1 + sum((frame[c].str.count("\n").to_numpy() for c in frame), np.int64(0))
        numbers = np.concatenate(([1], 1 + np.cumsum(spans)[:-1])).astype(np.int64)
    for column in frame:
        frame[column] = frame[column].str.strip()
    return _finish(frame, numbers, _header_index(frame), limits, used, None, 0)


def _try_decode(data: bytes) -> str | None:
    for codec in ("utf-8", "gb18030"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return None


def _decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    """(text, codec used): the given encoding, else BOM → UTF-8 → GB18030, all strict."""
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError as exc:
            raise _refuse(f"unknown text encoding {encoding!r}: use e.g. UTF-8 or GB18030") from exc
        return _decode_as(data, codec, encoding.upper()), codec
    for mark, codec in BOMS:
        if data.startswith(mark):
            return _decode_as(data[len(mark) :], codec, codec.upper()), codec
    errors = []
    for codec in ("utf-8", "gb18030"):
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError as exc:
            errors.append(f"{codec}: {exc}")
    raise _refuse(f"cannot tell the file's text encoding: {SAVE_AS}", "; ".join(errors))


def _decode_as(data: bytes, codec: str, label: str) -> str:
    try:
        return data.decode(codec).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _refuse(f"line {line} is not valid {label}: {SAVE_AS}", str(exc)) from exc


def _csv_problem(text: str, sep: str, width: int, exc: Exception) -> ValidationError:
    """Where pandas' parse failed, found again with the csv module (which knows the lines)."""
    reader = csv.reader(io.StringIO(text), delimiter=sep, strict=True)
    line = 1
    try:
        for fields in reader:
            if len(fields) > width:
                return _refuse(
                    f"line {line} has {len(fields)} values but the header has {width}: remove "
                    "the extra values (or put quotation marks around values holding a "
                    f"{'tab' if sep == chr(9) else repr(sep)})",
                    str(exc),
                )
            line = reader.line_num + 1
    except csv.Error as error:
        if "field larger" in str(error):
            return _refuse(f"line {line}: a value is too long (over 131072 characters)", str(error))
        return _refuse(
            f"line {line}: a value opens a quotation mark that is not closed (or has text after "
            "its closing quotation mark)",
            f"{exc}; {error}",
        )
    return _refuse("the CSV file cannot be read: save it again from Excel as CSV", str(exc))


# --- both --------------------------------------------------------------------------------


def _filled(frame: pd.DataFrame) -> np.ndarray:
    """Boolean rows × columns: the cell is not '' (cells already stripped)."""
    if frame.shape[1] == 0:
        return np.zeros((len(frame), 0), dtype=bool)
    return np.column_stack([frame[column].to_numpy() != "" for column in frame])


def _header_index(frame: pd.DataFrame) -> int:
    """Position of the first row with a non-blank cell (cells already stripped)."""
    filled = np.flatnonzero(_filled(frame).any(axis=1)) if len(frame) else []
    if len(filled) == 0:
        raise _refuse("the file holds no rows: the header row is missing")
    return int(filled[0])


def _finish(
    frame: pd.DataFrame,
    numbers: np.ndarray,
    header: int,
    limits: ImportSettings,
    encoding: str | None,
    sheet: str | None,
    first_col: int,
) -> RawTable:
    """Header row → column names, blank rows dropped, the column and row checks."""
    names = [LINE_BREAKS.sub("", cell).strip() for cell in frame.iloc[header]]
    body = frame.iloc[header + 1 :]
    filled = _filled(body)
    keep_rows = filled.any(axis=1)
    has_values = filled.any(axis=0)
    keep: list[int] = []
    seen: dict[str, str] = {}
    for index, name in enumerate(names):
        letter = column_letters(first_col + index + 1)
        if not name:
            if has_values[index]:
                raise _refuse(
                    f"column {letter} has values but no header: give it a header in row "
                    f"{numbers[header]} or delete the column"
                )
            continue
        if name in seen:
            raise _refuse(
                f'the header "{name}" appears twice (columns {seen[name]} and {letter}): each '
                "column needs its own header"
            )
        seen[name] = letter
        keep.append(index)
    body = body.loc[keep_rows, keep]
    if len(body) > limits.max_rows:
        raise _refuse(
            f"the file has more than {limits.max_rows} rows; split it or raise "
            "PERMITMAP_IMPORT_MAX_ROWS"
        )
    body.columns = [names[i] for i in keep]
    return RawTable(
        frame=body.reset_index(drop=True),
        row_numbers=numbers[header + 1 :][keep_rows],
        encoding=encoding,
        sheet=sheet,
    )
