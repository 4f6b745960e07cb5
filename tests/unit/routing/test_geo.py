from __future__ import annotations

import pytest

from routing.geo import distance_m, gcj02_to_wgs84, out_of_china, wgs84_to_gcj02
from schemas.reports import GeoPoint

# Published reference pairs (WGS84 lat, lon -> GCJ-02 lat, lon) used by the
# open-source eviltransform test suite: Shanghai, Shenzhen, Beijing.
REFERENCE = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]


@pytest.mark.parametrize(("w_lat", "w_lon", "g_lat", "g_lon"), REFERENCE)
def test_forward_matches_reference(w_lat: float, w_lon: float, g_lat: float, g_lon: float) -> None:
    lat, lon = wgs84_to_gcj02(w_lat, w_lon)
    assert lat == pytest.approx(g_lat, abs=1e-9)
    assert lon == pytest.approx(g_lon, abs=1e-9)


@pytest.mark.parametrize(("w_lat", "w_lon", "g_lat", "g_lon"), REFERENCE)
def test_inverse_recovers_wgs84_to_a_millimetre(
    w_lat: float, w_lon: float, g_lat: float, g_lon: float
) -> None:
    lat, lon = gcj02_to_wgs84(g_lat, g_lon)
    assert distance_m((lat, lon), (w_lat, w_lon)) < 0.001
    # the offset itself is hundreds of metres, so the test can tell a no-op apart
    assert distance_m((g_lat, g_lon), (w_lat, w_lon)) > 100


def test_outside_china_is_unchanged() -> None:
    assert out_of_china(51.5, -0.12)
    assert gcj02_to_wgs84(51.5, -0.12) == (51.5, -0.12)
    assert wgs84_to_gcj02(51.5, -0.12) == (51.5, -0.12)


def test_distance() -> None:
    # one degree of latitude is about 111.2 km on the mean sphere
    assert distance_m((39.0, 116.0), (40.0, 116.0)) == pytest.approx(111_195, rel=1e-3)
    assert distance_m((39.9, 116.4), (39.9, 116.4)) == 0.0
    a = GeoPoint(lat=39.9, lon=116.38)
    assert distance_m(a, (39.9, 116.386)) == pytest.approx(512, rel=0.01)
