"""Tables of migration 0010: penalty decisions (行政处罚决定) and execution reports (执行报告).

The enforcement status that reads them (and the problem ledger) is the `unit_status` view of
that migration.
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
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from geo.models import Base, _enum
from geo.models_problems import Problem


class Penalty(Base):
    """An administrative penalty decision (行政处罚决定书); public ones are disclosed."""

    __tablename__ = "penalties"
    __table_args__ = (
        CheckConstraint("amount_yuan >= 0", name="amount_not_negative"),
        CheckConstraint("length(btrim(decision_no)) > 0", name="decision_no_present"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_penalties_decided_on", "decided_on"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    decision_no: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    decided_on: Mapped[date] = mapped_column(Date, nullable=False)
    violation: Mapped[str] = mapped_column(Text, nullable=False)
    legal_basis: Mapped[str] = mapped_column(Text, nullable=False)
    amount_yuan: Mapped[float] = mapped_column(Numeric(14, 2), nullable=False)
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class ReportKind(enum.StrEnum):
    """执行报告 frequency: 年报 / 季报 / 月报."""

    ANNUAL = "annual"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"


class ExecutionReport(Base):
    """An execution report a permit holder owes for one period, with its due date; late or
    missing ones are linked to the problem the check opened for them."""

    __tablename__ = "execution_reports"
    __table_args__ = (
        UniqueConstraint("permit_id", "kind", "period_start", name="uq_execution_reports_period"),
        CheckConstraint("period_end >= period_start", name="period_order"),
        CheckConstraint("due_on > period_end", name="due_after_period"),
        CheckConstraint("version >= 1", name="version_positive"),
        # the check's work list: reports past due with no problem yet
        Index(
            "ix_execution_reports_unresolved",
            "due_on",
            postgresql_where=text("problem_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    permit_id: Mapped[int] = mapped_column(
        ForeignKey("permits.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[ReportKind] = mapped_column(_enum(ReportKind, "report_kind"), nullable=False)
    period: Mapped[str] = mapped_column(String(8), nullable=False)
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    period_end: Mapped[date] = mapped_column(Date, nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    submitted_on: Mapped[date | None] = mapped_column(Date)
    submitted_by: Mapped[str | None] = mapped_column(Text)
    problem_id: Mapped[int | None] = mapped_column(
        ForeignKey("problems.id", ondelete="SET NULL"), index=True
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


# The open problems of a unit, as the `unit_status` view counts them (migration 0010): a partial
# index on the problem ledger's table, declared here with the view that needs it.
Index(
    "ix_problems_open_unit",
    Problem.unit_id,
    Problem.deadline,
    postgresql_where=text("status NOT IN ('verified', 'closed')"),
)
