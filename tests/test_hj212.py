"""HJ 212-2017 protocol core (`geo.hj212`): CRC, parser, builder, replies, stream framer.

Two kinds of reference packets:
- written out by hand from the standard's layout (§6.3) and its Annex C examples, framed here by
  `frame()`, whose length and CRC come from `reference_crc`, a bitwise transcription of Annex A's
  ten steps, independent of the module's table-driven CRC;
- published with their CRC by independent implementations (cited at `PUBLISHED`).
No database: these tests need no fixture.
"""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from geo.errors import ValidationError
from geo.hj212 import (
    DATA_COMMANDS,
    DATA_FLAGS,
    POLLUTANTS,
    Cn,
    Cp,
    CrcError,
    DuplicateFieldError,
    EncodingError,
    FieldFormatError,
    FrameError,
    FrameReader,
    GarbageError,
    HeaderError,
    LengthFieldError,
    LengthMismatchError,
    MissingFieldError,
    OversizeError,
    Packet,
    QnRtn,
    SegmentError,
    TerminatorError,
    ack_for,
    build_frame,
    crc16,
    crc16_hex,
    parse_frame,
    request_reply,
)

CHINA = timezone(timedelta(hours=8))
MN = "010000A8900016F000169DC0"  # Annex C's example device


def reference_crc(data: bytes) -> int:
    """HJ 212-2017 Annex A, step by step (bitwise; independent of the module's table)."""
    register = 0xFFFF  # 1)
    for byte in data:  # 2), 8), 9)
        register = (register >> 8) ^ byte  # 3) XOR with the register's high byte
        for _ in range(8):  # 7)
            check = register & 0x0001  # 4)
            register >>= 1  # 5)
            if check:  # 6)
                register ^= 0xA001
    return register  # 10)


def frame(segment: str) -> bytes:
    """A frame written out from the layout: ##, length (bytes), segment, CRC, CR LF."""
    data = segment.encode("utf-8")
    return b"##" + b"%04d" % len(data) + data + b"%04X" % reference_crc(data) + b"\r\n"


def header(qn: str, cn: int, flag: int = 5, st: str = "32", pw: str = "123456") -> str:
    return f"QN={qn};ST={st};CN={cn};PW={pw};MN={MN};Flag={flag}"


def data_reply(qn: str) -> bytes:
    """Annex C's 数据应答 to a packet with this QN."""
    return frame(f"QN={qn};ST=91;CN=9014;PW=123456;MN={MN};Flag=4;CP=&&&&")


# Annex C.14, C.16, C.17, C.18 (the "…" dropped, C.14's typo "01018-Rtd" read as w01018-Rtd).
REALTIME = (
    header("20160801085857223", 2011) + ";CP=&&DataTime=20160801085857;w01001-Rtd=7.1,"
    "w01001-Flag=N;w01018-SampleTime=20160801070000,w01018-Rtd=2.2,w01018-Flag=N,"
    "w01018-EFlag=A01&&"
)
STATISTICS = ";CP=&&DataTime={time};w00000-Cou={flow},w00000-Min=16.4,w00000-Avg=17.5,w00000-Max=20.1,w00000-Flag=N;w01001-Min=7.1,w01001-Avg=7.5,w01001-Max=7.8,w01001-Flag=N;w01018-Cou={cod},w01018-Min=40.1,w01018-Avg=40.1,w01018-Max=40.1,w01018-Flag=N&&"  # noqa: E501
MINUTE = header("20160801085000001", 2051) + STATISTICS.format(
    time="20160801084000", flow="10.5", cod="10.5"
)
HOUR = header("20160801090000001", 2061) + STATISTICS.format(
    time="20160801080000", flow="63.0", cod="63.0"
)
DAY = header("20160802000000001", 2031) + STATISTICS.format(
    time="20160801000000", flow="1512.0", cod="2142.0"
)

