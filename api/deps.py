"""Request dependencies: one session per request, the request is the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session


def get_engine(request: Request) -> Engine:
    """The engine the lifespan made."""
    return request.app.state.engine


def get_session(request: Request) -> Iterator[Session]:
    """Commit on success, roll back on error."""
    with Session(request.app.state.engine) as session, session.begin():
        yield session


EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
