"""Tables of migration 0009: random inspections (双随机) and permit quality spot checks."""

# Imported by geo.models (Base.metadata); the helper modules import Base from there.

from __future__ import annotations
