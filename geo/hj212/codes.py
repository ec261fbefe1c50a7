"""HJ 212-2017 code tables: system codes (ST), command codes (CN), reply codes (QnRtn, ExeRtn),
data flags and the common monitoring factors (pollutant codes) with their default units.

Sources, all in HJ 212-2017: §6.6.1 table 5 (ST), §6.6.5 table 9 (CN), §6.6.3 table 7 (QnRtn),
§6.6.2 table 6 (ExeRtn), §6.6.4 table 8 (data flags), Annex B tables B.1 (water, after HJ
525-2009) and B.2 (gas, after HJ 524-2009). Only the 2017 codes are implemented: HJ/T 212-2005
used other factor codes (COD was `011`, ammonia nitrogen `060`, wastewater flow `B01`; B.1 and
B.2 list them as "原编码"), and a 2005 packet with them is not understood here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

ST_SURFACE_WATER_SOURCE = "32"  # 地表水体环境污染源 (wastewater outlets)
ST_AIR_SOURCE = "31"  # 大气环境污染源 (flue-gas outlets)
ST_SYSTEM = "91"  # 系统交互: every reply (9011–9014) carries it

SYSTEM_CODES: dict[str, str] = {
    "21": "地表水质量监测 surface water quality",
    "22": "空气质量监测 air quality",
    "23": "声环境质量监测 acoustic environment quality",
    "24": "地下水质量监测 groundwater quality",
    "25": "土壤质量监测 soil quality",
    "26": "海水质量监测 seawater quality",
    "27": "挥发性有机物监测 volatile organic compounds",
    "31": "大气环境污染源 air pollution source",
    "32": "地表水体环境污染源 surface water pollution source",
    "33": "地下水体环境污染源 groundwater pollution source",
    "34": "海洋环境污染源 marine pollution source",
    "35": "土壤环境污染源 soil pollution source",
    "36": "声环境污染源 noise source",
    "37": "振动环境污染源 vibration source",
    "38": "放射性环境污染源 radioactive source",
    "39": "工地扬尘污染源 construction dust source",
    "41": "电磁环境污染源 electromagnetic source",
    "51": "烟气排放过程监控 flue-gas process (working condition)",
    "52": "污水排放过程监控 wastewater process (working condition)",
    "91": "系统交互 system interaction",
}


class Cn(IntEnum):
    """Command codes (CN) the receiver meets; the standard has more (1000–3999, 9011–9014)."""

    TIME_CALIBRATION_REQUEST = 1013  # 现场机时间校准请求: a notice from the device (→ 9013)
    REALTIME = 2011  # 污染物实时数据: fields xxxxxx-Rtd, -Flag, -SampleTime, -EFlag…
    STOP_REALTIME = 2012  # 停止察看实时数据: a notice from the centre
    FACILITY_STATUS = 2021  # 设备运行状态: SBxxx-RS
    STOP_FACILITY_STATUS = 2022  # 停止察看设备运行状态: a notice from the centre
    DAY = 2031  # 污染物日历史数据: xxxxxx-Min/-Avg/-Max/-Cou/-Flag
    FACILITY_RUNTIME_DAY = 2041  # 设备运行时间日历史数据: SBxxx-RT
    MINUTE = 2051  # 污染物分钟数据 (interval MinInterval)
    HOUR = 2061  # 污染物小时数据
    RESTART_TIME = 2081  # 数采仪开机时间: RestartTime
    DEVICE_INFO = 3020  # 现场机信息: xxxxxx-Info (logs between //…//, status, parameters)
    REQUEST_REPLY = 9011  # 请求应答 (QnRtn)
    EXECUTION_RESULT = 9012  # 执行结果 (ExeRtn)
    NOTICE_REPLY = 9013  # 通知应答
    DATA_REPLY = 9014  # 数据应答


# The pollutant data uploads the receiver stores: real-time values are `Rtd`, the others carry
# `Avg` with `Min`, `Max` and, for flows and discharged quantities, `Cou` (Annex C.14, C.16–C.18).
DATA_COMMANDS: frozenset[int] = frozenset({Cn.REALTIME, Cn.MINUTE, Cn.HOUR, Cn.DAY})

# Notices (通知命令, §6.5.3): answered with 9013 rather than 9014 (Annex C.4, C.11, C.13).
NOTICE_COMMANDS: frozenset[int] = frozenset(
    {Cn.TIME_CALIBRATION_REQUEST, Cn.STOP_REALTIME, Cn.STOP_FACILITY_STATUS}
)


class QnRtn(IntEnum):
    """请求命令返回 (table 7): the `QnRtn` of a 9011 request reply."""

    READY = 1  # 准备执行请求
    REFUSED = 2  # 请求被拒绝
    PW_ERROR = 3  # PW 错误
    MN_ERROR = 4  # MN 错误
    ST_ERROR = 5  # ST 错误
    FLAG_ERROR = 6  # Flag 错误
    QN_ERROR = 7  # QN 错误
    CN_ERROR = 8  # CN 错误
    CRC_ERROR = 9  # CRC 校验错误
    UNKNOWN = 100  # 未知错误


class ExeRtn(IntEnum):
    """执行结果定义 (table 6): the `ExeRtn` of a 9012 execution result."""

    SUCCESS = 1  # 执行成功
    FAILED = 2  # 执行失败，但不知道原因
    BAD_CONDITION = 3  # 命令请求条件错误
    TIMEOUT = 4  # 通讯超时
    BUSY = 5  # 系统繁忙不能执行
    FAULT = 6  # 系统故障
    NO_DATA = 100  # 没有数据


# 数据标记 (table 8): the `xxxxxx-Flag` of a value. N is the only flag of a valid measurement.
DATA_FLAGS: dict[str, str] = {
    "N": "正常 normal",
    "F": "停运 stopped",
    "M": "维护 maintenance",
    "S": "手工输入的设定值 manually set",
    "D": "故障 fault",
    "C": "校准 calibration",
    "T": "超测量上限 over the measuring range",
    "B": "通讯异常 communication abnormal",
}


@dataclass(frozen=True)
class Pollutant:
    """A monitoring factor of Annex B: its names, the unit of its values (`Rtd`, `Avg`, `Min`,
    `Max`) and the unit of its discharged quantity (`Cou`), when it has one."""

    name: str
    name_en: str
    unit: str
    quantity_unit: str | None = None


_MG_L = ("mg/L", "kg")
_UG_L = ("μg/L", "g")
_MG_M3 = ("mg/m³", "kg")

# The common factors of wastewater (B.1) and flue-gas (B.2) outlets; units are B.1/B.2's defaults.
POLLUTANTS: dict[str, Pollutant] = {
    "w00000": Pollutant("污水 (流量)", "wastewater flow", "L/s", "m³"),
    "w01001": Pollutant("pH 值", "pH", "dimensionless"),
    "w01009": Pollutant("溶解氧", "dissolved oxygen", "mg/L"),
    "w01010": Pollutant("水温", "water temperature", "°C"),
    "w01012": Pollutant("悬浮物", "suspended solids", *_MG_L),
    "w01014": Pollutant("电导率", "conductivity", "μS/cm"),
    "w01017": Pollutant("五日生化需氧量", "BOD5", *_MG_L),
    "w01018": Pollutant("化学需氧量", "COD", *_MG_L),
    "w01019": Pollutant("高锰酸盐指数", "permanganate index", *_MG_L),
    "w01020": Pollutant("总有机碳", "total organic carbon", *_MG_L),
    "w20111": Pollutant("总汞", "total mercury", *_UG_L),
    "w20115": Pollutant("总镉", "total cadmium", *_UG_L),
    "w20116": Pollutant("总铬", "total chromium", *_MG_L),
    "w20117": Pollutant("六价铬", "hexavalent chromium", *_UG_L),
    "w20119": Pollutant("总砷", "total arsenic", *_UG_L),
    "w20120": Pollutant("总铅", "total lead", *_UG_L),
    "w20121": Pollutant("总镍", "total nickel", *_MG_L),
    "w20122": Pollutant("总铜", "total copper", *_MG_L),
    "w20123": Pollutant("总锌", "total zinc", *_MG_L),
    "w21001": Pollutant("总氮", "total nitrogen", *_MG_L),
    "w21003": Pollutant("氨氮", "ammonia nitrogen", *_MG_L),
    "w21011": Pollutant("总磷", "total phosphorus", *_MG_L),
    "w21016": Pollutant("氰化物", "cyanide", *_MG_L),
    "w21017": Pollutant("氟化物", "fluoride", *_MG_L),
    "w21019": Pollutant("硫化物", "sulfide", *_MG_L),
    "w22001": Pollutant("石油类", "petroleum", *_MG_L),
    "w23002": Pollutant("挥发酚", "volatile phenol", *_MG_L),
    "a00000": Pollutant("废气 (流量)", "flue-gas flow", "m³/s", "m³"),
    "a01011": Pollutant("烟气流速", "flue-gas velocity", "m/s"),
    "a01012": Pollutant("烟气温度", "flue-gas temperature", "°C"),
    "a01013": Pollutant("烟气压力", "flue-gas pressure", "kPa"),
    "a01014": Pollutant("烟气湿度", "flue-gas humidity", "%"),
    "a01016": Pollutant("烟道截面积", "stack cross-section", "m²"),
    "a01017": Pollutant("烟气动压", "flue-gas dynamic pressure", "kPa"),
    "a05001": Pollutant("二氧化碳", "carbon dioxide", *_MG_M3),
    "a19001": Pollutant("氧气含量", "oxygen", "%"),
    "a21002": Pollutant("氮氧化物", "nitrogen oxides", *_MG_M3),
    "a21003": Pollutant("一氧化氮", "nitric oxide", *_MG_M3),
    "a21004": Pollutant("二氧化氮", "nitrogen dioxide", *_MG_M3),
    "a21005": Pollutant("一氧化碳", "carbon monoxide", *_MG_M3),
    "a21024": Pollutant("氯化氢", "hydrogen chloride", *_MG_M3),
    "a21026": Pollutant("二氧化硫", "sulfur dioxide", *_MG_M3),
    "a21028": Pollutant("硫化氢", "hydrogen sulfide", *_MG_M3),
    "a24087": Pollutant("碳氢化合物", "hydrocarbons", *_MG_M3),
    "a24088": Pollutant("非甲烷总烃", "non-methane hydrocarbons", *_MG_M3),
    "a25002": Pollutant("苯", "benzene", *_MG_M3),
    "a25003": Pollutant("甲苯", "toluene", *_MG_M3),
    "a25005": Pollutant("二甲苯", "xylene", *_MG_M3),
    "a34013": Pollutant("烟尘", "particulate matter (soot)", *_MG_M3),
}
