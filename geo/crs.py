"""Coordinate reference systems: storage CRS and metric CRSs for distances and buffers."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

STORAGE_SRID = 4326
CGCS2000 = 4490
# CGCS2000 / 3-degree Gauss-Kruger CM 75E is EPSG:4513; each next zone adds 3 degrees (to 4533).
_GK_FIRST_EPSG, _GK_FIRST_CM, _GK_LAST_EPSG = 4513, 75, 4533


def metric_crs_for(longitude: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Kruger zone whose central meridian is nearest."""
    zone = round((longitude - _GK_FIRST_CM) / 3)
    return min(max(_GK_FIRST_EPSG + zone, _GK_FIRST_EPSG), _GK_LAST_EPSG)


@lru_cache(maxsize=32)
def transformer(source: int, target: int) -> Transformer:
    """A cached always-xy transformer between two EPSG codes."""
    return Transformer.from_crs(source, target, always_xy=True)


def reproject(geometry: BaseGeometry, source: int, target: int) -> BaseGeometry:
    """The geometry in another CRS (x/y order: lon/lat for geographic CRSs)."""
    forward = transformer(source, target)
    return shapely.transform(geometry, lambda xy: _stack(forward.transform(xy[:, 0], xy[:, 1])))


def _stack(xy: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.column_stack(xy)
