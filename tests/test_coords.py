"""Coordinate input: DMS parsing, validation, and GCJ-02 / BD-09 conversion against prcoords."""

from __future__ import annotations

import math

import numpy as np
import prcoords
import pytest
from pyproj import Geod

from geo import coords
from geo.coords import (
    InputCRS,
    gcj02_to_bd09,
    parse_angle,
    parse_crs,
    parse_point,
    to_wgs84,
    to_wgs84_arrays,
    wgs84_to_gcj02,
)
from geo.crs import transformer
from geo.errors import ValidationError

GEOD = Geod(ellps="WGS84")
CHONGQING = (105.2, 28.1, 110.2, 32.2)
XINJIANG = (73.4, 34.3, 96.4, 49.2)
EXPECTED = 106 + 33 / 60 + 12.3 / 3600


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.fixture(scope="module")
def chongqing():
    """2,000 random WGS84 points over Chongqing and prcoords' GCJ-02 / BD-09 for them."""
    rng = np.random.default_rng(20240501)
    lon, lat = rng.uniform(105.2, 110.2, 2000), rng.uniform(28.1, 32.2, 2000)
    gcj = np.array([prcoords.wgs_gcj((y, x)) for x, y in zip(lon, lat, strict=True)])
    bd = np.array([prcoords.gcj_bd(tuple(p)) for p in gcj])
    return {"lon": lon, "lat": lat, "gcj": gcj[:, ::-1], "bd": bd[:, ::-1]}


# ---- CRS names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wgs84", InputCRS.WGS84),
        ("EPSG:4326", InputCRS.WGS84),
        ("4326", InputCRS.WGS84),
        ("WGS 84", InputCRS.WGS84),
        ("CGCS2000", InputCRS.CGCS2000),
        ("epsg:4490", InputCRS.CGCS2000),
        ("GCJ-02", InputCRS.GCJ02),
        ("gcj02", InputCRS.GCJ02),
        ("Amap", InputCRS.GCJ02),
        ("GAODE", InputCRS.GCJ02),
        ("高德", InputCRS.GCJ02),
        ("BD-09", InputCRS.BD09),
        ("Baidu", InputCRS.BD09),
        (InputCRS.BD09, InputCRS.BD09),
    ],
)
def test_parse_crs_accepts_names_and_codes(text, expected):
    assert parse_crs(text) is expected


@pytest.mark.parametrize("text", ["EPSG:3857", "3857", "utm", "", "bd09mc"])
def test_parse_crs_refuses_unsupported(text):
    with pytest.raises(ValidationError, match="unsupported CRS") as caught:
        parse_crs(text)
    assert caught.value.field == "crs"
    assert repr(text) in caught.value.message


def test_unsupported_crs_refused_by_conversions():
    with pytest.raises(ValidationError, match="EPSG:3857"):
        to_wgs84(106.5, 29.5, "EPSG:3857")
    with pytest.raises(ValidationError, match="EPSG:3857"):
        parse_point(106.5, 29.5, crs="EPSG:3857")


