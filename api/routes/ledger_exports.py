"""The flag list and the problem ledger as spreadsheets for meetings (.xlsx or CSV), with the
same filters as their lists. Staff only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.auth import StaffUser
from api.deps import ClockDep, SessionDep
from geo.errors import QueryError
from geo.flags import list_flags
from geo.problem_ledger import list_problems
from layers.export import csv_chunks, xlsx_chunks

router = APIRouter(tags=["ledgers"])
MAX_ROWS = 100_000
MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
TITLES_ZH = {
    "id": "编号", "feature_type": "对象类型", "feature_id": "对象编号", "county_code": "区县代码",
    "zone_code": "区域编码", "zone_kind": "区域类型", "zone_version": "区域版本",
    "zone_name": "区域名称", "rule": "规则", "severity": "严重程度", "legal_basis": "法律依据",
    "classification": "位置关系", "distance_m": "距边界(米)", "status": "状态",
    "status_reason": "状态说明", "reviewer": "审核人", "reviewed_at": "审核时间",
    "first_seen": "首次发现", "last_seen": "最近发现", "source": "来源",
    "problem_type": "问题类型", "unit_id": "单位编号", "unit_name": "单位名称",
    "outlet_id": "排放口编号", "flag_id": "问题线索编号", "finding": "问题描述",
    "department": "责任部门", "deadline": "整改期限", "version": "版本",
    "opened_on": "发现日期", "opened_by": "登记人", "closed_at": "销号时间", "overdue": "逾期",
}  # fmt: skip
Format = Annotated[Literal["xlsx", "csv"], Query(description="xlsx (default) or csv")]
Language = Annotated[Literal["zh", "en"], Query(description="header language")]


def _sheet(name: str, title: str, rows: list[dict[str, Any]], fmt: str, lang: str) -> Any:
    keys = list(rows[0]) if rows else []
    header = [TITLES_ZH.get(k, k) if lang == "zh" else k for k in keys]
    pages = [[tuple(row[k] for k in keys) for row in rows]]
    chunks: Iterator[bytes] = (
        xlsx_chunks(title, header, pages) if fmt == "xlsx" else csv_chunks(header, pages)
    )
    disposition = f'attachment; filename="{name}.{fmt}"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    return StreamingResponse(chunks, media_type=MEDIA[fmt], headers=headers)


def _capped(total: int) -> None:
    if total > MAX_ROWS:
        message = f"{total:,} rows match, more than {MAX_ROWS:,}: narrow the filters"
        raise QueryError(message, field="county")


@router.get("/api/flags/export", response_class=StreamingResponse)
def export_flags(
    session: SessionDep,
    user: StaffUser,
    format: Format = "xlsx",
    lang: Language = "zh",
    severity: Literal["prohibited", "restricted", "notice"] | None = None,
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    status: Literal["open", "confirmed", "dismissed", "resolved"] | None = None,
) -> Any:
    """The flags matching the filters as a spreadsheet, most recently seen first."""
    filters = {"severity": severity, "county": county, "status": status}
    found = list_flags(session, filters=filters, page=1, page_size=MAX_ROWS + 1)
    _capped(found.total)
    return _sheet("flags", "问题线索" if lang == "zh" else "flags", found.items, format, lang)


@router.get("/api/problems/export", response_class=StreamingResponse)
def export_problems(
    session: SessionDep,
    user: StaffUser,
    clock: ClockDep,
    format: Format = "xlsx",
    lang: Language = "zh",
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    status: str | None = None,
    overdue: bool | None = None,
) -> Any:
    """The problem ledger (问题台账) matching the filters as a spreadsheet."""
    filters = {"county": county, "status": status, "overdue": overdue}
    found = list_problems(
        session, filters=filters, today=clock.today(), page=1, page_size=MAX_ROWS + 1
    )
    _capped(found.total)
    title = "问题台账" if lang == "zh" else "problems"
    return _sheet("problems", title, found.items, format, lang)
