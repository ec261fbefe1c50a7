"""Tables of migration 0007: permit lifecycle transitions and expiry reminders."""

# Imported by geo.models (Base.metadata); the helper modules import Base from there.

from __future__ import annotations
