"""The report of `bench.web`: medians over the runs, ratios to the peer, the target, JSON."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.web_page import PAN_PX, PAN_STEPS, PageRun, Step

TARGET_MS = 1500.0  # the target: first full paint under 1.5 s on loopback
LONG_FRAME_MS = 20.0


@dataclass
class Kind:
    """One kind of page (staff map, public map, peer): its runs, cold and warm server."""

    title: str
    cold: list[PageRun] = field(default_factory=list)
    warm: list[PageRun] = field(default_factory=list)
    note: str | None = None  # why it was not measured


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _median(runs: list[PageRun], of: Callable[[PageRun], float | None]) -> float | None:
    values = [v for v in map(of, runs) if v is not None]
    return statistics.median(values) if values else None


def _runs(runs: list[PageRun], of: Callable[[PageRun], float | None]) -> str:
    return ", ".join(f"{v:,.0f}" for v in map(of, runs) if v is not None)


def pan_p95(run: PageRun) -> float | None:
    """The frame-time p95 of the run's harder pan (the larger of its two pans' p95)."""
    return max((percentile(s.frames, 95) for s in run.pans.values() if s.frames), default=None)


def _long(step: Step) -> int:
    """Frames that missed the display's refresh (a frame takes 16.7 ms at 60 Hz)."""
    return sum(f > LONG_FRAME_MS for f in step.frames)


def _paint_line(label: str, runs: list[PageRun]) -> None:
    ms = _median(runs, lambda r: r.paint.ms)
    tiles = _median(runs, lambda r: r.paint.tiles)
    kb = _median(runs, lambda r: r.paint.bytes / 1000)
    print(f"  {label}: {ms:,.0f} ms (runs {_runs(runs, lambda r: r.paint.ms)}); ", end="")
    print(f"{tiles:.0f} tiles, {kb:,.1f} kB")
    parts = {
        "document TTFB": "ttfb",
        "map ready": "ready",
        "first tile issued": "first_tile",
        "last tile answered": "last_tile",
    }
    line = ", ".join(
        f"{name} {_median(runs, lambda r, k=key: r.breakdown[k]):,.0f}"
        for name, key in parts.items()
    )
    print(f"    {line}, painted {ms:,.0f} ms after navigation start")


def _pan_line(label: str, runs: list[PageRun], key: str) -> None:
    steps: list[Step] = [r.pans[key] for r in runs if key in r.pans]
    if not steps:
        return
    p50, p95, top = (
        statistics.median(percentile(s.frames, p) for s in steps) for p in (50, 95, 100)
    )
    tiles = statistics.median(s.tiles for s in steps)
    issued = statistics.median(s.issued for s in steps)
    settle = statistics.median(s.settle_ms for s in steps)
    p95s = ", ".join(f"{percentile(s.frames, 95):.1f}" for s in steps)
    long = statistics.median(_long(s) for s in steps)
    print(f"  pan {label}: frames p50 {p50:.1f} / p95 {p95:.1f} (runs {p95s}) / max {top:.1f} ms,")
    print(f"    {long:.0f} of {len(steps[0].frames)} frames over {LONG_FRAME_MS:.0f} ms;", end="")
    print(f" {tiles:.0f} tiles loaded during the pan ({issued:.0f} issued), ", end="")
    print(f"{statistics.median(s.bytes for s in steps) / 1000:,.1f} kB; ", end="")
    print(f"all drawn {settle:,.0f} ms after its last frame")


def _kind(kind: Kind) -> None:
    print(f"{kind.title}:")
    if kind.note:
        print(f"  NOT MEASURED: {kind.note}")
        return
    _paint_line("first full paint, server tile cache cold", kind.cold)
    if kind.warm:
        _paint_line("first full paint, server tile cache warm", kind.warm)
    view = kind.cold[0].view
    if view is not None:
        print(f"  initial view: zoom {view.zoom}, map {view.width} × {view.height} px")
    city = _median(kind.cold, lambda r: r.city_ms)
    if city is not None:
        print(f"  jump to the city zoom (z12, Chongqing), all drawn: {city:,.0f} ms")
    _pan_line("at the initial zoom", kind.cold, "initial")
    _pan_line("at z12", kind.cold, "city")
    print(f"  frames p95 of the harder pan: {_median(kind.cold, pan_p95):.1f} ms")
    errors = sorted({e for r in kind.cold + kind.warm for e in r.errors})
    print(f"  console errors / failed or non-200 tiles: {len(errors)}")
    for error in errors[:10]:
        print(f"    {error}")


def _ratios(name: str, ours: Kind, peer: Kind) -> None:
    rows: dict[str, Callable[[PageRun], float | None]] = {
        "first full paint (cold)": lambda r: r.paint.ms,
        "city zoom drawn": lambda r: r.city_ms,
        "frames p95 while panning (harder pan)": pan_p95,
        "pan at z12: drawn after": lambda r: r.pans["city"].settle_ms if "city" in r.pans else None,
    }
    print(f"ratios peer ÷ {name} (above 1: {name} is faster):")
    for label, of in rows.items():
        a, b = _median(ours.cold, of), _median(peer.cold, of)
        if a and b is not None:
            print(f"  {label}: {b:,.1f} ÷ {a:,.1f} = {b / a:.2f}")
    if peer.warm and ours.warm:
        a, b = (_median(k.warm, lambda r: r.paint.ms) for k in (ours, peer))
        if a and b is not None:
            print(f"  first full paint (warm server): {b:,.0f} ÷ {a:,.0f} = {b / a:.2f}")


def report(kinds: dict[str, Kind], notes: list[str]) -> None:
    """Print each kind's figures, the ratios to the peer, the target, notes, the JSON line."""
    print(f"\npans: {PAN_STEPS} frames of map.panBy({list(PAN_PX)}, animate: false), one a frame")
    for kind in kinds.values():
        _kind(kind)
    staff, public, peer = kinds["staff"], kinds["public"], kinds.get("peer")
    if peer is not None and not peer.note:
        _ratios("staff map", staff, peer)
        _ratios("public map", public, peer)
    else:
        print(f"no peer ratios: {peer.note if peer is not None else 'peer skipped (--skip-peer)'}")
    for kind in (staff, public):
        ms = _median(kind.cold, lambda r: r.paint.ms)
        verdict = "met" if ms is not None and ms < TARGET_MS else "NOT met"
        print(
            f"target: {kind.title} first full paint < {TARGET_MS:,.0f} ms: {ms:,.0f} ms, {verdict}"
        )

    for note in notes:
        print(note)

    def fig(
        kind: Kind | None, of: Callable[[PageRun], float | None], warm: bool = False
    ) -> float | None:
        if kind is None or kind.note:
            return None
        value = _median(kind.warm if warm else kind.cold, of)
        return round(value, 1) if value is not None else None

    result = {
        "bench": "web",
        "first_paint_ms": fig(staff, lambda r: r.paint.ms),
        "pan_frame_p95_ms": fig(staff, pan_p95),
        "first_paint_warm_ms": fig(staff, lambda r: r.paint.ms, warm=True),
        "first_paint_tiles": fig(staff, lambda r: r.paint.tiles),
        "first_paint_kb": fig(staff, lambda r: r.paint.bytes / 1000),
        "public_first_paint_ms": fig(public, lambda r: r.paint.ms),
        "public_pan_frame_p95_ms": fig(public, pan_p95),
        "peer_first_paint_ms": fig(peer, lambda r: r.paint.ms),
        "peer_pan_frame_p95_ms": fig(peer, pan_p95),
    }
    print(json.dumps(result))
