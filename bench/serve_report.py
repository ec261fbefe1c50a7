"""The report of `bench.serve`: readable lines per server and phase, the comparison, the
verdicts against the issue's targets, and the JSON line last. See bench/README.md.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field

from bench.http_load import Phase, Sample, body_of, percentile
from bench.mvt_count import count_features
from bench.screen import verdict

MIN_CPU_WALL_S = 0.3  # shorter phases get no CPU shares (/proc counts 10 ms ticks)
DISTURBED = 0.1  # the share of a core foreign processes may use before figures are suspect
TARGET_COLD, TARGET_WARM, TARGET_Z12_P99_MS, TARGET_FEATURES = 1.5, 10.0, 50.0, 1.0


@dataclass
class Result:
    """A server's phases: tile passes (zoom → phase), bbox queries, items by id."""

    passes: list[dict[int, Phase]] = field(default_factory=list)
    bbox: Phase | None = None
    item: Phase | None = None


def tile_features(sample: Sample) -> int:
    """Features in an MVT tile, all layers."""
    return count_features(body_of(sample))


def item_counts(phase: Phase) -> list[int]:
    """Features in each GeoJSON FeatureCollection answer (-1 for a failed request)."""
    return [
        len(json.loads(body_of(s)).get("features", [])) if s.status == 200 else -1
        for s in phase.samples
    ]


def tile_totals(phases: dict[int, Phase]) -> tuple[float, float, float, int]:
    """A whole pass: tiles/s (all tiles ÷ the sum of the phases' walls), p50, p99 ms, errors."""
    seconds = [s.seconds for phase in phases.values() for s in phase.samples]
    wall = sum(phase.wall for phase in phases.values())
    errors = sum(phase.errors for phase in phases.values())
    return len(seconds) / wall, percentile(seconds, 50), percentile(seconds, 99), errors


def phase_line(label: str, phase: Phase) -> str:
    """One readable line: count, rate, latency, mean bytes on the wire, CPU, errors."""
    kb = statistics.mean(s.size for s in phase.samples) / 1024
    gz = sum(s.encoding == "gzip" for s in phase.samples)
    cpu = "cpu: phase too short to tell"
    if phase.wall >= MIN_CPU_WALL_S:
        shares = (phase.server_cpu, phase.client_cpu, phase.machine_cpu, phase.others_cpu)
        server, client, machine, others = (c / phase.wall for c in shares)
        cpu = f"cpu: server {server:4.0%} client {client:4.0%} all {machine:4.0%}"
        cpu += f" others {others:3.0%}"
    return (
        f"  {label:<11}{len(phase.samples):5} {phase.rate:8.1f}/s  p50 {phase.ms(50):6.1f} ms"
        f"  p99 {phase.ms(99):6.1f} ms  {kb:7.1f} kB ({gz} gzip)  {cpu}"
        + (f"  {phase.errors} NOT 200" if phase.errors else "")
    )


def tile_notes(phase: Phase) -> str:
    """Features per tile (median, max) and the slowest tile with its features."""
    done = [(s, tile_features(s)) for s in phase.samples if s.status == 200]
    if not done:
        return ""
    counts = [n for _, n in done]
    slowest, n = max(done, key=lambda pair: pair[0].seconds)
    tile = "/".join(slowest.path.removesuffix(".mvt").split("/")[-3:])
    return (
        f"  features/tile median {statistics.median(counts):,.0f} max {max(counts):,};"
        f" slowest {tile} {1000 * slowest.seconds:.0f} ms ({n:,} features)"
    )


def report_server(name: str, result: Result) -> None:
    """The figures of one server, pass by pass, then its feature queries."""
    for n, phases in enumerate(result.passes, 1):
        print(f"{name}, tile pass {n} ({'fresh process' if n == 1 else 'same process again'}):")
        for z, phase in phases.items():
            print(phase_line(f"z{z}", phase) + (tile_notes(phase) if n == 1 else ""))
        rate, p50, p99, errors = tile_totals(phases)
        print(f"  {'all tiles':<16}{rate:8.1f}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms", end="")
        print(f"  {errors} NOT 200" if errors else "")
    if result.bbox and result.item:
        counts = [c for c in item_counts(result.bbox) if c >= 0] or [0]
        print(f"{name}, features (req/s):")
        print(phase_line("bbox", result.bbox), end="")
        print(
            f"  {features_rate(result):,.0f} features/s, {statistics.mean(counts):.0f} per answer"
        )
        print(phase_line("item by id", result.item))


