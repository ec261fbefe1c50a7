"""Where `permitmap import` spends its time: the CLI run in this process under cProfile, every SQL
statement timed.

`DATABASE_URL=… python -m bench.import_profile FILE [KIND] [--top N] [--out PATH]` (bench.imports
runs it with `--profile`, on a fresh scratch database after the timed runs). It imports what the
command line says into the database `DATABASE_URL` names (so, writes there: point it at a scratch
database), then prints the slowest SQL statements (wall time between sending and the driver's
return, which includes fetching the rows; COPY goes round them and counts as outside), the wall
time spent in SQL and outside it, and the functions with the largest cumulative time. The raw
profile is saved to `--out` (default `bench/out/import.prof`; read it with `python -m pstats`).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from api import cli

OUT = Path(__file__).resolve().parent / "out"
STATEMENTS: dict[str, list[float]] = defaultdict(list)
_started: list[float] = []


def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    _started.append(time.perf_counter())


def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    STATEMENTS[statement].append(time.perf_counter() - _started.pop())


def shorten(statement: str, width: int = 150) -> str:
    """A statement on one line, cut to `width` characters."""
    line = re.sub(r"\s+", " ", statement).strip()
    return line if len(line) <= width else line[: width - 1] + "…"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.import_profile", description=__doc__)
    parser.add_argument("file", type=Path, help="the file to import")
    parser.add_argument("kind", nargs="?", default="units", help="kind of import (units)")
    parser.add_argument("--top", type=int, default=15, help="statements and functions shown")
    parser.add_argument("--out", type=Path, default=OUT / "import.prof", help="raw profile")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Import the file through the CLI under cProfile; print where the time went."""
    args = parse_args(argv)
    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)
    sys.argv = ["permitmap", "import", args.kind, str(args.file), "--json"]
    profile = cProfile.Profile()
    started = time.perf_counter()
    code: object = 0
    try:
        profile.runcall(cli.main)
    except SystemExit as exit_:
        code = exit_.code
    wall = time.perf_counter() - started
    args.out.parent.mkdir(exist_ok=True)
    profile.dump_stats(args.out)
    in_sql = sum(sum(times) for times in STATEMENTS.values())
    print(
        f"\nexit {code}; wall {wall:.2f} s in this process: SQL {in_sql:.2f} s,"
        f" the rest (Python, COPY feeding) {wall - in_sql:.2f} s",
        file=sys.stderr,
    )
    ranked = sorted(STATEMENTS.items(), key=lambda item: -sum(item[1]))[: args.top]
    print("slowest statements (seconds, runs):", file=sys.stderr)
    for statement, times in ranked:
        print(f"  {sum(times):7.2f} s  x{len(times):<4} {shorten(statement)}", file=sys.stderr)
    print("functions by cumulative time:", file=sys.stderr)
    stats = pstats.Stats(profile, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(args.top * 2)


if __name__ == "__main__":
    main()
