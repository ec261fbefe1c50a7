"""Failed sign-ins lock a name (等级保护: 限制非法登录次数): counted in committed transactions on
the API and the form, for unknown names too, cleared by a success, lifted by time or an admin.
A browser session left idle ends (登录连接超时自动退出); API tokens keep their lifetime."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from api.auth import SESSION_COOKIE
from geo.errors import TooManyAttemptsError
from geo.settings import AuthSettings, DatabaseSettings, Settings
from geo.users import SignInPolicy, authenticate, create_user, open_session, session_user
from tests.browser import live_server

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
ADMIN = {"Authorization": "Bearer dev-admin-token"}
POLICY = SignInPolicy(max_failures=3, lockout=timedelta(minutes=15))
T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in China


@pytest.fixture(scope="module")
def committed_user(engine: Engine) -> str:
    """A user committed for real: the app's own transactions must see it."""
    with Session(engine) as session:
        create_user(
            session, username="zhao.lei", display_name="赵磊", role="inspector", password=PASSWORD
        )
        session.commit()
    return "zhao.lei"


@pytest.fixture
def app_client(db_url: str, engine: Engine, committed_user: str) -> Iterator[TestClient]:
    """The app with its own transactions (no shared test session), 3 failures lock 15 min."""
    auth = AuthSettings(max_failed_sign_ins=3, sign_in_lock_minutes=15)
    settings = Settings(database=DatabaseSettings(database_url=db_url), auth=auth)
    with TestClient(create_app(settings)) as client:
        yield client
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM sign_in_failures"))


def token(client: TestClient, username: str, password: str):
    return client.post("/api/auth/token", json={"username": username, "password": password})


def test_the_api_locks_a_name_after_failures_and_an_admin_lifts_it(
    app_client, engine, committed_user
) -> None:
    for _ in range(3):
        refused = token(app_client, committed_user, WRONG)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.headers["content-type"] == "application/problem+json"
    locked = token(app_client, committed_user, PASSWORD)  # even the right password, now
    assert locked.status_code == 429
    assert 880 <= int(locked.headers["retry-after"]) <= 900
    assert locked.json()["title"].startswith("too many failed sign-ins: 'zhao.lei' is locked")
    with engine.connect() as conn:
        entry = conn.execute(
            text(
                "SELECT actor, entity_id, after FROM audit_log WHERE action = 'sign-in locked'"
                " ORDER BY id DESC LIMIT 1"
            )
        ).one()
        user_id = conn.execute(text("SELECT id::text FROM users WHERE username = 'zhao.lei'"))
        assert (entry.actor, entry.entity_id) == (committed_user, user_id.scalar_one())
    assert entry.after["failures"] == 3 and entry.after["username"] == committed_user
    staff = {"Authorization": "Bearer dev-staff-token"}
    assert app_client.post(f"/api/users/{committed_user}/unlock", headers=staff).status_code == 403
    assert app_client.post(f"/api/users/{committed_user}/unlock", headers=ADMIN).status_code == 204
    assert app_client.post(f"/api/users/{committed_user}/unlock", headers=ADMIN).status_code == 404
    assert token(app_client, committed_user, PASSWORD).status_code == 200


def test_a_success_clears_the_count(app_client, committed_user) -> None:
    for password in (WRONG, WRONG, PASSWORD, WRONG, WRONG):
        answer = token(app_client, committed_user, password)
        assert answer.status_code == (200 if password == PASSWORD else 401)
    assert token(app_client, committed_user, PASSWORD).status_code == 200


def test_unknown_names_are_locked_alike(app_client) -> None:
    answers = [token(app_client, "no.such.user", WRONG).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]  # a lock says nothing about which names exist


def test_the_form_says_when_a_locked_name_may_try_again(app_client, committed_user) -> None:
    form = {"username": committed_user, "password": WRONG, "next": "/map"}
    for _ in range(3):
        page = app_client.post("/login", data=form, follow_redirects=False)
        assert page.status_code == 401 and "pm-locked" not in page.text
    page = app_client.post("/login", data=form | {"password": PASSWORD}, follow_redirects=False)
    assert page.status_code == 429 and "retry-after" in page.headers
    assert "登录失败次数过多，该账号已暂时锁定" in page.text
    assert SESSION_COOKIE not in page.cookies and "Traceback" not in page.text


def test_old_failures_lapse_and_locks_run_out(session, committed_user) -> None:
    def attempt(password: str, minutes: float):
        now = T0 + timedelta(minutes=minutes)
        return authenticate(session, "zhao.lei", password, now=now, policy=POLICY)

    assert attempt(WRONG, 0) is None and attempt(WRONG, 1) is None
    assert attempt(WRONG, 17) is None  # the first two lapsed: this is failure one again
    assert attempt(WRONG, 18) is None and attempt(WRONG, 19) is None  # the third in a row
    with pytest.raises(TooManyAttemptsError) as locked:
        attempt(PASSWORD, 20)
    assert locked.value.retry_after == 14 * 60
    assert "locked until 10:34 (China time)" in locked.value.message
    assert attempt(PASSWORD, 34.01).username == "zhao.lei"  # ran out
    left = session.execute(text("SELECT count(*) FROM sign_in_failures")).scalar_one()
    assert left == 0  # and the success cleared the record


