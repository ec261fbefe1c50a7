"""Random draws (双随机、一公开) and permit quality spot checks, reproducible from their record.

A draw is a pure function of its record (`run_draw(plan)`): the seed, the ratios, the ordered
population snapshot (unit, permit, county, class, positive-list flag), the assignee pool (user,
county) and the conflicts, all stored with the draw. The population is split into strata by
county × class (management category for inspections, first application / re-application for
permit checks) and positive-list flag; strata are visited in sorted order and each draws
ceil(ratio × factor × size) members with `random.Random(seed).sample`, the factor being the
positive-list factor for positive-list units and 1 otherwise. Then each drawn member, in drawn
order, gets `per_unit` distinct assignees from the same generator: from its own county when
enough are free of conflict, topped up from elsewhere, never one recorded as conflicted with the
unit. Replaying a stored draw rebuilds the plan from the record and compares.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError, QueryError, ValidationError
from geo.models_inspections import DrawKind

ALGORITHM = "python-random-v1"  # random.Random(seed).sample over the sorted strata
RATIO_DEFAULTS: dict[DrawKind, dict[str, float]] = {
    DrawKind.INSPECTION: {"key": 1.0, "simplified": 0.2, "registration": 0.05},
    # seeds: ≥ 30 % of first applications and ≥ 20 % of re-applications of the year
    DrawKind.PERMIT_QUALITY: {"first": 0.3, "renewal": 0.2},
}
ASSIGNEE_ROLE = {DrawKind.INSPECTION: "inspector", DrawKind.PERMIT_QUALITY: "reviewer"}
FIRST_CHANGES = ("issue",)  # permit_history.change of a first application
RENEWAL_CHANGES = ("renew", "renewal")  # … of a re-application (延续)
MAX_PER_UNIT = 5


class NotEnoughAssigneesError(QueryError):
    """A drawn unit has fewer conflict-free assignees than it needs (HTTP 400)."""


@dataclass(frozen=True)
class Member:
    """One entry of a population snapshot."""

    unit_id: int
    permit_id: int | None
    county: str
    klass: str  # management category, or first | renewal
    positive: bool

    @property
    def stratum(self) -> str:
        """county/class, as stored with a drawn item."""
        return f"{self.county}/{self.klass}"


@dataclass(frozen=True)
class Assignee:
    """An inspector (or reviewer) who may be drawn, with their county (None: anywhere)."""

    user_id: int
    county: str | None


@dataclass(frozen=True)
class DrawPlan:
    """Everything a draw is a function of."""

    seed: int
    ratios: Mapping[str, float]
    positive_factor: float
    per_unit: int
    population: tuple[Member, ...]
    pool: tuple[Assignee, ...]
    conflicts: frozenset[tuple[int, int]]  # (user id, unit id)


@dataclass(frozen=True)
class Pick:
    """A drawn member and its assignees' user ids."""

    member: Member
    assignees: tuple[int, ...]


@dataclass(frozen=True)
class DrawRequest:
    """What a supervisor asks for (missing ratios take the kind's defaults)."""

    kind: DrawKind
    year: int
    period: str | None = None
    ratios: Mapping[str, float] | None = None
    positive_list_factor: float = 0.5
    counties: tuple[str, ...] | None = None
    inspectors_per_unit: int = 2


def quota(size: int, ratio: float, factor: float = 1.0) -> int:
    """How many of a stratum are drawn: ceil(ratio × factor × size), in exact arithmetic
    (0.3 × 10 is 3, not the 4 that float rounding would give)."""
    return math.ceil(Fraction(str(ratio)) * Fraction(str(factor)) * size)


def run_draw(plan: DrawPlan) -> list[Pick]:
    """The draw: strata in sorted order, a sample of each, then assignees per drawn member."""
    rng = random.Random(plan.seed)
    strata: dict[tuple[str, str, bool], list[Member]] = defaultdict(list)
    for member in plan.population:
        strata[(member.county, member.klass, member.positive)].append(member)
    chosen: list[Member] = []
    for key in sorted(strata):
        members = strata[key]
        factor = plan.positive_factor if key[2] else 1.0
        chosen += rng.sample(members, quota(len(members), plan.ratios[key[1]], factor))
    return [Pick(member, _assign(rng, member, plan)) for member in chosen]


