"""The replies a monitoring centre (上位机) sends under HJ 212-2017, as frames ready to write.

What the standard defines (§6.5, table 9, Annex C):
- An upload (上传命令: CN 2011, 2051, 2061, 2031, 2021, 2041, 2081, 3020…) whose Flag has bit A
  set gets a data reply (数据应答) CN=9014; without A it gets nothing (C.14–C.18, C.48, C.50).
- A notice (通知命令, e.g. CN 1013 time-calibration request from the device) with A set gets a
  notice reply (通知应答) CN=9013 (C.4).
- Both replies: the QN of the packet answered (C.48/C.50 answer each part with its own QN),
  ST=91 (系统交互), the packet's PW and MN, Flag with the version bits of the packet answered and
  neither A nor D (2017: Flag=4), and an empty CP (`CP=&&&&`). Keeping the sender's version is
  what the independent srdgame/lua-HJ212 server does (hj212/server/client.lua); for a 2017
  packet it gives Annex C's Flag=4.
- A reply is never acknowledged: a packet with ST=91 or CN 9011–9014 gets no reply.
- 9011 (请求应答, QnRtn of table 7) is, in table 9, the *device's* answer to a centre's request.
  The standard defines no answer from the centre to an upload with a wrong PW or an unknown MN;
  `request_reply` builds a 9011 with QnRtn 3 (PW) or 4 (MN) for a receiver that wants to tell
  the device (srdgame/lua-HJ212 does so when it refuses a station). Not acknowledging (no 9014)
  is what the standard itself implies: the device re-sends after its timeout (§6.2) and gives up
  after its retries.
- A frame with a wrong CRC: "如果 CRC 错误，执行结束" (table 2): no answer. Garbage, a frame that
  cannot be parsed, or one without a usable QN/PW/MN: the standard defines no answer; the
  receiver ignores it (and closes a connection that sends only that).
"""

from __future__ import annotations

from collections.abc import Mapping

from geo.hj212.codes import NOTICE_COMMANDS, ST_SYSTEM, Cn, QnRtn
from geo.hj212.packet import FLAG_ACK, FLAG_SPLIT, VERSION_2017, Cp, Packet, build_frame

REPLY_COMMANDS = frozenset({Cn.REQUEST_REPLY, Cn.EXECUTION_RESULT, Cn.NOTICE_REPLY, Cn.DATA_REPLY})


def ack_for(packet: Packet) -> bytes | None:
    """The reply `packet` asks for (Flag bit A): 9013 for a notice, 9014 otherwise; None when it
    asks for none or is itself a reply."""
    if not packet.ack_requested or packet.st == ST_SYSTEM or packet.cn in REPLY_COMMANDS:
        return None
    command = Cn.NOTICE_REPLY if packet.cn in NOTICE_COMMANDS else Cn.DATA_REPLY
    return _reply(packet, command, {})


def request_reply(to: Packet | Mapping[str, str], code: QnRtn | int) -> bytes:
    """A 9011 request reply (`CP=&&QnRtn=code&&`) to a packet, or to the partial header of a
    refused one (`FrameError.header`); ValueError when that lacks a valid QN, PW or MN."""
    return _reply(to, Cn.REQUEST_REPLY, {"QnRtn": str(int(code))})


def _reply(to: Packet | Mapping[str, str], command: Cn, items: dict[str, str]) -> bytes:
    if isinstance(to, Packet):
        qn, pw, mn, flag = to.qn, to.pw, to.mn, to.flag
    else:
        qn, pw, mn = to.get("QN", ""), to.get("PW", ""), to.get("MN", "")
        text = to.get("Flag", "")
        flag = int(text) if _is_flag(text) else VERSION_2017 << 2
    reply = Packet(
        qn=qn,
        st=ST_SYSTEM,
        cn=int(command),
        pw=pw,
        mn=mn,
        flag=flag & ~(FLAG_ACK | FLAG_SPLIT),
        cp=Cp(items=items),
    )
    return build_frame(reply)


def _is_flag(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= 255
