"""Tables of migration 0012: online monitoring devices, thresholds, readings (partitioned by
month), special periods and monitoring events. The SQL (partition function, status view) is in
`geo/migrations/sql_0012.py`."""

# Imported by geo.models (Base.metadata).

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from geo.models import Base


class MonitoringDevice(Base):
    """A data-acquisition device (数采仪, HJ 212 `MN`) registered to an outlet."""

    __tablename__ = "monitoring_devices"
    __table_args__ = (
        CheckConstraint("mn ~ '^[0-9A-Za-z]{1,24}$'", name="mn_format"),
        CheckConstraint("password_sha256 ~ '^[0-9a-f]{64}$'", name="password_sha256_format"),
        CheckConstraint("interval_s > 0", name="interval_positive"),
        CheckConstraint("offline_intervals > 0", name="offline_intervals_positive"),
    )

    mn: Mapped[str] = mapped_column(Text, primary_key=True)
    outlet_id: Mapped[int] = mapped_column(
        ForeignKey("outlets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    password_sha256: Mapped[str] = mapped_column(Text, nullable=False)
    interval_s: Mapped[int] = mapped_column(Integer, nullable=False, server_default="60")
    offline_intervals: Mapped[int] = mapped_column(Integer, nullable=False, server_default="5")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    registered_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MonitoringThreshold(Base):
    """Per pollutant: the instrument range and the run of identical values that is abnormal."""

    __tablename__ = "monitoring_thresholds"
    __table_args__ = (
        CheckConstraint("pollutant_code ~ '^[wa][0-9]{5}$'", name="pollutant_code_format"),
        CheckConstraint(
            "range_min IS NULL OR range_max IS NULL OR range_min < range_max", name="range_order"
        ),
        CheckConstraint("constant_intervals >= 2", name="constant_intervals_at_least_two"),
    )

    pollutant_code: Mapped[str] = mapped_column(Text, primary_key=True)
    range_min: Mapped[float | None] = mapped_column(Float)
    range_max: Mapped[float | None] = mapped_column(Float)
    constant_intervals: Mapped[int] = mapped_column(Integer, nullable=False, server_default="10")


class Reading(Base):
    """A value received (Rtd for real-time data, Avg for minute/hour/day data), partitioned by
    month of `data_time`."""

    __tablename__ = "readings"
    __table_args__ = (
        Index("ux_readings", "outlet_id", "pollutant_code", "cn", "data_time", unique=True),
        {"postgresql_partition_by": "RANGE (data_time)"},
    )

    outlet_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    pollutant_code: Mapped[str] = mapped_column(Text, primary_key=True)
    cn: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    data_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    min: Mapped[float | None] = mapped_column(Float)
    max: Mapped[float | None] = mapped_column(Float)
    cou: Mapped[float | None] = mapped_column(Float)
    flag: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class SpecialPeriod(Base):
    """A declared special period (重污染天气应急…) for a county or the whole province."""

    __tablename__ = "special_periods"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period_order"),
        CheckConstraint("length(btrim(name)) > 0", name="name_given"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    county_code: Mapped[str | None] = mapped_column(String(6), ForeignKey("admin_regions.code"))
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[date] = mapped_column(Date, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class MonitoringEvent(Base):
    """An exceedance, abnormal-data or offline finding, open until `ended_at`."""

    __tablename__ = "monitoring_events"
    __table_args__ = (
        CheckConstraint("kind IN ('exceedance', 'abnormal', 'offline')", name="event_kind"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="event_order"),
        Index(
            "ux_monitoring_events_open",
            "outlet_id",
            text("coalesce(pollutant_code, '')"),
            "rule",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_monitoring_events_outlet", "outlet_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    outlet_id: Mapped[int] = mapped_column(
        ForeignKey("outlets.id", ondelete="CASCADE"), nullable=False
    )
    mn: Mapped[str | None] = mapped_column(Text)
    pollutant_code: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    rule: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    peak_value: Mapped[float | None] = mapped_column(Float)
    peak_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    limit_value: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str | None] = mapped_column(Text)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id", ondelete="SET NULL"))
    detected_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()
    )
