"""Create and drop test databases on the server under test (embedded cluster or DATABASE_URL)."""

from __future__ import annotations

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def admin_conninfo(url: str) -> dict[str, object]:
    """psycopg connection arguments for the server's maintenance database."""
    parsed = make_url(url)
    conninfo: dict[str, object] = {"dbname": "postgres", "autocommit": True}
    host = parsed.query.get("host") or parsed.host
    for key, value in (
        ("host", host),
        ("port", parsed.query.get("port") or parsed.port),
        ("user", parsed.username),
        ("password", parsed.password),
    ):
        if value:
            conninfo[key] = value
    return conninfo


def database_url_for(url: str, name: str) -> str:
    """The same server, another database."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def create_database(url: str, name: str, template: str | None = None) -> str:
    """Create database `name` (optionally from a template); return its URL."""
    with psycopg.connect(**admin_conninfo(url)) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)
    return database_url_for(url, name)


def drop_database(url: str, name: str) -> None:
    """Drop database `name`, disconnecting anyone still on it."""
    with psycopg.connect(**admin_conninfo(url)) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
