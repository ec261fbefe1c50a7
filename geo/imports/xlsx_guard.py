"""An .xlsx package checked before any reader unpacks it: bounded, a spreadsheet, the sheet sane.

A spreadsheet reader (python-calamine) builds a dense range from the first to the farthest cell
and trusts the zip's sizes: a 5 KB file with cells A1 and GR1000000 costs it 6 GB of memory, a
zip bomb whatever it unpacks to. So, from the zip directory first: at most MAX_ENTRIES parts,
summed declared sizes within `max_unzipped_bytes`, no part compressed more than MAX_RATIO times
(real sheets measure 8-20×, a deflate bomb ~1000×), no encryption, no other compression than
deflate/stored, no VBA project. `[Content_Types].xml` must name a spreadsheet main part
(`…spreadsheetml.sheet.main+xml`); macro-enabled and binary workbooks are refused.

Every part the reader uses is then inflated here, by our own bounded inflater, so a part that
unpacks to more than its declared size (a lying zip directory) is refused too. The small parts
(content types, workbook, relationships) are parsed with defusedxml; the sheet is resolved from
xl/workbook.xml and its relationships: by name, else the first visible sheet.

The chosen sheet's XML (hundreds of MB for 10^6 rows) is streamed once in 4 MB chunks, each cut
at its last `<` so no tag is split, and scanned with literal-prefixed regular expressions (about
3 s for 10^6 rows × 10 columns, 500 MB of XML): row elements and their largest `r`, cell
elements and their largest column, formula elements `<f>`, `<mergeCell ref>`. Refused: more row
elements than `max_rows` + 1 (the header), and a used area (farthest row × farthest column) larger
than DENSE_FLOOR + DENSE_PER_CELL × the cells present, i.e. a sheet that is mostly emptiness a
reader would lay out cell by cell. Rows or cells written without an `r` attribute (valid, rare)
and formula cells (whose names the message needs) take a second, exact, slower pass.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from geo.errors import ValidationError
from geo.settings import ImportSettings

MAX_ENTRIES = 10_000  # parts in one package
MAX_RATIO = 100  # declared unpacked size / packed size of one part
RATIO_SLACK = 1 << 20  # parts unpacking to less than this are never "too well compressed"
SMALL_PART_MAX = 32 << 20  # content types, workbook, relationships: read whole
DENSE_FLOOR = 1_000_000  # cells of used area allowed whatever the sheet holds
DENSE_PER_CELL = 10  # more cells of used area allowed per cell present
CHUNK = 4 << 20
MAX_TAG = 1 << 20  # bytes of one start tag, at most
FORMULAS_NAMED = 5
SHEET_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
MACRO_MAIN = "application/vnd.ms-excel.sheet.macroenabled.main+xml"
BINARY_MAIN = "application/vnd.ms-excel.sheet.binary.macroenabled.main"
CONTENT_TYPES = "[Content_Types].xml"
REF = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+)$")


def _refuse(message: str, detail: str | None = None) -> ValidationError:
    return ValidationError(message, field="file", detail=detail)


def _damaged(detail: str) -> ValidationError:
    return _refuse(
        "the Excel file is damaged and cannot be read: open it in Excel and save it again as .xlsx",
        detail,
    )


def column_letters(index: int) -> str:
    """Spreadsheet column letters of a 1-based column number (1 → A, 27 → AA)."""
    letters = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_number(letters: str) -> int:
    """1-based column number of spreadsheet column letters (A → 1, AA → 27)."""
    number = 0
    for ch in letters:
        number = number * 26 + ord(ch) - 64
    return number


def parse_range(ref: str) -> tuple[int, int, int, int] | None:
    """(first row, first column, last row, last column), 1-based, of "B2:C5" or "B2"."""
    ends = [REF.match(part.strip().upper()) for part in ref.split(":", 1)]
    if not all(ends):
        return None
    cells = [(int(m.group(2)), column_number(m.group(1))) for m in ends if m]
    (r1, c1), (r2, c2) = cells[0], cells[-1]
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


@dataclass(frozen=True)
class SheetScan:
    """What the scan of the chosen sheet found (rows and columns 1-based)."""

    sheet: str
    part: str
    rows: int  # row elements
    cells: int  # cell elements
    max_row: int
    max_col: int
    formulas: tuple[str, ...]  # the first few cells holding a formula
    merges: tuple[str, ...]  # the ranges of all merged cells


def is_zip(data: bytes) -> bool:
    """Whether the bytes start like a zip archive (an .xlsx is one)."""
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def check_xlsx(
    data: bytes, filename: str, limits: ImportSettings, sheet: str | None = None
) -> SheetScan:
    """Check a zip as an .xlsx package and scan the chosen sheet; ValidationError if unfit."""
    try:
        archive = zipfile.ZipFile(BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _refuse("the file is not a spreadsheet (.xlsx or .csv)", str(exc)) from exc
    by_name = {info.filename: info for info in infos}
    _check_directory(infos, limits)
    main = _main_part(data, by_name)
    suffix = posixpath.splitext(filename.lower())[1]
    if suffix == ".xlsm":
        raise _refuse("workbooks with macros (.xlsm) are not accepted: save it as .xlsx")
    if suffix != ".xlsx":
        raise _refuse("the file is an Excel workbook; its name must end in .xlsx")
    name, part = _choose_sheet(data, by_name, main, sheet)
    for info in infos:  # the parts a reader touches unpack to no more than they declare
        other_sheet = info.filename.startswith("xl/worksheets/") and info.filename != part
        if info.filename.endswith((".xml", ".rels")) and not other_sheet and info.filename != part:
            for _ in _inflate(data, info):
                pass
    if part not in by_name:
        raise _damaged(f"sheet part {part} missing")
    return _scan_sheet(data, by_name[part], name, limits)


def _check_directory(infos: list[zipfile.ZipInfo], limits: ImportSettings) -> None:
    if len(infos) > MAX_ENTRIES:
        raise _refuse("the Excel file has too many parts to be a plain spreadsheet")
    if sum(info.file_size for info in infos) > limits.max_unzipped_bytes:
        raise _refuse(
            f"the Excel file unpacks to more than {limits.max_unzipped_bytes // 2**20} MB: "
            "split it into smaller files (or raise PERMITMAP_IMPORT_MAX_UNZIPPED_BYTES)"
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise _refuse("the Excel file is password-protected: save a copy without a password")
        if info.file_size > MAX_RATIO * info.compress_size + RATIO_SLACK:
            raise _refuse(
                "the Excel file is compressed suspiciously well (a zip bomb?) and is not read",
                f"{info.filename}: {info.file_size} bytes from {info.compress_size}",
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _damaged(f"{info.filename}: compression method {info.compress_type}")
        if info.filename.lower().endswith("vbaproject.bin"):
            raise _refuse("workbooks with macros are not accepted: save it as .xlsx")


def _inflate(data: bytes, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The part's bytes in chunks, refusing more (or fewer) than its declared size."""
    offset = info.header_offset
    header = data[offset : offset + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise _damaged(f"{info.filename}: no local header")
    start = offset + 30 + int.from_bytes(header[26:28], "little")
    start += int.from_bytes(header[28:30], "little")
    raw = memoryview(data)[start : start + info.compress_size]
    if len(raw) < info.compress_size:
        raise _damaged(f"{info.filename}: truncated")
    total = 0
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    try:
        for pos in range(0, len(raw), CHUNK):
            piece = bytes(raw[pos : pos + CHUNK])
            while piece:
                if inflater is None:
                    out, piece = piece, b""
                else:
                    out = inflater.decompress(piece, CHUNK)
                    piece = inflater.unconsumed_tail
                total += len(out)
                if total > info.file_size:
                    raise _refuse(
                        "the Excel file unpacks to more than it declares (a zip bomb?) and is "
                        "not read",
                        info.filename,
                    )
                if out:
                    yield out
        if inflater is not None and not inflater.eof:
            raise _damaged(f"{info.filename}: deflate stream not finished")
    except zlib.error as exc:
        raise _damaged(f"{info.filename}: {exc}") from exc
    if total != info.file_size:
        raise _damaged(f"{info.filename}: {total} bytes, {info.file_size} declared")


def _small_xml(data: bytes, by_name: dict[str, zipfile.ZipInfo], name: str) -> Element:
    info = by_name.get(name)
    if info is None:
        raise _damaged(f"{name} missing")
    if info.file_size > SMALL_PART_MAX:
        raise _refuse(f"the Excel file's part {name} is too large to be a plain spreadsheet")
    try:
        return safe_fromstring(b"".join(_inflate(data, info)))
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise _damaged(f"{name}: {exc}") from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _main_part(data: bytes, by_name: dict[str, zipfile.ZipInfo]) -> str:
    if CONTENT_TYPES not in by_name:
        raise _refuse("the file is not a spreadsheet (.xlsx or .csv)", "zip without content types")
    types = _small_xml(data, by_name, CONTENT_TYPES)
    for override in types:
        if _local(override.tag) != "Override":
            continue
        kind = override.get("ContentType", "").lower()
        if kind == MACRO_MAIN:
            raise _refuse("workbooks with macros (.xlsm) are not accepted: save it as .xlsx")
        if kind == BINARY_MAIN:
            raise _refuse("binary workbooks (.xlsb) are not accepted: save it as .xlsx or .csv")
        if kind == SHEET_MAIN:
            return override.get("PartName", "").lstrip("/")
    raise _refuse("the file is not a spreadsheet (.xlsx or .csv)", "no spreadsheet main part")


def _choose_sheet(
    data: bytes, by_name: dict[str, zipfile.ZipInfo], main: str, wanted: str | None
) -> tuple[str, str]:
    """(sheet name, its part) of the wanted sheet, else of the first visible one."""
    folder, base = posixpath.split(main)
    rels = _small_xml(data, by_name, posixpath.join(folder, "_rels", base + ".rels"))
    targets: dict[str, tuple[str, str]] = {}
    for rel in rels:
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
        targets[rel.get("Id", "")] = (posixpath.normpath(path), rel.get("Type", ""))
    sheets: list[tuple[str, str, str]] = []  # (name, state, relationship id)
    for element in _small_xml(data, by_name, main).iter():
        if _local(element.tag) == "sheet":
            rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
            sheets.append((element.get("name", ""), element.get("state", "visible"), rid))
    if not sheets:
        raise _refuse("the workbook has no sheets")
    if wanted is not None:
        chosen = [s for s in sheets if s[0] == wanted] or [
            s for s in sheets if s[0].strip().casefold() == wanted.strip().casefold()
        ]
        if not chosen:
            names = "、".join(s[0] for s in sheets)
            raise _refuse(f"the workbook has no sheet named {wanted!r}; its sheets: {names}")
    else:
        chosen = [s for s in sheets if s[1] == "visible"] or sheets
    name, _, rid = chosen[0]
    part, kind = targets.get(rid, ("", ""))
    if not kind.endswith("/worksheet"):
        raise _refuse(f"the sheet {name!r} is not a table of cells (a chart or dialog sheet?)")
    return name, part


class _Patterns:
    """The scan's regular expressions for one namespace prefix of the sheet's elements."""

    def __init__(self, prefix: bytes) -> None:
        p = re.escape(prefix)
        self.row = re.compile(rb"<%srow(?=[\s>/])(?:[^>]*?\sr=\"(\d+)\")?" % p)
        self.cell = re.compile(rb"<%sc(?=[\s>/])(?:[^>]*?\sr=\"([A-Z]{1,3})\d)?" % p)
        self.formula = re.compile(rb"<%sf(?=[\s>/])" % p)
        self.merge = re.compile(rb"<%smergeCell\s[^>]*?ref=\"([^\"]*)\"" % p)
        self.token = re.compile(rb"<%s(row|c|f)(?=[\s>/])([^>]*)>" % p)


ROOT = re.compile(rb"<(\w+:)?worksheet[\s>]")
ROW_REF = re.compile(rb"(?:^|\s)r=\"(\d+)\"")
CELL_REF = re.compile(rb"(?:^|\s)r=\"([A-Z]{1,3})(\d+)\"")


def _chunks(data: bytes, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The part in pieces that never cut a tag: a piece ends at its last `>` when that comes
    after its last `<`, else just before that `<` (and a tag may not exceed MAX_TAG)."""
    carry = b""
    for out in _inflate(data, info):
        buf = carry + out if carry else out
        cut = buf.rfind(b"<")
        if cut < 0 or buf.rfind(b">") > cut:
            carry = b""
            yield buf
            continue
        carry = buf[cut:]
        if len(carry) > MAX_TAG:
            raise _damaged(f"{info.filename}: a tag longer than {MAX_TAG} bytes")
        if cut:
            yield buf[:cut]
    if carry:
        yield carry


def _scan_sheet(data: bytes, info: zipfile.ZipInfo, name: str, limits: ImportSettings) -> SheetScan:
    patterns: _Patterns | None = None
    rows = cells = max_row = max_col = 0
    letters: set[bytes] = set()
    exact = has_formula = False
    merges: list[str] = []
    for buf in _chunks(data, info):
        if patterns is None:
            root = ROOT.search(buf)
            if root is None:
                raise _damaged(f"{info.filename}: no worksheet element")
            patterns = _Patterns(root.group(1) or b"")
        found = patterns.row.findall(buf)
        rows += len(found)
        if rows > limits.max_rows + 1:
            raise _refuse(
                f"the file has more than {limits.max_rows} rows; split it or raise "
                "PERMITMAP_IMPORT_MAX_ROWS"
            )
        if found:
            exact = exact or b"" in found
            max_row = max(max_row, max(map(int, filter(None, found)), default=0))
        found = patterns.cell.findall(buf)
        cells += len(found)
        letters.update(found)
        has_formula = has_formula or patterns.formula.search(buf) is not None
        if b"mergeCell" in buf:
            merges.extend(m.decode("ascii", "replace") for m in patterns.merge.findall(buf))
    if patterns is None:
        raise _damaged(f"{info.filename}: empty")
    exact = exact or b"" in letters
    max_col = max((column_number(c.decode()) for c in letters if c), default=0)
    formulas: list[str] = []
    if exact or has_formula:
        extent_row, extent_col, formulas = _exact_pass(data, info, patterns, need_extent=exact)
        if exact:
            max_row, max_col = extent_row, extent_col
    if max_row * max_col > DENSE_FLOOR + DENSE_PER_CELL * cells:
        far = f"{column_letters(max_col)}{max_row}"
        raise _refuse(
            f"the sheet's used area runs to cell {far} ({max_col} columns × {max_row} rows) "
            f"but holds only {cells} cells: delete the stray cells far from the table (or the "
            "empty rows and columns after it) and save again"
        )
    return SheetScan(
        name, info.filename, rows, cells, max_row, max_col, tuple(formulas), tuple(merges)
    )


def _exact_pass(
    data: bytes, info: zipfile.ZipInfo, patterns: _Patterns, *, need_extent: bool
) -> tuple[int, int, list[str]]:
    """Farthest row and column, counting rows and cells without `r` by position, and the first
    few cells holding a formula."""
    row = col = max_row = max_col = 0
    formulas: list[str] = []
    for buf in _chunks(data, info):
        for match in patterns.token.finditer(buf):
            kind, attrs = match.group(1), match.group(2)
            if kind == b"row":
                ref = ROW_REF.search(attrs)
                row, col = (int(ref.group(1)) if ref else row + 1), 0
                max_row = max(max_row, row)
            elif kind == b"c":
                ref = CELL_REF.search(attrs)
                col = column_number(ref.group(1).decode()) if ref else col + 1
                max_col = max(max_col, col)
            elif len(formulas) < FORMULAS_NAMED:
                formulas.append(f"{column_letters(col)}{row}")
            elif not need_extent:
                return max_row, max_col, formulas
    return max_row, max_col, formulas