# ---- angles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "axis", "expected"),
    [
        ("106°33′12.3″E", "lon", EXPECTED),
        ("106°33'12.3\"E", "lon", EXPECTED),
        ("106°33'12.3''E", "lon", EXPECTED),
        ("106º33’12.3”E", "lon", EXPECTED),
        ("106 33 12.3", "lon", EXPECTED),
        ("106:33:12.3", "lon", EXPECTED),
        ("E106°33.205′", "lon", EXPECTED),
        ("E 106 33.205", "lon", EXPECTED),
        ("106°33′12.3″", "lon", EXPECTED),
        ("东经106度33分12.3秒", "lon", EXPECTED),
        ("１０６°３３′１２．３″Ｅ", "lon", EXPECTED),
        ("西经106度33分12.3秒", "lon", -EXPECTED),
        ("106°33′12.3″W", "lon", -EXPECTED),
        ("-106 33 12.3", "lon", -EXPECTED),
        ("－１０６．５", "lon", -106.5),
        ("106.5534", "lon", 106.5534),
        ("+106.5", "lon", 106.5),
        ("106.5°", "lon", 106.5),
        ("  106.5  ", "lon", 106.5),
        ("29.55N", "lat", 29.55),
        ("29.55 n", "lat", 29.55),
        ("29.55S", "lat", -29.55),
        ("N29°33′", "lat", 29.55),
        ("北纬29度33分", "lat", 29.55),
        ("南纬29.55度", "lat", -29.55),
        ("-29.55", "lat", -29.55),
        ("29.55N", "lat", 29.55),
        (".5", "lat", 0.5),
        (106.5534, "lon", 106.5534),
        (-29, "lat", -29.0),
        (np.float32(29.5), "lat", 29.5),
        ("180", "lon", 180.0),
        ("90S", "lat", -90.0),
    ],
)
def test_parse_angle_variants(text, axis, expected):
    assert parse_angle(text, axis=axis, field="f") == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("value", "axis", "reason"),
    [
        ("abc", "lat", "cannot read"),
        ("106.5.3", "lon", "cannot read"),
        ("106,5", "lon", "cannot read"),
        ("1e5", "lon", "cannot read"),
        ("106.5°33′", "lon", "cannot read"),
        ("33′12″", "lon", "cannot read"),
        ("1 2 3 4", "lon", "cannot read"),
        ("N29.5N", "lat", "cannot read"),
        ("N", "lat", "cannot read"),
        ("-29.5N", "lat", "both a sign and a hemisphere"),
        ("nan", "lat", "cannot read"),
        ("inf", "lon", "cannot read"),
        (float("nan"), "lat", "not a finite number"),
        (float("inf"), "lon", "not a finite number"),
        (True, "lon", "cannot read"),
        ([106.5], "lon", "cannot read"),
        ("", "lon", "required"),
        (None, "lat", "required"),
        ("106°60′", "lon", "minutes >= 60"),
        ("106°33′60″", "lon", "seconds >= 60"),
        ("106 33 75", "lon", "seconds >= 60"),
        ("180.0001", "lon", "out of range"),
        ("-181", "lon", "out of range"),
        (90.5, "lat", "out of range"),
        ("91°N", "lat", "out of range"),
        ("29.5E", "lat", "longitude hemisphere"),
        ("北纬29.5", "lon", "latitude hemisphere"),
        ("106.5N", "lon", "latitude hemisphere"),
    ],
)
def test_parse_angle_rejects_bad_input(value, axis, reason):
    with pytest.raises(ValidationError, match=reason) as caught:
        parse_angle(value, axis=axis, field="outlet_lat")
    error = caught.value
    assert error.field == "outlet_lat"
    assert error.value is value
    assert error.message.startswith("outlet_lat: ")
    assert repr(value) in error.message


# ---- points ------------------------------------------------------------------------------


def test_parse_point_wgs84_and_cgcs2000_pass_through():
    assert parse_point("106°33′12.3″E", "29.55N") == pytest.approx((EXPECTED, 29.55))
    assert parse_point(106.5, 29.5, crs="EPSG:4490") == (106.5, 29.5)


def test_cgcs2000_identity_matches_pyproj():
    x, y = transformer(4490, 4326).transform(106.5, 29.5)
    assert to_wgs84(106.5, 29.5, InputCRS.CGCS2000) == (x, y)


def test_parse_point_converts_gcj02_and_bd09():
    gcj = wgs84_to_gcj02(106.5, 29.5)
    bd = gcj02_to_bd09(*gcj)
    assert parse_point(float(gcj[0]), float(gcj[1]), crs="amap") == pytest.approx((106.5, 29.5))
    assert parse_point(str(bd[0]), str(bd[1]), crs="baidu") == pytest.approx((106.5, 29.5))


@pytest.mark.parametrize(
    ("lon", "lat", "bounds"),
    [
        (29.5, 106.5, None),  # latitude > 90
        ("29.5", "106.5", CHONGQING),
        ("29.5N", "106.5E", None),  # hemisphere letters
        ("北纬29.5", "东经106.5", CHONGQING),
        (43.8, 87.6, XINJIANG),  # both readable either way; only swapped fits Xinjiang
    ],
)
def test_parse_point_detects_swapped_pair(lon, lat, bounds):
    with pytest.raises(ValidationError, match="longitude and latitude look swapped") as caught:
        parse_point(lon, lat, bounds=bounds, field_prefix="outlet_")
    error = caught.value
    assert error.field == "outlet_coordinates"
    assert error.value == (lon, lat)
    assert repr(lon) in error.message
    assert repr(lat) in error.message


def test_swap_needs_evidence():
    assert parse_point(43.8, 87.6) == (43.8, 87.6)  # valid (if odd) without bounds
    with pytest.raises(ValidationError, match="out of range") as caught:
        parse_point(106.5, 291.0)  # too big to be a longitude either
    assert caught.value.field == "latitude"


def test_parse_point_one_wrong_letter_is_an_axis_error():
    with pytest.raises(ValidationError, match="latitude hemisphere") as caught:
        parse_point("29.5N", 106.5, field_prefix="outlet_")
    assert caught.value.field == "outlet_longitude"


def test_parse_point_outside_province():
    with pytest.raises(ValidationError, match="outside the province's extent") as caught:
        parse_point(104.07, 30.67, bounds=CHONGQING)  # Chengdu
    assert caught.value.field == "coordinates"
    assert caught.value.value == (104.07, 30.67)
    assert "104.07" in caught.value.message
    assert "30.67" in caught.value.message


