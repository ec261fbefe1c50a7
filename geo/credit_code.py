"""统一社会信用代码 (GB 32100-2015): alphabet, check digit, validation.

The database computes the same check in `credit_code_checksum_ok()` (migration 0001); tests keep
the two in agreement. A wrong check digit is a warning, not a rejection: early pilot-area codes
break the rule.
"""

from __future__ import annotations

import re

import numpy as np

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
FORMAT = re.compile(f"^[{ALPHABET}]{{18}}$")
_VALUE = {char: index for index, char in enumerate(ALPHABET)}


def check_digit(first17: str) -> str:
    """The 18th character for the first 17 characters of a code."""
    total = sum(_VALUE[char] * int(weight) for char, weight in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_well_formed(code: str) -> bool:
    """18 characters of the GB 32100 alphabet (no I, O, S, V, Z)."""
    return bool(FORMAT.match(code))


def checksum_ok(code: str) -> bool:
    """Whether a well-formed code carries the right check digit."""
    return is_well_formed(code) and check_digit(code[:17]) == code[17]


def check_digits(values: np.ndarray) -> np.ndarray:
    """Vectorised check digits: `values` is an (n, 17) array of alphabet indexes; returns (n,)."""
    totals = (values.astype(np.int64) * WEIGHTS).sum(axis=1)
    return (31 - totals % 31) % 31
