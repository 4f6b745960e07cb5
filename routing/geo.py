"""Coordinates: GCJ-02 ("Mars coordinates", as Chinese phone map SDKs give) to WGS84,
and great-circle distance.

GCJ-02 is WGS84 plus a published, deterministic offset of a few hundred metres
(the widely reproduced open-source formula on the Krasovsky 1940 ellipsoid). The
offset has no closed-form inverse, so :func:`gcj02_to_wgs84` inverts it by fixed-point
iteration until the forward transform of the result lands on the input within
1e-9 degrees (about 0.1 mm); a single-step inverse is only good to a few metres.

Implemented here rather than taken from a package: the coordinate-transform
packages on the index are unmaintained, untyped, or ship only the single-step
inverse. The unit tests check the forward transform against published reference
pairs and the inverse against the same pairs.
"""

from __future__ import annotations

import math
from math import asin, cos, radians, sin, sqrt
from typing import Protocol

LatLon = tuple[float, float]

_A = 6378245.0  # Krasovsky 1940 semi-major axis (m)
_EE = 0.00669342162296594323  # its first eccentricity squared
_EARTH_RADIUS_M = 6371008.8  # IUGG mean Earth radius
# On the sphere of distance_m, points more than d / METRES_PER_DEGREE_LAT degrees
# of latitude apart are more than d metres apart (a cheap prefilter).
METRES_PER_DEGREE_LAT = _EARTH_RADIUS_M * math.pi / 180.0
_TOLERANCE_DEG = 1e-9
_MAX_ITERATIONS = 30


class HasLatLon(Protocol):
    @property
    def lat(self) -> float: ...

    @property
    def lon(self) -> float: ...


def out_of_china(lat: float, lon: float) -> bool:
    """The published bounding box outside which GCJ-02 applies no offset."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _offset(x: float, y: float) -> tuple[float, float]:
    """The raw GCJ-02 offset (metres-ish) at ``x = lon - 105``, ``y = lat - 35``."""
    xy = x * y
    root = math.sqrt(abs(x))
    x_pi, y_pi = x * math.pi, y * math.pi
    common = 20.0 * math.sin(6.0 * x_pi) + 20.0 * math.sin(2.0 * x_pi)
    d_lat = common + 20.0 * math.sin(y_pi) + 40.0 * math.sin(y_pi / 3.0)
    d_lon = common + 20.0 * math.sin(x_pi) + 40.0 * math.sin(x_pi / 3.0)
    d_lat += 160.0 * math.sin(y_pi / 12.0) + 320.0 * math.sin(y_pi / 30.0)
    d_lon += 150.0 * math.sin(x_pi / 12.0) + 300.0 * math.sin(x_pi / 30.0)
    d_lat = d_lat * 2.0 / 3.0 - 100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * xy + 0.2 * root
    d_lon = d_lon * 2.0 / 3.0 + 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * xy + 0.1 * root
    return d_lat, d_lon


def _delta(lat: float, lon: float) -> tuple[float, float]:
    """The GCJ-02 offset in degrees at a WGS84 point."""
    d_lat, d_lon = _offset(lon - 105.0, lat - 35.0)
    rad_lat = math.radians(lat)
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lat, d_lon


def wgs84_to_gcj02(lat: float, lon: float) -> LatLon:
    """WGS84 to GCJ-02 (identity outside China)."""
    if out_of_china(lat, lon):
        return lat, lon
    d_lat, d_lon = _delta(lat, lon)
    return lat + d_lat, lon + d_lon


def gcj02_to_wgs84(lat: float, lon: float) -> LatLon:
    """GCJ-02 to WGS84 by iteration (identity outside China)."""
    if out_of_china(lat, lon):
        return lat, lon
    w_lat, w_lon = lat, lon
    for _ in range(_MAX_ITERATIONS):
        g_lat, g_lon = wgs84_to_gcj02(w_lat, w_lon)
        e_lat, e_lon = g_lat - lat, g_lon - lon
        if abs(e_lat) < _TOLERANCE_DEG and abs(e_lon) < _TOLERANCE_DEG:
            break
        w_lat, w_lon = w_lat - e_lat, w_lon - e_lon
    return w_lat, w_lon


def _lat_lon(point: LatLon | HasLatLon) -> LatLon:
    if isinstance(point, tuple):
        return point
    return point.lat, point.lon


def distance_m(a: LatLon | HasLatLon, b: LatLon | HasLatLon) -> float:
    """Great-circle (haversine) distance in metres between two WGS84 points,
    each a ``(lat, lon)`` tuple or anything with ``lat`` and ``lon`` (a ``GeoPoint``)."""
    return haversine_m(*_lat_lon(a), *_lat_lon(b))


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """:func:`distance_m` of two points given in degrees (the hot path's form)."""
    lat1, lon1, lat2, lon2 = radians(lat1), radians(lon1), radians(lat2), radians(lon2)
    h = sin((lat2 - lat1) / 2.0) ** 2 + cos(lat1) * cos(lat2) * sin((lon2 - lon1) / 2.0) ** 2
    return 2.0 * _EARTH_RADIUS_M * asin(min(1.0, sqrt(h)))