def features_rate(result: Result) -> float:
    """Features per second over the bbox queries."""
    assert result.bbox is not None
    return sum(c for c in item_counts(result.bbox) if c > 0) / result.bbox.wall


def figures(permitmap: Result, tipg: Result | None) -> dict[str, float | None]:
    """The JSON figures; tipg's tiles/s is the better of its two passes."""
    mine = [tile_totals(p)[0] for p in permitmap.passes] + [None, None]
    theirs = [tile_totals(p)[0] for p in tipg.passes] if tipg else []
    return {
        "permitmap_tiles_per_s": mine[0],
        "permitmap_warm_tiles_per_s": mine[1],
        "tipg_tiles_per_s": max(theirs) if theirs else None,
        "permitmap_z12_p99_ms": permitmap.passes[0][12].ms(99) if permitmap.passes else None,
        "permitmap_features_per_s": features_rate(permitmap) if permitmap.bbox else None,
        "tipg_features_per_s": features_rate(tipg) if tipg and tipg.bbox else None,
    }


def judge(fig: dict[str, float | None], clean: bool) -> None:
    """Ratios permitmap / tipg and each target: met, NOT met, or not judged."""
    pairs = (
        ("tiles/s, cold", "permitmap_tiles_per_s", "tipg_tiles_per_s", TARGET_COLD),
        ("tiles/s, warm", "permitmap_warm_tiles_per_s", "tipg_tiles_per_s", TARGET_WARM),
        ("features/s", "permitmap_features_per_s", "tipg_features_per_s", TARGET_FEATURES),
    )
    note = "" if clean else "  (some responses were not 200: not valid)"
    for label, mine, theirs, target in pairs:
        a, b = fig[mine], fig[theirs]
        shown = verdict(a / b, target, at_most=False) if a and b else "not measured"
        print(f"permitmap / tipg, {label}: {shown}{note}")
    p99 = fig["permitmap_z12_p99_ms"]
    met = "not measured" if p99 is None else "met" if p99 < TARGET_Z12_P99_MS else "NOT met"
    shown = "—" if p99 is None else f"{p99:.1f} ms"
    print(
        f"permitmap z12 p99, cold pass: {shown} (target < {TARGET_Z12_P99_MS:.0f} ms: {met}){note}"
    )


def compare_answers(permitmap: Result, tipg: Result) -> None:
    """Whether both servers returned the same number of features for each bbox query."""
    if not (permitmap.bbox and tipg.bbox):
        return
    pairs = list(zip(item_counts(permitmap.bbox), item_counts(tipg.bbox), strict=True))
    same = sum(a == b for a, b in pairs)
    print(f"bbox answers with the same feature count on both: {same} of {len(pairs)}")


def phases(results: dict[str, Result]) -> list[Phase]:
    """Every timed phase of every server."""
    found = []
    for result in results.values():
        found += [phase for tiles in result.passes for phase in tiles.values()]
        found += [phase for phase in (result.bbox, result.item) if phase]
    return found


def report(results: dict[str, Result]) -> None:
    """Every server's figures, the comparison, the verdicts, and the JSON line last."""
    for name, result in results.items():
        report_server(name, result)
    tipg = results.get("tipg")
    if tipg:
        compare_answers(results["permitmap"], tipg)
    timed_phases = phases(results)
    wall = sum(p.wall for p in timed_phases)
    disturbed = sum(p.others_cpu for p in timed_phases) / wall if wall else 0.0
    if disturbed > DISTURBED:
        print(f"WARNING: processes foreign to the benchmark used {disturbed:.0%} of a core", end="")
        print(" over the timed phases: the figures are disturbed; rerun on an idle machine")
    fig = figures(results["permitmap"], tipg)
    judge(fig, clean=not any(phase.errors for phase in timed_phases))
    print(json.dumps({"bench": "serve"} | {k: v and round(v, 1) for k, v in fig.items()}))
