"""geo.imports.tables: .xlsx and .csv files read to text cells with the row numbers users see, and
every unfit file refused with a message naming where (no database needed)."""

from __future__ import annotations

import io
import random
import zipfile
from datetime import date, datetime, time

import numpy as np
import openpyxl
import pandas as pd
import pytest

from geo.errors import ValidationError
from geo.imports import tables
from geo.imports.tables import cell_text, read_table
from geo.settings import ImportSettings

LIMITS = ImportSettings(
    max_bytes=512 * 2**20, max_rows=2_000_000, max_unzipped_bytes=2**30, max_problems=1000
)
HEADER_ZH = "单位名称,统一社会信用代码,经度,纬度\n"


def refused(data: bytes, filename: str, *, limits: ImportSettings = LIMITS, **kw) -> str:
    """The message of the ValidationError reading the file raises."""
    with pytest.raises(ValidationError) as caught:
        read_table(data, filename, limits=limits, **kw)
    assert caught.value.field == "file"
    assert "Traceback" not in caught.value.message
    return caught.value.message


def workbook(cells: dict[str, object], *, merges: tuple[str, ...] = (), title: str = "清单"):
    """An .xlsx written by openpyxl: cell reference → value (a str starting '=' is a formula)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for ref, value in cells.items():
        sheet[ref] = value
    for ref in merges:
        sheet.merge_cells(ref)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>'
)
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = (
    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    f'relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
    f'main" xmlns:r="{REL}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
    "</workbook>"
)
WORKBOOK_RELS = (
    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    f'relationships"><Relationship Id="rId1" Type="{REL}/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)
SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def raw_xlsx(sheet_data: str | bytes, *, prefix: str = "") -> bytes:
    """A minimal .xlsx written by hand whose sheet holds `sheet_data` (the XML inside
    <sheetData>, or the whole sheet part when bytes)."""
    if isinstance(sheet_data, str):
        p = f"{prefix}:" if prefix else ""
        xmlns = f'xmlns:{prefix}="{SHEET_NS}"' if prefix else f'xmlns="{SHEET_NS}"'
        sheet_data = (
            f'<?xml version="1.0"?><{p}worksheet {xmlns}><{p}sheetData>{sheet_data}'
            f"</{p}sheetData></{p}worksheet>"
        ).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", CONTENT_TYPES)
        package.writestr("_rels/.rels", PACKAGE_RELS)
        package.writestr("xl/workbook.xml", WORKBOOK)
        package.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        package.writestr("xl/worksheets/sheet1.xml", sheet_data)
    return out.getvalue()


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


@pytest.fixture
def no_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the spreadsheet reader is ever opened."""

    class Forbidden:
        @staticmethod
        def from_filelike(*args: object, **kwargs: object) -> None:
            raise AssertionError("python-calamine was asked to read the file")

    monkeypatch.setattr(tables, "CalamineWorkbook", Forbidden)


# --- CSV: encodings ----------------------------------------------------------------------


def test_utf8_csv() -> None:
    data = (HEADER_ZH + "重庆某某化工有限公司,91500000MA5U7ABC1X,106.55,29.56\n").encode()
    table = read_table(data, "units.csv", limits=LIMITS)
    assert list(table.frame.columns) == ["单位名称", "统一社会信用代码", "经度", "纬度"]
    assert table.frame.iloc[0].tolist() == [
        "重庆某某化工有限公司",
        "91500000MA5U7ABC1X",
        "106.55",
        "29.56",
    ]
    assert table.row_numbers.tolist() == [2]
    assert table.encoding == "utf-8"
    assert table.sheet is None


def test_utf8_bom_csv() -> None:
    data = b"\xef\xbb\xbf" + (HEADER_ZH + "重庆某某化工有限公司,X,106.5,29.5\r\n").encode()
    table = read_table(data, "units.csv", limits=LIMITS)
    assert table.frame.columns[0] == "单位名称"
    assert table.frame.iloc[0, 3] == "29.5"
    assert table.encoding == "utf-8"


