"""Zone rules: staff read them, admins change them (every change audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import AdminUser, StaffUser
from api.deps import SessionDep
from geo.rules import list_rules, rule_audit, update_rule

router = APIRouter(prefix="/api/rules", tags=["rules"])


class RuleOut(BaseModel):
    """A zone rule."""

    code: str
    zone_kind: str
    zone_grade: str | None
    feature_type: str
    medium: str | None
    industry_scope: str
    industry_codes: list[str]
    requires_discharge: bool
    applies_to: str
    severity: str
    legal_basis: str
    description: str
    active: bool
    updated_at: datetime


class RuleChange(BaseModel):
    """Fields an admin may change; only those sent are changed."""

    model_config = {"extra": "forbid"}

    active: bool | None = None
    severity: Literal["prohibited", "restricted", "notice"] | None = None
    legal_basis: str | None = Field(default=None, min_length=2, max_length=500)
    description: str | None = Field(default=None, min_length=2, max_length=2_000)
    industry_scope: Literal["any", "heavy_water_polluter", "listed", "access_list"] | None = None
    industry_codes: list[str] | None = None
    requires_discharge: bool | None = None
    applies_to: Literal["new", "existing", "any"] | None = None


class AuditEntry(BaseModel):
    """One audited change."""

    action: str
    changed_by: str
    changed_at: datetime
    before: dict | None
    after: dict | None


@router.get("", response_model=list[RuleOut])
def get_rules(session: SessionDep, user: StaffUser) -> list[RuleOut]:
    """Every rule."""
    return [RuleOut(**rule) for rule in list_rules(session)]


@router.patch("/{code}", response_model=RuleOut)
def patch_rule(code: str, body: RuleChange, session: SessionDep, user: AdminUser) -> RuleOut:
    """Change a rule (admins); the audit trail records who and what."""
    changes = body.model_dump(exclude_unset=True)
    return RuleOut(**update_rule(session, code=code, changes=changes, actor=user.name))


@router.get("/{code}/audit", response_model=list[AuditEntry])
def get_rule_audit(code: str, session: SessionDep, user: StaffUser) -> list[AuditEntry]:
    """Who changed a rule, when, from what to what."""
    return [AuditEntry(**entry) for entry in rule_audit(session, code=code)]
