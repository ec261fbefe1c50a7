"""Staff users: argon2 password hashes, sign-in sessions (API tokens and browser cookies, only
their SHA-256 stored), the lock after too many failed sign-ins, and the actor every write is
audited under."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.clock import CHINA
from geo.errors import ConflictError, TooManyAttemptsError, ValidationError
from geo.models import UserRole

ROLES = tuple(role.value for role in UserRole)
USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,40}$")
MIN_PASSWORD = 10
SESSION_KINDS = ("api", "browser")
_HASHER = PasswordHasher()
# Checked when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("permitmap: no such user")


@dataclass(frozen=True)
class SignedIn:
    """Who a session token belongs to."""

    user_id: int
    username: str
    role: str
    county_code: str | None


def set_actor(session: Session, actor: str) -> None:
    """Name the actor of this transaction's writes in the audit log."""
    session.execute(text("SELECT set_config('permitmap.actor', :actor, true)"), {"actor": actor})


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    county_code: str | None = None,
) -> int:
    """Add a user; its password stored as an argon2 hash. Returns its id."""
    if not USERNAME.match(username):
        message = "a username is 2–40 letters, digits, '.', '_' or '-'"
        raise ValidationError(message, field="username", value=username)
    if role not in ROLES:
        message = f"role must be one of {', '.join(ROLES)}"
        raise ValidationError(message, field="role", value=role)
    if len(password) < MIN_PASSWORD:
        message = f"a password has at least {MIN_PASSWORD} characters"
        raise ValidationError(message, field="password")
    try:
        with session.begin_nested():
            return session.execute(
                text(
                    "INSERT INTO users (username, display_name, role, password_hash, county_code)"
                    " VALUES (:u, :d, :r, :h, :c) RETURNING id"
                ),
                {
                    "u": username,
                    "d": display_name or username,
                    "r": role,
                    "h": _HASHER.hash(password),
                    "c": county_code,
                },
            ).scalar_one()
    except IntegrityError as error:
        if "county_code" in str(error.orig):
            message = "no such county"
            raise ValidationError(message, field="county_code", value=county_code) from error
        raise ConflictError(f"user {username!r} exists already") from error


@dataclass(frozen=True)
class SignInPolicy:
    """`max_failures` failed sign-ins of a name within `lockout` lock it for `lockout`."""

    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    now: datetime,
    policy: SignInPolicy = SignInPolicy(),
) -> SignedIn | None:
    """The active user with this name and password, or None (same work either way).

    A failure is counted against the name as typed, known or not; the one that reaches
    `policy.max_failures` locks the name (an audit entry says so), and while it is locked every
    sign-in with it raises TooManyAttemptsError without looking at the password. A success
    clears the count. The count is written in the caller's transaction: answer a failure
    without raising, so that it is committed.
    """
    locked_until = session.execute(
        text(
            "SELECT locked_until FROM sign_in_failures WHERE username = :u AND locked_until > :now"
        ),
        {"u": username, "now": now},
    ).scalar()
    if locked_until is not None:
        local = locked_until.astimezone(CHINA)
        raise TooManyAttemptsError(
            f"too many failed sign-ins: {username!r} is locked until {local:%H:%M} (China time)",
            retry_after=max(1, int((locked_until - now).total_seconds())),
        )
    row = session.execute(
        text(
            "SELECT id, username, role::text, county_code, password_hash FROM users"
            " WHERE username = :u AND active"
        ),
        {"u": username},
    ).first()
    try:
        verified = _HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        verified = False
    if row is None or not verified:  # an unknown name fails even with the dummy's password
        _count_failure(session, username, now=now, policy=policy)
        return None
    session.execute(text("DELETE FROM sign_in_failures WHERE username = :u"), {"u": username})
    return SignedIn(row.id, row.username, row.role, row.county_code)


def _count_failure(session: Session, username: str, *, now: datetime, policy: SignInPolicy) -> None:
    if not USERNAME.match(username):  # no user can have it: nothing to lock
        return
    failures = session.execute(
        text(
            "INSERT INTO sign_in_failures (username, failures, last_failed_at)"
            " VALUES (:u, 1, :now) ON CONFLICT (username) DO UPDATE SET"
            " failures = CASE WHEN sign_in_failures.last_failed_at <= :window_start"
            "   OR sign_in_failures.locked_until IS NOT NULL THEN 1"
            "   ELSE sign_in_failures.failures + 1 END,"
            " last_failed_at = :now, locked_until = NULL RETURNING failures"
        ),
        {"u": username, "now": now, "window_start": now - policy.lockout},
    ).scalar_one()
    if failures < policy.max_failures:
        return
    until = now + policy.lockout
    session.execute(
        text("UPDATE sign_in_failures SET locked_until = :until WHERE username = :u"),
        {"u": username, "until": until},
    )
    after = {"failures": failures, "locked_until": until.isoformat()}
    _audit_name(session, actor=username, action="sign-in locked", username=username, after=after)


