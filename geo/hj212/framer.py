"""Cutting a TCP byte stream into HJ 212 frames: `FrameReader`.

TCP delivers bytes, not packets: a read may hold half a frame, several frames, or bytes that
belong to none. `FrameReader.feed` returns, in stream order, each complete frame's bytes (to give
to `parse_frame`, which checks the length, the CRC and the segment) and a `FrameError` for each
stretch it had to throw away. Rules:

- A frame starts at `##` followed by 4 digits. Bytes before a `##` are `GarbageError` (one error per
  stretch, however many reads it spans).
- A frame ends where its length field says when CR LF is there. Otherwise (a wrong length field)
  it ends at the first CR LF (a data segment has no CR LF: §6.3, ASCII text and UTF-8), and
  `parse_frame` will report the length mismatch; so a wrong length costs that frame only.
- A `##` before that CR LF means the frame before it was cut short (a device that restarted
  mid-packet): `TerminatorError` for it, and reading resumes at the new `##`.
- A length field that is not 4 digits (`LengthFieldError`), a declared length over the limit,
  or no CR LF within `max_data_length + 12` bytes (`OversizeError`): the frame is dropped up to
  the next `##`. So the buffer never holds more than one frame's worth of bytes beyond a read.
- Slow and half-open connections are the server's concern: `buffered` says how many bytes of an
  unfinished frame are held, and the server closes a connection idle past its timeout.
"""

from __future__ import annotations

from geo.hj212.errors import (
    FrameError,
    GarbageError,
    LengthFieldError,
    OversizeError,
    TerminatorError,
)
from geo.hj212.packet import FRAME_OVERHEAD, HEADER, MAX_DATA_LENGTH, TERMINATOR


class FrameReader:
    """A per-connection buffer that turns received bytes into frames and framing errors."""

    def __init__(self, *, max_data_length: int = MAX_DATA_LENGTH) -> None:
        self.max_data_length = max_data_length
        self._max_frame = max_data_length + FRAME_OVERHEAD
        self._buffer = bytearray()
        self._skipping = False  # inside a stretch of dropped bytes already reported

    @property
    def buffered(self) -> int:
        """Bytes held back: the beginning of a frame that is not complete yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        """Add received bytes; return the frames completed and the stretches dropped, in order."""
        self._buffer += data
        found: list[bytes | FrameError] = []
        position = 0
        while True:
            position, item = self._next(position)
            if item is None:
                break
            found.append(item)
        del self._buffer[:position]
        return found

    def _next(self, position: int) -> tuple[int, bytes | FrameError | None]:
        """From `position`: the position after the next frame or error, and it (None: wait)."""
        buffer = self._buffer
        start = buffer.find(HEADER, position)
        if start < 0:  # keep a last "#": it may be the first half of a header
            end = len(buffer) - 1 if buffer.endswith(b"#") else len(buffer)
            return end, self._garbage(end - position)
        if start > position and (error := self._garbage(start - position)):
            return start, error
        self._skipping = False
        while buffer[start + 2 : start + 3] == b"#":  # "####0101…": the header is the last ##
            start += 1
        if len(buffer) - start < 6:
            return start, None
        length = bytes(buffer[start + 2 : start + 6])
        if not length.isdigit():
            return self._resync(start, LengthFieldError("the length field is not 4 digits"))
        if int(length) > self.max_data_length:
            return self._resync(start, OversizeError("the declared length is over the size limit"))
        end = start + int(length) + FRAME_OVERHEAD
        if len(buffer) >= end and buffer[end - 2 : end] == TERMINATOR:
            return end, bytes(buffer[start:end])
        crlf = buffer.find(TERMINATOR, start + 6, start + self._max_frame)
        if crlf < 0:
            if len(buffer) - start >= self._max_frame:
                return self._resync(start, OversizeError("no CR LF within the size limit"))
            cut = buffer.find(HEADER, start + 2) if len(buffer) >= end else -1
        else:
            cut = buffer.find(HEADER, start + 2, crlf)
        if cut >= 0:
            return cut, TerminatorError(
                "a frame was cut short by the next ##", detail=f"{cut - start} bytes dropped"
            )
        if crlf < 0:
            return start, None
        return crlf + 2, bytes(buffer[start : crlf + 2])

    def _garbage(self, count: int) -> GarbageError | None:
        if count <= 0 or self._skipping:
            return None
        self._skipping = True
        return GarbageError("bytes outside any frame were skipped", detail=f"{count} bytes")

    def _resync(self, start: int, error: FrameError) -> tuple[int, FrameError]:
        """Drop the frame at `start` up to the next `##`, reporting `error` once."""
        buffer = self._buffer
        following = buffer.find(HEADER, start + 1)
        if following < 0:
            following = len(buffer) - 1 if buffer.endswith(b"#") else len(buffer)
            self._skipping = True
        return following, error
