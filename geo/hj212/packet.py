"""HJ 212-2017 packets: the `Packet` structure, `parse_frame` (bytes → Packet) and `build_frame`
(Packet → bytes), its exact inverse for canonical packets.

Layout (§6.3.1 table 2): `##` + 4 decimal digits (the data segment's length) + data segment +
4 hex digits (CRC16 of the data segment, Annex A, upper case) + CR LF. The length counts the data
segment's bytes as sent: the standard says "ASCII characters" and allows UTF-8 only for Chinese
text (§6.3), so for an ASCII segment both agree; implementations that frame by length read bytes.
The data segment (§6.3.2 table 3) is `QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;[PNUM=…;PNO=…;]CP=&&…&&`.

Decisions, where the standard leaves room or devices differ from it:
- Size: table 2 allows a data segment of 0–1024 bytes (`STANDARD_MAX_DATA_LENGTH`); many devices
  send more (a real-time packet with 30 factors is ~1,100 bytes), so the limit is a parameter,
  default `MAX_DATA_LENGTH` = 4096 (the 4-digit field could say up to 9999).
- Encoding: UTF-8 (§6.3, and Annex B's logs "使用 UTF-8 编码"). GBK, which some old devices use for
  Chinese log text, is refused as `EncodingError` rather than guessed.
- Required header fields: QN, ST, CN, PW, MN, Flag: table 3 marks only PNUM/PNO as optional
  (absent when not split) and every Annex C packet carries QN and Flag, uploads included. A
  2005-style upload without QN/Flag is refused (`MissingFieldError`); so are its 2005 factor codes.
- Field forms: QN 17 digits (YYYYMMDDhhmmsszzz); ST 2 characters 0-9/A-Z (§6.6.1.2); CN 4 digits;
  Flag 0–255 (V5–V0 version, D split, A ack: bit 0 = A, bit 1 = D, bits 2–7 the version, 1 = 2017,
  so Flag=5 is "2017, ack requested", table 3); PNUM/PNO positive integers, PNO ≤ PNUM, both
  required when D is set. MN: 2017 specifies 24 hex characters (EPC-96), but devices in service
  use other forms (14-digit 2005 MNs, letters and `_`), so any 1–24 visible ASCII characters but
  `; , = &` are accepted and checking the MN is left to the device registry; PW likewise 1–32.
- CP (§6.3.3): items are `key=value`, separated by `;` (different items) or `,` (values of one
  item); both are accepted as separators. `DataTime` (YYYYMMDDhhmmss, China time, UTC+8) becomes
  `Cp.data_time`; a key `code-Field` (w01018-Rtd, SB1-RS, i11001-Info…) goes into
  `Cp.pollutants[code][Field]`; every other key into `Cp.items`. Values stay strings (the value
  of a log, `//…//`, keeps its slashes and may contain separators). Blank items and spaces
  around keys and values are tolerated (Annex C itself has `CP=&& &&`). A key seen twice is
  `DuplicateFieldError`.
- Canonical form (what `build_frame` writes, so `build_frame(parse_frame(raw)) == raw` for such
  packets): header fields in table 3's order, PNUM/PNO after Flag; in CP, DataTime first, then
  the other items, then one `;`-separated group per code whose fields are joined with `,`
  (Annex C.14–C.18); the CRC in upper case; no spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from geo.clock import CHINA
from geo.hj212.crc import crc16, crc16_hex
from geo.hj212.errors import (
    CrcError,
    DuplicateFieldError,
    EncodingError,
    FieldFormatError,
    HeaderError,
    LengthFieldError,
    LengthMismatchError,
    MissingFieldError,
    OversizeError,
    SegmentError,
    TerminatorError,
)

HEADER = b"##"
TERMINATOR = b"\r\n"
FRAME_OVERHEAD = 12  # "##", 4-digit length, 4-digit CRC, CR LF
STANDARD_MAX_DATA_LENGTH = 1024  # table 2
MAX_DATA_LENGTH = 4096  # the default limit (see the module docstring)
LENGTH_FIELD_MAX = 9999

FLAG_ACK = 0b01  # A: the sender asks for a reply (9013/9014)
FLAG_SPLIT = 0b10  # D: the packet carries PNUM and PNO
VERSION_2017 = 1  # V5–V0 = 000001 (000000 is HJ/T 212-2005)

_VISIBLE = r"(?:(?![;,=&])[!-~])"
_HEADER_PATTERNS = {
    "QN": re.compile(r"[0-9]{17}"),
    "ST": re.compile(r"[0-9A-Z]{2}"),
    "CN": re.compile(r"[1-9][0-9]{3}"),
    "PW": re.compile(_VISIBLE + "{1,32}"),
    "MN": re.compile(_VISIBLE + "{1,24}"),
    "Flag": re.compile(r"[0-9]{1,3}"),
    "PNUM": re.compile(r"[0-9]{1,4}"),
    "PNO": re.compile(r"[0-9]{1,4}"),
}
REQUIRED_FIELDS = ("QN", "ST", "CN", "PW", "MN", "Flag")
_NAME = re.compile(r"[A-Za-z0-9]+")
_CP_ITEM = re.compile(r"\s*([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?\s*=(.*)", re.DOTALL)
_CP_SPLIT = re.compile(r"[;,]")
_TIME = re.compile(r"[0-9]{14}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CRC = re.compile(rb"[0-9A-Fa-f]{4}")
_CP_START = "CP=&&"
_LOG_QUOTE = "//"


@dataclass(frozen=True)
class Cp:
    """The command parameters (`CP=&&…&&`): the data time, the per-code fields, other items."""

    data_time: datetime | None = None
    pollutants: dict[str, dict[str, str]] = field(default_factory=dict)
    items: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Packet:
    """One HJ 212-2017 packet (its data segment, parsed)."""

    qn: str
    st: str
    cn: int
    pw: str
    mn: str
    flag: int
    cp: Cp = field(default_factory=Cp)
    pnum: int | None = None
    pno: int | None = None

    @property
    def ack_requested(self) -> bool:
        """Flag bit A: the sender waits for a reply (9014 for data, 9013 for a notice)."""
        return bool(self.flag & FLAG_ACK)

    @property
    def split(self) -> bool:
        """Flag bit D: the packet is one of PNUM parts and carries PNUM and PNO."""
        return bool(self.flag & FLAG_SPLIT)

    @property
    def version(self) -> int:
        """Flag bits V5–V0: 0 for HJ/T 212-2005, 1 for HJ 212-2017."""
        return self.flag >> 2


def parse_frame(raw: bytes, *, max_data_length: int = MAX_DATA_LENGTH) -> Packet:
    """Parse one whole frame (`##` … CR LF); raise a `FrameError` subclass saying what is wrong.

    Checked in this order: header `##`, length field (4 digits), size limit (`OversizeError`, on the
    declared or the actual length), CR LF, length, CRC, UTF-8, segment layout and fields.
    """
    segment = _unframe(raw, max_data_length)
    try:
        text = segment.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError("the data segment is not UTF-8", detail=str(exc)) from None
    return _parse_segment(text)


def _unframe(raw: bytes, max_data_length: int) -> bytes:
    """The data segment of a frame whose framing, length and CRC are right."""
    if raw[:2] != HEADER:
        raise HeaderError("a frame starts with ##", detail=f"starts with {raw[:2]!r}")
    length_field = raw[2:6]
    if len(length_field) != 4 or not length_field.isdigit():
        raise LengthFieldError("the length field is not 4 digits", detail=repr(length_field))
    declared = int(length_field)
    actual = len(raw) - FRAME_OVERHEAD
    if max(declared, actual) > max_data_length:
        raise OversizeError(
            "the data segment is over the size limit",
            detail=f"declared {declared}, actual {actual}, limit {max_data_length} bytes",
        )
    if raw[-2:] != TERMINATOR:
        raise TerminatorError("a frame ends with CR LF", detail=f"ends with {raw[-2:]!r}")
    if actual != declared:
        raise LengthMismatchError(
            "the length field does not match the data segment",
            detail=f"length field {declared}, data segment {actual} bytes",
        )
    segment, crc_field = raw[6 : 6 + actual], raw[6 + actual : 10 + actual]
    computed = crc16(segment)
    if not _CRC.fullmatch(crc_field) or int(crc_field, 16) != computed:
        raise CrcError(
            "the CRC does not match the data segment",
            detail=f"packet says {crc_field!r}, computed {computed:04X}",
            header=_peek_header(segment.decode("utf-8", errors="replace")),
        )
    return segment


def _parse_segment(text: str) -> Packet:
    """Parse a decoded data segment (`QN=…;…;CP=&&…&&`)."""
    start = text.find(_CP_START)
    if start < 0 or (start and text[start - 1] != ";"):
        raise SegmentError("the data segment has no ;CP=&&", header=_peek_header(text))
    if not text.endswith("&&") or len(text) < start + len(_CP_START) + 2:
        raise SegmentError("the CP does not end with &&", header=_peek_header(text))
    header = _header_fields(text[: max(start - 1, 0)])
    cp = _parse_cp(text[start + len(_CP_START) : -2], header)
    flag = int(header["Flag"])
    pnum, pno = _part_numbers(header, flag)
    return Packet(
        qn=header["QN"],
        st=header["ST"],
        cn=int(header["CN"]),
        pw=header["PW"],
        mn=header["MN"],
        flag=flag,
        cp=cp,
        pnum=pnum,
        pno=pno,
    )


def _peek_header(text: str) -> dict[str, str]:
    """The header fields of a data segment as far as they can be read, without any check (for
    logging and for addressing a reply to a refused packet)."""
    fields: dict[str, str] = {}
    for part in text.split(_CP_START, 1)[0].split(";"):
        key, sep, value = part.partition("=")
        if sep and key in _HEADER_PATTERNS and key not in fields:
            fields[key] = value
    return fields


def _header_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split(";") if text else ():
        key, sep, value = part.partition("=")
        if not sep:
            raise SegmentError("a header field has no =", detail=repr(part), header=fields)
        if key not in _HEADER_PATTERNS:
            raise SegmentError("unknown header field", field=key, header=fields)
        if key in fields:
            raise DuplicateFieldError("a header field appears twice", field=key, header=fields)
        if not _HEADER_PATTERNS[key].fullmatch(value):
            raise FieldFormatError(f"{key} is malformed", field=key, value=value, header=fields)
        fields[key] = value
    for key in REQUIRED_FIELDS:
        if key not in fields:
            raise MissingFieldError(f"{key} is missing", field=key, header=fields)
    if int(flag := fields["Flag"]) > 255:
        raise FieldFormatError("Flag is over 255", field="Flag", value=flag, header=fields)
    return fields


def _part_numbers(header: dict[str, str], flag: int) -> tuple[int | None, int | None]:
    present = [key for key in ("PNUM", "PNO") if key in header]
    if not present and not flag & FLAG_SPLIT:
        return None, None
    for key in ("PNUM", "PNO"):
        if key not in header:
            raise MissingFieldError(f"{key} is missing (split packet)", field=key, header=header)
    pnum, pno = int(header["PNUM"]), int(header["PNO"])
    if not 1 <= pno <= pnum:
        raise FieldFormatError("PNO is not within 1…PNUM", field="PNO", value=pno, header=header)
    return pnum, pno


def _parse_cp(text: str, header: dict[str, str]) -> Cp:
    data_time: datetime | None = None
    codes: dict[str, dict[str, str]] = {}
    items: dict[str, str] = {}
    for part in _cp_parts(text, header):
        match = _CP_ITEM.fullmatch(part)
        if match is None:
            if part.isspace() or not part:
                continue
            raise SegmentError("a CP item is not key=value", detail=repr(part), header=header)
        code, name, value = match.groups()
        value = value.strip()
        if name is not None:
            fields = codes.setdefault(code, {})
            if name in fields:
                raise DuplicateFieldError(
                    "a CP item appears twice", field=f"{code}-{name}", header=header
                )
            fields[name] = value
        elif code == "DataTime":
            if data_time is not None:
                raise DuplicateFieldError("a CP item appears twice", field=code, header=header)
            data_time = _parse_time(value, header)
        elif code in items:
            raise DuplicateFieldError("a CP item appears twice", field=code, header=header)
        else:
            items[code] = value
    return Cp(data_time=data_time, pollutants=codes, items=items)


def _cp_parts(text: str, header: dict[str, str]) -> list[str]:
    """The CP's items: split at `;` and `,`, except inside a value that opens with `//` (a log,
    which runs to the next `//`)."""
    if _LOG_QUOTE not in text:
        return _CP_SPLIT.split(text)
    parts, start, index, in_value = [], 0, 0, False
    while index < len(text):
        char = text[index]
        if char in ";,":
            parts.append(text[start:index])
            start, in_value = index + 1, False
        elif char == "=" and not in_value:
            in_value = True
            if text.startswith(_LOG_QUOTE, index + 1):
                close = text.find(_LOG_QUOTE, index + 3)
                if close < 0:
                    raise SegmentError("a //…// value is not closed", header=header)
                index = close + 1
        index += 1
    parts.append(text[start:])
    return parts


def _parse_time(value: str, header: dict[str, str]) -> datetime:
    try:
        if not _TIME.fullmatch(value):
            raise ValueError(value)
        numbers = [int(value[i:j]) for i, j in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12))]
        return datetime(*numbers, int(value[12:14]), tzinfo=CHINA)
    except ValueError:
        raise FieldFormatError(
            "DataTime is not YYYYMMDDhhmmss", field="DataTime", value=value, header=header
        ) from None


def build_frame(packet: Packet) -> bytes:
    """The frame of `packet` (canonical form); ValueError when it cannot be written as one."""
    segment = _build_segment(packet).encode("utf-8")
    if len(segment) > LENGTH_FIELD_MAX:
        raise ValueError(f"a data segment of {len(segment)} bytes does not fit the length field")
    return b"##%04d%s%s\r\n" % (len(segment), segment, crc16_hex(segment).encode("ascii"))


def _build_segment(packet: Packet) -> str:
    """The data segment of `packet` (canonical form); ValueError for an invalid field."""
    header = {
        "QN": packet.qn,
        "ST": packet.st,
        "CN": str(packet.cn),
        "PW": packet.pw,
        "MN": packet.mn,
        "Flag": str(packet.flag),
    }
    if packet.pnum is not None or packet.pno is not None:
        header |= {"PNUM": str(packet.pnum), "PNO": str(packet.pno)}
    for key, value in header.items():
        if not _HEADER_PATTERNS[key].fullmatch(value):
            raise ValueError(f"{key}={value!r} is not a valid HJ 212 field")
    if not 0 <= packet.flag <= 255 or (packet.split and packet.pnum is None):
        raise ValueError("Flag must be 0–255, and a split packet (bit D) needs PNUM and PNO")
    if packet.pnum is not None and not 1 <= (packet.pno or 0) <= packet.pnum:
        raise ValueError("PNO must be within 1…PNUM")
    fields = ";".join(f"{key}={value}" for key, value in header.items())
    return f"{fields};CP=&&{_build_cp(packet.cp)}&&"


def _build_cp(cp: Cp) -> str:
    """The text between `CP=&&` and `&&` (canonical form)."""
    parts = []
    if cp.data_time is not None:
        parts.append(f"DataTime={_format_time(cp.data_time)}")
    for key, value in cp.items.items():
        if key == "DataTime" or not _NAME.fullmatch(key):
            raise ValueError(f"{key!r} is not a valid CP item name")
        parts.append(f"{key}={_checked_value(value)}")
    for code, fields in cp.pollutants.items():
        names = [code, *fields]
        if not fields or not all(_NAME.fullmatch(name) for name in names):
            raise ValueError(f"{code!r}: invalid code or field names, or no fields")
        parts.append(",".join(f"{code}-{n}={_checked_value(v)}" for n, v in fields.items()))
    return ";".join(parts)


def _format_time(moment: datetime) -> str:
    """YYYYMMDDhhmmss in China time (to the second) of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("an HJ 212 time needs a timezone-aware datetime")
    t = moment.astimezone(CHINA)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}"


def _checked_value(value: str) -> str:
    """`value` if `_parse_segment` reads it back as it is: a log `//…//` (no `//` inside), or
    text without separators, surrounding spaces or a leading `//`; no control characters (a
    CR LF inside would end the frame for a stream reader)."""
    if value.startswith(_LOG_QUOTE):
        if len(value) < 4 or not value.endswith(_LOG_QUOTE) or _LOG_QUOTE in value[2:-2]:
            raise ValueError(f"CP value {value!r} starts with // but is not a //…// log")
    elif any(char in value for char in ";,") or value != value.strip():
        raise ValueError(f"CP value {value!r} has a separator or surrounding spaces")
    if _CONTROL.search(value):
        raise ValueError(f"CP value {value!r} has a control character")
    return value