# Packets published with their CRC by independent implementations (source in each comment).
PUBLISHED = [
    # The standard itself, Annex A's example (its prose says "1C08": a typo of the packet's 1C80).
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    b"CP=&&RtdInterval=30&&1C80\r\n",
    # liruoyu2008/HJ212Interpreter, README.md (2011 with SampleTime)
    b"##0162QN=20231008123340461;ST=22;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;"
    b"CP=&&DataTime=20231008123340;w01008-SampleTime=20231008123340,w01008-Rtd=123.456&&F441\r\n",
    # liruoyu2008/HJ212Interpreter, README.md (2081 restart time)
    b"##0137QN=20231008130452757;ST=22;CN=2081;PW=123456;MN=010000A8900016F000169DC0;Flag=5;"
    b"CP=&&DataTime=20231008130452;RestartTime=20231007130452&&3AC0\r\n",
    # 1249993110/IceCoffee.HJ212, README.md and Demo/Program.cs (2061 hourly, ack requested)
    b"##0285QN=20190925181031464;ST=22;CN=2061;PW=BF470F88957588DE902D1A52;MN=Z13401000010301;"
    b"Flag=5;CP=&&DataTime=20190924220000;a34006-Avg=2.69700,a34006-Flag=N;a34007-Avg=7.96600,"
    b"a34007-Flag=N;a34048-Avg=3.30600,a34048-Flag=N;a34047-Avg=7.35700,a34047-Flag=N;"
    b"a34049-Avg=10.66300,a34049-Flag=N&&C181\r\n",
    # flash520/hj212, parse_test.go (2051 minute data; CR LF added: the test string has none)
    b"##0411QN=20220513162608370;ST=22;CN=2051;PW=123456;MN=JLYP01_AIR01_0001;Flag=4;"
    b"CP=&&DataTime=20220513162600;a21004-Avg=4,a21004-Flag=N;a05024-Avg=63,a05024-Flag=N;"
    b"a21026-Avg=6,a21026-Flag=N;a21005-Avg=0.427,a21005-Flag=N;a34004-Avg=14,a34004-Flag=N;"
    b"a34002-Avg=31,a34002-Flag=N;a01007-Avg=1,a01007-Flag=N;a01008-Avg=11,a01008-Flag=N;"
    b"a01001-Avg=17,a01001-Flag=N;a01002-Avg=85,a01002-Flag=N;a01006-Avg=95,a01006-Flag=N"
    b"&&D641\r\n",
    # guocay/hj212-protocol, protocol/src/test/java/com/github/guocay/hj212/ApplicationTest.java,
    # SAMPLE[0] (lower-case CRC)
    b"##0317QN=20191012133710130;ST=22;CN=2011;PW=123456;MN=Y80110010000010;Flag=4;"
    b"CP=&&DataTime=20191012133710;a21005-Rtd=0.00,a21005-Flag=N;a21004-Rtd=0.00,a21004-Flag=N;"
    b"a21007-Rtd=0.033,a21007-Flag=N;a21006-Rtd=0.036,a21006-Flag=N;a21001-Rtd=25.40,"
    b"a21001-Flag=N;a21003-Rtd=101.94,a21003-Flag=N;a21002-Rtd=49.20,a21002-Flag=N&&cc01\r\n",
    # chenqi92/alltobs-hj212, README.md (lower-case CRC; Flag=8: version bits 000010)
    b"##0435QN=20210301111100112;ST=21;CN=2011;PW=123456;MN=ZLDSZ20210127;Flag=8;"
    b"CP=&&DataTime=20210301111100;w01001-Rtd=8.33,w01001-Flag=N;w01009-Rtd=10.15,"
    b"w01009-Flag=N;w01010-Rtd=9.7,w01010-Flag=N;w01014-Rtd=1425,w01014-Flag=N;w01003-Rtd=13.10,"
    b"w01003-Flag=N;w21011-Rtd=0,w21011-Flag=N;w21001-Rtd=3.563168,w21001-Flag=N;"
    b"w21003-Rtd=0.09055002,w21003-Flag=N;w01019-Rtd=4.102818,w01019-Flag=N;w01008-Rtd=0,"
    b"w01008-Flag=N;w23002-Rtd=0,w23002-Flag=N&&7d00\r\n",
]