def _assign(rng: random.Random, member: Member, plan: DrawPlan) -> tuple[int, ...]:
    eligible = [a for a in plan.pool if (a.user_id, member.unit_id) not in plan.conflicts]
    need = plan.per_unit
    if len(eligible) < need:
        raise NotEnoughAssigneesError(
            f"unit {member.unit_id} cannot get {need} inspectors: only {len(eligible)} of"
            f" {len(plan.pool)} have no recorded conflict with it",
            field="inspectors_per_unit",
            value=need,
        )
    local = [a for a in eligible if a.county == member.county]
    if len(local) >= need:
        picked = rng.sample(local, need)
    else:
        others = [a for a in eligible if a.county != member.county]
        picked = rng.sample(local, len(local)) + rng.sample(others, need - len(local))
    return tuple(a.user_id for a in picked)


def digest(picks: list[Pick]) -> str:
    """SHA-256 of the draw's outcome (members and assignees in order): a replay must match it."""
    outcome = [[p.member.unit_id, p.member.permit_id, list(p.assignees)] for p in picks]
    return hashlib.sha256(json.dumps(outcome, separators=(",", ":")).encode()).hexdigest()


# --- the record -------------------------------------------------------------------------------


def create_draw(
    session: Session, request: DrawRequest, *, seed: int, now: datetime, today: date, actor: str
) -> int:
    """Snapshot the population, pool and conflicts, run the draw, store it all; the draw's id."""
    ratios = _checked_ratios(request)
    _check_request(session, request)
    counties = sorted(set(request.counties)) if request.counties else None
    quality = request.kind == DrawKind.PERMIT_QUALITY
    population = (
        _quality_population(session, request.year, counties)
        if quality
        else _inspection_population(session, counties)
    )
    if not population:
        field = "year" if quality else "counties"
        raise ValidationError("there is nothing to draw from", field=field, value=request.year)
    pool = _assignee_pool(session, ASSIGNEE_ROLE[request.kind])
    units = {m.unit_id for m in population}
    conflicts = sorted(pair for pair in _conflict_pairs(session) if pair[1] in units)
    factor = 1.0 if quality else request.positive_list_factor
    plan = DrawPlan(
        seed, ratios, factor, request.inspectors_per_unit, population, pool, frozenset(conflicts)
    )
    picks = run_draw(plan)
    parameters = {
        "ratios": ratios,
        "positive_list_factor": None if quality else factor,
        "counties": counties,
        "inspectors_per_unit": request.inspectors_per_unit,
        "assignee_role": ASSIGNEE_ROLE[request.kind],
    }
    draw_id = session.execute(
        text("""
        INSERT INTO draws (kind, year, period, drawn_on, drawn_at, drawn_by, seed, algorithm,
                           parameters, population, assignee_pool, conflicts, digest)
        VALUES (:kind, :year, :period, :today, :now, :actor, :seed, :algorithm,
                :parameters, :population, :pool, :conflicts, :digest)
        RETURNING id
    """),
        {
            "kind": request.kind.value,
            "year": request.year,
            "period": request.period,
            "today": today,
            "now": now,
            "actor": actor,
            "seed": seed,
            "algorithm": ALGORITHM,
            "parameters": json.dumps(parameters),
            "population": json.dumps([_member_row(m) for m in population]),
            "pool": json.dumps([[a.user_id, a.county] for a in pool]),
            "conflicts": json.dumps([list(pair) for pair in conflicts]),
            "digest": digest(picks),
        },
    ).scalar_one()
    _store_picks(session, draw_id, picks)
    return draw_id


def _member_row(m: Member) -> list[Any]:
    return [m.unit_id, m.permit_id, m.county, m.klass, m.positive]


