"""The rules of the permit lifecycle, without the database: which transitions exist, who may make
them, from which states, with which grounds; the permit as read (`PermitRecord`) and what its
state allows today."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from geo.errors import ConflictError, ValidationError
from geo.models import PermitStatus


class Transition(enum.StrEnum):
    """A lifecycle transition, named as `permit_history.change` records it."""

    ISSUE = "issue"
    CHANGE = "change"
    RENEW = "renew"
    REVOKE = "revoke"
    CANCEL = "cancel"
    WITHDRAW = "withdraw"


class CancelGround(enum.StrEnum):
    """Why a permit is cancelled (注销)."""

    UNIT_CLOSED = "unit_closed"
    EXPIRED = "expired"
    HOLDER_REQUEST = "holder_request"


VALID, EXPIRED = PermitStatus.VALID.value, PermitStatus.EXPIRED.value
# who may make each transition (admins may make any: api.auth)
TRANSITION_ROLES: dict[Transition, tuple[str, ...]] = {
    Transition.ISSUE: ("reviewer",),
    Transition.CHANGE: ("reviewer",),
    Transition.RENEW: ("reviewer",),
    Transition.CANCEL: ("reviewer",),
    Transition.REVOKE: ("supervisor",),
    Transition.WITHDRAW: ("supervisor",),
}
FROM_STATUSES: dict[Transition, frozenset[str]] = {
    Transition.CHANGE: frozenset({VALID}),
    Transition.RENEW: frozenset({VALID, EXPIRED}),
    Transition.REVOKE: frozenset({VALID, EXPIRED}),
    Transition.CANCEL: frozenset({VALID, EXPIRED}),
    Transition.WITHDRAW: frozenset({VALID}),
}
IN_FORCE_ONLY = frozenset({Transition.CHANGE, Transition.WITHDRAW})
END_STATUS = {
    Transition.REVOKE: PermitStatus.REVOKED.value,
    Transition.CANCEL: PermitStatus.CANCELLED.value,
    Transition.WITHDRAW: PermitStatus.WITHDRAWN.value,
}


class TransitionError(ConflictError, ValidationError):
    """The permit's (or unit's) state forbids the transition: a 409 that names the field it is
    about (the API adds `field` and `value` to problem details of validation errors)."""


@dataclass(frozen=True)
class PermitRecord:
    """A permit with its unit's name, county and operating status."""

    id: int
    permit_no: str
    unit_id: int
    unit_name: str
    credit_code: str
    county_code: str
    unit_status: str
    kind: str
    status: str
    issued_on: date
    valid_from: date
    valid_to: date
    authority: str
    report_frequencies: list[str]
    version: int
    created_at: datetime
    updated_at: datetime

    def in_force(self, today: date) -> bool:
        """Valid and not past its last day."""
        return self.status == VALID and self.valid_to >= today

    def transitions(self, today: date) -> list[str]:
        """The transitions its state allows today (whatever the caller's role)."""
        return [t.value for t in FROM_STATUSES if state_problem(self, t, today) is None]


def check_ground(permit: PermitRecord, ground: CancelGround, today: date) -> None:
    """Refuse a cancellation whose ground the permit and its unit do not bear out."""
    if ground is CancelGround.UNIT_CLOSED and permit.unit_status != "closed":
        raise TransitionError(
            f"the unit is {permit.unit_status}, not closed", field="ground", value=ground.value
        )
    if ground is CancelGround.EXPIRED and permit.in_force(today):
        raise TransitionError(
            f"the permit is in force until {permit.valid_to}, not expired",
            field="ground",
            value=ground.value,
        )


def state_problem(permit: PermitRecord, transition: Transition, today: date) -> str | None:
    """Why the permit's state forbids the transition today, or None when it allows it."""
    if permit.status not in FROM_STATUSES[transition]:
        return f"a {permit.status} permit cannot be {_PAST[transition]}"
    if transition in IN_FORCE_ONLY and not permit.in_force(today):
        return f"the permit expired on {permit.valid_to}: renew or cancel it"
    return None


_PAST = {
    Transition.CHANGE: "changed",
    Transition.RENEW: "renewed",
    Transition.REVOKE: "revoked",
    Transition.CANCEL: "cancelled",
    Transition.WITHDRAW: "withdrawn",
}