# --- CRC -------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", PUBLISHED, ids=lambda raw: raw[-8:-2].decode())
def test_crc_agrees_with_published_packets(raw):
    segment, crc = raw[6:-6], raw[-6:-2].decode()
    assert int(raw[2:6]) == len(segment)
    assert crc16_hex(segment) == crc.upper() == f"{reference_crc(segment):04X}"


def test_crc_table_agrees_with_the_bitwise_algorithm():
    rng = random.Random(212)
    for size in [0, 1, 2, 3, 255, 256, 1024, *(rng.randrange(2000) for _ in range(200))]:
        data = bytes(rng.randrange(256) for _ in range(size))
        assert crc16(data) == reference_crc(data)


def test_crc_is_the_standards_variant_not_modbus():
    assert crc16(b"") == 0xFFFF
    assert crc16(b"123456789") == 0x2F80  # CRC-16/MODBUS would give 0x4B37
    assert crc16_hex(b"QN=1") == f"{reference_crc(b'QN=1'):04X}"  # 4 upper-case hex digits


# --- parsing the four data commands ---------------------------------------------------------


def test_realtime_2011_has_rtd_and_flags():
    packet = parse_frame(frame(REALTIME))
    assert (packet.qn, packet.st, packet.cn, packet.pw, packet.mn) == (
        "20160801085857223",
        "32",
        Cn.REALTIME,
        "123456",
        MN,
    )
    assert packet.flag == 5 and packet.ack_requested and not packet.split and packet.version == 1
    assert packet.cp.data_time == datetime(2016, 8, 1, 8, 58, 57, tzinfo=CHINA)
    assert packet.cp.data_time.astimezone(UTC).hour == 0  # China time is UTC+8
    assert packet.cp.pollutants == {
        "w01001": {"Rtd": "7.1", "Flag": "N"},
        "w01018": {"SampleTime": "20160801070000", "Rtd": "2.2", "Flag": "N", "EFlag": "A01"},
    }
    assert packet.cp.items == {}


@pytest.mark.parametrize(
    ("segment", "cn", "data_time", "cou"),
    [
        (MINUTE, 2051, datetime(2016, 8, 1, 8, 40, tzinfo=CHINA), "10.5"),
        (HOUR, 2061, datetime(2016, 8, 1, 8, tzinfo=CHINA), "63.0"),
        (DAY, 2031, datetime(2016, 8, 1, tzinfo=CHINA), "1512.0"),
    ],
)
def test_minute_hour_day_have_avg_min_max_cou(segment, cn, data_time, cou):
    packet = parse_frame(frame(segment))
    assert packet.cn == cn and packet.cn in DATA_COMMANDS
    assert packet.cp.data_time == data_time
    flow = packet.cp.pollutants["w00000"]
    assert flow == {"Cou": cou, "Min": "16.4", "Avg": "17.5", "Max": "20.1", "Flag": "N"}
    assert packet.cp.pollutants["w01001"] == {"Min": "7.1", "Avg": "7.5", "Max": "7.8", "Flag": "N"}
    assert set(packet.cp.pollutants["w01018"]) == {"Cou", "Min", "Avg", "Max", "Flag"}


@pytest.mark.parametrize("segment", [REALTIME, MINUTE, HOUR, DAY])
def test_hand_written_packets_round_trip_exactly(segment):
    raw = frame(segment)
    assert build_frame(parse_frame(raw)) == raw


@pytest.mark.parametrize("raw", PUBLISHED, ids=lambda raw: raw[-8:-2].decode())
def test_published_packets_parse_and_rebuild(raw):
    packet = parse_frame(raw)
    assert parse_frame(build_frame(packet)) == packet
    assert build_frame(packet) == raw[:-6] + raw[-6:-2].upper() + b"\r\n"  # canonical: upper CRC


def test_published_hourly_packet_fields():
    packet = parse_frame(PUBLISHED[3])  # IceCoffee.HJ212
    assert packet.cn == Cn.HOUR and packet.pw == "BF470F88957588DE902D1A52"
    assert packet.cp.pollutants["a34006"] == {"Avg": "2.69700", "Flag": "N"}
    assert ack_for(packet) == frame(
        "QN=20190925181031464;ST=91;CN=9014;PW=BF470F88957588DE902D1A52;MN=Z13401000010301;"
        "Flag=4;CP=&&&&"
    )