def test_utf16_bom_csv() -> None:
    data = "\ufeff单位名称\t经度\r\n重庆某某化工有限公司\t106.5\r\n".encode("utf-16-le")
    table = read_table(data, "units.txt", limits=LIMITS)
    assert table.frame.to_dict("list") == {"单位名称": ["重庆某某化工有限公司"], "经度": ["106.5"]}
    assert table.encoding == "utf-16-le"


def test_gbk_csv_detected() -> None:
    data = (HEADER_ZH + "重庆某某化工有限公司,91500000MA5U7ABC1X,106.55,29.56\n").encode("gbk")
    table = read_table(data, "units.csv", limits=LIMITS)
    assert list(table.frame.columns) == ["单位名称", "统一社会信用代码", "经度", "纬度"]
    assert table.frame.iloc[0, 0] == "重庆某某化工有限公司"
    assert table.encoding == "gb18030"


def test_short_gbk_csv_detected() -> None:
    """A few GBK bytes that charset guessers take for cp949 or UTF-16."""
    table = read_table("名称\n重庆\n".encode("gbk"), "units.csv", limits=LIMITS)
    assert table.frame.to_dict("list") == {"名称": ["重庆"]}


def test_gb18030_only_character() -> None:
    with pytest.raises(UnicodeEncodeError):
        "㮾".encode("gbk")
    data = (HEADER_ZH + "湖南㮾梨某某化工有限公司,X,113.1,28.1\n").encode("gb18030")
    table = read_table(data, "units.csv", limits=LIMITS)
    assert table.frame.iloc[0, 0] == "湖南㮾梨某某化工有限公司"
    assert table.encoding == "gb18030"


def test_given_encoding_is_used() -> None:
    data = (HEADER_ZH + "重庆某某化工有限公司,X,106.5,29.5\n").encode("gbk")
    table = read_table(data, "units.csv", limits=LIMITS, encoding="GBK")
    assert table.frame.iloc[0, 0] == "重庆某某化工有限公司"
    assert table.encoding == "gbk"


def test_wrong_encoding_names_the_line() -> None:
    data = b"name,code\nabc,1\n" + "重庆,2\n".encode("gbk")
    message = refused(data, "units.csv", encoding="utf-8")
    assert message.startswith("line 3 is not valid UTF-8")
    data = b"name,code\nabc,1\nx\xff,2\n"
    assert refused(data, "units.csv", encoding="gbk").startswith("line 3 is not valid GBK")


def test_unknown_encoding_name() -> None:
    assert "unknown text encoding" in refused(b"a,b\n1,2\n", "a.csv", encoding="klingon")


def test_undecodable_text() -> None:
    data = b"name,code\n\x81\x30\xff\xfe\x80,1\n"
    message = refused(data, "units.csv")
    assert "cannot tell the file's text encoding" in message
    assert "UTF-8" in message


# --- CSV: layout -------------------------------------------------------------------------


def test_csv_blank_rows_and_line_numbers() -> None:
    data = (
        b"\n"  # line 1: blank, before the header
        b"name , code\n"  # line 2: the header
        b"a,1\n"  # 3
        b",\n"  # 4: all cells empty
        b'"two\nlines",2\n'  # 5-6: one record
        b"  \n"  # 7: whitespace only
        b"c,  3 \n"  # 8
    )
    table = read_table(data, "units.csv", limits=LIMITS)
    assert list(table.frame.columns) == ["name", "code"]
    assert table.frame.to_dict("list") == {
        "name": ["a", "two\nlines", "c"],
        "code": ["1", "2", "3"],
    }
    assert table.row_numbers.tolist() == [3, 5, 8]


def test_csv_crlf_line_numbers() -> None:
    data = b'name,code\r\n"x\r\ny",1\r\n\r\nb,2\r\n'
    table = read_table(data, "units.csv", limits=LIMITS)
    assert table.row_numbers.tolist() == [2, 5]


