"""HJ 212-2017 (污染物在线监控（监测）系统数据传输标准), the protocol core: CRC, packet parser and
builder, replies and a TCP stream framer. Pure Python, no database and no network.

- `geo.hj212.crc`: the standard's CRC16 (Annex A).
- `geo.hj212.packet`: `Packet`, `Cp`, `parse_frame`, `build_frame`.
- `geo.hj212.replies`: `ack_for` (9013/9014), `request_reply` (9011).
- `geo.hj212.framer`: `FrameReader`.
- `geo.hj212.errors`: the `FrameError` hierarchy.
- `geo.hj212.codes`: ST, CN, QnRtn, ExeRtn, data flags, `POLLUTANTS`.
"""

from geo.hj212.codes import DATA_COMMANDS, DATA_FLAGS, POLLUTANTS, Cn, ExeRtn, Pollutant, QnRtn
from geo.hj212.crc import crc16, crc16_hex
from geo.hj212.errors import (
    CrcError,
    DuplicateFieldError,
    EncodingError,
    FieldFormatError,
    FrameError,
    GarbageError,
    HeaderError,
    LengthFieldError,
    LengthMismatchError,
    MissingFieldError,
    OversizeError,
    SegmentError,
    TerminatorError,
)
from geo.hj212.framer import FrameReader
from geo.hj212.packet import (
    MAX_DATA_LENGTH,
    STANDARD_MAX_DATA_LENGTH,
    Cp,
    Packet,
    build_frame,
    parse_frame,
)
from geo.hj212.replies import ack_for, request_reply

__all__ = [
    "DATA_COMMANDS",
    "DATA_FLAGS",
    "MAX_DATA_LENGTH",
    "POLLUTANTS",
    "STANDARD_MAX_DATA_LENGTH",
    "Cn",
    "Cp",
    "CrcError",
    "DuplicateFieldError",
    "EncodingError",
    "ExeRtn",
    "FieldFormatError",
    "FrameError",
    "FrameReader",
    "GarbageError",
    "HeaderError",
    "LengthFieldError",
    "LengthMismatchError",
    "MissingFieldError",
    "OversizeError",
    "Packet",
    "Pollutant",
    "QnRtn",
    "SegmentError",
    "TerminatorError",
    "ack_for",
    "build_frame",
    "crc16",
    "crc16_hex",
    "parse_frame",
    "request_reply",
]
