"""Request dependencies: one session per request, the request is the transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geo.clock import Clock

SessionFactory = Callable[[], AbstractContextManager[Session]]


def get_engine(request: Request) -> Engine:
    """The engine the lifespan made."""
    return request.app.state.engine


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on error."""
    with Session(engine) as session, session.begin():
        yield session


def get_session(request: Request) -> Iterator[Session]:
    """The request's session: commit on success, roll back on error. It ends with the
    handler, before the response is sent (SessionDep's scope "function"): a client answered
    2xx can rely on the write being committed, and a failed commit is answered as an error."""
    with transaction(request.app.state.engine) as session:
        yield session


async def get_session_factory(request: Request) -> SessionFactory:
    """For async endpoints that run their database work in one worker thread of their own:
    a factory of the same one-transaction sessions (no thread hop to hand it over)."""
    return partial(transaction, request.app.state.engine)


EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SessionFactoryDep = Annotated[SessionFactory, Depends(get_session_factory)]


def get_clock(request: Request) -> Clock:
    """The app's clock (the system's; tests give a fixed one to `create_app`)."""
    return request.app.state.clock


ClockDep = Annotated[Clock, Depends(get_clock)]
