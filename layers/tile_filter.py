"""A client's CQL2 filter on vector tiles (the map's status / category / county filters).

The filter is compiled by the same compiler as OGC API items (`layers/cql2_filter.py`), over the
caller's own fields only, into SQL holding nothing but bound parameters; it is then spelled with
`:name` placeholders so that the raw tile statements can carry it. Filtered tiles are never
pre-aggregated: a dense filtered tile is clustered from its matching points when asked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

from geo.errors import QueryError, ValidationError
from layers.cql2_filter import compile_filter
from layers.declarations import Audience, Layer
from layers.features import queryables

MAX_FILTER_LENGTH = 2000
_NAMED = psycopg_dialect.dialect(paramstyle="named")
_PREFIX = "filter_"  # keeps the filter's parameters apart from the tile statement's own


@dataclass(frozen=True)
class TileFilter:
    """A compiled filter: its SQL condition, its bound values and a short key for caches."""

    text: str
    sql: str
    params: dict[str, object] = field(hash=False, compare=False)

    @property
    def key(self) -> str:
        """A digest of the filter text (cache keys stay small whatever the filter's length)."""
        return hashlib.blake2b(self.text.encode(), digest_size=10).hexdigest()


def compile_tile_filter(layer: Layer, audience: Audience, text: str | None) -> TileFilter | None:
    """The filter compiled for this layer and audience; None for no filter.

    Raises QueryError (HTTP 400, parameter `filter`) for a filter that is too long, does not
    parse, or names a field or function the caller may not use.
    """
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER_LENGTH:
        message = f"filter is longer than {MAX_FILTER_LENGTH} characters"
        raise QueryError(message, field="filter", value=text[:80])
    try:
        expression = compile_filter(text, queryables(layer, audience))
    except ValidationError as error:
        raise QueryError(error.message, field="filter", value=error.value) from error
    compiled = expression.compile(dialect=_NAMED, compile_kwargs={"render_postcompile": True})
    sql = str(compiled)
    for name in sorted(compiled.params, key=len, reverse=True):  # param_10 before param_1
        sql = sql.replace(f":{name}", f":{_PREFIX}{name}")
    params = {_PREFIX + name: value for name, value in compiled.params.items()}
    return TileFilter(text=text, sql=sql, params=params)


@contextmanager
def filter_statement_errors(timeout_ms: int) -> Iterator[None]:
    """Turn what a client's filter makes the database refuse (timeout, a value it cannot
    compare) into a 400 naming `filter`."""
    try:
        yield
    except psycopg.errors.QueryCanceled as error:
        message = f"the filter took longer than {timeout_ms} ms on this tile; narrow it"
        raise QueryError(message, field="filter") from error
    except (psycopg.errors.DataError, psycopg.errors.InvalidParameterValue) as error:
        raise QueryError(
            "the filter could not be evaluated", field="filter", detail=str(error)
        ) from error
