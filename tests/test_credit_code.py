"""GB 32100 credit codes: the Python check and the database's generated flag agree."""

import numpy as np
import pytest
from sqlalchemy import text

from geo.credit_code import ALPHABET, check_digit, checksum_ok, is_well_formed


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("91130200699229617X", True),  # HJ 608-2017 example
        ("913502000728319549", True),
        ("91350200MA2YJ1XR9G", True),
        ("91350203M0001QAY9B", False),  # a real early pilot code: check digit should be 9
    ],
)
def test_known_codes(code: str, ok: bool) -> None:
    assert checksum_ok(code) is ok


def test_pilot_code_expects_nine() -> None:
    assert check_digit("91350203M0001QAY9") == "9"


@pytest.mark.parametrize("code", ["9113020069922961", "91130200699229617I", "91130200699229617x"])
def test_malformed_codes(code: str) -> None:
    assert not is_well_formed(code)


def test_database_function_agrees_with_python(session) -> None:
    rng = np.random.default_rng(7)
    codes = ["".join(rng.choice(list(ALPHABET), 18)) for _ in range(300)]
    codes += [c[:17] + check_digit(c[:17]) for c in codes[:150]]
    rows = session.execute(
        text("SELECT c, credit_code_checksum_ok(c) FROM unnest(CAST(:codes AS text[])) AS c"),
        {"codes": codes},
    ).all()
    assert sum(ok for _, ok in rows) >= 150
    assert all(ok == checksum_ok(code) for code, ok in rows)
