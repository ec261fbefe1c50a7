"""What the demo generator is asked for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

DEFAULT_SEED = 2025


@dataclass(frozen=True)
class DemoOptions:
    """Province, size, seed and the reference date that permit validity is measured against."""

    units: int = 20_000
    seed: int = DEFAULT_SEED
    province: str = "500000"
    as_of: date = date(2026, 11, 24)

    def rng(self, stream: int) -> np.random.Generator:
        """An independent random stream per generator part, so one part's size moves no other."""
        return np.random.default_rng([self.seed, stream])
