"""What surrounds a draw: the positive list (正面清单), inspector–unit conflicts, results entered
against a draw's items (optimistic locking by `version`), and the staff and public views of
draws. The public view is one declaration (`PUBLIC_*` below): what it does not name is never
published (no conflicts, no findings, no positive-list flags, no user ids, no snapshots).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.clock import CHINA
from geo.errors import ConflictError, ForbiddenError, NotFoundError, QueryError, ValidationError
from geo.models_inspections import InspectionConclusion

# --- positive list ----------------------------------------------------------------------------


def _unit_exists(session: Session, unit_id: int) -> bool:
    found = session.execute(text("SELECT 1 FROM units WHERE id = :id"), {"id": unit_id})
    return found.first() is not None


def add_to_positive_list(
    session: Session, unit_id: int, *, reason: str | None, actor: str, now: datetime
) -> dict[str, Any]:
    """Put a unit on the positive list (409 when it is on it already)."""
    if not _unit_exists(session, unit_id):
        raise NotFoundError(f"no unit {unit_id}")
    row = session.execute(
        text("""
        INSERT INTO positive_list (unit_id, reason, added_by, added_at)
        VALUES (:unit, :reason, :actor, :now) ON CONFLICT (unit_id) DO NOTHING
        RETURNING id, unit_id, reason, added_by, added_at
    """),
        {"unit": unit_id, "reason": reason, "actor": actor, "now": now},
    ).first()
    if row is None:
        raise ConflictError(f"unit {unit_id} is on the positive list already")
    return dict(row._mapping)


def remove_from_positive_list(session: Session, unit_id: int) -> None:
    """Take a unit off the positive list."""
    gone = session.execute(
        text("DELETE FROM positive_list WHERE unit_id = :unit RETURNING id"), {"unit": unit_id}
    ).first()
    if gone is None:
        raise NotFoundError(f"unit {unit_id} is not on the positive list")


def positive_list(session: Session) -> list[dict[str, Any]]:
    """Every unit on the positive list, with its name and county."""
    rows = session.execute(
        text("""
        SELECT p.unit_id, u.name, u.credit_code, u.county_code, u.category::text,
               p.reason, p.added_by, p.added_at
        FROM positive_list p JOIN units u ON u.id = p.unit_id ORDER BY p.unit_id
    """)
    )
    return [dict(r._mapping) for r in rows]


# --- conflicts --------------------------------------------------------------------------------


def record_conflict(
    session: Session, *, inspector_id: int, unit_id: int, reason: str, actor: str, now: datetime
) -> dict[str, Any]:
    """Record that an inspector must never be assigned to a unit."""
    if not reason.strip():
        raise ValidationError("say why the inspector is conflicted", field="reason")
    user = session.execute(text("SELECT 1 FROM users WHERE id = :id"), {"id": inspector_id})
    if user.first() is None:
        raise ValidationError("no such user", field="inspector_id", value=inspector_id)
    if not _unit_exists(session, unit_id):
        raise ValidationError("no such unit", field="unit_id", value=unit_id)
    row = session.execute(
        text("""
        INSERT INTO inspection_conflicts (inspector_id, unit_id, reason, recorded_by, recorded_at)
        VALUES (:user, :unit, :reason, :actor, :now)
        ON CONFLICT (inspector_id, unit_id) DO NOTHING
        RETURNING id, inspector_id, unit_id, reason, recorded_by, recorded_at
    """),
        {"user": inspector_id, "unit": unit_id, "reason": reason, "actor": actor, "now": now},
    ).first()
    if row is None:
        raise ConflictError(f"a conflict of user {inspector_id} with unit {unit_id} is recorded")
    return dict(row._mapping)


def conflicts(
    session: Session, *, inspector_id: int | None = None, unit_id: int | None = None
) -> list[dict[str, Any]]:
    """Recorded conflicts, optionally of one inspector or one unit."""
    rows = session.execute(
        text("""
        SELECT c.id, c.inspector_id, us.display_name AS inspector, c.unit_id, u.name AS unit,
               c.reason, c.recorded_by, c.recorded_at
        FROM inspection_conflicts c JOIN users us ON us.id = c.inspector_id
        JOIN units u ON u.id = c.unit_id
        WHERE (CAST(:user AS integer) IS NULL OR c.inspector_id = :user)
          AND (CAST(:unit AS bigint) IS NULL OR c.unit_id = :unit)
        ORDER BY c.id
    """),
        {"user": inspector_id, "unit": unit_id},
    )
    return [dict(r._mapping) for r in rows]


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enterer:
    """Who enters a result: assignees enter their own units; supervisors any unit."""

    name: str
    user_id: int | None
    any_unit: bool


@dataclass(frozen=True)
class ResultInput:
    """A result as entered (permit_id picks the item when a unit has several permits drawn)."""

    unit_id: int
    conclusion: InspectionConclusion
    inspected_on: date
    findings: str | None = None
    permit_id: int | None = None


RESULT_COLUMNS = (
    "id, draw_id, item_id, conclusion::text, findings, inspected_on, entered_by, version"
)


def enter_result(
    session: Session, draw_id: int, result: ResultInput, *, by: Enterer, today: date
) -> dict[str, Any]:
    """Enter the result of a drawn unit (400 if not drawn, 409 if entered already)."""
    item = _item(session, draw_id, result.unit_id, result.permit_id, by)
    _check_date(result.inspected_on, item["drawn_on"], today)
    try:
        with session.begin_nested():
            row = session.execute(
                text(f"""
                INSERT INTO inspection_results (draw_id, item_id, conclusion, findings,
                                                inspected_on, entered_by)
                VALUES (:draw, :item, :conclusion, :findings, :on, :by)
                RETURNING {RESULT_COLUMNS}
            """),
                {**_result_values(result, by), "draw": draw_id, "item": item["id"]},
            ).one()
    except IntegrityError as error:
        message = (
            f"a result for unit {result.unit_id} in draw {draw_id} is entered already;"
            " change it with its version"
        )
        raise ConflictError(message) from error
    return {**dict(row._mapping), "unit_id": result.unit_id}


def update_result(
    session: Session, draw_id: int, result: ResultInput, *, version: int, by: Enterer, today: date
) -> dict[str, Any]:
    """Change an entered result, if nobody changed it since `version` was read (else 409)."""
    item = _item(session, draw_id, result.unit_id, result.permit_id, by)
    _check_date(result.inspected_on, item["drawn_on"], today)
    row = session.execute(
        text(f"""
        UPDATE inspection_results
        SET conclusion = :conclusion, findings = :findings, inspected_on = :on,
            entered_by = :by, version = version + 1
        WHERE item_id = :item AND version = :version
        RETURNING {RESULT_COLUMNS}
    """),
        {**_result_values(result, by), "item": item["id"], "version": version},
    ).first()
    if row is None:
        current = session.execute(
            text("SELECT version FROM inspection_results WHERE item_id = :item"),
            {"item": item["id"]},
        ).scalar()
        if current is None:
            raise NotFoundError(f"no result for unit {result.unit_id} in draw {draw_id} yet")
        message = f"the result was changed by someone else (version {current}, you sent {version})"
        raise ConflictError(message)
    return {**dict(row._mapping), "unit_id": result.unit_id}


def _result_values(result: ResultInput, by: Enterer) -> dict[str, Any]:
    return {
        "conclusion": result.conclusion.value,
        "findings": result.findings,
        "on": result.inspected_on,
        "by": by.name,
    }


def _item(
    session: Session, draw_id: int, unit_id: int, permit_id: int | None, by: Enterer
) -> dict[str, Any]:
    drawn_on = session.execute(
        text("SELECT drawn_on FROM draws WHERE id = :id"), {"id": draw_id}
    ).scalar()
    if drawn_on is None:
        raise NotFoundError(f"no draw {draw_id}")
    items = session.execute(
        text("""
        SELECT id, permit_id, assignee_ids FROM draw_items
        WHERE draw_id = :draw AND unit_id = :unit
          AND (CAST(:permit AS bigint) IS NULL OR permit_id = :permit)
        ORDER BY seq
    """),
        {"draw": draw_id, "unit": unit_id, "permit": permit_id},
    ).all()
    if not items:
        message = f"unit {unit_id} was not drawn in draw {draw_id}"
        raise QueryError(message, field="unit_id", value=unit_id)
    if len(items) > 1:
        message = f"unit {unit_id} has several permits in draw {draw_id}: name the permit"
        raise ValidationError(message, field="permit_id")
    item = items[0]
    if not by.any_unit and by.user_id not in item.assignee_ids:
        raise ForbiddenError(f"unit {unit_id} of draw {draw_id} is not assigned to you")
    return {"id": item.id, "drawn_on": drawn_on}


def _check_date(inspected_on: date, drawn_on: date, today: date) -> None:
    if inspected_on > today:
        raise ValidationError("the inspection date is in the future", field="inspected_on")
    if inspected_on < drawn_on:
        message = "the inspection date is before the draw"
        raise ValidationError(message, field="inspected_on", value=inspected_on)


# --- views ------------------------------------------------------------------------------------

DRAW_FIELDS = (
    "id, kind::text, year, period, drawn_on, drawn_at, drawn_by, seed, algorithm, parameters,"
    " digest, published_at, published_by, jsonb_array_length(population) AS population_size,"
    " (SELECT count(*) FROM draw_items i WHERE i.draw_id = d.id) AS drawn,"
    " (SELECT count(*) FROM inspection_results r WHERE r.draw_id = d.id) AS results"
)
# what the public sees of a draw, its parameters and its items: nothing else is published
PUBLIC_DRAW_FIELDS = ("id", "kind", "year", "period", "drawn_on", "seed", "algorithm", "digest")
PUBLIC_PARAMETERS = ("ratios", "positive_list_factor", "counties", "inspectors_per_unit")
PUBLIC_ITEM_FIELDS = ("seq", "name", "credit_code", "county_code", "class", "permit_no")


def draws(session: Session, *, published_only: bool = False) -> list[dict[str, Any]]:
    """Every draw (or every published one), newest first."""
    rows = session.execute(
        text(
            f"SELECT {DRAW_FIELDS} FROM draws d"
            " WHERE NOT :published_only OR published_at IS NOT NULL ORDER BY id DESC"
        ),
        {"published_only": published_only},
    )
    return [dict(r._mapping) for r in rows]


def draw_detail(session: Session, draw_id: int, *, published_only: bool = False) -> dict[str, Any]:
    """A draw with its strata and items, each item with its assignees and result (staff)."""
    row = session.execute(
        text(f"SELECT {DRAW_FIELDS} FROM draws d WHERE id = :id"), {"id": draw_id}
    ).first()
    if row is None or (published_only and row.published_at is None):
        raise NotFoundError(f"no draw {draw_id}")
    return {
        **dict(row._mapping),
        "strata": _strata(session, draw_id),
        "items": _items(session, draw_id),
    }


def _strata(session: Session, draw_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        text("""
        WITH pop AS (
          SELECT (e ->> 2) || '/' || (e ->> 3) AS stratum, (e ->> 4)::boolean AS positive_list,
                 count(*) AS size
          FROM draws d, jsonb_array_elements(d.population) e WHERE d.id = :id GROUP BY 1, 2
        ), drawn AS (
          SELECT stratum, positive_list, count(*) AS drawn FROM draw_items
          WHERE draw_id = :id GROUP BY 1, 2
        )
        SELECT pop.stratum, pop.positive_list, pop.size, coalesce(drawn.drawn, 0) AS drawn
        FROM pop LEFT JOIN drawn USING (stratum, positive_list)
        ORDER BY pop.stratum, pop.positive_list
    """),
        {"id": draw_id},
    )
    return [dict(r._mapping) for r in rows]


def _items(session: Session, draw_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        text("""
        SELECT i.seq, i.unit_id, i.permit_id, p.permit_no, u.name, u.credit_code,
               u.county_code, i.stratum, split_part(i.stratum, '/', 2) AS class,
               i.positive_list,
               (SELECT coalesce(jsonb_agg(jsonb_build_object('id', us.id,
                                          'display_name', us.display_name) ORDER BY a.n), '[]')
                FROM unnest(i.assignee_ids) WITH ORDINALITY AS a(user_id, n)
                JOIN users us ON us.id = a.user_id) AS assignees,
               CASE WHEN r.id IS NULL THEN NULL ELSE jsonb_build_object(
                 'id', r.id, 'conclusion', r.conclusion, 'findings', r.findings,
                 'inspected_on', r.inspected_on, 'entered_by', r.entered_by,
                 'version', r.version) END AS result
        FROM draw_items i JOIN units u ON u.id = i.unit_id
        LEFT JOIN permits p ON p.id = i.permit_id
        LEFT JOIN inspection_results r ON r.item_id = i.id
        WHERE i.draw_id = :id ORDER BY i.seq
    """),
        {"id": draw_id},
    )
    return [dict(r._mapping) for r in rows]


def public_draws(session: Session) -> list[dict[str, Any]]:
    """Published draws, public fields only."""
    return [_public_draw(d) for d in draws(session, published_only=True)]


def public_draw(session: Session, draw_id: int) -> dict[str, Any]:
    """A published draw with the units drawn, the inspectors' names and the conclusions."""
    detail = draw_detail(session, draw_id, published_only=True)
    strata: dict[str, dict[str, int]] = {}
    for s in detail["strata"]:
        total = strata.setdefault(s["stratum"], {"size": 0, "drawn": 0})
        total["size"] += s["size"]
        total["drawn"] += s["drawn"]
    items = [
        {
            **{name: item[name] for name in PUBLIC_ITEM_FIELDS},
            "inspectors": [a["display_name"] for a in item["assignees"]],
            "conclusion": item["result"]["conclusion"] if item["result"] else None,
        }
        for item in detail["items"]
    ]
    strata_list = [{"stratum": k, **v} for k, v in sorted(strata.items())]
    return {**_public_draw(detail), "strata": strata_list, "items": items}


def _public_draw(draw: dict[str, Any]) -> dict[str, Any]:
    published = draw["published_at"]
    return {
        **{name: draw[name] for name in PUBLIC_DRAW_FIELDS},
        "published_on": published.astimezone(CHINA).date() if published else None,
        "parameters": {name: draw["parameters"].get(name) for name in PUBLIC_PARAMETERS},
        "population_size": draw["population_size"],
        "drawn": draw["drawn"],
        "results": draw["results"],
    }
