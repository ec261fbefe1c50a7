"""Tables of migration 0008: problem ledger, rectification and evidence attachments."""

# Imported by geo.models (Base.metadata); the helper modules import Base from there.

from __future__ import annotations