def test_tab_and_semicolon_separated() -> None:
    table = read_table("名称\t代码\n甲,乙\t1\n".encode(), "units.txt", limits=LIMITS)
    assert table.frame.to_dict("list") == {"名称": ["甲,乙"], "代码": ["1"]}
    table = read_table(b"name;code\na;1\n", "units.csv", limits=LIMITS)
    assert table.frame.to_dict("list") == {"name": ["a"], "code": ["1"]}


def test_short_rows_are_padded() -> None:
    table = read_table(b"a,b,c\n1\n", "units.csv", limits=LIMITS)
    assert table.frame.iloc[0].tolist() == ["1", "", ""]


def test_ragged_row_names_the_line() -> None:
    data = b'name,code\n"multi\nline",1\nb,2\nc,3,extra\n'
    message = refused(data, "units.csv")
    assert message.startswith("line 5 has 3 values but the header has 2")


def test_unclosed_quote_names_the_line() -> None:
    message = refused(b'name,code\na,1\n"b,2\nc,3\n', "units.csv")
    assert message.startswith("line 3")


def test_header_problems() -> None:
    assert "appears twice (columns A and C)" in refused(b"name,code,name\n1,2,3\n", "a.csv")
    assert "column B has values but no header" in refused(b"name,,code\n1,2,3\n", "a.csv")
    table = read_table(b"name,,code\n1,,3\n", "a.csv", limits=LIMITS)
    assert list(table.frame.columns) == ["name", "code"]


def test_no_header() -> None:
    assert "header row is missing" in refused(b"\n , \n\n", "a.csv")


def test_rows_over_the_limit() -> None:
    limits = ImportSettings(max_rows=10)
    data = b"name\n" + b"".join(b"r%d\n" % i for i in range(11))
    assert "more than 10 rows" in refused(data, "a.csv", limits=limits)
    assert len(read_table(data[: data.index(b"r10")], "a.csv", limits=limits).frame) == 10
    cells = {"A1": "name"} | {f"A{i}": f"r{i}" for i in range(2, 14)}
    message = refused(workbook(cells), "a.xlsx", limits=limits)
    assert "more than 10 rows" in message
    assert "PERMITMAP_IMPORT_MAX_ROWS" in message


def test_million_row_csv() -> None:
    """10^6 rows × 10 columns (about 100 MB) read through pandas' C parser in a few seconds."""
    block, n = 10_000, 1_000_000
    rng = np.random.default_rng(7)
    ids = np.arange(block).astype(str)
    frame = pd.DataFrame(
        {
            "单位名称": [f"重庆某某化工有限公司{i}" for i in ids],
            "统一社会信用代码": [f"91500000MA{i:0>8}" for i in ids],
            "经度": (106 + rng.random(block)).round(6).astype(str),
            "纬度": (29 + rng.random(block)).round(6).astype(str),
            **{f"指标{i}": rng.integers(0, 10**6, block).astype(str) for i in range(6)},
        }
    )
    header, rows = frame.to_csv(index=False).encode().split(b"\n", 1)
    data = header + b"\n" + rows * (n // block)
    table = read_table(data, "units.csv", limits=LIMITS)
    assert len(table.frame) == n
    assert table.frame.shape[1] == 10
    assert table.row_numbers[0] == 2
    assert table.row_numbers[-1] == n + 1
    assert table.frame.iloc[-1, 0] == f"重庆某某化工有限公司{block - 1}"
    assert table.frame.iloc[-1, 1] == f"91500000MA{block - 1:0>8}"


# --- which files are spreadsheets --------------------------------------------------------


def test_empty_and_too_big() -> None:
    assert refused(b"", "a.csv") == "the file is empty"
    limits = ImportSettings(max_bytes=1024)
    assert "larger than" in refused(b"a,b\n" * 300, "a.csv", limits=limits)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
        random.Random(3).randbytes(4096),
        bytes(range(128, 256)) * 8,
    ],
    ids=["png", "pdf", "random", "high-bytes"],
)
def test_not_a_spreadsheet(data: bytes) -> None:
    assert "not a spreadsheet" in refused(data, "units.xlsx")


def test_zip_that_is_not_a_spreadsheet() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "not a spreadsheet" in refused(out.getvalue(), "units.xlsx")


