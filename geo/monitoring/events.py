"""Monitoring events for staff: lists with filters, one event, and opening its problem on the
ledger in one step (source `monitoring`; one problem per event, again → conflict).

The problem's type follows the event's kind (`monitoring_exceedance`, `monitoring_abnormal`,
`monitoring_offline`) and its finding, unless given, names the outlet, pollutant, rule, peak,
limit and times (China time), so the ledger entry stands on its own.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.clock import CHINA
from geo.errors import ConflictError, NotFoundError, QueryError
from geo.problems import open_problem

KINDS = ("exceedance", "abnormal", "offline")
PROBLEM_TYPES = {kind: f"monitoring_{kind}" for kind in KINDS}
RULE_NAMES = {
    "hourly_average": "小时均值超标",
    "daily_average": "日均值超标",
    "annual_quantity": "年排放量超过许可排放量",
    "device_flag": "设备状态异常",
    "zero_or_negative": "零值或负值",
    "out_of_range": "超出仪器量程",
    "constant": "数据恒值",
    "missing": "数据缺失（离线）",
}
KIND_NAMES = {
    "exceedance": "在线监测超标",
    "abnormal": "在线监测数据异常",
    "offline": "在线监测离线",
}
MAX_LIMIT = 5000

EVENT_SQL = """
SELECT e.id, e.outlet_id, o.code AS outlet_code, o.unit_id, u.name AS unit_name, u.county_code,
       e.mn, e.pollutant_code, op.pollutant_name, op.concentration_unit, e.kind, e.rule,
       e.started_at, e.ended_at, e.ended_at IS NULL AS open, e.peak_value, e.peak_at,
       e.limit_value, e.detail, e.problem_id, e.detected_at
FROM monitoring_events e
JOIN outlets o ON o.id = e.outlet_id
JOIN units u ON u.id = o.unit_id
LEFT JOIN outlet_pollutants op
  ON op.outlet_id = e.outlet_id AND op.pollutant_code = e.pollutant_code
"""
FILTERS = {
    "county": "u.county_code = :county",
    "outlet_id": "e.outlet_id = :outlet_id",
    "unit_id": "o.unit_id = :unit_id",
    "kind": "e.kind = :kind",
    "open_only": "e.ended_at IS NULL",
    "since": "(e.ended_at IS NULL OR e.ended_at >= :since)",
}


def list_events(
    session: Session,
    *,
    county: str | None = None,
    outlet_id: int | None = None,
    unit_id: int | None = None,
    kind: str | None = None,
    open_only: bool = False,
    since: datetime | None = None,
    limit: int = 500,
) -> list[dict]:
    """Events matching every filter given, latest start first. `since`: events still open or
    ended at or after that time."""
    if kind is not None and kind not in KINDS:
        raise QueryError(f"kind must be one of {', '.join(KINDS)}", field="kind", value=kind)
    given = {
        "county": county,
        "outlet_id": outlet_id,
        "unit_id": unit_id,
        "kind": kind,
        "open_only": open_only or None,
        "since": since,
    }
    used = {name: value for name, value in given.items() if value is not None}
    where = " AND ".join(FILTERS[name] for name in used) or "true"
    rows = session.execute(
        text(f"{EVENT_SQL} WHERE {where} ORDER BY e.started_at DESC, e.id DESC LIMIT :limit"),
        {**used, "limit": min(limit, MAX_LIMIT)},
    ).mappings()
    return [dict(row) for row in rows]


def get_event(session: Session, *, event_id: int) -> dict:
    """One event with its outlet, unit and pollutant; NotFoundError when there is none."""
    row = (
        session.execute(text(f"{EVENT_SQL} WHERE e.id = :id"), {"id": event_id})
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFoundError(f"monitoring event {event_id} does not exist")
    return dict(row)


def _when(at: datetime | None) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if at else "—"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{round(value, 3):g}"


def default_finding(event: dict) -> str:
    """The finding a problem opened from `event` states (Chinese, like the rest of the ledger)."""
    pollutant = event["pollutant_name"] or event["pollutant_code"]
    subject = f"{event['unit_name']} 排放口{event['outlet_code']}"
    if pollutant:
        subject += f" {pollutant}（{event['pollutant_code']}）"
    if event["kind"] == "offline":
        subject += f" 数采仪{event['mn']}"
    period = f"{_when(event['started_at'])}起至{_when(event['ended_at'])}"
    if event["ended_at"] is None:
        period = f"{_when(event['started_at'])}起，至今未恢复"
    parts = [
        f"{KIND_NAMES[event['kind']]}：{subject}{RULE_NAMES.get(event['rule'], event['rule'])}"
    ]
    parts.append(period)
    if event["peak_value"] is not None and event["kind"] != "offline":
        unit = f" {event['concentration_unit']}" if event["concentration_unit"] else ""
        if event["rule"] == "annual_quantity":
            unit = " t"
        peak = f"峰值{_number(event['peak_value'])}{unit}（{_when(event['peak_at'])}）"
        if event["limit_value"] is not None:
            peak += f"，限值{_number(event['limit_value'])}{unit}"
        parts.append(peak)
    if event["detail"]:
        parts.append(event["detail"])
    return "，".join(parts) + "。"


def open_problem_from_event(
    session: Session,
    *,
    event_id: int,
    department: str,
    deadline: date | None,
    today: date,
    opened_by: str,
    problem_type: str | None = None,
    finding: str | None = None,
) -> int:
    """Open the ledger problem of an event (source `monitoring`, on its unit and outlet) and link
    it; returns the problem's id. NotFoundError; ConflictError when the event has one already;
    the ledger's own ValidationErrors (department, deadline, type)."""
    locked = session.execute(
        text("SELECT problem_id FROM monitoring_events WHERE id = :id FOR UPDATE"),
        {"id": event_id},
    ).one_or_none()
    if locked is None:
        raise NotFoundError(f"monitoring event {event_id} does not exist")
    if locked.problem_id is not None:
        raise ConflictError(f"monitoring event {event_id} already has problem {locked.problem_id}")
    event = get_event(session, event_id=event_id)
    problem_id = open_problem(
        session,
        source="monitoring",
        problem_type=problem_type or PROBLEM_TYPES[event["kind"]],
        unit_id=event["unit_id"],
        outlet_id=event["outlet_id"],
        finding=finding or default_finding(event),
        department=department,
        deadline=deadline,
        today=today,
        opened_by=opened_by,
    )
    session.execute(
        text("UPDATE monitoring_events SET problem_id = :p WHERE id = :id"),
        {"p": problem_id, "id": event_id},
    )
    return problem_id
