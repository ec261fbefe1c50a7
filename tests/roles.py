"""One service token per role, for tests that call the API as each kind of staff."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from geo.settings import AuthSettings, DatabaseSettings, Settings
from geo.users import ROLES

TOKENS = {role: f"token-of-a-{role}" for role in ROLES}
ACCOUNTS = {role: f"{role}-account" for role in ROLES}


def as_role(role: str | None) -> dict[str, str]:
    """The headers of a request made by `role` (none: anonymous)."""
    return {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}


def role_settings(db_url: str, **other: Any) -> Settings:
    """Settings on the test database with a service token per role (and any other settings)."""
    staff = ",".join(f"{ACCOUNTS[r]}:{TOKENS[r]}:{r}" for r in ROLES if r != "admin")
    auth = AuthSettings(
        staff_tokens=SecretStr(staff),
        admin_tokens=SecretStr(f"{ACCOUNTS['admin']}:{TOKENS['admin']}"),
    )
    database = DatabaseSettings(database_url=db_url, db_warm_pool=False)
    return Settings(database=database, auth=auth, **other)