def unlock_sign_in(session: Session, username: str, *, by: str) -> bool:
    """Lift a name's sign-in lock before it runs out (an admin's decision, audited); whether
    there was one."""
    lifted = session.execute(
        text("DELETE FROM sign_in_failures WHERE username = :u AND locked_until IS NOT NULL"),
        {"u": username},
    ).rowcount
    if lifted:
        _audit_name(session, actor=by, action="sign-in unlocked", username=username, after={})
    return bool(lifted)


def open_session(
    session: Session, user: SignedIn, *, kind: str, now: datetime, lifetime: timedelta
) -> str:
    """A new random session token for the user (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.execute(
        text(
            "INSERT INTO auth_sessions (token_hash, user_id, kind, created_at, expires_at)"
            " VALUES (:h, :u, :k, :now, :until)"
        ),
        {"h": _digest(token), "u": user.user_id, "k": kind, "now": now, "until": now + lifetime},
    )
    _record(session, user.username, "sign-in", user.user_id, kind)
    return token


SEEN_EVERY = timedelta(minutes=1)  # how often a session's use is written down


def session_user(
    session: Session, token: str, *, kind: str, now: datetime, idle: timedelta | None = None
) -> SignedIn | None:
    """The active user of an unexpired, unrevoked session token of this kind, or None; with
    `idle`, also None when the session was not used for that long (its use is recorded, at most
    once every SEEN_EVERY)."""
    row = session.execute(
        text(
            "SELECT s.id AS session_id, coalesce(s.last_seen_at, s.created_at) AS seen,"
            " u.id, u.username, u.role::text AS role, u.county_code"
            " FROM auth_sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.token_hash = :h AND s.kind = :k AND s.revoked_at IS NULL"
            " AND s.expires_at > :now AND u.active"
        ),
        {"h": _digest(token), "k": kind, "now": now},
    ).first()
    if row is None or (idle is not None and row.seen <= now - idle):
        return None
    if row.seen <= now - SEEN_EVERY:
        session.execute(
            text("UPDATE auth_sessions SET last_seen_at = :now WHERE id = :id"),
            {"now": now, "id": row.session_id},
        )
    return SignedIn(row.id, row.username, row.role, row.county_code)


def close_session(session: Session, token: str, *, now: datetime) -> None:
    """Revoke a session token (sign-out)."""
    closed = session.execute(
        text(
            "UPDATE auth_sessions s SET revoked_at = :now FROM users u WHERE s.token_hash = :h"
            " AND s.revoked_at IS NULL AND u.id = s.user_id RETURNING u.id, u.username, s.kind"
        ),
        {"h": _digest(token), "now": now},
    ).first()
    if closed:
        _record(session, closed.username, "sign-out", closed.id, closed.kind)


def _record(session: Session, username: str, action: str, user_id: int, kind: str) -> None:
    session.execute(
        text(
            "INSERT INTO audit_log (actor, action, entity, entity_id, after)"
            " VALUES (:u, :a, 'users', :id, jsonb_build_object('session', CAST(:k AS text)))"
        ),
        {"u": username, "a": action, "id": str(user_id), "k": kind},
    )


def _audit_name(
    session: Session, *, actor: str, action: str, username: str, after: dict[str, object]
) -> None:
    """An audit entry about a name's sign-in, on its user when one has that name."""
    session.execute(
        text(
            "INSERT INTO audit_log (actor, action, entity, entity_id, after) SELECT :actor,"
            " :action, 'users', (SELECT id::text FROM users WHERE username = :u),"
            " CAST(:after AS jsonb) || jsonb_build_object('username', CAST(:u AS text))"
        ),
        {"actor": actor, "action": action, "u": username, "after": json.dumps(after)},
    )


def csrf_token(session_token: str) -> str:
    """The CSRF token of a browser session (derived from it: another site can read neither)."""
    return hmac.new(session_token.encode(), b"csrf", hashlib.sha256).hexdigest()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