def test_other_cp_items_logs_in_utf8_and_tolerated_forms():
    log = header("20160801085857223", 3020) + (
        ";CP=&&DataTime=20100301145000;PolId=w01018;i11001-Info=//清洗管路;a,b=c//&&"
    )  # Annex C.40, with separators inside the log
    raw = frame(log)
    assert int(raw[2:6]) == len(log.encode()) > len(log)  # the length counts bytes
    packet = parse_frame(raw)
    assert packet.cp.items == {"PolId": "w01018"}
    assert packet.cp.pollutants == {"i11001": {"Info": "//清洗管路;a,b=c//"}}
    assert build_frame(packet) == raw
    # Annex C.23 separates two items with "," and C.4 has a blank CP: both accepted
    request = parse_frame(
        frame(header("20160801085857223", 2041) + ";CP=&&BeginTime=20160801000000,EndTime=1&&")
    )
    assert request.cp.items == {"BeginTime": "20160801000000", "EndTime": "1"}
    assert parse_frame(frame(header("20160801085857223", 1013) + ";CP=&& &&")).cp == Cp()


def test_split_packet_carries_pnum_and_pno():
    segment = (
        header("20160801085857534", 2061, flag=7)
        + ";PNUM=2;PNO=1"
        + STATISTICS.format(time="20160801080000", flow="63.0", cod="63.0")
    )  # Annex C.50
    packet = parse_frame(frame(segment))
    assert packet.split and packet.ack_requested and (packet.pnum, packet.pno) == (2, 1)
    assert build_frame(packet) == frame(segment)
    assert ack_for(packet) == data_reply("20160801085857534")


# --- replies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("segment", [REALTIME, MINUTE, HOUR, DAY])
def test_data_upload_with_flag_a_gets_the_9014_data_reply(segment):
    packet = parse_frame(frame(segment))
    assert ack_for(packet) == data_reply(packet.qn)  # Annex C.14, C.16–C.18 verbatim


@pytest.mark.parametrize("segment", [REALTIME, HOUR])
def test_no_reply_without_flag_a(segment):
    packet = parse_frame(frame(segment.replace("Flag=5", "Flag=4")))
    assert not packet.ack_requested and ack_for(packet) is None


def test_a_notice_gets_9013_and_a_reply_gets_nothing():
    notice = parse_frame(frame(header("20160801085857223", 1013) + ";CP=&&PolId=w01018&&"))
    assert ack_for(notice) == frame(
        f"QN=20160801085857223;ST=91;CN=9013;PW=123456;MN={MN};Flag=4;CP=&&&&"
    )  # Annex C.4 (whose "CP=&& &&" has a stray space)
    reply = parse_frame(frame(f"QN=20160801085857223;ST=91;CN=9011;PW=1;MN={MN};Flag=5;CP=&&&&"))
    assert ack_for(reply) is None


def test_reply_keeps_the_senders_version_bits():
    for flag, reply_flag in [(1, 0), (5, 4), (9, 8), (253, 252)]:
        packet = parse_frame(frame(REALTIME.replace("Flag=5", f"Flag={flag}")))
        assert parse_frame(ack_for(packet)).flag == reply_flag


def test_request_reply_carries_qnrtn():
    packet = parse_frame(frame(REALTIME))
    expected = f"QN=20160801085857223;ST=91;CN=9011;PW=123456;MN={MN};Flag=4;CP=&&QnRtn=3&&"
    assert request_reply(packet, QnRtn.PW_ERROR) == frame(expected)
    assert request_reply(packet, 1) == frame(expected.replace("QnRtn=3", "QnRtn=1"))  # C.1


def test_request_reply_to_a_refused_packets_header():
    raw = frame(REALTIME)
    with pytest.raises(CrcError) as caught:
        parse_frame(raw[:-6] + b"0000\r\n")
    assert caught.value.header["MN"] == MN
    reply = parse_frame(request_reply(caught.value.header, QnRtn.CRC_ERROR))
    assert (reply.cn, reply.qn, reply.flag, reply.cp.items) == (9011, "20160801085857223", 4, {
        "QnRtn": "9"
    })  # fmt: skip
    with pytest.raises(ValueError):
        request_reply({"MN": MN}, QnRtn.MN_ERROR)  # no QN: nothing to address a reply to


