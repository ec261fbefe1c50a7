"""Why a packet (or a stretch of a TCP stream) is not a valid HJ 212-2017 frame.

Part of the project's one hierarchy (`geo.errors.ValidationError`): `message` is short and safe
to log or show, `detail` has the specifics. `header` holds the header fields (QN, ST, CN, PW, MN,
Flag…) read from the data segment as far as it could be read, so a receiver can log which device
sent it, or address a reply, even when the frame is refused; it is empty when the segment could
not be reached. Check order and reasons are documented in `geo.hj212.packet.parse_frame`.
"""

from __future__ import annotations

from collections.abc import Mapping

from geo.errors import ValidationError


class FrameError(ValidationError):
    """Base class: the bytes are not a valid frame. `reason` is a short stable code."""

    reason = "frame"

    def __init__(
        self,
        message: str,
        *,
        detail: str | None = None,
        field: str | None = None,
        value: object = None,
        header: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, field=field, value=value, detail=detail)
        self.header: dict[str, str] = dict(header or {})


class HeaderError(FrameError):
    """The frame does not start with `##`."""

    reason = "header"


class LengthFieldError(FrameError):
    """The 4 characters after `##` are not 4 decimal digits."""

    reason = "length_field"


class OversizeError(FrameError):
    """The data segment is longer than the receiver's limit (declared or actual)."""

    reason = "oversize"


class TerminatorError(FrameError):
    """The frame does not end with CR LF."""

    reason = "terminator"


class LengthMismatchError(FrameError):
    """The length field differs from the data segment's length in bytes."""

    reason = "length"


class CrcError(FrameError):
    """The CRC field is not 4 hex digits, or not the CRC16 of the data segment."""

    reason = "crc"


class EncodingError(FrameError):
    """The data segment is not UTF-8 (ASCII, with UTF-8 for Chinese text: §6.3)."""

    reason = "encoding"


class SegmentError(FrameError):
    """The data segment does not have the §6.3.2 layout (no `CP=&&…&&`, a field without `=`,
    an unknown header field…)."""

    reason = "segment"


class MissingFieldError(SegmentError):
    """A required header field (QN, ST, CN, PW, MN, Flag; PNUM and PNO when split) is absent."""

    reason = "missing_field"


class DuplicateFieldError(SegmentError):
    """A header field or a CP item appears twice."""

    reason = "duplicate_field"


class FieldFormatError(SegmentError):
    """A field's value has the wrong form (QN not 17 digits, CN not 4 digits, DataTime not a
    date, Flag not 0–255…)."""

    reason = "bad_field"


class GarbageError(FrameError):
    """Bytes in a stream that belong to no frame (before a `##`), skipped by `FrameReader`."""

    reason = "garbage"