def test_legacy_xls() -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
    message = refused(data, "units.xls")
    assert ".xls" in message
    assert "save it as .xlsx" in message


def test_names_must_agree_with_content() -> None:
    book = workbook({"A1": "name", "A2": "x"})
    assert "must end in .xlsx" in refused(book, "units.csv")
    assert "macros" in refused(book, "units.xlsm")
    assert "holds plain text" in refused(b"name,code\na,1\n", "units.xlsx")
    assert "must end in .xlsx, .csv or .txt" in refused(b"name,code\na,1\n", "units.dat")
    assert "web page" in refused(b"<html><table><tr><td>1</td></tr></table></html>", "a.csv")


# --- .xlsx -------------------------------------------------------------------------------


def test_xlsx_values_as_text() -> None:
    cells = {
        "A1": "单位名称",
        "B1": "许可证\n编号",
        "C1": "经度",
        "D1": "发证日期",
        "E1": "检查时间",
        "F1": "时刻",
        "G1": "在产",
        "H1": "排放量",
        "A2": "  重庆某某化工有限公司 ",
        "B2": 915000001234,
        "C2": 106.551234,
        "D2": date(2024, 3, 5),
        "E2": datetime(2024, 3, 5, 14, 30, 15),
        "F2": time(8, 0, 1),
        "G2": True,
        "H2": 0.00001,
    }
    table = read_table(workbook(cells), "units.xlsx", limits=LIMITS)
    assert list(table.frame.columns) == [
        "单位名称", "许可证编号", "经度", "发证日期", "检查时间", "时刻", "在产", "排放量",
    ]  # fmt: skip
    assert table.frame.iloc[0].tolist() == [
        "重庆某某化工有限公司", "915000001234", "106.551234", "2024-03-05",
        "2024-03-05 14:30:15", "08:00:01", "true", "0.00001",
    ]  # fmt: skip
    assert table.sheet == "清单"
    assert table.encoding is None


def test_cell_text() -> None:
    assert cell_text(123.0) == "123"
    assert cell_text(-0.0) == "0"
    assert cell_text(0.1) == "0.1"
    assert cell_text(1e-7) == "0.0000001"
    assert cell_text(12345.678) == "12345.678"
    assert cell_text(999999999999999.0) == "999999999999999"
    assert cell_text(False) == "false"
    assert cell_text(None) == ""
    assert cell_text(" x\n") == "x"


def test_xlsx_blank_rows_and_row_numbers() -> None:
    cells = {
        "B3": "名称",
        "C3": "代码",
        "B4": "甲",
        "C4": 1,
        "B6": "   ",  # whitespace only: blank
        "C8": 2,
        "B10": "丙",
    }
    table = read_table(workbook(cells), "units.xlsx", limits=LIMITS)
    assert table.frame.to_dict("list") == {"名称": ["甲", "", "丙"], "代码": ["1", "2", ""]}
    assert table.row_numbers.tolist() == [4, 8, 10]


def test_xlsx_header_column_letters() -> None:
    cells = {"B2": "名称", "D2": "代码", "B3": "x", "C3": "stray", "D3": "1"}
    assert "column C has values but no header" in refused(workbook(cells), "units.xlsx")


def test_merged_header_cells() -> None:
    cells = {"A1": "单位", "C1": "代码", "A2": "x", "B2": "y", "C2": "1"}
    message = refused(workbook(cells, merges=("A1:B1",)), "units.xlsx")
    assert message.startswith("merged cells A1:B1 in the header")


def test_merged_data_cells() -> None:
    cells = {"A1": "名称", "B1": "代码", "A2": "x", "B2": "1", "B3": "2"}
    message = refused(workbook(cells, merges=("A2:A3",)), "units.xlsx")
    assert message.startswith("merged cells A2:A3 (rows 2–3)")


def test_formula_cells(no_reader: None) -> None:
    cells = {
        "A1": "名称",
        "B1": "数量",
        "A2": "x",
        "B2": 2,
        "A3": "y",
        "B3": "=B2*2",
        "B4": "=B3+1",
    }
    message = refused(workbook(cells), "units.xlsx")
    assert message.startswith("row 3, column B holds a formula")
    assert "B3, B4" in message
    assert "paste values only" in message


