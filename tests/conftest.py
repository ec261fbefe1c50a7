"""Fixtures: a real PostGIS (the embedded cluster, or DATABASE_URL), a migrated template database
cloned per test module, and a per-test transaction rolled back at the end."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session, get_session_factory
from geo.cluster import EmbeddedCluster
from geo.db import make_engine
from geo.migrate import upgrade
from geo.settings import ClusterSettings, DatabaseSettings, Settings
from tests.dbtools import create_database, drop_database

TEST_AS_OF = date(2026, 11, 24)


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of some database on the server under test (used to create test databases)."""
    configured = DatabaseSettings().database_url
    if configured:
        return configured
    cluster = EmbeddedCluster(ClusterSettings())
    cluster.start()
    return cluster.url("postgres")


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    """A migrated database that each test module clones."""
    name = f"permitmap_test_template_{os.getpid()}"
    url = create_database(server_url, name)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield name
    drop_database(server_url, name)


@pytest.fixture(scope="module")
def db_url(server_url: str, template_db: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh migrated database for this test module, dropped afterwards."""
    module = re.sub(r"\W", "_", request.module.__name__.split(".")[-1])
    name = f"permitmap_test_{os.getpid()}_{module}"[:63]
    url = create_database(server_url, name, template=template_db)
    yield url
    drop_database(server_url, name)


@pytest.fixture(scope="module")
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the module's database."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test."""
    with engine.connect() as connection:
        outer = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            yield session
        outer.rollback()


def use_session(app: FastAPI, session: Session) -> None:
    """Route every request of `app` through the test's session (never committed)."""
    app.dependency_overrides[get_session] = lambda: session
    app.dependency_overrides[get_session_factory] = lambda: lambda: nullcontext(session)


@pytest.fixture
def client(db_url: str, session: Session) -> Iterator[TestClient]:
    """The app on the module's database; requests share the test's rolled-back session."""
    app = create_app(Settings(database=DatabaseSettings(database_url=db_url, db_warm_pool=False)))
    use_session(app, session)
    with TestClient(app) as test_client:
        yield test_client
