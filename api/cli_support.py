"""What the command line's commands share: settings, and the audited transaction of every
writing command."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.orm import Session

from geo.db import database_url, make_engine
from geo.errors import ValidationError
from geo.migrate import require_migrated
from geo.settings import Settings
from geo.users import set_actor


def cli_settings() -> Settings:
    """The settings of this command (environment and defaults)."""
    return Settings()


def cli_actor() -> str:
    """Who the audit log names for the command line's writes."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (a container's arbitrary uid)
        return "cli"


@contextmanager
def cli_transaction(settings: Settings) -> Iterator[Session]:
    """A transaction on the migrated database whose writes the audit log records as made by
    `cli:<os user>` (every writing command goes through here)."""
    engine = make_engine(database_url(settings.database, settings.cluster))
    require_migrated(engine)
    with Session(engine) as session, session.begin():
        set_actor(session, cli_actor())
        yield session


def check_input_file(file: Path, settings: Settings) -> None:
    """Refuse a file to import that is missing or over PERMITMAP_IMPORT_MAX_BYTES."""
    if not file.is_file():
        raise ValidationError(f"{file}: no such file")
    if file.stat().st_size > settings.imports.max_bytes:
        raise ValidationError(
            f"{file}: larger than the limit of {settings.imports.max_bytes:,} bytes"
            " (PERMITMAP_IMPORT_MAX_BYTES)"
        )
