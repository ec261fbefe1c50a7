"""The layer registry: every map layer permitmap serves, declared once.

Tiles, OGC API collections, TileJSON, legends and the public/staff field split all read these
declarations; nothing else names a table or a column that a client can reach.
"""

from __future__ import annotations

from geo.errors import ForbiddenError, NotFoundError
from layers.declarations import Audience, Field, FieldType, Layer, Style, StyleClass, Temporal

S: FieldType = "string"
INT: FieldType = "integer"
N: FieldType = "number"
D: FieldType = "date"
T: FieldType = "datetime"


def _public(
    name: str, kind: FieldType, zh: str, en: str, sql: str | None = None, *, in_tiles: bool = True
) -> Field:
    return Field(name, kind, True, zh, en, sql, in_tiles)


def _staff(
    name: str, kind: FieldType, zh: str, en: str, sql: str | None = None, *, in_tiles: bool = True
) -> Field:
    return Field(name, kind, False, zh, en, sql, in_tiles)


ID = _public("id", INT, "编号", "ID")

PERMIT_STATE = Style(
    by="permit_state",
    classes=(
        StyleClass("valid", "#2e7d32", "许可证有效", "permit valid"),
        StyleClass("expiring", "#f9a825", "90日内到期", "expires within 90 days"),
        StyleClass("expired", "#c62828", "许可证过期", "permit expired"),
        StyleClass("revoked", "#6a1b9a", "撤销/注销/吊销", "revoked, cancelled or withdrawn"),
        StyleClass("none", "#757575", "无许可证", "no permit"),
    ),
)

# Legend in the priority order of the `unit_status` view (migrations 0010, 0013): a unit takes
# the first class that applies to it.
ENFORCEMENT_STATUS = Style(
    by="enforcement_status",
    classes=(
        StyleClass("violation", "#b71c1c", "违法设置（禁止类问题）", "prohibited location"),
        StyleClass("closed", "#9e9e9e", "已关停", "closed"),
        StyleClass("no_permit", "#616161", "无许可证", "no permit"),
        StyleClass("revoked", "#6a1b9a", "撤销/注销/吊销", "revoked, cancelled or withdrawn"),
        StyleClass("expired", "#d84315", "许可证过期", "permit expired"),
        StyleClass("exceedance", "#ff1744", "超标排放", "exceeding its limits (online monitoring)"),
        StyleClass("overdue_problem", "#c2185b", "整改逾期", "problem past its deadline"),
        StyleClass("open_problem", "#f06292", "限期整改中", "open problem"),
        StyleClass(
            "monitoring_abnormal", "#00acc1", "数据异常/离线", "monitoring data abnormal or offline"
        ),
        StyleClass("warning", "#ef6c00", "存在待核问题", "open flags"),
        StyleClass("expiring", "#f9a825", "90日内到期", "expires within 90 days"),
        StyleClass("valid", "#2e7d32", "正常", "in order"),
    ),
)

# Outlets: staff see the live status of online monitoring (view `outlet_monitoring_status`,
# migration 0012; gravest first, so a cluster is ringed by an exceedance before anything else);
# the public sees the medium only.
LIVE_STATUS = Style(
    by="live_status",
    classes=(
        StyleClass("exceedance", "#d50000", "超标", "exceedance"),
        StyleClass("abnormal", "#ff9100", "数据异常", "abnormal data"),
        StyleClass("offline", "#8e7cc3", "离线", "offline"),
        StyleClass("normal", "#2e7d32", "正常", "normal"),
        StyleClass("not_monitored", "#bdbdbd", "未联网", "not monitored"),
    ),
    radius=4,
)
OUTLET_MEDIUM = Style(
    by="medium",
    classes=(
        StyleClass("water", "#0277bd", "废水排放口", "water outlet"),
        StyleClass("air", "#6d4c41", "废气排放口", "air outlet"),
    ),
    radius=4,
)

UNITS = Layer(
    id="units",
    title_zh="排污单位",
    title_en="Pollutant discharge units",
    description="Fixed pollution sources with their permit; staff see the enforcement status.",
    source="layer_units",
    count_source="units",
    cluster_source="unit_status",
    geometry="point",
    aggregate=True,
    sources=(
        *("units", "permits", "flags", "outlets", "problems", "industry_codes", "admin_regions"),
        "monitoring_events",
    ),
    public_sources=("units", "permits", "industry_codes", "admin_regions"),
    style=ENFORCEMENT_STATUS,
    public_style=PERMIT_STATE,
    temporal=Temporal("permit_valid_from", "permit_valid_to"),
    fields=(
        ID,
        _public("name", S, "单位名称", "name"),
        _public("credit_code", S, "统一社会信用代码", "unified social credit code", in_tiles=False),
        _public("category", S, "管理类别", "management category"),
        _public("industry_code", S, "行业类别代码", "industry code (GB/T 4754)"),
        _public("industry_name", S, "行业类别", "industry", in_tiles=False),
        _public("county_code", S, "区县代码", "county code"),
        _public("county_name", S, "区县", "county", in_tiles=False),
        _public("permit_no", S, "许可证编号", "permit number", in_tiles=False),
        _public("permit_valid_from", D, "有效期起", "permit valid from", in_tiles=False),
        _public("permit_valid_to", D, "有效期至", "permit valid to", in_tiles=False),
        _public("permit_state", S, "许可证状态", "permit state"),
        # public: a unit's public page is addressed by credit code and site (?site=N)
        _public("site_seq", INT, "厂区序号", "site number", in_tiles=False),
        _staff("address", S, "地址", "address", in_tiles=False),
        _staff("operating_status", S, "生产状态", "operating status", in_tiles=False),
        _staff("location_source", S, "坐标来源", "location source", in_tiles=False),
        _staff("open_flags", INT, "待处理问题数", "open flags"),
        _staff("enforcement_status", S, "监管状态", "enforcement status"),
    ),
)

