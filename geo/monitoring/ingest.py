"""From HJ 212-2017 packets to readings: which packets the receiver accepts, and their rows.

Pure logic, no sockets and no database: the receiver (`api.monitor_receiver`) parses a frame with
`geo.hj212.parse_frame`, calls `accept` with its in-memory device registry, queues what is
accepted for the batch writer (`geo.monitoring.writer`) and answers what is rejected.

A packet is accepted when, in this order:
1. its MN is a registered, active device (`unknown_mn` otherwise) and its PW is that device's
   (`wrong_password`): both answered with a 9011 request reply (QnRtn 4 / 3) when the packet asks
   for a reply, the answer srdgame/lua-HJ212 gives (`geo.hj212.replies`); never acknowledged;
2. its command is a pollutant data upload, CN 2011 (real-time), 2051 (minute), 2061 (hourly) or
   2031 (daily). Another upload or a notice is acknowledged when it asks (9014 / 9013) and not
   stored (`ignored`); a reply from the device (9011–9014) gets nothing;
3. it carries a DataTime (`no_data_time`) within the stored range: not before the retention
   boundary, at most a day ahead (`implausible_time`; a device whose clock is wrong). Neither is
   acknowledged: an acknowledged packet is one whose values are stored.

Each pollutant group (`w01018-Avg=…,w01018-Flag=N`) becomes one `ReadingRow`: the value is `Rtd`
for CN 2011 and `Avg` for the others, with `Min`, `Max` and `Cou` when sent; the data flag (one
letter: N, F, M, S, D, C, T, B…) upper-cased. Other fields (`SampleTime`, `EFlag`, `ZsAvg`…) are
not stored. A group whose code is not an HJ 212-2017 factor code (`w` or `a` and five digits, Annex
B; 2005 codes such as `011` are not) or whose numbers or flag are malformed is skipped and counted;
the rest of the packet is stored. Real-time data is stored at its DataTime like the averages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from geo.hj212 import DATA_COMMANDS, Cn, Packet, QnRtn, ack_for, request_reply
from geo.monitoring.devices import Device
from geo.monitoring.readings import FUTURE_SLACK, ReadingRow

POLLUTANT_CODE = re.compile(r"[wa][0-9]{5}")
DATA_FLAG = re.compile(r"[A-Za-z]")


class Reason(StrEnum):
    """Why a parsed packet is not stored (stable names: counters and log lines use them)."""

    UNKNOWN_MN = "unknown_mn"
    WRONG_PASSWORD = "wrong_password"
    IGNORED = "ignored"
    NO_DATA_TIME = "no_data_time"
    IMPLAUSIBLE_TIME = "implausible_time"


@dataclass(frozen=True)
class Rejection:
    """A packet not stored: why, and the frame to answer with (None: no answer)."""

    reason: Reason
    reply: bytes | None = None


@dataclass
class Accepted:
    """A packet to store: its device, its rows, how many pollutant groups were skipped, the
    acknowledgement to send once committed (None when the packet asks for none), and whatever
    the caller needs to send it (`reply_to`, e.g. the connection) and to time it (`received`)."""

    packet: Packet
    device: Device
    rows: list[ReadingRow]
    skipped: int
    ack: bytes | None
    received: float = 0.0
    reply_to: object = None


def authenticate(packet: Packet, registry: Mapping[str, Device]) -> Device | Rejection:
    """The packet's device, or the rejection (with the 9011 answer when a reply is asked)."""
    device = registry.get(packet.mn)
    if device is None:
        return _refuse(packet, Reason.UNKNOWN_MN, QnRtn.MN_ERROR)
    if not device.accepts(packet.pw):
        return _refuse(packet, Reason.WRONG_PASSWORD, QnRtn.PW_ERROR)
    return device


def _refuse(packet: Packet, reason: Reason, code: QnRtn) -> Rejection:
    return Rejection(reason, request_reply(packet, code) if packet.ack_requested else None)


def accept(
    packet: Packet,
    registry: Mapping[str, Device],
    *,
    now: datetime,
    earliest: datetime,
) -> Accepted | Rejection:
    """Judge a parsed packet (see the module docstring): what to store, or why not."""
    device = authenticate(packet, registry)
    if isinstance(device, Rejection):
        return device
    if packet.cn not in DATA_COMMANDS:
        return Rejection(Reason.IGNORED, ack_for(packet))
    at = packet.cp.data_time
    if at is None:
        return Rejection(Reason.NO_DATA_TIME)
    if not earliest <= at <= now + FUTURE_SLACK:
        return Rejection(Reason.IMPLAUSIBLE_TIME)
    rows, skipped = readings_of(packet, device.outlet_id)
    return Accepted(packet, device, rows, skipped, ack_for(packet))


def readings_of(packet: Packet, outlet_id: int) -> tuple[list[ReadingRow], int]:
    """The rows of a data packet for `outlet_id`, and the number of pollutant groups skipped
    (invalid code, malformed number or flag). ValueError when the packet has no DataTime."""
    cn, at = packet.cn, packet.cp.data_time
    if at is None:
        raise ValueError("a data packet without DataTime")
    value_field = "Rtd" if cn == Cn.REALTIME else "Avg"
    rows: list[ReadingRow] = []
    skipped = 0
    for code, fields in packet.cp.pollutants.items():
        if not _valid_code(code):
            skipped += 1
            continue
        try:
            value = _number(fields.get(value_field))
            if cn == Cn.REALTIME:
                low = high = total = None
            else:
                low, high = _number(fields.get("Min")), _number(fields.get("Max"))
                total = _number(fields.get("Cou"))
            flag = _flag(fields.get("Flag"))
        except ValueError:
            skipped += 1
            continue
        if value is None and low is None and high is None and total is None and flag is None:
            continue  # a group with nothing stored here (SampleTime, EFlag…)
        rows.append(ReadingRow(outlet_id, code, cn, at, value, low, high, total, flag))
    return rows, skipped


@lru_cache(maxsize=4096)
def _valid_code(code: str) -> bool:
    """Whether `code` is an HJ 212-2017 factor code (memoised: a packet repeats the same few)."""
    return POLLUTANT_CODE.fullmatch(code) is not None


def _number(text: str | None) -> float | None:
    """A decimal number as HJ 212 writes it (not `nan`, `inf`, `1_000`); None when absent."""
    if text is None or text == "":
        return None
    number = float(text)  # ValueError for what is no number at all
    if not math.isfinite(number) or "_" in text:
        raise ValueError(text)
    return number


def _flag(text: str | None) -> str | None:
    """A data flag: one letter, upper-cased; None when absent."""
    if text is None or text == "":
        return None
    if len(text) != 1 or not ("A" <= text <= "Z" or "a" <= text <= "z"):
        raise ValueError(text)
    return text.upper()
