"""CQL2 filters compiled to SQL: each operator on a small hand-made table, each refusal, injection
attempts, bound parameters only, and a cross-check against pygeofilter on the same rows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import cql2
import pytest
import sqlalchemy as sa
from geoalchemy2 import Geometry
from pygeofilter.backends.sqlalchemy.evaluate import to_filter
from pygeofilter.parsers.cql2_text import parse as pygeofilter_parse
from sqlalchemy.dialects import postgresql

from geo.errors import ValidationError
from layers import cql2_parse
from layers.cql2_filter import CGCS2000, CRS84, Queryable, compile_filter

PROBE = sa.Table(
    "cql_probe",
    sa.MetaData(),
    sa.Column("id", sa.Integer),
    sa.Column("name", sa.Text),
    sa.Column("num", sa.Integer),
    sa.Column("val", sa.Float),
    sa.Column("ok", sa.Boolean),
    sa.Column("day", sa.Date),
    sa.Column("ts", sa.DateTime(timezone=True)),
    sa.Column("geom", Geometry("POINT", 4326)),
    sa.Column("secret", sa.Text),  # a staff-only column: in the table, not in the queryables
)
QUERYABLES = {
    "name": Queryable("name", "string", PROBE.c.name),
    "num": Queryable("num", "integer", PROBE.c.num),
    "val": Queryable("val", "number", PROBE.c.val),
    "ok": Queryable("ok", "boolean", PROBE.c.ok),
    "day": Queryable("day", "date", PROBE.c.day),
    "ts": Queryable("ts", "datetime", PROBE.c.ts),
    "geometry": Queryable("geometry", "geometry", PROBE.c.geom),
}


def _row(id_, name, num, val, ok, day, ts, lonlat):
    geom = None if lonlat is None else f"SRID=4326;POINT({lonlat[0]} {lonlat[1]})"
    moment = None if ts is None else datetime.fromisoformat(ts).replace(tzinfo=UTC)
    return {"id": id_, "name": name, "num": num, "val": val, "ok": ok, "day": day, "ts": moment,
            "geom": geom, "secret": f"staff note {id_}"}  # fmt: skip


ROWS = [
    _row(1, "alpha", 1, 0.5, True, date(2020, 1, 1), "2020-01-01T08:00", (106.5, 29.5)),
    _row(2, "beta", 2, 1.5, False, date(2020, 6, 15), "2020-06-15T12:00", (106.6, 29.6)),
    _row(3, "gamma", 3, 2.5, True, date(2021, 3, 1), "2021-03-01T00:00", (107.0, 30.0)),
    _row(4, "alphabet", 4, 3.5, None, date(2019, 12, 31), "2019-12-31T23:59", (108.0, 31.0)),
    _row(5, "delta", 5, None, False, None, None, (100.0, 25.0)),
    _row(6, "it's", 6, 5.5, True, date(2022, 1, 1), "2022-01-01T10:00", (106.55, 29.55)),
    _row(7, "x' OR '1'='1", 7, 6.5, None, date(2020, 3, 3), "2020-03-03T03:03", (110.0, 35.0)),
    _row(8, None, 8, 7.5, True, date(2020, 1, 1), "2020-01-01T00:00", None),
    _row(9, "Alpha", 9, -1.0, False, date(2023, 5, 5), "2023-05-05T05:05", (-73.9, 40.7)),
    _row(10, "a_b%c", 10, 0.0, True, date(2020, 2, 2), "2020-02-02T02:02", (106.5, 29.5)),
]
ALL = [row["id"] for row in ROWS]
BOX = "POLYGON((106 29, 107.5 29, 107.5 30.5, 106 30.5, 106 29))"
IN_BOX = [1, 2, 3, 6, 10]


@pytest.fixture
def probe(session):
    """The session with a temporary cql_probe table holding ROWS (gone at rollback)."""
    session.execute(
        sa.text(
            "CREATE TEMP TABLE cql_probe (id int, name text, num int, val float8, ok bool,"
            " day date, ts timestamptz, geom geometry(Point, 4326), secret text)"
        )
    )
    session.execute(PROBE.insert(), ROWS)
    return session


def ids(session, filter_text, **options):
    condition = compile_filter(filter_text, QUERYABLES, **options)
    return session.scalars(sa.select(PROBE.c.id).where(condition).order_by(PROBE.c.id)).all()


def refusal(filter_text, **options) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        compile_filter(filter_text, QUERYABLES, **options)
    return caught.value


# ---- every supported operator ------------------------------------------------------------

OPERATORS = [
    ("name = 'beta'", [2]),
    ("name <> 'beta'", [1, 3, 4, 5, 6, 7, 9, 10]),
    ("'beta' = name", [2]),
    ("num < 3", [1, 2]),
    ("num <= 3", [1, 2, 3]),
    ("num > 8", [9, 10]),
    ("num >= 9", [9, 10]),
    ("3 > num", [1, 2]),
    ("val > 2.5", [4, 6, 7, 8]),
    ("val = -1", [9]),
    ("val < num", [1, 2, 3, 4, 6, 7, 8, 9, 10]),
    ("name = 'it''s'", [6]),
    ("name LIKE 'alpha%'", [1, 4]),
    ("name LIKE '_eta'", [2]),
    ("name LIKE 'a\\_b\\%c'", [10]),
    ("name NOT LIKE 'a%'", [2, 3, 5, 6, 7, 9]),
    ("num BETWEEN 2 AND 4", [2, 3, 4]),
    ("val BETWEEN 0 AND 2", [1, 2, 10]),
    ("num NOT BETWEEN 2 AND 9", [1, 10]),
    ("day BETWEEN DATE('2020-01-01') AND DATE('2020-12-31')", [1, 2, 7, 8, 10]),
    ("num IN (1, 3, 5)", [1, 3, 5]),
    ("name IN ('beta', 'gamma', 'nope')", [2, 3]),
    ("num NOT IN (1, 2, 3, 4, 5, 6, 7, 8, 9)", [10]),
    ("day IN (DATE('2020-01-01'), DATE('2022-01-01'))", [1, 6, 8]),
    ("val IS NULL", [5]),
    ("name IS NULL", [8]),
    ("geometry IS NULL", [8]),
    ("ok IS NOT NULL", [1, 2, 3, 5, 6, 8, 9, 10]),
    ("ok = true", [1, 3, 6, 8, 10]),
    ("ok = false", [2, 5, 9]),
    ("ok", [1, 3, 6, 8, 10]),
    ("NOT ok", [2, 5, 9]),
    ("num = 1 OR num = 2 OR name = 'gamma'", [1, 2, 3]),
    ("ok AND num > 5", [6, 8, 10]),
    ("NOT (num > 2)", [1, 2]),
    ("num > 5 AND true", [6, 7, 8, 9, 10]),
    ("num > 5 AND false", []),
    ("day = DATE('2020-01-01')", [1, 8]),
    ("day > DATE('2021-01-01')", [3, 6, 9]),
    ("day < DATE('2020-01-01')", [4]),
    ("ts >= TIMESTAMP('2021-03-01T00:00:00Z')", [3, 6, 9]),
    ("ts < TIMESTAMP('2020-01-01T08:00:00Z')", [4, 8]),
    ("day < TIMESTAMP('2020-01-01T12:00:00Z')", [1, 4, 8]),
    ("T_INTERSECTS(day, INTERVAL('2020-01-01', '2020-12-31'))", [1, 2, 7, 8, 10]),
    ("T_INTERSECTS(day, INTERVAL('2021-01-01', '..'))", [3, 6, 9]),
    ("T_INTERSECTS(day, INTERVAL('..', '2019-12-31'))", [4]),
    ("T_INTERSECTS(day, INTERVAL('..', '..'))", [1, 2, 3, 4, 6, 7, 8, 9, 10]),
    ("T_INTERSECTS(day, DATE('2020-06-15'))", [2]),
    ("T_INTERSECTS(ts, INTERVAL('2020-01-01T00:00:00Z', '2020-01-31T00:00:00Z'))", [1, 8]),
    ("T_BEFORE(day, DATE('2020-01-01'))", [4]),
    ("T_BEFORE(day, INTERVAL('2020-01-02', '2020-12-31'))", [1, 4, 8]),
    ("T_BEFORE(day, INTERVAL('..', '2020-12-31'))", []),
    ("T_AFTER(day, INTERVAL('..', '2021-12-31'))", [6, 9]),
    ("T_AFTER(day, INTERVAL('2020-01-01', '..'))", []),
    ("T_AFTER(ts, TIMESTAMP('2022-01-01T09:00:00Z'))", [6, 9]),
    (f"S_INTERSECTS(geometry, {BOX})", IN_BOX),
    (f"S_WITHIN(geometry, {BOX})", IN_BOX),
    (f"S_DISJOINT(geometry, {BOX})", [4, 5, 7, 9]),
    (f"S_CONTAINS({BOX}, geometry)", IN_BOX),
    ("S_CONTAINS(geometry, POINT(106.5 29.5))", [1, 10]),
    ("S_INTERSECTS(geometry, BBOX(106, 29, 107.5, 30.5))", IN_BOX),
    ("S_INTERSECTS(geometry, BBOX(-180, -90, 0, 90))", [9]),
    ("S_INTERSECTS(geometry, MULTIPOINT((100 25), (110 35)))", [5, 7]),
    ("S_INTERSECTS(geometry, LINESTRING(99 25, 101 25))", [5]),
    ("S_INTERSECTS(geometry, GEOMETRYCOLLECTION(POINT(110 35), POINT(-73.9 40.7)))", [7, 9]),
    (f"S_INTERSECTS(geometry, {BOX}) AND num > 2 AND NOT name LIKE 'g%'", [6, 10]),
]


@pytest.mark.parametrize(("filter_text", "expected"), OPERATORS)
def test_operator_selects_expected_rows(probe, filter_text, expected):
    assert ids(probe, filter_text) == expected


def test_cql2_json(probe):
    ring = [[106, 29], [107.5, 29], [107.5, 30.5], [106, 30.5], [106, 29]]
    geometry, day, name = {"property": "geometry"}, {"property": "day"}, {"property": "name"}
    tree = {
        "op": "and",
        "args": [
            {"op": ">", "args": [{"property": "num"}, 2]},
            {"op": "s_intersects", "args": [geometry, {"bbox": [106, 29, 107.5, 30.5]}]},
            {"op": "t_intersects", "args": [day, {"interval": ["2021-01-01", ".."]}]},
            {"op": "in", "args": [name, ["gamma", "it's"]]},
            {"op": "s_within", "args": [geometry, {"type": "Polygon", "coordinates": [ring]}]},
        ],
    }
    assert ids(probe, json.dumps(tree), lang="cql2-json") == [3, 6]


def test_unclosed_ring_is_closed_before_postgis(probe):
    ring = [[106, 29], [107.5, 29], [107.5, 30.5], [106, 30.5]]
    tree = {
        "op": "s_intersects",
        "args": [{"property": "geometry"}, {"type": "Polygon", "coordinates": [ring]}],
    }
    assert ids(probe, json.dumps(tree), lang="cql2-json") == IN_BOX


def test_deepest_allowed_nesting_still_compiles(probe):
    """20 operators deep, brackets and all, is within the limits (text and JSON)."""
    square = "((106 29, 107.5 29, 107.5 30.5, 106 30.5, 106 29))"
    inner = f"S_INTERSECTS(geometry, GEOMETRYCOLLECTION(MULTIPOLYGON({square})))"
    text = "NOT (" * 19 + inner + ")" * 19
    assert ids(probe, text) == [4, 5, 7, 9]
    tree = cql2.parse_text(text).to_json()
    assert ids(probe, json.dumps(tree), lang="cql2-json") == [4, 5, 7, 9]
    assert ids(probe, "NOT " * 19 + "num = 1") == [2, 3, 4, 5, 6, 7, 8, 9, 10]


# ---- CGCS2000: latitude first ------------------------------------------------------------


@pytest.mark.parametrize(
    ("lonlat", "latlon"),
    [
        (BOX, "POLYGON((29 106, 29 107.5, 30.5 107.5, 30.5 106, 29 106))"),
        ("BBOX(106, 29, 107.5, 30.5)", "BBOX(29, 106, 30.5, 107.5)"),
        ("POINT(106.5 29.5)", "POINT(29.5 106.5)"),
    ],
)
def test_cgcs2000_axis_order_selects_the_same_rows(probe, lonlat, latlon):
    crs84 = ids(probe, f"S_INTERSECTS(geometry, {lonlat})", filter_crs=CRS84)
    cgcs2000 = ids(probe, f"S_INTERSECTS(geometry, {latlon})", filter_crs=CGCS2000)
    assert crs84 == cgcs2000
    assert crs84 in (IN_BOX, [1, 10])


def test_lat_lon_order_read_as_crs84_is_refused():
    error = refusal("S_INTERSECTS(geometry, POINT(29.5 106.5))")
    assert "latitude -90..90" in error.message


# ---- refusals ----------------------------------------------------------------------------

REFUSALS = [
    ("secret = 'staff note 1'", "unknown property 'secret' (queryable: name, num, val, ok,"),
    ("Name = 'alpha'", "unknown property 'Name'"),
    ("id = 1", "unknown property 'id'"),
    ('"id; drop" = 1', "unknown property 'id; drop'"),
    ("pg_read_file('/etc/passwd') = 'x'", "function 'pg_read_file' is not supported"),
    ("current_setting('is_superuser') = 'on'", "function 'current_setting' is not supported"),
    ("name = upper('a')", "function 'upper' is not supported"),
    ("CASEI(name) = 'alpha'", "operator 'casei' is not supported"),
    ("S_EQUALS(geometry, POINT(1 1))", "operator 's_equals' is not supported"),
    ("T_DURING(day, INTERVAL('2020-01-01', '2021-01-01'))", "operator 't_during' is not supported"),
    ("num + 1 > 2", "operator '+' is not supported"),
    ("name = 1", "property 'name' is string; cannot use 1.0"),
    ("num = 'one'", "property 'num' is integer"),
    ("num = 1.5", "property 'num' holds whole numbers, not 1.5"),
    ("ok = 1", "property 'ok' is boolean"),
    ("day = '2020-01-01'", "property 'day' is date"),
    ("val = 1e400", "property 'val' is number"),
    ("day = DATE('2020-13-45')", "invalid date or timestamp '2020-13-45'"),
    ("num = name", "cannot compare integer 'num' with string 'name'"),
    ("num IN (1, 'two')", "property 'num' is integer"),
    ("1 = 1", "comparison '=' needs a property on one side"),
    ("num LIKE '1%'", "'like' does not apply to integer property 'num'"),
    ("ok BETWEEN 1 AND 2", "'between' does not apply to boolean property 'ok'"),
    ("geometry = 1", "'=' does not apply to geometry 'geometry'"),
    ("S_INTERSECTS(num, POINT(1 1))", "'s_intersects' needs geometries; 'num' is not one"),
    ("S_INTERSECTS(POINT(1 1), POINT(1 1))", "'s_intersects' needs a geometry property"),
    ("T_BEFORE(num, DATE('2020-01-01'))", "'t_before' does not apply to integer property 'num'"),
    ("num", "property 'num' is not a condition"),
    ("name = ", "syntax error at line 1, column 8: expected"),
    ("name = 'unterminated", "syntax error at line 1, column 8"),
    ("NOT " * 21 + "num = 1", "nested too deeply"),
    ("(" * 5000 + "num = 1" + ")" * 5000, "nested too deeply"),
    ("num = " + "-" * 5000 + "1", "nested too deeply"),
    ("name = '" + "a" * 20_000 + "'", "filter is too long (20,009 characters; at most 20,000)"),
    (" OR ".join(["num = 1"] * 300), "filter is too large (more than 500 terms)"),
    ("num IN (" + ",".join(["1"] * 1001) + ")", "'in' list is too long (1,001 values"),
    ("S_INTERSECTS(geometry, BBOX(1, 2, 3))", "a bbox needs 4 numbers"),
    ("S_INTERSECTS(geometry, BBOX(1, 2, 3, 4, 5, 6))", "a bbox needs 4 numbers"),
    ("S_INTERSECTS(geometry, BBOX(10, 0, 0, 10))", "lower corner must not exceed"),
    ("S_INTERSECTS(geometry, BBOX(0, 0, 200, 10))", "within -180..180 / -90..90"),
    ("S_INTERSECTS(geometry, POLYGON((0 0, 2 2, 2 0, 0 2, 0 0)))", "Self-intersection"),
    ("S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 0 0)))", "invalid Polygon geometry"),
    ("S_INTERSECTS(geometry, POINT(200 0))", "coordinates outside longitude -180..180"),
]


@pytest.mark.parametrize(("filter_text", "message"), REFUSALS)
def test_refused_with_a_clear_message(filter_text, message):
    error = refusal(filter_text)
    assert error.field == "filter"
    assert message in error.message, error.message
    assert "\n" not in error.message


def test_staff_column_is_not_revealed():
    error = refusal("secret IS NULL")
    assert error.value == "secret"
    assert "secret" not in error.message.split("(queryable:")[1]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"lang": "cql2"}, "filter-lang"),
        ({"lang": "ecql"}, "filter-lang"),
        ({"filter_crs": "EPSG:4326"}, "filter-crs"),
        ({"filter_crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}, "filter-crs"),
    ],
)
def test_bad_lang_or_crs(options, field):
    error = refusal("num = 1", **options)
    assert error.field == field
    assert error.value in options.values()


SPATIAL_JSON = '{"op": "s_intersects", "args": [{"property": "geometry"}, %s]}'
MALFORMED_JSON = [
    "{not json",
    "5",
    '"text"',
    "null",
    "[]",
    '{"function": {"name": "pg_sleep", "args": [10]}}',
    '{"op": "pg_sleep", "args": [10]}',
    '{"op": "=", "args": [{"property": "num"}]}',
    '{"op": "=", "args": "x"}',
    '{"op": "=", "args": [{"property": "num"}, [1, 2]]}',
    '{"op": "=", "args": [{"property": ["num"]}, 1]}',
    '{"op": "in", "args": [{"property": "num"}, 1]}',
    '{"op": "in", "args": [{"property": "num"}, []]}',
    '{"op": "and", "args": [true]}',
    '{"op": "not", "args": []}',
    '{"op": "isNull", "args": [1]}',
    '{"op": "between", "args": [{"property": "num"}, 1]}',
    '{"op": "like", "args": [{"property": "name"}, {"property": "num"}]}',
    SPATIAL_JSON % '{"bbox": "x"}',
    SPATIAL_JSON % '{"type": "Feature"}',
    SPATIAL_JSON % '{"type": "Polygon", "coordinates": "x"}',
    SPATIAL_JSON % '{"type": "Point"}',
    SPATIAL_JSON % '{"type": "Point", "coordinates": []}',
    SPATIAL_JSON % '{"type": "Point", "coordinates": [1, 2, 3, 4]}',
    '{"op": "t_intersects", "args": [{"property": "day"}, {"interval": ["2020-01-01"]}]}',
    '{"op": "t_intersects", "args": [{"property": "day"}, {"interval": ["x", "y"]}]}',
    '{"op": "t_before", "args": [{"property": "day"}, {"date": 5}]}',
    '{"op": "=", "args": [{"property": "day"}, {"timestamp": "noon"}]}',
]


@pytest.mark.parametrize("filter_text", MALFORMED_JSON)
def test_malformed_json_is_a_validation_error(filter_text):
    assert refusal(filter_text, lang="cql2-json").field == "filter"


def test_geometry_with_too_many_coordinates(monkeypatch):
    # 20,000 characters cannot hold 10,001 positions; lift the length cap to reach the check.
    monkeypatch.setattr(cql2_parse, "MAX_LENGTH", 1_000_000)
    line = ", ".join(f"{i % 90} {i % 45}.5" for i in range(10_001))
    error = refusal(f"S_INTERSECTS(geometry, LINESTRING({line}))")
    assert "too many coordinates (10,001; at most 10,000)" in error.message


# ---- injection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ("name = 'x'' OR ''1''=''1'", [7]),
        ("name = 'a''; DROP TABLE cql_probe; --'", []),
        ("name LIKE '%'' OR 1=1 --'", []),
        ("name IN ('x'' OR ''1''=''1', 'beta''); DELETE FROM cql_probe; --')", [7]),
        ("name = 'alpha' OR name = '\\'' OR 1=1 --'", [1]),
    ],
)
def test_injection_is_plain_data(probe, filter_text, expected):
    assert ids(probe, filter_text) == expected
    assert probe.scalar(sa.text("SELECT count(*) FROM cql_probe")) == len(ROWS)


@pytest.mark.parametrize(
    "filter_text",
    [
        '"id; drop" = 1',
        "name = 'a' OR 1=1",
        "name = 'a'; DROP TABLE cql_probe",
        "name = 'a' -- comment",
        "name = 'a' /* c */",
    ],
)
def test_injection_outside_strings_is_refused(filter_text):
    assert refusal(filter_text).field == "filter"


def test_property_names_never_reach_sql_from_json():
    tree = {"op": "=", "args": [{"property": 'name" OR 1=1 --'}, "x"]}
    assert "unknown property" in refusal(json.dumps(tree), lang="cql2-json").message


def test_compiled_sql_holds_no_user_literal():
    literals = ["zzsecretzz", "424242", "3.14159", "106.123", "2020-02-02", "qqinqq", "29.875"]
    filter_text = (
        "name = 'zzsecretzz' AND num = 424242 AND val > 3.14159 AND day = DATE('2020-02-02')"
        " AND name IN ('qqinqq') AND S_INTERSECTS(geometry, BBOX(106.123, 29.5, 107, 30))"
        " AND S_WITHIN(geometry, POLYGON((106 29.875, 107 29.875, 107 31, 106 29.875)))"
        " AND T_INTERSECTS(ts, INTERVAL('2020-02-02T00:00:00Z', '..')) AND ok = true"
    )
    statement = sa.select(PROBE.c.id).where(compile_filter(filter_text, QUERYABLES))
    compiled = statement.compile(dialect=postgresql.dialect())
    sql = str(compiled)
    assert [value for value in literals if value in sql] == []
    params = json.dumps(list(compiled.params.values()), default=str)
    assert all(value in params for value in literals)


# ---- cross-check with pygeofilter --------------------------------------------------------

CROSS_CHECK = [
    "name = 'beta'",
    "num < 3 AND ok = true",
    "name LIKE 'alpha%'",
    "name NOT LIKE 'a%'",
    "num BETWEEN 2 AND 4",
    "num IN (1, 3, 5)",
    "num NOT IN (1, 2)",
    "val IS NULL OR num > 8",
    "NOT (num > 2)",
    "val < num",
    "day > DATE('2021-01-01')",
    "ts < TIMESTAMP('2020-06-01T00:00:00Z')",
    f"S_INTERSECTS(geometry, {BOX})",
    f"S_WITHIN(geometry, {BOX})",
    "S_DISJOINT(geometry, POINT(106.5 29.5))",
]


@pytest.mark.parametrize("filter_text", CROSS_CHECK)
def test_same_rows_as_pygeofilter(probe, filter_text):
    mapping = {name: queryable.column for name, queryable in QUERYABLES.items()}
    theirs = to_filter(pygeofilter_parse(filter_text), mapping)
    expected = probe.scalars(sa.select(PROBE.c.id).where(theirs).order_by(PROBE.c.id)).all()
    assert ids(probe, filter_text) == expected
    assert expected != ALL  # every check filters something out
