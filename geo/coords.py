"""Coordinate input: read longitude/latitude as people type them and convert them to WGS84.

Input may be in WGS84 (EPSG:4326), CGCS2000 (EPSG:4490), GCJ-02 (Amap/Gaode, Tencent) or
BD-09 (Baidu); output is always lon/lat in EPSG:4326.

- CGCS2000 is returned unchanged. Its ellipsoid differs from WGS84's only in the flattening
  (1/298.257222101 vs 1/298.257223563), the datums agree to centimetres or decimetres, and
  pyproj's own EPSG:4490 -> EPSG:4326 transformation is a null ("ballpark") transform.
- GCJ-02 and BD-09 use the public (leaked, reverse-engineered) formula that prcoords,
  coordtransform and eviltransform implement. WGS84 -> GCJ-02 has no closed-form inverse, so
  GCJ-02 -> WGS84 is solved by fixed-point iteration to well under 1 cm (one step alone is off by
  1-2 m). BD-09 -> GCJ-02 is iterated the same way, then GCJ-02 -> WGS84.
- As in the reference algorithm, GCJ-02 applies no offset outside the rough China box
  (lon 72.004-137.8347, lat 0.8293-55.8271), while the BD-09 step on top of it applies anywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from numbers import Real
from typing import Literal

import numpy as np
import numpy.typing as npt

from geo.errors import ValidationError

Axis = Literal["lon", "lat"]
Bounds = tuple[float, float, float, float]
Pair = tuple[np.ndarray, np.ndarray]


class InputCRS(StrEnum):
    """A coordinate system that input coordinates may be given in."""

    WGS84 = "wgs84"
    CGCS2000 = "cgcs2000"
    GCJ02 = "gcj02"
    BD09 = "bd09"


_CRS_ALIASES: dict[str, InputCRS] = {
    **dict.fromkeys(["wgs84", "wgs-84", "epsg:4326", "4326"], InputCRS.WGS84),
    **dict.fromkeys(["cgcs2000", "epsg:4490", "4490"], InputCRS.CGCS2000),
    **dict.fromkeys(
        ["gcj02", "gcj-02", "amap", "gaode", "tencent", "高德", "腾讯"], InputCRS.GCJ02
    ),
    **dict.fromkeys(["bd09", "bd-09", "bd09ll", "baidu", "百度"], InputCRS.BD09),
}


def parse_crs(text: str | InputCRS) -> InputCRS:
    """The InputCRS named by `text` (case-insensitive; EPSG codes and map vendors accepted)."""
    if isinstance(text, InputCRS):
        return text
    key = re.sub(r"[\s_]+", "", str(text)).lower()
    if key in _CRS_ALIASES:
        return _CRS_ALIASES[key]
    raise ValidationError(
        f"crs: unsupported CRS {text!r}; use WGS84 (EPSG:4326), CGCS2000 (EPSG:4490), "
        "GCJ-02 (Amap/Tencent) or BD-09 (Baidu)",
        field="crs",
        value=text,
    )


# ---- angles ------------------------------------------------------------------------------

_NORMALISE = str.maketrans(
    {
        **{chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)},  # full-width ASCII
        "\u3000": " ",
        "º": "°",
        "˚": "°",
        "′": "'",
        "’": "'",
        "‘": "'",
        "´": "'",
        "″": '"',
        "”": '"',
        "“": '"',
        "−": "-",
        "–": "-",
    }
)
_HEMISPHERES: dict[str, tuple[Axis, int]] = {
    "N": ("lat", 1),
    "S": ("lat", -1),
    "E": ("lon", 1),
    "W": ("lon", -1),
    "北纬": ("lat", 1),
    "南纬": ("lat", -1),
    "东经": ("lon", 1),
    "西经": ("lon", -1),
}
_HEMISPHERE = "|".join(_HEMISPHERES)
_PREFIX = re.compile(rf"({_HEMISPHERE})\s*")
_SUFFIX = re.compile(rf"\s*({_HEMISPHERE})$")
_SIGN = re.compile(r"([+-])\s*")
# A number, then a unit (degree, minute, second) or a separator before the next number.
_COMPONENT = re.compile(
    r"(\d+(?:\.\d+)?|\.\d+)\s*(?:(?:(°|度)|('|分)|(\"|秒))\s*:?\s*|\s*:\s*|\s+|$)"
)
_RANGE: dict[Axis, float] = {"lon": 180.0, "lat": 90.0}
_NAME: dict[Axis, str] = {"lon": "longitude", "lat": "latitude"}
_LETTERS: dict[Axis, str] = {"lon": "E/W", "lat": "N/S"}


@dataclass(frozen=True)
class _Angle:
    """A parsed angle before axis checks: its signed value and the axis its hemisphere implies."""

    degrees: float
    axis: Axis | None


def parse_angle(text: str | float, *, axis: Axis, field: str) -> float:
    """Decimal degrees from decimal or degree-minute-second input, with hemisphere if given.

    Accepts e.g. 106.5534, "-29.55", "29.55N", "106°33′12.3″E", "106 33 12.3", "E106°33.205′",
    "东经106度33分12.3秒" and their full-width forms. Raises ValidationError (naming `field` and
    the value) for garbage, NaN/inf, minutes or seconds >= 60, a value out of range for `axis`,
    or a hemisphere letter of the other axis.
    """
    return _check_axis(_read_angle(text, field), text, axis=axis, field=field)


def _read_angle(value: object, field: str) -> _Angle:
    if isinstance(value, Real) and not isinstance(value, bool):
        number = float(value)
        if not math.isfinite(number):
            raise ValidationError(f"{field}: {value!r} is not a finite number", **_at(field, value))
        return _Angle(number, None)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError(
            f"{field}: a coordinate is required, got {value!r}", **_at(field, value)
        )
    if not isinstance(value, str):
        raise _unreadable(field, value)
    text = value.translate(_NORMALISE).replace("''", '"').strip().upper()
    axis, sign, text = _strip_hemisphere(text)
    signed = _SIGN.match(text)
    if signed:
        if axis is not None:
            raise _unreadable(field, value, "it has both a sign and a hemisphere")
        sign, text = (-1 if signed.group(1) == "-" else 1), text[signed.end() :]
    return _Angle(sign * _dms_value(text, field, value), axis)


def _strip_hemisphere(text: str) -> tuple[Axis | None, int, str]:
    prefix, suffix = _PREFIX.match(text), _SUFFIX.search(text)
    found = [match for match in (prefix, suffix) if match]
    if len(found) != 1:  # none, or one at each end (left for the DMS reader to reject)
        return None, 1, text
    axis, sign = _HEMISPHERES[found[0].group(1)]
    return axis, sign, text[prefix.end() :] if prefix else text[: found[0].start()]


def _dms_value(text: str, field: str, raw: object) -> float:
    """Unsigned degrees from "d", "d m", "d m s" with optional unit marks."""
    parts: list[tuple[str, int | None]] = []
    pos = 0
    while pos < len(text) or not parts:
        match = _COMPONENT.match(text, pos)
        if match is None or len(parts) == 3:
            raise _unreadable(field, raw)
        unit = next((i for i in range(3) if match.group(i + 2)), None)
        if unit not in (None, len(parts)) or (parts and "." in parts[-1][0]):
            raise _unreadable(field, raw)
        parts.append((match.group(1), unit))
        pos = match.end()
    numbers = [float(number) for number, _ in parts]
    for number, name in zip(numbers[1:], ("minutes", "seconds"), strict=False):
        if number >= 60:
            raise ValidationError(
                f"{field}: {raw!r} has {name} >= 60 ({number:g})", **_at(field, raw)
            )
    return sum(number / 60**i for i, number in enumerate(numbers))


def _check_axis(angle: _Angle, raw: object, *, axis: Axis, field: str) -> float:
    if angle.axis is not None and angle.axis != axis:
        raise ValidationError(
            f"{field}: {raw!r} has a {_NAME[angle.axis]} hemisphere ({_LETTERS[angle.axis]}) "
            f"but is a {_NAME[axis]}",
            **_at(field, raw),
        )
    limit = _RANGE[axis]
    if not -limit <= angle.degrees <= limit:
        raise ValidationError(
            f"{field}: {raw!r} is out of range: a {_NAME[axis]} must be between "
            f"-{limit:g} and {limit:g}",
            **_at(field, raw),
        )
    return angle.degrees


def _unreadable(field: str, raw: object, why: str = "") -> ValidationError:
    reason = f" ({why})" if why else ""
    return ValidationError(
        f"{field}: cannot read {raw!r} as degrees{reason}; use decimal degrees such as 106.5534 "
        "or degrees-minutes-seconds such as 106°33′12.3″E",
        **_at(field, raw),
    )


def _at(field: str, value: object) -> dict[str, object]:
    return {"field": field, "value": value}


# ---- points ------------------------------------------------------------------------------


def parse_point(
    lon: str | float,
    lat: str | float,
    *,
    crs: InputCRS | str = InputCRS.WGS84,
    bounds: Bounds | None = None,
    field_prefix: str = "",
) -> tuple[float, float]:
    """A typed-in (lon, lat) pair in `crs`, validated and converted to WGS84 (EPSG:4326).

    Fields are named `{field_prefix}longitude` / `{field_prefix}latitude`; errors about the pair
    (swapped, outside `bounds`) use `{field_prefix}coordinates`. `bounds` is (lon_min, lat_min,
    lon_max, lat_max) in WGS84, e.g. the province's extent. A pair is taken as swapped when the
    hemisphere letters say so, when the latitude only fits as a longitude, or when only the
    swapped pair falls inside `bounds`.
    """
    crs = parse_crs(crs)
    lon_field, lat_field = f"{field_prefix}longitude", f"{field_prefix}latitude"
    pair_field = f"{field_prefix}coordinates"
    x, y = _read_angle(lon, lon_field), _read_angle(lat, lat_field)
    if _looks_swapped(x, y, crs, bounds):
        raise ValidationError(
            f"{pair_field}: longitude and latitude look swapped "
            f"(longitude {lon!r}, latitude {lat!r})",
            field=pair_field,
            value=(lon, lat),
        )
    point = to_wgs84(
        _check_axis(x, lon, axis="lon", field=lon_field),
        _check_axis(y, lat, axis="lat", field=lat_field),
        crs,
    )
    if bounds is not None and not _inside(point, bounds):
        raise ValidationError(
            f"{pair_field}: point (longitude {lon!r}, latitude {lat!r}) is outside the "
            f"province's extent (longitude {bounds[0]:g} to {bounds[2]:g}, "
            f"latitude {bounds[1]:g} to {bounds[3]:g})",
            field=pair_field,
            value=(lon, lat),
        )
    return point


def _looks_swapped(x: _Angle, y: _Angle, crs: InputCRS, bounds: Bounds | None) -> bool:
    if x.axis is not None or y.axis is not None:
        return x.axis == "lat" and y.axis == "lon"
    if abs(y.degrees) > 90:
        return abs(x.degrees) <= 90 and abs(y.degrees) <= 180
    if bounds is None or abs(x.degrees) > 90:
        return False
    as_given = _inside(to_wgs84(x.degrees, y.degrees, crs), bounds)
    return not as_given and _inside(to_wgs84(y.degrees, x.degrees, crs), bounds)


def _inside(point: tuple[float, float], bounds: Bounds) -> bool:
    lon_min, lat_min, lon_max, lat_max = bounds
    return lon_min <= point[0] <= lon_max and lat_min <= point[1] <= lat_max


# ---- conversions -------------------------------------------------------------------------

_KRASOVSKY_A = 6378245.0
_KRASOVSKY_E2 = 0.00669342162296594323
_CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)
_BD_SHIFT = (0.0065, 0.0060)
_TOLERANCE = 1e-10  # degrees: about 0.01 mm
_MAX_ITERATIONS = 10


def to_wgs84(lon: float, lat: float, crs: InputCRS | str = InputCRS.WGS84) -> tuple[float, float]:
    """One (lon, lat) in `crs` as WGS84 (EPSG:4326) lon/lat."""
    x, y = to_wgs84_arrays(np.asarray(lon), np.asarray(lat), crs)
    return float(x), float(y)


def to_wgs84_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: InputCRS | str) -> Pair:
    """Arrays of lon/lat in `crs` as WGS84 (EPSG:4326) lon/lat arrays (new arrays; NaN stays)."""
    crs = parse_crs(crs)
    x, y = _as_arrays(lon, lat)
    if crs is InputCRS.BD09:
        x, y = _fixed_point(gcj02_to_bd09, x, y, start=_bd09_to_gcj02_rough(x, y))
    if crs in (InputCRS.GCJ02, InputCRS.BD09):
        wgs_x, wgs_y = _fixed_point(_gcj02_everywhere, x, y, start=(x, y))
        inside = _in_china(x, y)
        x, y = np.where(inside, wgs_x, x), np.where(inside, wgs_y, y)
    return x, y


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Pair:
    """WGS84 lon/lat to GCJ-02 (Amap/Tencent); points outside the China box are unchanged."""
    x, y = _as_arrays(lon, lat)
    gcj_x, gcj_y = _gcj02_everywhere(x, y)
    inside = _in_china(x, y)
    return np.where(inside, gcj_x, x), np.where(inside, gcj_y, y)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Pair:
    """GCJ-02 lon/lat to BD-09 (Baidu) lon/lat."""
    x, y = _as_arrays(lon, lat)
    radius = np.hypot(x, y) + 2e-5 * np.sin(np.radians(y) * 3000)
    theta = np.arctan2(y, x) + 3e-6 * np.cos(np.radians(x) * 3000)
    return radius * np.cos(theta) + _BD_SHIFT[0], radius * np.sin(theta) + _BD_SHIFT[1]


def _bd09_to_gcj02_rough(lon: np.ndarray, lat: np.ndarray) -> Pair:
    """The published BD-09 -> GCJ-02 approximation (decimetres); the start of the iteration."""
    x, y = lon - _BD_SHIFT[0], lat - _BD_SHIFT[1]
    radius = np.hypot(x, y) - 2e-5 * np.sin(np.radians(y) * 3000)
    theta = np.arctan2(y, x) - 3e-6 * np.cos(np.radians(x) * 3000)
    return radius * np.cos(theta), radius * np.sin(theta)


def _gcj02_everywhere(lon: np.ndarray, lat: np.ndarray) -> Pair:
    """WGS84 -> GCJ-02 without the China-box test."""
    x, y = lon - 105.0, lat - 35.0
    common = 2 * np.sin(x * 6 * np.pi) + 2 * np.sin(x * 2 * np.pi)
    d_lat = (
        -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + (common + _waves(y, (2, 4, 16, 32))) * 20 / 3
    )  # fmt: skip
    d_lon = (
        300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + (common + _waves(x, (2, 4, 15, 30))) * 20 / 3
    )  # fmt: skip
    phi = np.radians(lat)
    magic = 1 - _KRASOVSKY_E2 * np.sin(phi) ** 2
    metres_per_lat = np.radians(_KRASOVSKY_A * (1 - _KRASOVSKY_E2) / magic**1.5)
    metres_per_lon = np.radians(_KRASOVSKY_A * np.cos(phi) / np.sqrt(magic))
    return lon + d_lon / metres_per_lon, lat + d_lat / metres_per_lat


def _waves(v: np.ndarray, amplitudes: tuple[int, int, int, int]) -> np.ndarray:
    """The formula's sine terms in one variable, at periods 2, 6, 24 and 60 degrees."""
    periods = (1, 3, 12, 30)
    return sum(a * np.sin(v / p * np.pi) for a, p in zip(amplitudes, periods, strict=True))


def _fixed_point(
    forward: Callable[[np.ndarray, np.ndarray], Pair],
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    start: Pair,
) -> Pair:
    """Solve forward(x, y) == (lon, lat) by x <- x - (forward(x) - target) until converged."""
    x, y = start
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        dx, dy = fx - lon, fy - lat
        x, y = x - dx, y - dy
        if not (np.any(np.abs(dx) > _TOLERANCE) or np.any(np.abs(dy) > _TOLERANCE)):
            break
    return x, y


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lon_min, lat_min, lon_max, lat_max = _CHINA_BOX
    return (lon >= lon_min) & (lon <= lon_max) & (lat >= lat_min) & (lat <= lat_max)


def _as_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Pair:
    x, y = np.array(lon, dtype=float), np.array(lat, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"lon and lat differ in shape: {x.shape} vs {y.shape}")
    return x, y