def test_a_browser_session_left_idle_ends(session, committed_user) -> None:
    user = authenticate(session, committed_user, PASSWORD, now=T0)
    cookie = open_session(session, user, kind="browser", now=T0, lifetime=timedelta(hours=12))
    idle = timedelta(minutes=30)

    def used(minutes: float):
        at = T0 + timedelta(minutes=minutes)
        return session_user(session, cookie, kind="browser", now=at, idle=idle)

    def last_seen():
        query = text(
            "SELECT last_seen_at FROM auth_sessions WHERE user_id = :u AND kind = 'browser'"
            " AND created_at = :t0"
        )
        return session.execute(query, {"u": user.user_id, "t0": T0}).scalar_one()

    assert used(29) is not None and last_seen() == T0 + timedelta(minutes=29)
    assert used(29.5) is not None and last_seen() == T0 + timedelta(minutes=29)  # once a minute
    assert used(58) is not None  # 29 minutes after its last use
    assert used(88.5) is None and used(89) is None  # idle 30.5 minutes: over, for good
    token = open_session(session, user, kind="api", now=T0, lifetime=timedelta(hours=24))
    assert session_user(session, token, kind="api", now=T0 + timedelta(hours=5)) is not None


def test_the_app_ends_an_idle_browser_session(app_client, engine, committed_user) -> None:
    now = datetime.now(UTC)
    with Session(engine) as session:
        user = authenticate(session, committed_user, PASSWORD, now=now)
        idle, fresh = (
            open_session(session, user, kind="browser", now=at, lifetime=timedelta(hours=12))
            for at in (now - timedelta(minutes=31), now)
        )
        session.commit()
    app_client.cookies.set(SESSION_COOKIE, fresh)
    assert app_client.get("/api/auth/me").status_code == 200
    app_client.cookies.set(SESSION_COOKIE, idle)
    assert app_client.get("/api/auth/me").status_code == 401
    page = app_client.get("/map", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


@contextmanager
def at_commit(engine: Engine, body: str) -> Iterator[None]:
    """Every commit that opened a session row first runs `body` (plpgsql, in a deferred
    constraint trigger): shows whether a response waits for its transaction's commit."""
    with engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE FUNCTION test_at_commit() RETURNS trigger LANGUAGE plpgsql AS"
                f" $$ BEGIN {body}; RETURN NULL; END $$;"
                " CREATE CONSTRAINT TRIGGER test_at_commit AFTER INSERT ON auth_sessions"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_at_commit()"
            )
        )
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER test_at_commit ON auth_sessions"))
            conn.execute(text("DROP FUNCTION test_at_commit()"))


def test_a_write_is_committed_before_its_answer_is_sent(db_url, engine, committed_user) -> None:
    """The browser follows the sign-in's redirect at once: the session must already be
    committed, or the next page sees no session (CI's sign-ins that never reached /map)."""
    app = create_app(Settings(database=DatabaseSettings(database_url=db_url)))
    form = {"username": committed_user, "password": PASSWORD, "next": "/map"}
    with (
        at_commit(engine, "PERFORM pg_sleep(1)"),
        live_server(app) as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        signed_in = http.post("/login", data=form)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/map"
        assert _stored_sessions(engine, signed_in.cookies[SESSION_COOKIE]) == 1
        page = http.get("/map", follow_redirects=False)
        assert page.status_code == 200, page.headers.get("location")
        api = http.post("/api/auth/token", json={"username": committed_user, "password": PASSWORD})
        assert api.status_code == 200
        assert _stored_sessions(engine, api.json()["access_token"]) == 1


def test_a_failed_commit_is_answered_as_an_error(db_url, engine, committed_user) -> None:
    """A write whose commit fails is not answered as a success (a token never stored)."""
    app = create_app(Settings(database=DatabaseSettings(database_url=db_url)))
    credentials = {"username": committed_user, "password": PASSWORD}
    stored = _count(engine, "SELECT count(*) FROM auth_sessions")
    with (
        at_commit(engine, "RAISE EXCEPTION 'refused at commit'"),
        live_server(app) as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        refused = http.post("/api/auth/token", json=credentials)
    assert refused.status_code == 500
    assert refused.headers["content-type"] == "application/problem+json"
    assert "refused at commit" not in refused.text  # no internals to the client
    assert _count(engine, "SELECT count(*) FROM auth_sessions") == stored


def _stored_sessions(engine: Engine, token: str) -> int:
    digest = hashlib.sha256(token.encode()).digest()
    return _count(engine, "SELECT count(*) FROM auth_sessions WHERE token_hash = :h", h=digest)


def _count(engine: Engine, query: str, **params: object) -> int:
    with engine.connect() as conn:
        return conn.execute(text(query), params).scalar_one()
