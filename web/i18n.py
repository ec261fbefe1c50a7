"""The pages' words in Chinese (the default) and English.

One catalogue for the server-rendered parts and the pages' scripts (which receive the chosen
language's messages as JSON), so a label is translated once.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANGUAGE_COOKIE = "permitmap_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "app": {"zh": "排污许可监管地图", "en": "Pollutant permit monitoring map"},
    "staff_map": {"zh": "监管地图", "en": "Staff map"},
    "siting": {"zh": "选址合规预审", "en": "Siting check"},
    "imports": {"zh": "数据导入", "en": "Imports"},
    "ledger": {"zh": "问题台账", "en": "Problem ledger"},
    "public_map": {"zh": "信息公开地图", "en": "Public disclosure map"},
    "switch_language": {"zh": "English", "en": "中文"},
    "login": {"zh": "工作人员登录", "en": "Staff sign-in"},
    "logout": {"zh": "退出", "en": "Sign out"},
    "username": {"zh": "用户名", "en": "User name"},
    "password": {"zh": "密码", "en": "Password"},
    "sign_in": {"zh": "登录", "en": "Sign in"},
    "sign_in_locked": {
        "zh": "登录失败次数过多，该账号已暂时锁定，请于 {until}（北京时间）后再试。",
        "en": "Too many failed sign-ins: this name is locked until {until} (China time).",
    },
    "bad_login": {
        "zh": "用户名或密码不正确，请重试。",
        "en": "The user name or password is not right; try again.",
    },
    "layers": {"zh": "图层", "en": "Layers"},
    "legend": {"zh": "图例", "en": "Legend"},
    "basemap": {"zh": "底图（行政区、河流、水体）", "en": "Base map (regions, rivers, water)"},
    "filters": {"zh": "筛选", "en": "Filters"},
    "any": {"zh": "全部", "en": "Any"},
    "status": {"zh": "监管状态", "en": "Enforcement status"},
    "permit_state": {"zh": "许可证状态", "en": "Permit state"},
    "category": {"zh": "管理类别", "en": "Management category"},
    "industry": {"zh": "行业代码", "en": "Industry code"},
    "county": {"zh": "区县", "en": "County"},
    "severity": {"zh": "问题严重程度", "en": "Flag severity"},
    "apply": {"zh": "应用", "en": "Apply"},
    "reset": {"zh": "重置", "en": "Reset"},
    "search": {"zh": "搜索", "en": "Search"},
    "search_placeholder": {
        "zh": "单位名称 / 统一社会信用代码 / 许可证编号",
        "en": "Unit name / credit code / permit number",
    },
    "no_results": {"zh": "未找到", "en": "Nothing found"},
    "export": {"zh": "导出当前筛选", "en": "Export current filter"},
    "close": {"zh": "关闭", "en": "Close"},
    "loading": {"zh": "加载中…", "en": "Loading…"},
    "unit": {"zh": "排污单位", "en": "Unit"},
    "credit_code": {"zh": "统一社会信用代码", "en": "Credit code"},
    "permit": {"zh": "排污许可证", "en": "Permit"},
    "permit_no": {"zh": "许可证编号", "en": "Permit number"},
    "validity": {"zh": "有效期", "en": "Validity"},
    "permit_history": {"zh": "许可证历史", "en": "Permit history"},
    "outlets": {"zh": "排放口", "en": "Outlets"},
    "limits": {"zh": "许可排放限值", "en": "Permitted limits"},
    "flags": {"zh": "问题线索", "en": "Flags"},
    "legal_basis": {"zh": "法律依据", "en": "Legal basis"},
    "enforcement": {"zh": "执法记录", "en": "Enforcement history"},
    "none": {"zh": "无", "en": "None"},
    # the ledger pages (/ledger, /ledger/{id})
    "ledger_board": {"zh": "清零看板（{month}）", "en": "Clear-to-zero board ({month})"},
    "ledger_board_note": {
        "zh": "只列出有未销号问题或本月销号的区县；其余区县已清零。",
        "en": "Only counties with problems not closed or closed this month are listed; the"
        " others are cleared.",
    },
    "ledger_open": {"zh": "未销号", "en": "Not closed"},
    "ledger_overdue": {"zh": "逾期", "en": "Overdue"},
    "ledger_closed_month": {"zh": "本月销号", "en": "Closed this month"},
    "ledger_cleared": {"zh": "已清零", "en": "Cleared"},
    "ledger_overdue_only": {"zh": "仅逾期", "en": "Overdue only"},
    "ledger_one_unit": {"zh": "仅单位 #{id} 的问题", "en": "Unit #{id}'s problems only"},
    "ledger_of_unit": {"zh": "该单位的问题台账", "en": "This unit's problems in the ledger"},
    "ledger_total": {"zh": "共 {total} 条", "en": "{total} problems"},
    "problem_type": {"zh": "问题类型", "en": "Type"},
    "problem_source": {"zh": "问题来源", "en": "Source"},
    "problem_status": {"zh": "办理状态", "en": "Status"},
    "finding": {"zh": "问题描述", "en": "Finding"},
    "deadline": {"zh": "整改期限", "en": "Deadline"},
    "opened_on": {"zh": "立案", "en": "Opened"},
    "ledger_next": {"zh": "下一步", "en": "Next step"},
    "ledger_note": {"zh": "说明", "en": "Note"},
    "ledger_step_rectifying": {"zh": "开始整改", "en": "Start rectifying"},
    "ledger_step_submitted": {"zh": "提交整改材料", "en": "Submit the evidence"},
    "ledger_step_verified": {"zh": "核查通过", "en": "Verified"},
    "ledger_step_closed": {"zh": "销号", "en": "Close out (销号)"},
    "ledger_step_back": {"zh": "退回整改（须写明理由）", "en": "Send back (a reason is required)"},
    "ledger_no_steps": {
        "zh": "您的角色在此状态下没有可执行的操作。",
        "en": "Your role has no step to take at this status.",
    },
    "ledger_evidence": {"zh": "整改材料", "en": "Evidence"},
    "ledger_add_evidence": {"zh": "上传材料", "en": "Add evidence"},
    "ledger_history": {"zh": "处理记录", "en": "History"},
    "ledger_actor": {"zh": "操作人", "en": "By"},
    # the import page (/imports)
    "import_kind": {"zh": "数据类型", "en": "Kind"},
    "import_kind_units": {"zh": "排污单位", "en": "Units"},
    "import_kind_permits": {"zh": "排污许可证", "en": "Permits"},
    "import_kind_outlets": {"zh": "排放口", "en": "Outlets"},
    "import_kind_outfalls": {"zh": "入河排污口", "en": "River outfalls"},
    "import_kind_zones": {"zh": "管控区域（含拐点坐标表）", "en": "Zones (also corner points)"},
    "import_kind_regions": {"zh": "行政区划", "en": "Admin regions"},
    "import_kind_rivers": {"zh": "河流水系", "en": "Rivers"},
    "import_file": {"zh": "文件", "en": "File"},
    "import_crs": {"zh": "坐标系", "en": "Coordinates"},
    "import_crs_auto": {
        "zh": "按文件（表格默认 WGS 84）",
        "en": "as the file says (tables: WGS 84)",
    },
    "crs_wgs84": {"zh": "WGS 84", "en": "WGS 84"},
    "crs_cgcs2000": {"zh": "CGCS2000", "en": "CGCS2000"},
    "crs_gcj02": {"zh": "GCJ-02（高德/腾讯）", "en": "GCJ-02 (Amap, Tencent)"},
    "crs_bd09": {"zh": "BD-09（百度）", "en": "BD-09 (Baidu)"},
    "import_encoding": {"zh": "文本编码（CSV）", "en": "Encoding (CSV)"},
    "import_encoding_auto": {"zh": "自动识别 UTF-8 / GB18030", "en": "detected: UTF-8 / GB18030"},
    "import_dry_run": {"zh": "仅检查，不写入", "en": "Check only, write nothing"},
    "import_allow_bad_check_digit": {
        "zh": "接受校验位不符的统一社会信用代码",
        "en": "Accept credit codes with a wrong check digit",
    },
    "import_submit": {"zh": "提交", "en": "Submit"},
    "import_running": {"zh": "正在检查与导入……", "en": "Checking and importing…"},
    "import_checked": {
        "zh": "检查通过（未写入）：将新增 {inserted}，更新 {updated}，不变 {unchanged}"
        "（共 {rows} 行）。",
        "en": "All rows pass (nothing written): {inserted} to insert, {updated} to update,"
        " {unchanged} unchanged ({rows} rows).",
    },
    "import_written": {
        "zh": "已导入：新增 {inserted}，更新 {updated}，不变 {unchanged}（共 {rows} 行）。",
        "en": "Imported: {inserted} inserted, {updated} updated, {unchanged} unchanged"
        " ({rows} rows).",
    },
    "import_rejected": {
        "zh": "文件未导入，未写入任何数据：发现 {count} 个问题。",
        "en": "The file was not imported and nothing was written: {count} problems.",
    },
    "import_not_allowed": {
        "zh": "只有监管负责人和管理员可以导入数据。",
        "en": "Only supervisors and admins may import.",
    },
    "import_row": {"zh": "行", "en": "Row"},
    "import_field": {"zh": "字段", "en": "Field"},
    "import_value": {"zh": "值", "en": "Value"},
    "import_problem": {"zh": "问题", "en": "Problem"},
    "recent_imports": {"zh": "最近导入", "en": "Latest imports"},
    "import_at": {"zh": "时间", "en": "At"},
    "import_rows": {"zh": "行数", "en": "Rows"},
    "import_inserted": {"zh": "新增", "en": "Inserted"},
    "import_updated": {"zh": "更新", "en": "Updated"},
    "import_unchanged": {"zh": "不变", "en": "Unchanged"},
    "import_actor": {"zh": "操作人", "en": "By"},
    "site_address": {"zh": "地址", "en": "Address"},
    "public_page": {"zh": "公开信息页", "en": "Public page"},
    "penalties": {"zh": "行政处罚决定", "en": "Penalty decisions"},
    "draw_hint": {
        "zh": "在地图上绘制点、线或面，或上传文件。",
        "en": "Draw a point, line or polygon on the map, or upload a file.",
    },
    "upload": {"zh": "上传文件（GeoJSON/KML/Shapefile zip/GeoPackage）", "en": "Upload a file"},
    "discharges": {"zh": "排放类型", "en": "Discharges"},
    "water": {"zh": "废水", "en": "Wastewater"},
    "air": {"zh": "废气", "en": "Air emissions"},
    "project": {"zh": "项目类型", "en": "Project"},
    "new": {"zh": "新建", "en": "New"},
    "expansion": {"zh": "改扩建", "en": "Expansion"},
    "check": {"zh": "预审", "en": "Check"},
    "verdict": {"zh": "结论", "en": "Verdict"},
    "prohibited": {"zh": "禁止", "en": "prohibited"},
    "restricted": {"zh": "限制", "en": "restricted"},
    "allowed": {"zh": "允许", "en": "allowed"},
    "rules": {"zh": "适用规则", "en": "Rules"},
    "zones_hit": {"zh": "涉及区域", "en": "Zones touched"},
    "overlap": {"zh": "重叠", "en": "Overlap"},
    "nearest": {"zh": "最近的保护区", "en": "Nearest protection zones"},
    "distance": {"zh": "距离", "en": "Distance"},
    "access_list": {"zh": "准入清单", "en": "Access list"},
    "print_report": {"zh": "打印报告", "en": "Printable report"},
    "report": {"zh": "选址合规预审报告", "en": "Siting check report"},
    "generated": {"zh": "生成时间", "en": "Generated"},
    "need_geometry": {"zh": "请先绘制或上传选址范围。", "en": "Draw or upload a site first."},
    "need_industry": {"zh": "请选择行业。", "en": "Pick an industry."},
    "error": {"zh": "出错了", "en": "Something went wrong"},
    "not_found": {"zh": "未找到该单位", "en": "No such unit"},
    "qr_sheet": {"zh": "排放口二维码标识", "en": "Outlet QR signs"},
    "qr_hint": {
        "zh": "每个二维码指向该单位的信息公开页面；打印后张贴于排放口标志牌。",
        "en": "Each code points to the unit's public page; print and fix to the outlet's sign.",
    },
    "public_note": {
        "zh": "本页仅展示依法公开的排污许可信息。",
        "en": "This page shows only the permit information the law makes public.",
    },
    # online monitoring (staff panel charts, county summary, public daily averages)
    "monitoring": {"zh": "在线监测", "en": "Online monitoring"},
    "live_filter": {"zh": "排放口在线监测状态", "en": "Outlet monitoring status"},
    "monitoring_summary": {"zh": "在线监测概况（按区县）", "en": "Online monitoring by county"},
    "window_24h": {"zh": "24小时", "en": "24 h"},
    "window_7d": {"zh": "7天", "en": "7 d"},
    "window_30d": {"zh": "30天", "en": "30 d"},
    "limit": {"zh": "许可限值", "en": "Permitted limit"},
    "special_limit": {"zh": "特别排放限值", "en": "Special limit"},
    "no_data": {"zh": "该时段无有效监测数据", "en": "No valid data in this period"},
    "not_monitored_outlet": {
        "zh": "未安装在线监测设备（未联网）",
        "en": "No online monitoring device (not monitored)",
    },
    "online": {"zh": "在线/联网", "en": "Online"},
    "online_hint": {
        "zh": "在线（联网且未离线）/ 联网监测的排放口数",
        "en": "outlets online (monitored, not offline) / monitored",
    },
    "exceeding": {"zh": "超标", "en": "Exceeding"},
    "open_events": {"zh": "未结束的监测事件", "en": "Open monitoring events"},
    "since": {"zh": "始于", "en": "since"},
    "peak": {"zh": "峰值", "en": "peak"},
    "department": {"zh": "承办部门", "en": "Handling department"},
    "open_problem": {"zh": "开立问题", "en": "Open a problem"},
    "problem_opened": {"zh": "已立问题 #{id}", "en": "Problem #{id} opened"},
    "abnormal": {"zh": "异常", "en": "Abnormal"},
    "offline": {"zh": "离线", "en": "Offline"},
    "total": {"zh": "合计", "en": "Total"},
    "no_monitored_outlets": {
        "zh": "暂无联网监测的排放口。",
        "en": "No outlet is monitored online yet.",
    },
    "self_monitoring": {
        "zh": "自行监测 · 在线监测日均值",
        "en": "Self-monitoring: daily averages of online monitoring",
    },
    "daily_note": {
        "zh": "{start} 至 {end}（北京时间自然日）在线监测数据的日均值；限值为排污许可证载明的"
        "许可排放浓度，超过限值的日均值以红色标出。",
        "en": "Daily averages of online monitoring data, {start} to {end} (days in Beijing "
        "time); the limit is the permitted concentration; averages above it are shown in red.",
    },
    "date": {"zh": "日期", "en": "Date"},
    "time": {"zh": "时间", "en": "Time"},
    "above_limit": {"zh": "超过许可限值", "en": "above the permitted limit"},
    # random inspections (双随机、一公开) and permit quality spot checks
    "public_draws": {"zh": "双随机抽查结果公开", "en": "Random inspections: published draws"},
    "draw": {"zh": "抽查批次", "en": "Draw"},
    "draw_kind_inspection": {"zh": "双随机执法检查", "en": "Random inspection"},
    "draw_kind_permit_quality": {"zh": "排污许可证质量抽查", "en": "Permit quality spot check"},
    "drawn_on": {"zh": "抽取日期", "en": "Drawn on"},
    "published_on": {"zh": "公开日期", "en": "Published on"},
    "draw_ratios": {"zh": "抽查比例", "en": "Ratios"},
    "positive_list_factor": {"zh": "正面清单系数", "en": "Positive-list factor"},
    "draw_population": {"zh": "抽查范围 → 抽中", "en": "Population → drawn"},
    "draw_seed": {"zh": "随机种子", "en": "Random seed"},
    "draw_digest": {"zh": "结果校验码", "en": "Result digest"},
    "draw_units": {"zh": "抽中单位", "en": "Units drawn"},
    "inspectors": {"zh": "检查人员", "en": "Inspectors"},
    "conclusion": {"zh": "检查结果", "en": "Result"},
    "conclusion_pending": {"zh": "待录入", "en": "Pending"},
    "conclusion_compliant": {"zh": "未发现问题", "en": "No problems found"},
    "conclusion_problems_found": {"zh": "发现问题", "en": "Problems found"},
    "conclusion_not_operating": {"zh": "停产或关闭", "en": "Not operating"},
    "first_application": {"zh": "首次申请", "en": "First application"},
    "re_application": {"zh": "重新申请", "en": "Re-application"},
    "no_draws": {"zh": "暂无公开的抽查结果。", "en": "No draw has been published yet."},
}


def choose_language(asked: str | None, remembered: str | None) -> str:
    """The page language: `?lang=`, else the cookie, else Chinese (whatever the browser's
    Accept-Language: the pages are Chinese by default)."""
    for candidate in (asked, remembered):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def messages(language: str) -> Mapping[str, str]:
    """Every message in one language."""
    return {key: texts[language] for key, texts in MESSAGES.items()}
