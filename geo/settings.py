"""Settings per concern (pydantic-settings, env prefix `PERMITMAP_`, plus `DATABASE_URL`).

Nothing here is instantiated at import time: the app factory and the CLI build them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.errors import SetupError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class DatabaseSettings(BaseSettings):
    """Which database to use: `DATABASE_URL` when set, else the embedded cluster."""

    model_config = SettingsConfigDict(env_prefix="PERMITMAP_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "PERMITMAP_DATABASE_URL")
    )
    database_name: str = "permitmap"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_warm_pool: bool = True

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
    # requests at work at once (the rest wait their turn); the app has a few more worker threads
    busy_requests: int = Field(default=40, ge=1, le=1000)


class Settings:
    """All settings of one process, built once by the app factory or the CLI."""

    def __init__(
        self,
        database: DatabaseSettings | None = None,
        cluster: ClusterSettings | None = None,
        server: ServerSettings | None = None,
        auth: AuthSettings | None = None,
        siting: SitingSettings | None = None,
        layers: LayerSettings | None = None,
        web: WebSettings | None = None,
        attachments: AttachmentSettings | None = None,
        imports: ImportSettings | None = None,
        monitor: MonitorSettings | None = None,
    ) -> None:
        self.database = database or DatabaseSettings()
        self.cluster = cluster or ClusterSettings()
        self.server = server or ServerSettings()
        self.auth = auth or AuthSettings()
        self.siting = siting or SitingSettings()
        self.layers = layers or LayerSettings()
        self.web = web or WebSettings()
        self.attachments = attachments or AttachmentSettings()
        self.imports = imports or ImportSettings()
        self.monitor = monitor or MonitorSettings()


class AttachmentSettings(BaseSettings):
    """Evidence files of the problem ledger: where they are kept (outside every served
    directory), how large one may be, which types are accepted (checked by content), and the
    bounds that keep an Office file (a zip) from unpacking into a bomb."""

    model_config = SettingsConfigDict(env_prefix="PERMITMAP_ATTACHMENTS_", extra="ignore")

    dir: Path = PROJECT_ROOT / ".permitmap" / "attachments"
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_unzipped_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    max_zip_entries: int = Field(default=2000, ge=10)
    allowed_types: tuple[Literal["pdf", "jpeg", "png", "docx", "xlsx"], ...] = (
        "pdf",
        "jpeg",
        "png",
        "docx",
        "xlsx",
    )


class ImportSettings(BaseSettings):
    """Bounds of `permitmap import` and POST /api/imports: the largest file, the most rows, what a
    spreadsheet (a zip) may unpack to, and from how many rows on the audit log gets one summary
    row per table and statement instead of one row per changed row."""

    model_config = SettingsConfigDict(env_prefix="PERMITMAP_IMPORT_", extra="ignore")

    max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    max_rows: int = Field(default=2_000_000, ge=10)
    max_unzipped_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1024)
    max_problems: int = Field(default=1000, ge=10)
    bulk_audit_rows: int = Field(default=10_000, ge=1)


class MonitorSettings(BaseSettings):
    """The HJ 212-2017 receiver (`permitmap monitor serve`): where it listens (port 9212, an
    unassigned port ending in the standard's number), how it batches packets into transactions,
    when it closes silent connections, its bounds, how often it reloads the device registry and
    sweeps for offline devices, and how many months of readings it keeps. `max_data_bytes` bounds a
    packet's data segment: HJ 212-2017 allows 1,024 bytes, devices in service send more."""

    model_config = SettingsConfigDict(env_prefix="PERMITMAP_MONITOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=9212, ge=0, le=65535)  # 0: any free port (tests)
    batch_ms: int = Field(default=200, ge=1, le=60_000)
    batch_max_packets: int = Field(default=1000, ge=1, le=100_000)
    idle_timeout_s: float = Field(default=600.0, gt=0)
    max_connections: int = Field(default=20_000, ge=1)
    max_data_bytes: int = Field(default=4096, ge=64, le=9999)
    registry_reload_s: float = Field(default=30.0, gt=0)
    offline_sweep_s: float = Field(default=60.0, gt=0)
    retention_months: int = Field(default=36, ge=1)


class WebSettings(BaseSettings):
    """The pages' map: an optional XYZ base map (e.g. Tianditu with a key) besides permitmap's
    own base map. Pages load nothing from elsewhere unless this is set."""

    model_config = SettingsConfigDict(env_prefix="PERMITMAP_", extra="ignore")

    basemap_url: str | None = Field(default=None, pattern=r"^(https?://|/)\S*\{z\}\S*$")
    basemap_attribution: str = ""
    # the address the public reaches permitmap at, printed in outlet QR codes (default: the
    # address of the request that makes the sheet)
    public_base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")


class LayerSettings(BaseSettings):
    """Vector tiles, OGC API Features and exports: feature caps, cache size, limits on user
    filters, the most rows one export may hold."""

    model_config = SettingsConfigDict(env_prefix="PERMITMAP_", extra="ignore")

    tile_max_features: int = Field(default=500, ge=256, le=100_000)
    tile_cluster_grid: int = Field(default=16, ge=2, le=64)
    tile_cache_mb: int = Field(default=256, ge=0)
    filter_timeout_ms: int = Field(default=5000, ge=100)
    items_max_limit: int = Field(default=10_000, ge=1, le=100_000)
    export_max_rows: int = Field(default=1_000_000, ge=1)

    @model_validator(mode="after")
    def _grid_fits_cap(self) -> LayerSettings:
        """A tile of clusters has grid² cells at most, which must stay under the cap."""
        if self.tile_cluster_grid**2 > self.tile_max_features:
            raise ValueError("PERMITMAP_TILE_CLUSTER_GRID² must not exceed TILE_MAX_FEATURES")
        return self


class SitingSettings(BaseSettings):
    """Limits of the siting check."""

    model_config = SettingsConfigDict(env_prefix="PERMITMAP_SITING_", extra="ignore")

    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_area_km2: float | None = Field(default=None, gt=0)


DEVELOPMENT_STAFF_TOKENS = "dev-staff:dev-staff-token"
DEVELOPMENT_ADMIN_TOKENS = "dev-admin:dev-admin-token"


class AuthSettings(BaseSettings):
    """Service tokens of staff and admins, as "name:token[:role],…" (SecretStr: never logged).

    Development has known default tokens so `make run` works out of the box; production refuses
    to start with them (or with none).
    """

    model_config = SettingsConfigDict(env_prefix="PERMITMAP_", extra="ignore")

    environment: str = Field(default="development", pattern="^(development|production)$")
    staff_tokens: SecretStr = SecretStr(DEVELOPMENT_STAFF_TOKENS)
    admin_tokens: SecretStr = SecretStr(DEVELOPMENT_ADMIN_TOKENS)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)  # a browser sign-in
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)  # a browser sign-in left idle
    api_token_hours: int = Field(default=24, ge=1, le=24 * 365)  # a token from /api/auth/token
    max_failed_sign_ins: int = Field(default=5, ge=1, le=100)  # in a row, within the lock time
    sign_in_lock_minutes: int = Field(default=15, ge=1, le=24 * 60)

    def tokens(self) -> dict[str, tuple[str, str]]:
        """token → (name, role). Staff entries are `name:token` (role supervisor) or
        `name:token:role`; admin entries have the role admin."""
        found: dict[str, tuple[str, str]] = {}
        for default, secret in (("supervisor", self.staff_tokens), ("admin", self.admin_tokens)):
            for entry in filter(None, (e.strip() for e in secret.get_secret_value().split(","))):
                name, _, rest = entry.partition(":")
                token, _, role = rest.partition(":")
                if name and token:
                    found[token] = (name, role if default != "admin" and role else default)
        return found

    def check_for_production(self) -> None:
        """Refuse default or missing tokens outside development."""
        if self.environment != "production":
            return
        defaults = {DEVELOPMENT_STAFF_TOKENS, DEVELOPMENT_ADMIN_TOKENS}
        for secret in (self.staff_tokens, self.admin_tokens):
            if secret.get_secret_value() in defaults or not secret.get_secret_value():
                raise SetupError(
                    "PERMITMAP_STAFF_TOKENS and PERMITMAP_ADMIN_TOKENS must be set to real "
                    "tokens in production"
                )
