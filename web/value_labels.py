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