# --- every FrameError ------------------------------------------------------------------------


def corrupt(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert old in raw
    return raw.replace(old, new, 1)


GOOD = frame(REALTIME)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"$" + GOOD[1:], HeaderError),
        (b"", HeaderError),
        (GOOD[:2] + b"01a1" + GOOD[6:], LengthFieldError),
        (GOOD[:2] + b" 101" + GOOD[6:], LengthFieldError),
        (b"##", LengthFieldError),
        (GOOD[:-2] + b"\n", TerminatorError),
        (GOOD[:-2], TerminatorError),
        (GOOD[:2] + b"%04d" % (len(GOOD) - 11) + GOOD[6:], LengthMismatchError),
        (GOOD[:2] + b"%04d" % (len(GOOD) - 13) + GOOD[6:], LengthMismatchError),
        (b"##0000\r\n", LengthMismatchError),
        (GOOD[:-6] + b"%04X" % (crc16(GOOD[6:-6]) ^ 1) + b"\r\n", CrcError),
        (GOOD[:-6] + b"1C8G\r\n", CrcError),
        (GOOD[:-6] + b"+1C8\r\n", CrcError),
        (corrupt(GOOD, b"PW=", b"PW\xff"), CrcError),  # the CRC is checked before the encoding
        (frame(REALTIME.replace("Flag=5;CP=&&", "Flag=5;XP=&&")), SegmentError),
        (frame(REALTIME[:-2]), SegmentError),
        (frame(REALTIME.replace("ST=32", "ST32")), SegmentError),
        (frame(REALTIME.replace("ST=32", "ST=32;XX=1")), SegmentError),
        (frame(REALTIME.replace("w01001-Rtd=7.1", "w01001-Rtd")), SegmentError),
        (frame(REALTIME.replace("w01001-Rtd", "w01001--Rtd")), SegmentError),
        (frame(REALTIME.replace("EFlag=A01", "EFlag=//A01")), SegmentError),
        (frame(REALTIME.replace("QN=20160801085857223;", "")), MissingFieldError),
        (frame(REALTIME.replace("Flag=5", "Flag=7")), MissingFieldError),  # D without PNUM/PNO
        (frame(REALTIME.replace("Flag=5", "Flag=7;PNUM=2")), MissingFieldError),
        (frame(REALTIME.replace("ST=32", "ST=32;ST=32")), DuplicateFieldError),
        (frame(REALTIME.replace("w01001-Flag=N", "w01001-Rtd=7.2")), DuplicateFieldError),
        (
            frame(REALTIME.replace(";w01001-Rtd", ";DataTime=20160801085857;w01001-Rtd")),
            DuplicateFieldError,
        ),
        (frame(REALTIME.replace("QN=20160801085857223", "QN=2016080108585722")), FieldFormatError),
        (frame(REALTIME.replace("CN=2011", "CN=20110")), FieldFormatError),
        (frame(REALTIME.replace("CN=2011", "CN=0201")), FieldFormatError),
        (frame(REALTIME.replace("ST=32", "ST=3")), FieldFormatError),
        (frame(REALTIME.replace("Flag=5", "Flag=256")), FieldFormatError),
        (frame(REALTIME.replace("Flag=5", "Flag=x")), FieldFormatError),
        (frame(REALTIME.replace("Flag=5", "Flag=6;PNUM=2;PNO=3")), FieldFormatError),
        (frame(REALTIME.replace(f"MN={MN}", f"MN={MN}0")), FieldFormatError),  # 25 characters
        (frame(REALTIME.replace("PW=123456", "PW=")), FieldFormatError),
        (
            frame(REALTIME.replace("DataTime=20160801085857", "DataTime=20160832085857")),
            FieldFormatError,
        ),
        (
            frame(REALTIME.replace("DataTime=20160801085857", "DataTime=2016080108585")),
            FieldFormatError,
        ),
    ],
)
def test_each_frame_error(raw, error):
    with pytest.raises(error) as caught:
        parse_frame(raw)
    assert isinstance(caught.value, FrameError) and isinstance(caught.value, ValidationError)
    assert caught.value.message and caught.value.reason


