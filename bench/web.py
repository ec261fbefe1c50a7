"""Benchmark: the web maps of the demo province in headless chromium, beside a plain Leaflet page.

`python -m bench.web --units 1000000 --reuse` (what `make bench-web` runs). The scratch database
of bench.serve, `permitmap_bench_serve`, is served by `permitmap serve`, a fresh process for each
run, so its tile cache is cold for the run's first navigation. Debian's chromium (headless,
driven by Playwright) opens the staff map `/map` (signed in) and the public map `/public`, each
in a fresh browser context (cold browser cache): the time from navigation start to the first full
paint (every tile of the initial view answered and drawn, and the next frame produced), then
frame times while panning at the initial zoom and at z12 over Chongqing; then once more with the
server's tile cache warm. The peer: a plain Leaflet + Leaflet.VectorGrid page drawing the same
units from tipg's vector tiles, same view, same pans. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench.http_load import HOST, foreign_cpu, machine_cpu
from bench.load import admin, scratch_url
from bench.serve import DROP_SCRATCH, SCRATCH_DB, prepare, prewarm, refresh_layers
from bench.servers import (
    PERMITMAP,
    TIPG_VERSION,
    Server,
    ensure_tipg,
    permitmap_server,
    running,
    tipg_server,
)
from bench.web_page import VIEWPORT, PageRun, measure, peer_site, peer_url
from bench.web_report import Kind, pan_p95, report
from geo.settings import PROJECT_ROOT

PAGES = {  # kind: (path, title)
    "staff": ("/map", "staff map /map (signed in)"),
    "public": ("/public", "public map /public"),
}
TIPG_TILES = "/tiles/WebMercatorQuad/"  # marks a tile URL (permitmap's: "/tiles/")
DISTURBED = 0.10  # foreign processes above 10 % of a core during a run: a warning


@dataclass
class Cpu:
    """CPU use over one run, in cores: the whole machine, and the processes foreign to the
    benchmark (not ours or our children: servers, chromium; not PostgreSQL's; a lower bound)."""

    machine: float = 0.0
    others: float = 0.0

    def __str__(self) -> str:
        return f"CPU: machine {100 * self.machine:.0f} %, others {100 * self.others:.0f} %"


def _ours() -> set[str]:
    """Our process and all its descendants."""
    parents: dict[str, str] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[pid] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
    ours, grown = {str(os.getpid())}, True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in ours} - ours
        ours, grown = ours | children, bool(children)
    return ours


def _foreign() -> dict[tuple[str, float], float]:
    ours = _ours()
    return {k: v for k, v in foreign_cpu(os.getpid(), SCRATCH_DB).items() if k[0] not in ours}


@contextmanager
def metered() -> Iterator[Cpu]:
    """The CPU the machine and the foreign processes used while the block ran."""
    cpu, before, t0, m0 = Cpu(), _foreign(), time.monotonic(), machine_cpu()
    since = float(Path("/proc/uptime").read_text().split()[0])
    yield cpu
    wall = time.monotonic() - t0
    cpu.machine = (machine_cpu() - m0) / wall
    others = sum(
        spent - before[key] if key in before else spent * (key[1] >= since)
        for key, spent in _foreign().items()
    )
    cpu.others = others / wall


