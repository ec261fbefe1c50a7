"""The servers `bench.serve` measures: `permitmap serve` and tipg, each a fresh process on loopback.

What each is (command line, environment, URL templates), tipg's own venv (installed on first
use), and starting and stopping one around a benchmark, its log in bench/out/serve-<name>.log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

from bench.http_load import HOST, status_of
from geo.settings import PROJECT_ROOT

TIPG_VERSION = "1.6.1"
TIPG_VENV = PROJECT_ROOT / ".bench" / "tipg-venv"
OUT = PROJECT_ROOT / "bench" / "out"
PERMITMAP = Path(sys.executable).with_name("permitmap")  # the CLI of the venv we run in


@dataclass(frozen=True)
class Server:
    """A server under test: its command line, environment and URL templates."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    probe: str  # answers 200 when the tiles exist
    tile: str
    items: str
    item: str


def asyncpg_url(url: str) -> str:
    """The SQLAlchemy URL as a libpq-style URL tipg (pydantic + asyncpg) accepts: a unix
    socket directory goes into the host part, percent-encoded."""
    u = make_url(url)
    host = u.host or str(u.query.get("host", "localhost"))
    port = u.port or int(str(u.query.get("port", 5432)))
    password = f":{quote(u.password, safe='')}" if u.password else ""
    return f"postgresql://{u.username}{password}@{quote(host, safe='')}:{port}/{u.database}"


def permitmap_server(url: str, port: int) -> Server:
    """`permitmap serve` on the scratch database."""
    command = [str(PERMITMAP), "serve"]
    env = {**os.environ, "DATABASE_URL": url}
    items = "/ogc/collections/units/items"
    return Server(
        name="permitmap",
        command=[*command, "--host", HOST, "--port", str(port)],
        env=env,
        port=port,
        probe="/tiles/units/0/0/0.mvt",
        tile="/tiles/units/{z}/{x}/{y}.mvt",
        items=items,
        item=items + "/{id}",
    )


def tipg_server(url: str, port: int) -> Server:
    """tipg on uvicorn (its defaults: one worker, info log), exposing public.units only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "POSTGRES_"))}
    env.update(DATABASE_URL=asyncpg_url(url), TIPG_DB_TABLES='["public.units"]')
    base, uvicorn = "/collections/public.units", str(TIPG_VENV / "bin" / "uvicorn")
    return Server(
        name="tipg",
        command=[uvicorn, "tipg.main:app", "--host", HOST, "--port", str(port)],
        env=env,
        port=port,
        probe=base,
        tile=base + "/tiles/WebMercatorQuad/{z}/{x}/{y}",
        items=base + "/items",
        item=base + "/items/{id}",
    )


def ensure_tipg() -> None:
    """tipg and the uvicorn permitmap runs on, in their own venv, installed on first use."""
    if list(TIPG_VENV.glob(f"lib/python*/site-packages/tipg-{TIPG_VERSION}.dist-info")):
        return
    print(f"installing tipg {TIPG_VERSION} into {TIPG_VENV} (once)")
    subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
    pip = [str(TIPG_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"tipg=={TIPG_VERSION}", f"uvicorn=={version('uvicorn')}"], check=True)


@contextmanager
def running(server: Server) -> Iterator[int]:
    """Start the server, wait until it answers, yield its pid; stop it afterwards."""
    with socket.socket() as probe:
        if probe.connect_ex((HOST, server.port)) == 0:
            raise SystemExit(f"port {server.port} is in use: choose another --port-base")
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"serve-{server.name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            server.command, env=server.env, stdout=out, stderr=subprocess.STDOUT, cwd=OUT
        )
        try:
            deadline = time.monotonic() + 600
            while status_of(server.port, "/openapi.json") == 0:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{server.name} did not start; see {log}")
                time.sleep(0.5)
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
