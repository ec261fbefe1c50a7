"""Tables of migration 0008: problem ledger, rectification and evidence attachments."""

# Imported by geo.models (Base.metadata); the helper modules import Base from there.

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from geo.models import Base, Timestamps, _enum


class ProblemSource(enum.StrEnum):
    """Where a problem was found."""

    PERMIT_REVIEW = "permit_review"  # 排污许可证质量审核
    MONITORING = "monitoring"  # 监测
    INSPECTION = "inspection"  # 执法检查
    PUBLIC_REPORT = "public_report"  # 公众举报
    SCREENING_FLAG = "screening_flag"  # a confirmed screening flag
    EXECUTION_REPORT = "execution_report"  # 执行报告 late or missing


class ProblemStatus(enum.StrEnum):
    """Where a problem stands: open → rectifying → submitted → verified → closed (销号)."""

    OPEN = "open"
    RECTIFYING = "rectifying"
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    CLOSED = "closed"


class Problem(Timestamps, Base):
    """One item of the problem ledger (问题台账). `version` counts its writes (optimistic lock)."""

    __tablename__ = "problems"
    __table_args__ = (
        UniqueConstraint("flag_id", name="uq_problems_flag"),
        CheckConstraint("problem_type ~ '^[a-z][a-z0-9_]{1,39}$'", name="problem_type_format"),
        CheckConstraint("length(btrim(finding)) > 0", name="finding_given"),
        CheckConstraint("length(btrim(department)) > 0", name="department_given"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("deadline IS NULL OR deadline > opened_on", name="deadline_after_opening"),
        CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at_iff_closed"
        ),
        CheckConstraint(
            "flag_id IS NULL OR source = 'screening_flag'", name="flag_only_from_screening"
        ),
        Index("ix_problems_status_deadline", "status", "deadline"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[ProblemSource] = mapped_column(
        _enum(ProblemSource, "problem_source"), nullable=False
    )
    problem_type: Mapped[str] = mapped_column(Text, nullable=False)
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id", ondelete="SET NULL"))
    flag_id: Mapped[int | None] = mapped_column(ForeignKey("flags.id", ondelete="RESTRICT"))
    finding: Mapped[str] = mapped_column(Text, nullable=False)
    department: Mapped[str] = mapped_column(Text, nullable=False)
    deadline: Mapped[date | None] = mapped_column(Date)
    status: Mapped[ProblemStatus] = mapped_column(
        _enum(ProblemStatus, "problem_status"), nullable=False, server_default="open"
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    opened_on: Mapped[date] = mapped_column(Date, nullable=False)
    opened_by: Mapped[str] = mapped_column(Text, nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class ProblemEvent(Base):
    """What happened to a problem, by whom (append-only: a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "problem_events"
    __table_args__ = (
        CheckConstraint(
            "event IN ('opened', 'transition', 'edited', 'evidence_added')", name="event_known"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problems.id", ondelete="CASCADE"), nullable=False, index=True
    )
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    event: Mapped[str] = mapped_column(Text, nullable=False)
    from_status: Mapped[ProblemStatus | None] = mapped_column(
        _enum(ProblemStatus, "problem_status")
    )
    to_status: Mapped[ProblemStatus | None] = mapped_column(_enum(ProblemStatus, "problem_status"))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)


class ProblemAttachment(Base):
    """An evidence file: stored on disk under `stored_name` (random), described here."""

    __tablename__ = "problem_attachments"
    __table_args__ = (
        UniqueConstraint("stored_name", name="uq_problem_attachments_stored_name"),
        CheckConstraint("stored_name ~ '^[0-9a-f]{32}$'", name="stored_name_random"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problems.id", ondelete="CASCADE"), nullable=False, index=True
    )
    stored_name: Mapped[str] = mapped_column(Text, nullable=False)
    original_name: Mapped[str] = mapped_column(Text, nullable=False)
    media_type: Mapped[str] = mapped_column(Text, nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(Text, nullable=False)
    uploaded_by: Mapped[str] = mapped_column(Text, nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