def _store_picks(session: Session, draw_id: int, picks: list[Pick]) -> None:
    if not picks:
        return
    session.execute(
        text("""
        INSERT INTO draw_items (draw_id, seq, unit_id, permit_id, stratum, positive_list,
                                assignee_ids)
        VALUES (:draw, :seq, :unit, :permit, :stratum, :positive, :assignees)
    """),
        [
            {
                "draw": draw_id,
                "seq": seq,
                "unit": p.member.unit_id,
                "permit": p.member.permit_id,
                "stratum": p.member.stratum,
                "positive": p.member.positive,
                "assignees": list(p.assignees),
            }
            for seq, p in enumerate(picks, start=1)
        ],
    )


def _checked_ratios(request: DrawRequest) -> dict[str, float]:
    defaults = RATIO_DEFAULTS[request.kind]
    given = dict(request.ratios or {})
    for name, ratio in given.items():
        if name not in defaults:
            known = ", ".join(defaults)
            message = f"a {request.kind.value} draw has ratios for {known} only"
            raise ValidationError(message, field=f"ratios.{name}", value=name)
        if not 0 <= ratio <= 1:
            message = "a ratio is between 0 and 1"
            raise ValidationError(message, field=f"ratios.{name}", value=ratio)
    return {name: float(given.get(name, default)) for name, default in defaults.items()}


def _check_request(session: Session, request: DrawRequest) -> None:
    if not 0 <= request.positive_list_factor <= 1:
        message = "the positive-list factor is between 0 and 1"
        field = "positive_list_factor"
        raise ValidationError(message, field=field, value=request.positive_list_factor)
    if not 1 <= request.inspectors_per_unit <= MAX_PER_UNIT:
        message = f"1 to {MAX_PER_UNIT} inspectors per unit"
        raise ValidationError(message, field="inspectors_per_unit")
    if not 2000 <= request.year <= 2100:
        raise ValidationError("the year is out of range", field="year", value=request.year)
    if request.counties is not None:
        known = set(
            session.execute(
                text("SELECT code FROM admin_regions WHERE level = 'county' AND code = ANY(:c)"),
                {"c": list(request.counties)},
            ).scalars()
        )
        unknown = sorted(set(request.counties) - known)
        if unknown or not request.counties:
            message = f"unknown county {unknown[0]}" if unknown else "name at least one county"
            raise ValidationError(message, field="counties", value=unknown[0] if unknown else "")


def _inspection_population(session: Session, counties: list[str] | None) -> tuple[Member, ...]:
    """Units that are not closed, with their positive-list flag, in id order."""
    rows = session.execute(
        text("""
        SELECT u.id, u.county_code, u.category::text, p.unit_id IS NOT NULL AS positive
        FROM units u LEFT JOIN positive_list p ON p.unit_id = u.id
        WHERE u.status <> 'closed'
          AND (CAST(:counties AS text[]) IS NULL OR u.county_code = ANY(:counties))
        ORDER BY u.id
    """),
        {"counties": counties},
    ).all()
    return tuple(Member(r.id, None, r.county_code, r.category, r.positive) for r in rows)


def _quality_population(
    session: Session, year: int, counties: list[str] | None
) -> tuple[Member, ...]:
    """Permits first issued (first) or renewed (re-application) in the year, China time; a
    permit with both counts as a first application."""
    rows = session.execute(
        text("""
        SELECT p.id AS permit_id, p.unit_id, u.county_code,
               CASE WHEN bool_or(h.change = ANY(:first)) THEN 'first' ELSE 'renewal' END AS klass
        FROM permit_history h
        JOIN permits p ON p.id = h.permit_id
        JOIN units u ON u.id = p.unit_id
        WHERE p.kind = 'permit'
          AND h.change = ANY(:changes)
          AND extract(year FROM h.changed_at AT TIME ZONE 'Asia/Shanghai') = :year
          AND (CAST(:counties AS text[]) IS NULL OR u.county_code = ANY(:counties))
        GROUP BY p.id, p.unit_id, u.county_code
        ORDER BY p.id
    """),
        {
            "first": list(FIRST_CHANGES),
            "changes": [*FIRST_CHANGES, *RENEWAL_CHANGES],
            "year": year,
            "counties": counties,
        },
    ).all()
    return tuple(Member(r.unit_id, r.permit_id, r.county_code, r.klass, False) for r in rows)