def demo_users(url: str) -> None:
    """`permitmap user demo` on the scratch database (when the command exists): the staff map
    is measured signed in as the demo supervisor."""
    env = {**os.environ, "DATABASE_URL": url}
    command = [str(PERMITMAP), "user", "demo"]
    if subprocess.run([*command, "--help"], env=env, capture_output=True).returncode == 0:
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def code_version() -> str:
    """The commit measured, and whether tracked files in the work tree differ from it."""
    git = ["git", "-C", str(PROJECT_ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
    changed = " + changes to tracked files" if dirty.stdout.strip() else ""
    return f"commit {head.stdout.strip() or 'unknown'}{changed}"


def _summary(name: str, cold: PageRun, warm: PageRun, cpu: Cpu) -> None:
    city = f"{cold.city_ms:,.0f}" if cold.city_ms is not None else "-"
    print(
        f"  {name}: first paint {cold.paint.ms:,.0f} ms cold ({cold.paint.tiles} tiles), ", end=""
    )
    b = cold.breakdown
    print(f"(TTFB {b['ttfb']:,.0f}, tiles {b['first_tile']:,.0f}–{b['last_tile']:,.0f}), ", end="")
    print(f"{warm.paint.ms:,.0f} ms warm; z12 drawn {city} ms; ", end="")
    print(f"pan frames p95 {pan_p95(cold) or 0.0:.1f} ms; ", end="")
    print(f"{len(cold.errors) + len(warm.errors)} errors; {cpu}")


def run_page(
    browser: Any, server: Server, site: str, path: str, into: Kind, cpus: list[Cpu]
) -> None:
    """A fresh server process: the page in a fresh context with the server's tile cache cold
    (first paint, pans), then again in another fresh context with it warm (first paint)."""
    staff, pattern = path == PAGES["staff"][0], TIPG_TILES if server.name == "tipg" else "/tiles/"
    with metered() as cpu, running(server):
        cold = measure(browser, site, path, pattern, staff=staff, pans=True)
        warm = measure(browser, site, path, pattern, staff=staff, pans=False)
    into.cold.append(cold)
    into.warm.append(warm)
    cpus.append(cpu)
    _summary(server.name if server.name == "tipg" else path, cold, warm, cpu)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    parser.add_argument("--units", type=int, default=1_000_000, help="units (default 1,000,000)")
    parser.add_argument(
        "--reuse", action="store_true", help=f"reuse {SCRATCH_DB} if it holds --units; keep it"
    )
    parser.add_argument("--keep", action="store_true", help=f"keep database {SCRATCH_DB}")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each page (default 3)")
    parser.add_argument(
        "--port-base", type=int, default=8830, help="permitmap's; tipg's +1, the peer page's +2"
    )
    parser.add_argument("--skip-peer", action="store_true", help="permitmap's pages only")
    return parser.parse_args(argv)


def measure_all(
    args: argparse.Namespace, url: str, engine: Engine, kinds: dict[str, Kind]
) -> list[Cpu]:
    """`--repeat` rounds: each round the staff map, the public map, then the peer page."""
    from tests.browser import chromium  # Debian's chromium with the browser tests' arguments

    cpus: list[Cpu] = []
    port = args.port_base
    with chromium() as browser, ExitStack() as stack:
        print(f"chromium {browser.version}, headless, viewport {VIEWPORT}")
        site = None if "peer" not in kinds else stack.enter_context(peer_site(port + 2))
        for round_no in range(1, args.repeat + 1):
            print(f"round {round_no} of {args.repeat}:")
            for kind, (path, _) in PAGES.items():
                prewarm(engine)
                run_page(
                    browser,
                    permitmap_server(url, port),
                    f"http://{HOST}:{port}",
                    path,
                    kinds[kind],
                    cpus,
                )
            peer = kinds.get("peer")
            if site is None or peer is None or peer.note:
                continue
            tipg = tipg_server(url, port + 1)
            path = peer_url("", f"http://{HOST}:{port + 1}{tipg.tile}", kinds["staff"].cold[0].view)
            try:
                prewarm(engine)
                run_page(browser, tipg, site, path, peer, cpus)
            except (Exception, SystemExit) as error:  # the peer must not sink permitmap's figures
                peer.note = f"the peer failed: {type(error).__name__}: {error}"
                print(f"  {peer.note}")
    return cpus


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; the last stdout line is the JSON result."""
    args = parse_args(argv)
    url = scratch_url(SCRATCH_DB)
    engine = prepare(url, args.units, reuse=args.reuse)
    kinds = {k: Kind(title) for k, (_, title) in PAGES.items()}
    if not args.skip_peer:
        kinds["peer"] = Kind(
            f"peer: plain Leaflet + VectorGrid page, units from tipg {TIPG_VERSION}"
        )
    try:
        refresh_layers(url)
        demo_users(url)
        if not args.skip_peer:
            ensure_tipg()
        print(f"code: {code_version()}")
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        cpus = measure_all(args, url, engine, kinds)
    finally:
        engine.dispose()
        if not (args.keep or args.reuse):
            admin(url, DROP_SCRATCH)
    worst = max((c.others for c in cpus), default=0.0)
    notes = []
    if worst > DISTURBED:
        notes.append(
            f"WARNING: processes foreign to the benchmark used up to {100 * worst:.0f} % of a "
            "core during a run: the figures are disturbed"
        )
    report(kinds, notes)


if __name__ == "__main__":
    main()