OUTLETS = Layer(
    id="outlets",
    title_zh="排放口",
    title_en="Discharge outlets",
    description="Permitted water (DW) and air (DA) outlets with their permitted limits.",
    source="layer_outlets",
    count_source="outlets",
    geometry="point",
    aggregate=True,
    minzoom=6,
    sources=("outlets", "outlet_pollutants", "units", "monitoring_events", "monitoring_devices"),
    public_sources=("outlets", "outlet_pollutants", "units"),
    style=LIVE_STATUS,
    public_style=OUTLET_MEDIUM,
    fields=(
        ID,
        _public("code", S, "排放口编号", "outlet code"),
        _public("medium", S, "类别", "medium"),
        _public("kind", S, "排放口类型", "outlet type"),
        _public("unit_id", INT, "单位编号", "unit id"),
        _public("unit_name", S, "单位名称", "unit name"),
        _public("credit_code", S, "统一社会信用代码", "unified social credit code", in_tiles=False),
        _public("site_seq", INT, "厂区序号", "site number", in_tiles=False),
        _public("county_code", S, "区县代码", "county code"),
        _public("receiving_water", S, "受纳水体", "receiving water"),
        _public("permitted_limits", S, "许可排放浓度限值", "permitted limits", in_tiles=False),
        _staff("live_status", S, "在线监控状态", "live monitoring status"),
    ),
)

RIVER_OUTFALLS = Layer(
    id="river_outfalls",
    title_zh="入河排污口",
    title_en="River outfalls",
    source="layer_river_outfalls",
    geometry="point",
    aggregate=True,
    sources=("river_outfalls", "rivers"),
    style=Style(
        by="outfall_type",
        classes=(
            StyleClass("industrial", "#e65100", "工业排污口", "industrial"),
            StyleClass("municipal_wwtp", "#00838f", "城镇污水处理厂排污口", "municipal WWTP"),
            StyleClass("agricultural", "#558b2f", "农业排口", "agricultural"),
            StyleClass("other", "#757575", "其他排口", "other"),
        ),
    ),
    fields=(
        ID,
        _public("code", S, "排污口编码", "outfall code"),
        _public("name", S, "排污口名称", "name"),
        _public("outfall_type", S, "排污口类型", "outfall type"),
        _public("receiving_water", S, "受纳水体", "receiving water"),
        _public("river_name", S, "河流", "river"),
    ),
)

FLAGS = Layer(
    id="flags",
    title_zh="选址问题",
    title_en="Screening flags",
    description="Sources found where a zone's rules forbid or restrict them (staff only).",
    source="layer_flags",
    geometry="point",
    aggregate=True,
    audience=Audience.STAFF,
    sources=("flags", "units", "outlets", "river_outfalls", "zone_rules"),
    temporal=Temporal("first_seen", "last_seen"),
    style=Style(
        by="severity",
        classes=(
            StyleClass("prohibited", "#b71c1c", "禁止", "prohibited"),
            StyleClass("restricted", "#ef6c00", "限制", "restricted"),
            StyleClass("notice", "#fbc02d", "提示", "notice"),
        ),
        radius=7,
    ),
    fields=(
        _staff("id", INT, "编号", "ID"),
        _staff("feature_type", S, "对象类型", "feature type"),
        _staff("feature_id", INT, "对象编号", "feature id"),
        _staff("county_code", S, "区县代码", "county code"),
        _staff("zone_code", S, "区域编码", "zone code"),
        _staff("zone_kind", S, "区域类型", "zone kind"),
        _staff("rule_code", S, "规则", "rule"),
        _staff("severity", S, "严重程度", "severity"),
        _staff("legal_basis", S, "法律依据", "legal basis"),
        _staff("classification", S, "位置关系", "classification"),
        _staff("distance_m", N, "距边界(米)", "distance to boundary (m)"),
        _staff("status", S, "处理状态", "review status"),
        _staff("first_seen", T, "首次发现", "first seen"),
        _staff("last_seen", T, "最近发现", "last seen"),
    ),
)

