"""The embedded PostGIS cluster through `permitmap db …`: idempotent start, stale pid files,
stop. Uses its own state folder, never the project's cluster."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli import run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def state_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="permitmap-cluster-", dir="/tmp"))
    folder.chmod(0o755)  # the cluster's OS user must be able to enter it
    yield folder / "state"
    run("db", "stop", PERMITMAP_STATE_DIR=str(folder / "state"), PERMITMAP_PG_PORT="5433")
    shutil.rmtree(folder, ignore_errors=True)


def db(state_dir: Path, *args: str):
    return run(
        "db",
        *args,
        PERMITMAP_STATE_DIR=str(state_dir),
        PERMITMAP_PG_PORT="5433",
        PERMITMAP_SHARED_BUFFERS="128MB",
    )


def _pid(state_dir: Path) -> int:
    return int((state_dir / "pgdata" / "postmaster.pid").read_text().split("\n", 1)[0])


def test_start_is_idempotent_and_status_reports(state_dir: Path) -> None:
    first = db(state_dir, "start")
    assert first.returncode == 0, first.stderr
    pid = _pid(state_dir)
    again = db(state_dir, "start")
    assert again.returncode == 0 and _pid(state_dir) == pid
    status = db(state_dir, "status")
    assert "running" in status.stdout and "PostgreSQL 15" in status.stdout
    url = db(state_dir, "url").stdout.strip()
    assert f"host={state_dir / 'run'}" in url and "port=5433" in url


@pytest.mark.parametrize("stale_pid", ["999999", "self"])
def test_start_after_a_crash_left_a_stale_pid_file(state_dir: Path, stale_pid: str) -> None:
    assert db(state_dir, "stop").returncode == 0
    assert db(state_dir, "status").returncode == 3
    pid_file = state_dir / "pgdata" / "postmaster.pid"
    # A dead pid, or a live process that is not postgres (the pid was reused after a crash).
    pid = str(os.getpid()) if stale_pid == "self" else stale_pid
    pid_file.write_text(f"{pid}\n{state_dir / 'pgdata'}\n")
    started = db(state_dir, "start")
    assert started.returncode == 0, started.stderr
    assert _pid(state_dir) != int(pid)


def test_stop_twice(state_dir: Path) -> None:
    assert "stopped" in db(state_dir, "stop").stdout
    assert "was not running" in db(state_dir, "stop").stdout