@pytest.mark.parametrize("field", ["QN", "ST", "CN", "PW", "MN", "Flag"])
def test_each_required_header_field(field):
    fields = REALTIME.split(";CP=", 1)[0].split(";")
    segment = ";".join(part for part in fields if not part.startswith(field + "=")) + ";CP=&&&&"
    with pytest.raises(MissingFieldError) as caught:
        parse_frame(frame(segment))
    assert caught.value.field == field


def test_a_2005_style_upload_without_qn_and_flag_is_refused():
    # HJ/T 212-2005 form (no QN, no Flag, 2005 factor codes), as in guocay/hj212-protocol's tests
    segment = f"ST=32;CN=2011;PW=123456;MN={MN};CP=&&DataTime=20160824003817;011-Rtd=231.0&&"
    with pytest.raises(MissingFieldError):
        parse_frame(frame(segment))


def test_undecodable_segment():
    gbk = header("20160801085857223", 3020) + ";CP=&&i11001-Info=//清洗管路//&&"
    with pytest.raises(EncodingError):
        parse_frame(_frame_bytes(gbk.encode("gbk")))


def _frame_bytes(data: bytes) -> bytes:
    return b"##%04d%s%04X\r\n" % (len(data), data, reference_crc(data))


def test_size_limit_is_a_parameter():
    big = (
        header("20160801085857223", 2011)
        + ";CP=&&"
        + ";".join(f"w{code:05d}-Rtd=1.0,w{code:05d}-Flag=N" for code in range(80))
        + "&&"
    )
    raw = frame(big)
    assert 1024 < len(raw) - 12 <= 4096  # over the standard's 1024, within the default limit
    assert len(parse_frame(raw).cp.pollutants) == 80
    with pytest.raises(OversizeError):
        parse_frame(raw, max_data_length=1024)
    with pytest.raises(OversizeError):  # the actual size counts too, whatever the field says
        parse_frame(b"##0001" + b"A" * 2000 + b"0000\r\n", max_data_length=1024)


def test_error_reasons_are_distinct():
    classes = [HeaderError, LengthFieldError, OversizeError, TerminatorError, LengthMismatchError,
               CrcError, EncodingError, SegmentError, MissingFieldError, DuplicateFieldError,
               FieldFormatError, GarbageError]  # fmt: skip
    assert len({cls.reason for cls in classes}) == len(classes)
    assert all(issubclass(cls, FrameError) for cls in classes)


# --- builder ---------------------------------------------------------------------------------


def test_build_refuses_what_cannot_round_trip():
    good = parse_frame(frame(REALTIME))
    naive = Cp(data_time=datetime(2016, 8, 1))
    bad = [
        Packet(**{**vars(good), "qn": "2016"}),
        Packet(**{**vars(good), "mn": "A;B"}),
        Packet(**{**vars(good), "flag": 7}),  # D set without PNUM/PNO
        Packet(**{**vars(good), "cp": naive}),
        Packet(**{**vars(good), "cp": Cp(items={"PolId": "a;b"})}),
        Packet(**{**vars(good), "cp": Cp(items={"DataTime": "20160801000000"})}),
        Packet(**{**vars(good), "cp": Cp(pollutants={"w01018": {}})}),
        Packet(**{**vars(good), "cp": Cp(pollutants={"w01018": {"Rtd": " 1"}})}),
        Packet(**{**vars(good), "cp": Cp(pollutants={"w01018": {"Rtd": "//1"}})}),
        Packet(**{**vars(good), "cp": Cp(pollutants={"i11001": {"Info": "//a//b;//"}})}),
        Packet(**{**vars(good), "cp": Cp(pollutants={"i11001": {"Info": "a\r\nb"}})}),
    ]
    for packet in bad:
        with pytest.raises(ValueError):
            build_frame(packet)


