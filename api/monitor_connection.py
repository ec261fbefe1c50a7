"""One device's TCP connection to the HJ 212 receiver (`api.monitor_receiver`): bytes → frames
(its own `FrameReader`: bounded buffer, resynchronisation on garbage) → the receiver; replies
back. Closed after `MAX_BAD_FRAMES` unusable frames in a row, or when the device does not read
its replies (`MAX_UNSENT_BYTES` waiting to be sent)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from contextlib import suppress
from typing import TYPE_CHECKING

from geo.hj212 import FrameError, FrameReader

if TYPE_CHECKING:
    from api.monitor_receiver import Receiver

log = logging.getLogger("permitmap.monitor")

MAX_BAD_FRAMES = 16  # consecutive bad frames before a connection is closed
MAX_UNSENT_BYTES = 64 * 1024  # replies a device does not read before it is closed


class DeviceConnection(asyncio.Protocol):
    """One device's TCP connection: bytes → frames → the receiver; replies back."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.reader = FrameReader(max_data_length=receiver.settings.max_data_bytes)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.bad_in_a_row = 0
        self.last_frame = time.monotonic()
        self.number = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register the connection (or refuse it above `max_connections`)."""
        self.transport = transport  # type: ignore[assignment]  # a TCP server's: a Transport
        if not self.receiver.register(self):
            transport.abort()
            self.closed = True
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):  # replies are small: send them now, not after Nagle's wait
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        """Feed the frame reader; hand each frame (or framing error) to the receiver."""
        for item in self.reader.feed(data):
            if self.closed:
                return
            if isinstance(item, FrameError):
                self.bad_frame(item.reason)
            else:
                self.receiver.frame(self, item)

    def bad_frame(self, reason: str) -> None:
        """Count a frame that could not be used; close after too many in a row."""
        self.receiver.counts[reason] += 1
        self.bad_in_a_row += 1
        if self.bad_in_a_row >= MAX_BAD_FRAMES:
            self.close("bad_frames_closed")

    def good_frame(self) -> None:
        """A frame was parsed: the connection is alive."""
        self.bad_in_a_row = 0
        self.last_frame = time.monotonic()

    def send(self, data: bytes) -> bool:
        """Write a reply; False when the connection is gone (the reply is dropped)."""
        if self.closed or self.transport is None:
            return False
        if self.transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            self.close("slow_reader_closed")
            return False
        self.transport.write(data)
        return True

    def close(self, why: str) -> None:
        """Close the connection now (counted under `why`)."""
        if not self.closed and self.transport is not None:
            self.receiver.counts[why] += 1
            log.debug("connection %d closed: %s", self.number, why)
            self.closed = True
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection."""
        self.closed = True
        self.receiver.unregister(self)
