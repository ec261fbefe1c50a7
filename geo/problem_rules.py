"""The rules of the problem ledger, without the database: its sources, statuses and common types,
the steps between statuses and the role each needs, who may open or edit a problem, when
evidence may be added, and the 3–12-month deadline (整改期限原则上为三个月至一年)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from geo.errors import ValidationError
from geo.migrations.sql_0008 import PROBLEM_SOURCES, PROBLEM_STATUSES

SOURCES = PROBLEM_SOURCES
STATUSES = PROBLEM_STATUSES
PROBLEM_TYPE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
# common types; any lower_snake_case type is accepted, a rectification order needs a deadline
PROBLEM_TYPES = (
    "rectification_order",  # 限期整改 (order with a deadline)
    "permit_quality",  # 许可证质量问题
    "over_limit_discharge",  # 超标排放
    "monitoring_gap",  # 自行监测缺失
    "report_late",  # 执行报告未按时提交
    "zone_violation",  # 位于禁止/限制区域
    "other",
)
ORDER_TYPE = "rectification_order"
DEADLINE_MONTHS = (3, 12)
FINDING_MAX = 4000
DEPARTMENT_MAX = 200
NOT_OVERDUE = ("verified", "closed")


@dataclass(frozen=True)
class Step:
    """A transition: who may take it, and what it needs."""

    roles: tuple[str, ...]
    needs_note: bool = False
    needs_evidence: bool = False


TRANSITIONS: dict[tuple[str, str], Step] = {
    ("open", "rectifying"): Step(("inspector",)),
    ("rectifying", "submitted"): Step(("inspector",), needs_evidence=True),
    ("submitted", "verified"): Step(("reviewer",)),
    ("verified", "closed"): Step(("supervisor",)),
    ("submitted", "rectifying"): Step(("supervisor",), needs_note=True),
    ("verified", "rectifying"): Step(("supervisor",), needs_note=True),
}
OPEN_ROLES = ("inspector", "reviewer", "supervisor")  # who may open a problem
EDIT_ROLES = ("supervisor",)  # who may change finding, department or deadline
EVIDENCE_STATES = ("open", "rectifying")  # evidence is locked once submitted


def add_months(day: date, months: int) -> date:
    """`day` moved by whole calendar months (the 31st becomes the month's last day)."""
    years, month0 = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def check_deadline(deadline: date | None, *, opened_on: date, problem_type: str) -> None:
    """A deadline lies 3–12 months after opening; a rectification order must have one."""
    if deadline is None:
        if problem_type == ORDER_TYPE:
            raise ValidationError("a rectification order needs a deadline", field="deadline")
        return
    earliest, latest = (add_months(opened_on, m) for m in DEADLINE_MONTHS)
    if not earliest <= deadline <= latest:
        raise ValidationError(
            f"deadline must be 3–12 months after {opened_on}: between {earliest} and {latest}",
            field="deadline",
            value=deadline,
        )


def text_field(value: str | None, field: str, limit: int) -> str:
    """The value stripped; refused when empty, too long or holding a NUL."""
    cleaned = (value or "").strip()
    if not cleaned:
        raise ValidationError(f"{field} must not be empty", field=field)
    if len(cleaned) > limit or "\x00" in cleaned:
        raise ValidationError(f"{field} takes at most {limit} characters", field=field)
    return cleaned