ZONE_FIELDS = (
    ID,
    _public("code", S, "区域编码", "zone code"),
    _public("name", S, "名称", "name"),
    _public("kind", S, "类型", "kind"),
    _public("grade", S, "级别", "grade"),
    _public("parent_code", S, "所属", "parent code"),
    _public("approval_doc", S, "批复文件", "approval document"),
    _public("approved_on", D, "批复日期", "approved on"),
    _public("version", INT, "版本", "version"),
    _public("valid_from", D, "生效日期", "valid from"),
    _public("valid_to", D, "失效日期", "valid to"),
)
IN_FORCE_TODAY = "valid_from <= current_date AND (valid_to IS NULL OR valid_to > current_date)"


def _zone_layer(kind: str, zh: str, en: str, style: Style) -> Layer:
    return Layer(
        id=f"zones_{kind}",
        title_zh=zh,
        title_en=en,
        source="layer_zones",
        geometry="polygon",
        where=f"kind = '{kind}'",
        default_where=IN_FORCE_TODAY,
        temporal=Temporal("valid_from", "valid_to"),
        sources=("zones",),
        style=style,
        fields=ZONE_FIELDS,
    )


ZONE_LAYERS = (
    _zone_layer(
        "water_protection",
        "饮用水水源保护区",
        "Drinking-water source protection zones",
        Style(
            by="grade",
            classes=(
                StyleClass("I", "#0d47a1", "一级保护区", "grade I"),
                StyleClass("II", "#1976d2", "二级保护区", "grade II"),
                StyleClass("quasi", "#90caf9", "准保护区", "quasi-protection"),
            ),
        ),
    ),
    _zone_layer(
        "control_unit",
        "环境管控单元",
        "Environmental control units",
        Style(
            by="grade",
            classes=(
                StyleClass("priority", "#c62828", "优先保护单元", "priority protection"),
                StyleClass("key", "#f9a825", "重点管控单元", "key control"),
                StyleClass("general", "#43a047", "一般管控单元", "general control"),
            ),
            opacity=0.15,
        ),
    ),
    _zone_layer(
        "ecological_redline",
        "生态保护红线",
        "Ecological protection red lines",
        Style(by=None, classes=(), color="#d32f2f", opacity=0.25),
    ),
    _zone_layer(
        "nature_reserve",
        "自然保护区",
        "Nature reserves",
        Style(
            by="grade",
            classes=(
                StyleClass("core", "#1b5e20", "核心区", "core area"),
                StyleClass("buffer", "#388e3c", "缓冲区", "buffer zone"),
                StyleClass("experimental", "#81c784", "实验区", "experimental zone"),
            ),
        ),
    ),
    _zone_layer(
        "industrial_park",
        "工业园区",
        "Industrial parks",
        Style(by=None, classes=(), color="#8d6e63", opacity=0.2),
    ),
)

ADMIN_REGIONS = Layer(
    id="admin_regions",
    title_zh="行政区划",
    title_en="Administrative regions",
    source="admin_regions",
    geometry="polygon",
    id_field="code",
    sources=("admin_regions",),
    style=Style(by=None, classes=(), color="#555555", opacity=0.0, weight=1.0),
    fields=(
        _public("code", S, "行政区划代码", "region code"),
        _public("name", S, "名称", "name"),
        _public("level", S, "级别", "level", sql="level::text"),
        _public("parent_code", S, "上级代码", "parent code"),
    ),
)

RIVERS = Layer(
    id="rivers",
    title_zh="河流",
    title_en="Rivers",
    source="rivers",
    geometry="line",
    sources=("rivers",),
    style=Style(by=None, classes=(), color="#1e88e5", weight=2.0),
    fields=(
        ID,
        _public("name", S, "河流名称", "name"),
        _public("stream_order", INT, "河流等级", "stream order"),
        _public("is_main", "boolean", "干流", "main stem"),
    ),
)

WATER_BODIES = Layer(
    id="water_bodies",
    title_zh="湖库",
    title_en="Lakes and reservoirs",
    source="water_bodies",
    geometry="polygon",
    sources=("water_bodies",),
    style=Style(by=None, classes=(), color="#64b5f6", opacity=0.6),
    fields=(
        ID,
        _public("name", S, "名称", "name"),
        _public("kind", S, "类型", "kind"),
    ),
)

LAYERS: dict[str, Layer] = {
    layer.id: layer
    for layer in (
        UNITS,
        OUTLETS,
        RIVER_OUTFALLS,
        *ZONE_LAYERS,
        FLAGS,
        ADMIN_REGIONS,
        RIVERS,
        WATER_BODIES,
    )
}


def visible_layer(layer_id: str, audience: Audience) -> Layer:
    """The layer, if it exists and this audience may see it (else NotFound / Forbidden)."""
    layer = LAYERS.get(layer_id)
    if layer is None:
        raise NotFoundError(f"no layer {layer_id!r}; GET /api/layers lists them")
    if not layer.visible_to(audience):
        raise ForbiddenError(f"layer {layer_id!r} is for staff only")
    return layer


def layers_for(audience: Audience) -> list[Layer]:
    """The layers this audience may see, in registry order."""
    return [layer for layer in LAYERS.values() if layer.visible_to(audience)]
