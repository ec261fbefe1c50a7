"""The `permitmap` command: clear one-line errors, idempotent demo loading, database commands."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.dbtools import create_database, drop_database

PERMITMAP = str(Path(sys.executable).parent / "permitmap")


def run(*args: str, database_url: str | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PERMITMAP_")}
    environment.pop("DATABASE_URL", None)
    if database_url:
        environment["DATABASE_URL"] = database_url
    environment.update(env)
    return subprocess.run(
        [PERMITMAP, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )


def assert_one_line_error(done: subprocess.CompletedProcess, fragment: str) -> None:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("permitmap: ") and fragment in lines[0]
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("units", ["-5", "0", "1000001", "many"])
def test_demo_rejects_bad_unit_counts(db_url, units: str) -> None:
    assert_one_line_error(run("demo", "--units", units, database_url=db_url), "--units")


def test_demo_rejects_a_bad_date(db_url) -> None:
    assert_one_line_error(run("demo", "--as-of", "2026-13-01", database_url=db_url), "--as-of")


def test_unreachable_database_url() -> None:
    url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    for command in (("db", "status"), ("db", "migrate"), ("demo", "--units", "10")):
        assert_one_line_error(run(*command, database_url=url), "cannot reach the database")


def test_database_without_postgis_schema(server_url) -> None:
    url = create_database(server_url, f"permitmap_test_{os.getpid()}_bare")
    try:
        assert_one_line_error(
            run("demo", "--units", "10", database_url=url), "permitmap db migrate"
        )
        status = run("db", "status", database_url=url)
        assert "PostGIS not installed" in status.stdout
    finally:
        drop_database(server_url, url.rsplit("/", 1)[1].split("?")[0])


def test_db_url_prints_the_database_url(db_url) -> None:
    assert run("db", "url", database_url=db_url).stdout.strip() == db_url.replace(
        "postgresql+psycopg://", "postgresql+psycopg://", 1
    )


def test_demo_loads_once_and_is_idempotent(db_url, engine) -> None:
    first = run(
        "demo", "--units", "300", "--as-of", "2026-11-24", "--if-empty", database_url=db_url
    )
    assert first.returncode == 0, first.stderr
    assert "300 units" in first.stdout
    again = run("demo", "--units", "300", "--if-empty", database_url=db_url)
    assert again.returncode == 0 and "already holds data" in again.stdout
    assert_one_line_error(run("demo", "--units", "300", database_url=db_url), "--replace")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM units")).scalar() == 300
    replaced = run("demo", "--units", "200", "--replace", database_url=db_url)
    assert replaced.returncode == 0, replaced.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM units")).scalar() == 200


def test_serve_refuses_a_port_in_use(db_url) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run("serve", "--port", str(port), database_url=db_url)
    assert_one_line_error(done, f"port {port} on 127.0.0.1 is already in use")


def test_unknown_command_is_one_line() -> None:
    assert_one_line_error(run("frobnicate"), "No such command")


def test_command_line_writes_are_audited_under_the_cli(db_url, engine) -> None:
    done = run(
        "user",
        "add",
        "cli.made",
        "--role",
        "inspector",
        "--password-env",
        "PW",
        database_url=db_url,
        PW="a long enough password",
    )
    assert done.returncode == 0, done.stderr
    with engine.connect() as conn:
        actor = conn.execute(
            text(
                "SELECT actor FROM audit_log WHERE entity = 'users' AND action = 'insert'"
                " AND after ->> 'username' = 'cli.made'"
            )
        ).scalar_one()
    assert actor.startswith("cli")