def test_build_writes_data_time_in_china_time():
    utc = datetime(2016, 8, 1, 0, 58, 57, tzinfo=UTC)
    packet = Packet(qn="20160801085857223", st="32", cn=2011, pw="123456", mn=MN, flag=4,
                    cp=Cp(data_time=utc, pollutants={"w01018": {"Rtd": "2.2"}}))  # fmt: skip
    assert b"DataTime=20160801085857;" in build_frame(packet)


def random_packet(rng: random.Random) -> Packet:
    visible = [chr(c) for c in range(33, 127) if chr(c) not in ";,=&"]
    text = "0123456789.-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz/=& 清洗管路数据"

    def value() -> str:
        if rng.random() < 0.1:  # a log, which may hold separators and slashes
            inner = "".join(rng.choice(text + ";,=&/") for _ in range(rng.randrange(12)))
            while "//" in inner:
                inner = inner.replace("//", "/x")
            return "//" + inner + "//"
        plain = "".join(rng.choice(text) for _ in range(rng.randrange(1, 10)))
        return plain.lstrip("/ ").strip() or "0"  # a leading // would open a log

    def name() -> str:
        return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                       for _ in range(rng.randrange(1, 9)))  # fmt: skip

    split = rng.random() < 0.3
    pnum = rng.randrange(1, 10) if split else None
    moment = datetime(2000, 1, 1, tzinfo=CHINA) + timedelta(seconds=rng.randrange(10**9))
    pollutants = {f"{rng.choice('wa')}{rng.randrange(10**5):05d}": {} for _ in range(8)}
    for fields in pollutants.values():
        for field in rng.sample(["Rtd", "Avg", "Min", "Max", "Cou", "Flag", "EFlag", "Info"], 3):
            fields[field] = rng.choice(list(DATA_FLAGS)) if field == "Flag" else value()
    items = {name(): value() for _ in range(rng.randrange(3))}
    items.pop("DataTime", None)
    return Packet(
        qn="".join(rng.choice("0123456789") for _ in range(17)),
        st=rng.choice(["21", "22", "31", "32", "91", "A0", "Z9"]),
        cn=rng.randrange(1000, 10000),
        pw="".join(rng.choice(visible) for _ in range(rng.randrange(1, 33))),
        mn="".join(rng.choice(visible) for _ in range(rng.randrange(1, 25))),
        flag=(rng.randrange(64) << 2) | (2 if split else 0) | rng.randrange(2),
        cp=Cp(data_time=moment if rng.random() < 0.8 else None, pollutants=pollutants, items=items),
        pnum=pnum,
        pno=rng.randrange(1, pnum + 1) if pnum else None,
    )


def test_round_trip_of_generated_packets():
    rng = random.Random(2017)
    for _ in range(500):
        packet = random_packet(rng)
        raw = build_frame(packet)
        segment = raw[6:-6]
        assert int(raw[2:6]) == len(segment) and raw[-6:-2] == b"%04X" % reference_crc(segment)
        assert parse_frame(raw) == packet
        assert build_frame(parse_frame(raw)) == raw


# --- stream framing --------------------------------------------------------------------------


def stream_frames() -> list[bytes]:
    return [frame(REALTIME), frame(MINUTE), frame(HOUR), frame(DAY), *PUBLISHED]


def test_reader_joins_split_reads_and_splits_merged_ones():
    frames = stream_frames()
    stream = b"".join(frames)
    reader = FrameReader()
    assert [out for byte in stream for out in reader.feed(bytes([byte]))] == frames
    assert FrameReader().feed(stream) == frames
    rng = random.Random(7)
    for _ in range(50):
        reader, got, position = FrameReader(), [], 0
        while position < len(stream):
            size = rng.randrange(1, 600)
            got += reader.feed(stream[position : position + size])
            position += size
        assert got == frames and reader.buffered == 0


def test_reader_skips_garbage_once_per_stretch():
    one, two = frame(REALTIME), frame(HOUR)
    reader = FrameReader()
    got = reader.feed(b"\x00\xffGET / HTTP/1.1\r\n#")
    got += reader.feed(b"x" * 5000)  # the same stretch: not reported again
    got += reader.feed(b"#" + one + b"noise" + two)
    assert [type(item) for item in got] == [GarbageError, bytes, GarbageError, bytes]
    assert got[1] == one and got[3] == two
    assert reader.buffered == 0