def test_bounds_checked_after_conversion():
    bd_lon, bd_lat = (float(v) for v in gcj02_to_bd09(*wgs84_to_gcj02(110.195, 30.0)))
    assert bd_lon > CHONGQING[2]  # raw Baidu value lies outside the box, WGS84 inside
    assert parse_point(bd_lon, bd_lat, crs="bd09", bounds=CHONGQING) == pytest.approx(
        (110.195, 30.0)
    )
    with pytest.raises(ValidationError, match="outside the province's extent"):
        parse_point(bd_lon, bd_lat, crs="wgs84", bounds=CHONGQING)


def test_parse_point_field_errors_name_the_field():
    with pytest.raises(ValidationError) as caught:
        parse_point("106.5", "abc", field_prefix="outlet_")
    assert caught.value.field == "outlet_latitude"
    with pytest.raises(ValidationError) as caught:
        parse_point("106°75′", "29.5")
    assert caught.value.field == "longitude"


# ---- conversions -------------------------------------------------------------------------


def test_forward_matches_prcoords(chongqing):
    gcj_lon, gcj_lat = wgs84_to_gcj02(chongqing["lon"], chongqing["lat"])
    np.testing.assert_allclose(gcj_lon, chongqing["gcj"][:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(gcj_lat, chongqing["gcj"][:, 1], rtol=0, atol=1e-9)
    bd_lon, bd_lat = gcj02_to_bd09(gcj_lon, gcj_lat)
    np.testing.assert_allclose(bd_lon, chongqing["bd"][:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(bd_lat, chongqing["bd"][:, 1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("crs", [InputCRS.GCJ02, InputCRS.BD09])
def test_inverse_within_a_centimetre(chongqing, crs):
    given = chongqing["gcj" if crs is InputCRS.GCJ02 else "bd"]
    lon, lat = to_wgs84_arrays(given[:, 0], given[:, 1], crs)
    assert metres(lon, lat, chongqing["lon"], chongqing["lat"]).max() < 0.01


@pytest.mark.parametrize("crs", [InputCRS.GCJ02, InputCRS.BD09])
def test_one_iteration_is_not_enough(chongqing, crs, monkeypatch):
    """The iteration matters: a single fixed-point step is off by metres."""
    monkeypatch.setattr(coords, "_MAX_ITERATIONS", 1)
    given = chongqing["gcj" if crs is InputCRS.GCJ02 else "bd"]
    lon, lat = to_wgs84_arrays(given[:, 0], given[:, 1], crs)
    assert metres(lon, lat, chongqing["lon"], chongqing["lat"]).max() > 1.0


def test_prcoords_one_step_inverse_is_off_by_metres(chongqing):
    rough = np.array([prcoords.gcj_wgs((y, x)) for x, y in chongqing["gcj"]])
    assert metres(rough[:, 1], rough[:, 0], chongqing["lon"], chongqing["lat"]).max() > 1.0


def test_offset_magnitude_over_chongqing(chongqing):
    lon, lat = chongqing["lon"], chongqing["lat"]
    gcj = metres(lon, lat, *chongqing["gcj"].T)
    bd = metres(lon, lat, *chongqing["bd"].T)
    assert 250 < np.median(gcj) < 700
    assert bd.min() > 900 and bd.max() < 1400


@pytest.mark.parametrize(("lon", "lat"), [(2.35, 48.86), (-74.0, 40.7), (151.2, -33.9)])
def test_outside_china_unchanged(lon, lat):
    assert tuple(map(float, wgs84_to_gcj02(lon, lat))) == (lon, lat)
    assert to_wgs84(lon, lat, "gcj02") == (lon, lat)
    bd = gcj02_to_bd09(lon, lat)  # the Baidu step itself applies anywhere, as in prcoords
    assert to_wgs84(float(bd[0]), float(bd[1]), "bd09") == pytest.approx((lon, lat), abs=1e-9)


def test_scalar_matches_vectorised(chongqing):
    lon, lat = chongqing["bd"][:5, 0], chongqing["bd"][:5, 1]
    many = to_wgs84_arrays(lon, lat, "bd09")  # the batch may take one iteration more
    for i in range(5):
        assert to_wgs84(lon[i], lat[i], "bd09") == pytest.approx((many[0][i], many[1][i]), abs=1e-9)


def test_arrays_keep_nan_and_do_not_alias_input():
    lon, lat = np.array([106.5, math.nan]), np.array([29.5, 29.5])
    out_lon, _ = to_wgs84_arrays(lon, lat, "wgs84")
    assert out_lon is not lon
    assert math.isnan(out_lon[1])
    gcj_lon, _ = to_wgs84_arrays(lon, lat, "gcj02")
    assert math.isnan(gcj_lon[1])
    assert gcj_lon[0] != 106.5


def test_arrays_must_match_in_shape():
    with pytest.raises(ValueError, match="shape"):
        to_wgs84_arrays([106.5, 107.0], [29.5], "gcj02")
