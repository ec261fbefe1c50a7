"""Tables of migration 0011: the record of each import that wrote."""

# Imported by geo.models (Base.metadata).

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from geo.models import Base


class ImportRun(Base):
    """An import that wrote: what file, how many rows, what it changed, who ran it."""

    __tablename__ = "import_runs"
    __table_args__ = (
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="import_runs_sha256_check"),
        CheckConstraint("rows >= 0", name="import_runs_rows_check"),
        CheckConstraint("inserted >= 0", name="import_runs_inserted_check"),
        CheckConstraint("updated >= 0", name="import_runs_updated_check"),
        CheckConstraint("unchanged >= 0", name="import_runs_unchanged_check"),
        Index("ix_import_runs_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    filename: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(Text, nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    inserted: Mapped[int] = mapped_column(Integer, nullable=False)
    updated: Mapped[int] = mapped_column(Integer, nullable=False)
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False)
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    screening_run_id: Mapped[int | None] = mapped_column(ForeignKey("screening_runs.id"))
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
