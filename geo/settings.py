"""Settings per concern (pydantic-settings, env prefix `PERMITMAP_`, plus `DATABASE_URL`).

Nothing here is instantiated at import time: the app factory and the CLI build them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class DatabaseSettings(BaseSettings):
    """Which database to use: `DATABASE_URL` when set, else the embedded cluster."""

    model_config = SettingsConfigDict(env_prefix="PERMITMAP_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "PERMITMAP_DATABASE_URL")
    )
    database_name: str = "permitmap"

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, url: str | None) -> str | None:
        """Accept plain `postgresql://` URLs and pin the psycopg 3 driver."""
        if not url:
            return None
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url


class ClusterSettings(BaseSettings):
    """The embedded PostGIS cluster the project owns under `.permitmap/`."""

    model_config = SettingsConfigDict(env_prefix="PERMITMAP_", extra="ignore")

    state_dir: Path = PROJECT_ROOT / ".permitmap"
    pg_bin_dir: Path | None = None
    os_user: str = "permitmap"
    pg_port: int = 5432
    shared_buffers: str = "1GB"


class ServerSettings(BaseSettings):
    """Where `permitmap serve` listens."""

    model_config = SettingsConfigDict(env_prefix="PERMITMAP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class Settings:
    """All settings of one process, built once by the app factory or the CLI."""

    def __init__(
        self,
        database: DatabaseSettings | None = None,
        cluster: ClusterSettings | None = None,
        server: ServerSettings | None = None,
    ) -> None:
        self.database = database or DatabaseSettings()
        self.cluster = cluster or ClusterSettings()
        self.server = server or ServerSettings()