def test_long_number_stored_as_number() -> None:
    cells = {"A1": "名称", "B1": "统一社会信用代码", "A2": "x", "B2": 915000001234567890}
    message = refused(workbook(cells), "units.xlsx")
    assert message.startswith("row 2, column B: a long number stored as a number loses digits")
    assert "format the column as text" in message


def test_sheet_by_name() -> None:
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active["A1"] = "read me"
    second = book.create_sheet("数据")
    second["A1"], second["A2"] = "名称", "甲"
    out = io.BytesIO()
    book.save(out)
    data = out.getvalue()
    assert read_table(data, "a.xlsx", limits=LIMITS).sheet == "说明"
    table = read_table(data, "a.xlsx", limits=LIMITS, sheet="数据")
    assert table.frame.to_dict("list") == {"名称": ["甲"]}
    assert table.sheet == "数据"
    assert "no sheet named '其他'; its sheets: 说明、数据" in refused(data, "a.xlsx", sheet="其他")


def test_hand_written_sheet_with_prefix_and_without_refs() -> None:
    """A namespace prefix on the elements and cells without `r` (both valid) are read."""
    rows = (
        '<x:row r="1">' + inline("A1", "名称").replace("<c", "<x:c").replace("</c>", "</x:c>")
        + "</x:row>"
        + '<x:row r="2"><x:c t="inlineStr"><x:is><x:t>甲</x:t></x:is></x:c></x:row>'
    )  # fmt: skip
    table = read_table(raw_xlsx(rows, prefix="x"), "a.xlsx", limits=LIMITS)
    assert table.frame.to_dict("list") == {"名称": ["甲"]}
    assert table.row_numbers.tolist() == [2]


def test_sparse_used_area_refused_before_reading(no_reader: None) -> None:
    far = '<row r="1000000"><c r="GR1000000"><v>1</v></c></row>'
    rows = f'<row r="1">{inline("A1", "名称")}</row>{far}'
    data = raw_xlsx(rows)
    assert len(data) < 5000
    message = refused(data, "units.xlsx")
    assert "used area runs to cell GR1000000" in message
    assert "holds only 2 cells" in message


def test_zip_bomb_refused(no_reader: None) -> None:
    bomb = b'<?xml version="1.0"?><worksheet><sheetData>' + b" " * (20 * 2**20)
    data = raw_xlsx(bomb + b"</sheetData></worksheet>")
    assert len(data) < 2**20
    assert "compressed suspiciously well" in refused(data, "units.xlsx")


def test_zip_entry_lying_about_its_size(no_reader: None) -> None:
    """The directory says the sheet unpacks to 1000 bytes; it unpacks to far more."""
    rows = "".join(f'<row r="{i}">{inline(f"A{i}", f"x{i}")}</row>' for i in range(1, 5001))
    data = bytearray(raw_xlsx(rows))
    name = b"xl/worksheets/sheet1.xml"
    headers = [pos for pos in _offsets(data, b"PK\x03\x04") if data[pos + 30 :].startswith(name)]
    central = [pos for pos in _offsets(data, b"PK\x01\x02") if data[pos + 46 :].startswith(name)]
    assert len(headers) == len(central) == 1
    for size_field in (headers[0] + 22, central[0] + 24):  # uncompressed size
        data[size_field : size_field + 4] = (1000).to_bytes(4, "little")
    assert "unpacks to more than it declares" in refused(bytes(data), "units.xlsx")


def _offsets(data: bytearray, signature: bytes) -> list[int]:
    found, pos = [], data.find(signature)
    while pos >= 0:
        found.append(pos)
        pos = data.find(signature, pos + 1)
    return found


def test_encrypted_entry_refused() -> None:
    data = bytearray(workbook({"A1": "名称", "A2": "x"}))
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:  # set "encrypted" in the directory
        data[pos + 8] |= 0x1
        pos += 4
    assert "password-protected" in refused(bytes(data), "units.xlsx")
