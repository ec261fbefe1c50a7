"""Tables of migration 0010: penalty decisions, execution reports, enforcement status."""

# Imported by geo.models (Base.metadata); the helper modules import Base from there.

from __future__ import annotations