def test_reader_resumes_after_a_truncated_frame():
    truncated = frame(REALTIME)[:50]
    got = FrameReader().feed(truncated + frame(HOUR))
    assert isinstance(got[0], TerminatorError) and got[1:] == [frame(HOUR)]
    reader = FrameReader()  # the rest of the next frame arrives later
    assert reader.feed(truncated + frame(HOUR)[:30]) == []
    later = reader.feed(frame(HOUR)[30:])
    assert isinstance(later[0], TerminatorError) and later[1:] == [frame(HOUR)]


@pytest.mark.parametrize("delta", [-7, -1, 1, 40])
def test_reader_delimits_a_wrong_length_field_by_crlf(delta):
    raw = frame(REALTIME)
    wrong = raw[:2] + b"%04d" % (len(raw) - 12 + delta) + raw[6:]
    got = FrameReader().feed(wrong + frame(DAY))
    assert got == [wrong, frame(DAY)]
    with pytest.raises(LengthMismatchError):
        parse_frame(got[0])


def test_reader_drops_a_bad_length_field_and_resynchronises():
    raw = frame(REALTIME)
    got = FrameReader().feed(b"##" + raw + frame(DAY))  # "####0…": the header is the second ##
    assert got == [raw, frame(DAY)]
    got = FrameReader().feed(raw[:2] + b"x101" + raw[6:] + frame(DAY))
    assert isinstance(got[0], LengthFieldError) and got[1:] == [frame(DAY)]


def test_reader_bounds_its_buffer():
    reader = FrameReader(max_data_length=1024)
    declared = reader.feed(b"##9999" + b"A" * 20000 + frame(DAY))
    assert isinstance(declared[0], OversizeError) and declared[1:] == [frame(DAY)]
    got = reader.feed(b"##0100")
    for _ in range(100):  # a frame that never ends: refused once past the limit
        got += reader.feed(b"B" * 1000)
        assert reader.buffered <= 1024 + 12 + 1000
    assert [type(item) for item in got] == [OversizeError]
    assert reader.feed(frame(HOUR)) == [frame(HOUR)]
    assert reader.buffered == 0


def test_reader_output_parses():
    reader = FrameReader()
    packets = [parse_frame(raw) for raw in reader.feed(b"".join(stream_frames()))]
    assert [packet.cn for packet in packets[:4]] == [2011, 2051, 2061, 2031]


# --- code tables -----------------------------------------------------------------------------


def test_code_tables():
    assert POLLUTANTS["w01018"].name == "化学需氧量" and POLLUTANTS["w01018"].unit == "mg/L"
    assert POLLUTANTS["a21026"].unit == "mg/m³" and POLLUTANTS["a21026"].quantity_unit == "kg"
    assert POLLUTANTS["w00000"].unit == "L/s" and POLLUTANTS["a00000"].unit == "m³/s"
    assert set(DATA_FLAGS) == set("NFMSDCTB")
    assert [int(code) for code in QnRtn] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 100]
    assert set(DATA_COMMANDS) == {2011, 2051, 2061, 2031}


def test_mutated_frames_raise_only_frame_errors():
    rng = random.Random(99)
    frames = stream_frames()
    for _ in range(3000):
        raw = bytearray(rng.choice(frames))
        for _ in range(rng.randrange(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        with contextlib.suppress(FrameError):  # anything else fails the test
            parse_frame(bytes(raw))


def test_reader_recovers_every_frame_around_random_noise():
    rng = random.Random(5)
    noise = bytes(range(256)).replace(b"#", b"")
    frames = stream_frames() * 3
    stream = b"".join(bytes(rng.choices(noise, k=rng.randrange(40))) + raw for raw in frames)
    reader, got, position = FrameReader(), [], 0
    while position < len(stream):
        size = rng.randrange(1, 300)
        got += reader.feed(stream[position : position + size])
        position += size
    assert [item for item in got if isinstance(item, bytes)] == frames
    assert all(isinstance(item, GarbageError) for item in got if not isinstance(item, bytes))
