"""Tables of migration 0009: random inspections (双随机) and permit quality spot checks.

A draw keeps everything needed to run it again (seed, parameters, the ordered population, the
assignee pool and the conflicts as they were), so re-running it from the record gives the same
units and the same inspectors whatever changed since. Its items and results hang off it.
"""

# Imported by geo.models (Base.metadata); the helper modules import Base from there.

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.models import Base, _enum


class DrawKind(enum.StrEnum):
    """What a draw picks: units to inspect (双随机执法检查) or permits to check (质量抽查)."""

    INSPECTION = "inspection"
    PERMIT_QUALITY = "permit_quality"


class InspectionConclusion(enum.StrEnum):
    """The outcome of one inspection or permit check."""

    COMPLIANT = "compliant"
    PROBLEMS_FOUND = "problems_found"
    NOT_OPERATING = "not_operating"


class PositiveListEntry(Base):
    """A unit on the enforcement positive list (正面清单): drawn less often."""

    __tablename__ = "positive_list"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    reason: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(Text, nullable=False)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class InspectionConflict(Base):
    """An inspector who must never be assigned to a unit (kin, former employer …)."""

    __tablename__ = "inspection_conflicts"
    __table_args__ = (
        UniqueConstraint("inspector_id", "unit_id", name="uq_inspection_conflicts_pair"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    inspector_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), nullable=False, index=True
    )
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    recorded_by: Mapped[str] = mapped_column(Text, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Draw(Base):
    """One random draw and everything needed to re-run it (the snapshots never change)."""

    __tablename__ = "draws"
    __table_args__ = (
        CheckConstraint("seed >= 0", name="seed_nonneg"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
        CheckConstraint(
            "(published_at IS NULL) = (published_by IS NULL)", name="published_by_whom"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[DrawKind] = mapped_column(_enum(DrawKind, "draw_kind"), nullable=False)
    year: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    period: Mapped[str | None] = mapped_column(Text)
    drawn_on: Mapped[date] = mapped_column(Date, nullable=False)
    drawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    drawn_by: Mapped[str] = mapped_column(Text, nullable=False)
    seed: Mapped[int] = mapped_column(BigInteger, nullable=False)
    algorithm: Mapped[str] = mapped_column(Text, nullable=False)
    parameters: Mapped[dict] = mapped_column(JSONB, nullable=False)
    population: Mapped[list] = mapped_column(JSONB, nullable=False)
    assignee_pool: Mapped[list] = mapped_column(JSONB, nullable=False)
    conflicts: Mapped[list] = mapped_column(JSONB, nullable=False)
    digest: Mapped[str] = mapped_column(Text, nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str | None] = mapped_column(Text)


class DrawItem(Base):
    """A unit (and, in a permit check, its permit) a draw picked, with its assignees."""

    __tablename__ = "draw_items"
    __table_args__ = (
        UniqueConstraint("draw_id", "seq", name="uq_draw_items_seq"),
        UniqueConstraint("draw_id", "unit_id", "permit_id", name="uq_draw_items_unit"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    draw_id: Mapped[int] = mapped_column(
        ForeignKey("draws.id", ondelete="CASCADE"), nullable=False, index=True
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    permit_id: Mapped[int | None] = mapped_column(ForeignKey("permits.id", ondelete="RESTRICT"))
    stratum: Mapped[str] = mapped_column(Text, nullable=False)
    positive_list: Mapped[bool] = mapped_column(Boolean, nullable=False)
    assignee_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), nullable=False)


class InspectionResult(Base):
    """What the inspection (or permit check) of a drawn item found; edited under a version."""

    __tablename__ = "inspection_results"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    draw_id: Mapped[int] = mapped_column(
        ForeignKey("draws.id", ondelete="CASCADE"), nullable=False, index=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("draw_items.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    conclusion: Mapped[InspectionConclusion] = mapped_column(
        _enum(InspectionConclusion, "inspection_conclusion"), nullable=False
    )
    findings: Mapped[str | None] = mapped_column(Text)
    inspected_on: Mapped[date] = mapped_column(Date, nullable=False)
    entered_by: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