def _assignee_pool(session: Session, role: str) -> tuple[Assignee, ...]:
    rows = session.execute(
        text("SELECT id, county_code FROM users WHERE role = :role AND active ORDER BY id"),
        {"role": role},
    ).all()
    return tuple(Assignee(r.id, r.county_code) for r in rows)


def _conflict_pairs(session: Session) -> list[tuple[int, int]]:
    rows = session.execute(text("SELECT inspector_id, unit_id FROM inspection_conflicts"))
    return [(r.inspector_id, r.unit_id) for r in rows]


# --- replay and publication ---------------------------------------------------------------------


def stored_plan(session: Session, draw_id: int) -> DrawPlan:
    """The plan a stored draw was run from, rebuilt from its record alone."""
    row = session.execute(
        text(
            "SELECT seed, parameters, population, assignee_pool, conflicts FROM draws"
            " WHERE id = :id"
        ),
        {"id": draw_id},
    ).first()
    if row is None:
        raise NotFoundError(f"no draw {draw_id}")
    parameters = row.parameters
    return DrawPlan(
        seed=row.seed,
        ratios=parameters["ratios"],
        positive_factor=parameters["positive_list_factor"] or 1.0,
        per_unit=parameters["inspectors_per_unit"],
        population=tuple(Member(*entry) for entry in row.population),
        pool=tuple(Assignee(*entry) for entry in row.assignee_pool),
        conflicts=frozenset((u, v) for u, v in row.conflicts),
    )


def replay_draw(session: Session, draw_id: int) -> dict[str, Any]:
    """Run a stored draw again from its record and say whether the outcome is identical."""
    picks = run_draw(stored_plan(session, draw_id))
    stored_digest = session.execute(
        text("SELECT digest FROM draws WHERE id = :id"), {"id": draw_id}
    ).scalar_one()
    stored = [
        (r.unit_id, r.permit_id, tuple(r.assignee_ids))
        for r in session.execute(
            text(
                "SELECT unit_id, permit_id, assignee_ids FROM draw_items"
                " WHERE draw_id = :id ORDER BY seq"
            ),
            {"id": draw_id},
        )
    ]
    replayed = [(p.member.unit_id, p.member.permit_id, p.assignees) for p in picks]
    differences = [
        {"seq": seq, "stored": _outcome(a), "replayed": _outcome(b)}
        for seq, (a, b) in enumerate(zip(stored, replayed, strict=False), start=1)
        if a != b
    ]
    identical = stored == replayed and digest(picks) == stored_digest
    return {
        "draw_id": draw_id,
        "identical": identical,
        "digest": stored_digest,
        "replayed_digest": digest(picks),
        "items": len(replayed),
        "differences": differences[:20],
    }


def _outcome(entry: tuple[int, int | None, tuple[int, ...]]) -> dict[str, Any]:
    return {"unit_id": entry[0], "permit_id": entry[1], "assignee_ids": list(entry[2])}


def publish_draw(session: Session, draw_id: int, *, now: datetime, actor: str) -> None:
    """Make a draw and its results public (once)."""
    published = session.execute(
        text(
            "UPDATE draws SET published_at = :now, published_by = :actor"
            " WHERE id = :id AND published_at IS NULL RETURNING id"
        ),
        {"id": draw_id, "now": now, "actor": actor},
    ).first()
    if published is None:
        exists = session.execute(text("SELECT 1 FROM draws WHERE id = :id"), {"id": draw_id})
        if exists.first() is None:
            raise NotFoundError(f"no draw {draw_id}")
        raise ConflictError(f"draw {draw_id} is published already")
