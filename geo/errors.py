"""One exception hierarchy for permitmap.

Each error carries a safe, user-facing `message` and, apart from it, a `detail` that only goes to
the log. The API maps the classes to HTTP statuses; the CLI prints the message and exits non-zero.
"""

from __future__ import annotations


class PermitmapError(Exception):
    """Base class: a failure with a message that is safe to show to a user."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class ValidationError(PermitmapError):
    """Input is wrong: says what, and where (row, field, value)."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: object = None,
        row: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, detail=detail)
        self.field = field
        self.value = value
        self.row = row


class QueryError(ValidationError):
    """A query parameter of a read request is malformed or not allowed (HTTP 400)."""


class NotFoundError(PermitmapError):
    """The thing asked for does not exist."""


class ConflictError(PermitmapError):
    """The write clashes with what is stored (duplicate key, stale version)."""


class AuthenticationError(PermitmapError):
    """The caller did not say who they are (or the token is unknown)."""


class TooManyAttemptsError(PermitmapError):
    """Refused for now after too many failed attempts; may be tried again in `retry_after` s."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ForbiddenError(PermitmapError):
    """The caller may not do this."""


class SetupError(PermitmapError):
    """The environment is not ready: a missing package, a busy port, an unreachable database."""
