"""Labels of the coded values pages show (management category, statuses, medium, severity…) in
the page's language, so a panel says 重点管理 where the API says `key`. The map's legends declare
most of them (layers/registry.py); the values no legend shows are declared here."""

from __future__ import annotations

from collections.abc import Mapping

from layers.declarations import Style
from layers.registry import (
    ENFORCEMENT_STATUS,
    FLAGS,
    LIVE_STATUS,
    OUTLET_MEDIUM,
    PERMIT_STATE,
    ZONE_LAYERS,
)
from web.filters import CATEGORIES

Labels = Mapping[str, Mapping[str, str]]  # value → language → label

PERMIT_STATUSES: Labels = {  # a permit's own status (permit_status), as in its history
    "valid": {"zh": "有效", "en": "valid"},
    "expired": {"zh": "已过期", "en": "expired"},
    "revoked": {"zh": "已撤销", "en": "revoked"},
    "cancelled": {"zh": "已注销", "en": "cancelled"},
    "withdrawn": {"zh": "已吊销", "en": "withdrawn"},
}
FLAG_STATUSES: Labels = {
    "open": {"zh": "待核实", "en": "open"},
    "confirmed": {"zh": "已确认", "en": "confirmed"},
    "dismissed": {"zh": "已排除", "en": "dismissed"},
    "resolved": {"zh": "已解决", "en": "resolved"},
}


def _style_labels(style: Style) -> Labels:
    return {c.value: {"zh": c.label_zh, "en": c.label_en} for c in style.classes}


PROBLEM_STATUSES: Labels = {  # the ledger's workflow (问题台账)
    "open": {"zh": "待整改", "en": "open"},
    "rectifying": {"zh": "整改中", "en": "rectifying"},
    "submitted": {"zh": "已提交整改材料", "en": "evidence submitted"},
    "verified": {"zh": "已核查", "en": "verified"},
    "closed": {"zh": "已销号", "en": "closed"},
}
PROBLEM_SOURCES: Labels = {
    "permit_review": {"zh": "许可证审查", "en": "permit review"},
    "monitoring": {"zh": "在线监测", "en": "online monitoring"},
    "inspection": {"zh": "现场检查", "en": "inspection"},
    "public_report": {"zh": "群众举报", "en": "public report"},
    "screening_flag": {"zh": "选址筛查", "en": "screening flag"},
    "execution_report": {"zh": "执行报告", "en": "execution report"},
}
PROBLEM_TYPES: Labels = {  # the common types; any other shows as written
    "rectification_order": {"zh": "限期整改", "en": "rectification order"},
    "permit_quality": {"zh": "许可证质量问题", "en": "permit quality"},
    "over_limit_discharge": {"zh": "超标排放", "en": "discharge over the limits"},
    "monitoring_gap": {"zh": "自行监测缺失", "en": "self-monitoring missing"},
    "report_late": {"zh": "执行报告未按时提交", "en": "execution report late"},
    "report_missing": {"zh": "执行报告未提交", "en": "execution report missing"},
    "zone_violation": {"zh": "位于禁止/限制区域", "en": "in a prohibited or restricted zone"},
    "monitoring_exceedance": {"zh": "在线监测超标", "en": "online monitoring: exceedance"},
    "monitoring_abnormal": {"zh": "在线监测数据异常", "en": "online monitoring: abnormal data"},
    "monitoring_offline": {"zh": "在线监测离线", "en": "online monitoring: offline"},
    "other": {"zh": "其他", "en": "other"},
}
ZONE_KINDS: Labels = {  # a zone kind is named as its layer is
    layer.id.removeprefix("zones_"): {"zh": layer.title_zh, "en": layer.title_en}
    for layer in ZONE_LAYERS
}
ZONE_GRADES: Labels = {  # 一级保护区, 优先保护单元… as the zone layers' legends name them
    value: texts for layer in ZONE_LAYERS for value, texts in _style_labels(layer.style).items()
}

FIELDS: Mapping[str, Labels] = {  # the field a value is shown for → its labels
    "category": CATEGORIES,
    "enforcement_status": _style_labels(ENFORCEMENT_STATUS),
    "permit_state": _style_labels(PERMIT_STATE),
    "permit_status": PERMIT_STATUSES,
    "live_status": _style_labels(LIVE_STATUS),
    "medium": _style_labels(OUTLET_MEDIUM),
    "severity": _style_labels(FLAGS.style),
    "flag_status": FLAG_STATUSES,
    "problem_status": PROBLEM_STATUSES,
    "problem_source": PROBLEM_SOURCES,
    "problem_type": PROBLEM_TYPES,
    "zone_kind": ZONE_KINDS,
    "zone_grade": ZONE_GRADES,
}


PUBLIC_FIELDS = ("category", "permit_state", "medium")  # what the public panels show


def value_labels(language: str, *, staff: bool) -> dict[str, dict[str, str]]:
    """Field → value → label in `language`, for the pages' scripts (an anonymous page gets the
    labels of the public fields only: not even the staff's vocabulary is disclosed)."""
    return {
        field: {value: texts[language] for value, texts in labels.items()}
        for field, labels in FIELDS.items()
        if staff or field in PUBLIC_FIELDS
    }
