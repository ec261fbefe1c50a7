"""At most N HTTP requests at work at once; the others wait their turn, holding neither a worker
thread nor a database connection.

Why: a request's work hops between worker threads (a dependency, the handler, the response's
serialisation) and its transaction holds a database connection from the first query to the
commit, across those hops. With more requests at work than worker threads, every thread can be
waiting for a pooled connection that only a request waiting for a thread can give back: nothing
moves until the pool's timeout (30 s), then errors. With fewer requests at work than threads, a
request never waits for a thread, so every connection comes back.
"""

from __future__ import annotations

import anyio
from anyio import to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

SPARE_THREADS = 8  # for work that is not a request's (start-up, the tile cache's warm-up)


def reserve_worker_threads(busy_requests: int) -> None:
    """Size the event loop's worker-thread pool above the number of requests at work."""
    to_thread.current_default_thread_limiter().total_tokens = busy_requests + SPARE_THREADS


class RequestGate:
    """ASGI middleware letting at most `limit` HTTP requests run at once (first come, first
    served); lifespan and other scopes pass through."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._turns: anyio.Semaphore | None = None  # made in the event loop that serves

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._turns is None:
            self._turns = anyio.Semaphore(self.limit)
        async with self._turns:
            await self.app(scope, receive, send)
