"""Which column of a file holds which field: headers as the national permit platform exports them
(Chinese), permitmap's own export headers, and documented aliases.

Headers are compared after normalisation (surrounding and inner spaces, line breaks, full-width
brackets, a trailing `*` or `(必填)` dropped, letters lower-cased), so `统一社会信用代码 *`,
`统一社会信用代码（必填）` and `Credit code` match their field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.imports.base import ImportReport, Problem

_SPACES = re.compile(r"[\s\u3000]+")
_REQUIRED_MARK = re.compile(r"(\*|＊|\(必填\)|（必填）|\(required\))$")
_WIDTH = str.maketrans("（）：", "():")


@dataclass(frozen=True)
class Column:
    """A field an import reads: its name, the headers that name it (the first is the one the
    documentation and error messages use), whether it must be present, and what it holds."""

    name: str
    headers: tuple[str, ...]
    required: bool = False
    description: str = ""

    @property
    def title(self) -> str:
        """The header error messages use when the column is missing."""
        return self.headers[0]


def normalise_header(text: object) -> str:
    """A header as compared: no spaces or line breaks, half-width brackets, lower case, without a
    trailing required-mark."""
    cleaned = _SPACES.sub("", str(text)).translate(_WIDTH)
    return _REQUIRED_MARK.sub("", cleaned).lower()


@dataclass(frozen=True)
class ColumnMap:
    """The columns found: field name → the header as written in the file."""

    headers: dict[str, str]

    def has(self, name: str) -> bool:
        """Whether the file has a column for the field."""
        return name in self.headers

    def header(self, name: str) -> str:
        """The field's header as written in the file."""
        return self.headers[name]


def map_columns(
    headers: list[str], spec: tuple[Column, ...], report: ImportReport
) -> ColumnMap | None:
    """Match a file's headers to the fields of `spec`.

    Problems (row None) for a missing required column and for two columns naming one field;
    a note lists headers no field claims (they are ignored). Returns None when there were
    problems, so the caller stops before reading values.
    """
    lookup = {normalise_header(alias): column for column in spec for alias in column.headers}
    found: dict[str, str] = {}
    ignored: list[str] = []
    before = report.problem_count
    for header in headers:
        column = lookup.get(normalise_header(header))
        if column is None:
            ignored.append(header)
        elif column.name in found:
            report.add(
                Problem(
                    f"two columns give {column.title}: {found[column.name]!r} and {header!r}"
                    " — keep one",
                    field=header,
                )
            )
        else:
            found[column.name] = header
    for column in spec:
        if column.required and column.name not in found:
            accepted = " / ".join(column.headers)
            report.add(
                Problem(
                    f"the column {column.title} is missing (headers accepted: {accepted})",
                    field=column.title,
                )
            )
    if ignored:
        report.note("columns ignored: " + ", ".join(repr(h) for h in ignored))
    return None if report.problem_count > before else ColumnMap(found)


def report_where(
    report: ImportReport,
    mask: np.ndarray,
    values: pd.Series,
    rows: np.ndarray,
    header: str,
    message: str,
) -> int:
    """Record a problem for each row where `mask` is true (its row, the header, its value);
    all are counted, only as many as the report keeps are built. Returns how many."""
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    room = max(report.max_problems - len(report.problems), 0)
    report.add_many(
        [
            Problem(message, row=int(rows[i]), field=header, value=str(values.iat[i]))
            for i in positions[:room]
        ]
    )
    report.problem_count += max(len(positions) - room, 0)
    return len(positions)


def spec_table(spec: tuple[Column, ...]) -> str:
    """The spec as a Markdown table for the README: header, aliases, required, meaning."""
    lines = ["| column | also accepted | required | holds |", "|---|---|---|---|"]
    for column in spec:
        aliases = ", ".join(column.headers[1:])
        lines.append(
            f"| {column.title} | {aliases} | {'yes' if column.required else ''} |"
            f" {column.description} |"
        )
    return "\n".join(lines)
