"""Tests for netplan.coords: WGS-84 <-> GCJ-02 <-> BD-09 and to_wgs84/from_wgs84.

All tests run the real computations (numpy, pyproj); nothing is mocked.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod, Transformer

from netplan.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    normalise_crs_name,
    out_of_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")

FORWARD_TOL_DEG = 1e-6
# The published inverses in wandergis/coordTransform_py and wandergis/coordtransform
# are one-step approximations ("subtract the offset evaluated at the shifted
# point"). For GCJ-02 that is off by up to 1.3e-5 deg (1.7 m) at the 128.543,
# 37.065 reference point (only 6 cm at 116.404, 39.915), while ours iterates to
# 1e-10 deg. So the reference inverse values can only be
# matched to the accuracy of that crude inverse: 3e-5 deg (~3 m, the same order as
# the "< 5 m" eviltransform's own tests allow for its crude gcj2wgs).
CRUDE_INVERSE_TOL_DEG = 3e-5


def distance_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres on the WGS-84 ellipsoid."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2)))
    _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist)


# ---------------------------------------------------------------------------
# Published reference pairs
# ---------------------------------------------------------------------------

# Source: wandergis/coordtransform, README.md ("//result" block), input
# (116.404, 39.915) for all four conversions of the JS library.
WANDERGIS_JS_INPUT = (116.404, 39.915)
WANDERGIS_JS_FORWARD = [
    (gcj02_to_bd09, (116.41036949371029, 39.92133699351021)),
    (wgs84_to_gcj02, (116.41024449916938, 39.91640428150164)),
]
WANDERGIS_JS_INVERSE = [
    (bd09_to_gcj02, (116.39762729119315, 39.90865673957631)),
    (gcj02_to_wgs84, (116.39775550083061, 39.91359571849836)),
]

# Source: wandergis/coordTransform_py, README.md ("测试(转换坐标 128.543,37.065 )"),
# output of `python coordTransform_utils.py` for all six conversions of 128.543, 37.065.
WANDERGIS_PY_INPUT = (128.543, 37.065)
WANDERGIS_PY_FORWARD = [
    (gcj02_to_bd09, (128.54944656269413, 37.07113427883019)),
    (wgs84_to_gcj02, (128.54820547949757, 37.065651049489816)),
    (wgs84_to_bd09, (128.55468192918485, 37.07168344938498)),
]
WANDERGIS_PY_INVERSE = [
    (bd09_to_gcj02, (128.5365893261212, 37.058754503281534)),
    (gcj02_to_wgs84, (128.53779452050244, 37.06434895051018)),
    (bd09_to_wgs84, (128.53136876750008, 37.0580926428705)),
]

# Source: googollee/eviltransform, python/test.py (TESTS; same values in
# go/transform_test.go). Rows are (wgsLat, wgsLng, gcjLat, gcjLng): latitude first!
EVILTRANSFORM_WGS_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


def _ids(cases):
    return [f.__name__ for f, _ in cases]


@pytest.mark.parametrize("func, expected", WANDERGIS_JS_FORWARD, ids=_ids(WANDERGIS_JS_FORWARD))
def test_wandergis_js_readme_forward(func, expected):
    lon, lat = func(*WANDERGIS_JS_INPUT)
    assert lon == pytest.approx(expected[0], abs=FORWARD_TOL_DEG)
    assert lat == pytest.approx(expected[1], abs=FORWARD_TOL_DEG)


@pytest.mark.parametrize("func, expected", WANDERGIS_JS_INVERSE, ids=_ids(WANDERGIS_JS_INVERSE))
def test_wandergis_js_readme_inverse_matches_crude_inverse(func, expected):
    lon, lat = func(*WANDERGIS_JS_INPUT)
    assert lon == pytest.approx(expected[0], abs=CRUDE_INVERSE_TOL_DEG)
    assert lat == pytest.approx(expected[1], abs=CRUDE_INVERSE_TOL_DEG)


@pytest.mark.parametrize("func, expected", WANDERGIS_PY_FORWARD, ids=_ids(WANDERGIS_PY_FORWARD))
def test_wandergis_py_readme_forward(func, expected):
    lon, lat = func(*WANDERGIS_PY_INPUT)
    assert lon == pytest.approx(expected[0], abs=FORWARD_TOL_DEG)
    assert lat == pytest.approx(expected[1], abs=FORWARD_TOL_DEG)


@pytest.mark.parametrize("func, expected", WANDERGIS_PY_INVERSE, ids=_ids(WANDERGIS_PY_INVERSE))
def test_wandergis_py_readme_inverse_matches_crude_inverse(func, expected):
    lon, lat = func(*WANDERGIS_PY_INPUT)
    assert lon == pytest.approx(expected[0], abs=CRUDE_INVERSE_TOL_DEG)
    assert lat == pytest.approx(expected[1], abs=CRUDE_INVERSE_TOL_DEG)


@pytest.mark.parametrize(
    "point, crude, crude_error_m",
    [
        # wandergis/coordtransform README.md: gcj02towgs84(116.404, 39.915)
        (WANDERGIS_JS_INPUT, (116.39775550083061, 39.91359571849836), 0.06),
        # wandergis/coordTransform_py README.md: gcj02_to_wgs84(128.543, 37.065)
        (WANDERGIS_PY_INPUT, (128.53779452050244, 37.06434895051018), 1.7),
    ],
    ids=["beijing", "128.543"],
)
def test_gcj02_to_wgs84_reference_differs_only_by_the_crude_step(point, crude, crude_error_m):
    """The READMEs' gcj02->wgs84 values are exactly the one-step inverse 2*p - forward(p).

    Reproducing them from our forward function shows that the gap allowed by
    CRUDE_INVERSE_TOL_DEG is the crudeness of the published inverse, not a
    different forward algorithm, and that our iterated inverse is the better one:
    shifting it forward again lands on the input, shifting the crude value does not.
    """
    lon, lat = point
    f_lon, f_lat = wgs84_to_gcj02(lon, lat)
    assert 2 * lon - f_lon == pytest.approx(crude[0], abs=1e-9)
    assert 2 * lat - f_lat == pytest.approx(crude[1], abs=1e-9)

    precise = gcj02_to_wgs84(lon, lat)
    err_precise = distance_m(*wgs84_to_gcj02(*precise), lon, lat)
    err_crude = distance_m(*wgs84_to_gcj02(*crude), lon, lat)
    assert err_precise < 1e-3
    assert err_crude == pytest.approx(crude_error_m, rel=0.1)


@pytest.mark.parametrize("wgs_lat, wgs_lon, gcj_lat, gcj_lon", EVILTRANSFORM_WGS_GCJ)
def test_eviltransform_pairs(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    lon, lat = wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert lon == pytest.approx(gcj_lon, abs=FORWARD_TOL_DEG)
    assert lat == pytest.approx(gcj_lat, abs=FORWARD_TOL_DEG)
    # eviltransform generated these pairs with the forward function, so the
    # precise inverse must recover the WGS-84 point (eviltransform itself only
    # asserts < 5 m for gcj2wgs and < 0.5 m for gcj2wgs_exact).
    back_lon, back_lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert back_lon == pytest.approx(wgs_lon, abs=FORWARD_TOL_DEG)
    assert back_lat == pytest.approx(wgs_lat, abs=FORWARD_TOL_DEG)
    assert distance_m(back_lon, back_lat, wgs_lon, wgs_lat) < 0.01


def test_gcoord_pairs():
    # Source: hujiulong/gcoord, test/unit/crs/GCJ02.spec.js, input [123, 45].
    lon, lat = gcj02_to_bd09(123.0, 45.0)
    assert lon == pytest.approx(123.00636499, abs=FORWARD_TOL_DEG)
    assert lat == pytest.approx(45.00636899, abs=FORWARD_TOL_DEG)
    # gcoord inverts GCJ-02 iteratively too, but stops once the residual is
    # below 1e-6 deg (src/crs/GCJ02.ts), so agreement is to about 1e-6 deg.
    lon, lat = gcj02_to_wgs84(123.0, 45.0)
    assert lon == pytest.approx(122.99395597, abs=1e-6)
    assert lat == pytest.approx(44.99804071, abs=1e-6)


# ---------------------------------------------------------------------------
# Round trips over China
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def china_grid():
    lon, lat = np.meshgrid(np.arange(75.0, 134.01, 0.5), np.arange(18.0, 53.01, 0.5))
    # Offset the grid slightly so points do not sit on round numbers only.
    return lon + 0.123, lat + 0.0456


@pytest.mark.parametrize(
    "forward, inverse",
    [
        (wgs84_to_gcj02, gcj02_to_wgs84),
        (wgs84_to_bd09, bd09_to_wgs84),
        (gcj02_to_bd09, bd09_to_gcj02),
    ],
    ids=["wgs-gcj-wgs", "wgs-bd-wgs", "gcj-bd-gcj"],
)
def test_round_trip_below_1cm(china_grid, forward, inverse):
    lon, lat = china_grid
    assert not out_of_china(lon, lat).any()
    f_lon, f_lat = forward(lon, lat)
    assert f_lon.shape == lon.shape and f_lat.shape == lat.shape
    # The forward conversion really moved every point (tens to hundreds of metres).
    assert distance_m(f_lon, f_lat, lon, lat).min() > 1.0
    b_lon, b_lat = inverse(f_lon, f_lat)
    err = distance_m(b_lon, b_lat, lon, lat)
    assert err.max() < 0.01, f"max round-trip error {err.max():.2e} m"


def test_inverse_round_trip_the_other_way(china_grid):
    lon, lat = china_grid
    w_lon, w_lat = bd09_to_wgs84(lon, lat)
    b_lon, b_lat = wgs84_to_bd09(w_lon, w_lat)
    assert distance_m(b_lon, b_lat, lon, lat).max() < 0.01


def test_precise_inverse_beats_crude_inverse(china_grid):
    lon, lat = china_grid
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    f_lon, f_lat = wgs84_to_gcj02(g_lon, g_lat)
    crude_err = distance_m(2 * g_lon - f_lon, 2 * g_lat - f_lat, lon, lat)
    precise_err = distance_m(*gcj02_to_wgs84(g_lon, g_lat), lon, lat)
    assert crude_err.max() > 1.0  # the published one-step inverse is metres off somewhere
    assert precise_err.max() < 0.01


# ---------------------------------------------------------------------------
# Sanity, out-of-China, shapes
# ---------------------------------------------------------------------------


def test_chengdu_shift_is_a_few_hundred_metres():
    lon, lat = 104.07, 30.67
    shift = distance_m(*wgs84_to_gcj02(lon, lat), lon, lat)
    assert 100.0 < shift < 700.0
    # BD-09 adds roughly another kilometre on top of GCJ-02.
    assert distance_m(*wgs84_to_bd09(lon, lat), lon, lat) > shift


OUTSIDE = [
    (24.94, 60.17),  # Helsinki
    (-74.006, 40.7128),  # New York
    (151.2093, -33.8688),  # Sydney
    (183.0, 45.0),  # gcoord's "not in China" example
]

ALL_CONVERSIONS = [
    wgs84_to_gcj02,
    gcj02_to_wgs84,
    gcj02_to_bd09,
    bd09_to_gcj02,
    wgs84_to_bd09,
    bd09_to_wgs84,
]


@pytest.mark.parametrize("func", ALL_CONVERSIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("point", OUTSIDE, ids=["helsinki", "new-york", "sydney", "lon183"])
def test_outside_china_unchanged(func, point):
    assert out_of_china(*point) is True
    lon, lat = func(*point)
    assert (lon, lat) == point
    assert isinstance(lon, float) and isinstance(lat, float)


def test_out_of_china_box():
    lon = np.array([72.003, 72.004, 137.8347, 137.835, 100.0, 100.0, 100.0, 100.0])
    lat = np.array([30.0, 30.0, 30.0, 30.0, 0.8292, 0.8293, 55.8271, 55.8272])
    expected = np.array([True, False, False, True, True, False, False, True])
    np.testing.assert_array_equal(out_of_china(lon, lat), expected)
    assert out_of_china(104.07, 30.67) is False


@pytest.mark.parametrize("func", ALL_CONVERSIONS, ids=lambda f: f.__name__)
def test_mixed_array_elementwise_and_shape(func):
    # 2 x 3 array: Chengdu, Helsinki, Beijing / New York, Shanghai, Sydney.
    lon = np.array([[104.07, 24.94, 116.404], [-74.006, 121.47, 151.2093]])
    lat = np.array([[30.67, 60.17, 39.915], [40.7128, 31.23, -33.8688]])
    out_lon, out_lat = func(lon, lat)
    assert out_lon.shape == (2, 3) and out_lat.shape == (2, 3)
    assert out_lon.dtype == np.float64
    outside = out_of_china(lon, lat)
    np.testing.assert_array_equal(outside, [[False, True, False], [True, False, True]])
    np.testing.assert_array_equal(out_lon[outside], lon[outside])
    np.testing.assert_array_equal(out_lat[outside], lat[outside])
    assert np.all(distance_m(out_lon, out_lat, lon, lat)[~outside] > 100.0)
    # Each element equals the scalar result.
    for i in np.ndindex(lon.shape):
        s_lon, s_lat = func(float(lon[i]), float(lat[i]))
        assert out_lon[i] == pytest.approx(s_lon, abs=1e-12)
        assert out_lat[i] == pytest.approx(s_lat, abs=1e-12)
    # The inputs are not modified in place.
    assert lon[0, 0] == 104.07 and lat[0, 0] == 30.67


def test_scalar_lists_and_broadcasting():
    lon, lat = wgs84_to_gcj02(104.07, 30.67)
    assert isinstance(lon, float) and isinstance(lat, float)
    l_lon, l_lat = wgs84_to_gcj02([104.07, 104.08], [30.67, 30.68])
    assert isinstance(l_lon, np.ndarray) and l_lon.shape == (2,)
    assert l_lon[0] == pytest.approx(lon, abs=1e-12)
    b_lon, b_lat = wgs84_to_gcj02([104.07, 104.08, 200.0], 30.67)
    assert b_lon.shape == (3,) and b_lat.shape == (3,)
    assert b_lon[2] == 200.0 and b_lat[2] == 30.67
    e_lon, e_lat = gcj02_to_wgs84(np.array([]), np.array([]))
    assert e_lon.shape == (0,) and e_lat.shape == (0,)


def test_nan_propagates_without_breaking_others():
    lon, lat = gcj02_to_wgs84([np.nan, 104.07], [30.0, 30.67])
    assert np.isnan(lon[0]) and np.isnan(lat[0])
    back = wgs84_to_gcj02(lon[1], lat[1])
    assert distance_m(*back, 104.07, 30.67) < 0.01


# ---------------------------------------------------------------------------
# to_wgs84 / from_wgs84 / normalise_crs_name
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("wgs84", "wgs84"),
        ("WGS-84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        (4326, "wgs84"),
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("bd09", "bd09"),
        ("BD-09", "bd09"),
        (" bd_09 ", "bd09"),
        ("epsg:32648", "EPSG:32648"),
        ("epsg:4490", "EPSG:4490"),
        (4490, "EPSG:4490"),
    ],
)
def test_normalise_crs_name(name, expected):
    assert normalise_crs_name(name) == expected


def test_to_wgs84_named_systems():
    lon, lat = 104.07, 30.67
    assert to_wgs84(lon, lat, "WGS84") == (lon, lat)
    assert to_wgs84(lon, lat, "epsg:4326") == (lon, lat)
    assert to_wgs84(lon, lat, "GCJ-02") == gcj02_to_wgs84(lon, lat)
    assert to_wgs84(lon, lat, "bd-09") == bd09_to_wgs84(lon, lat)
    arr_lon, arr_lat = to_wgs84([lon, lon], [lat, lat], "wgs84")
    assert arr_lon.shape == (2,)


def test_to_wgs84_utm_48n_matches_pyproj():
    # Chengdu lies in UTM zone 48N.
    easting = np.array([[404000.0, 407500.0], [410000.0, 395000.0]])
    northing = np.array([[3393000.0, 3395500.0], [3389000.0, 3401000.0]])
    lon, lat = to_wgs84(easting, northing, "EPSG:32648")
    ref = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
    ref_lon, ref_lat = ref.transform(easting, northing)
    assert lon.shape == easting.shape
    np.testing.assert_allclose(lon, ref_lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lat, ref_lat, rtol=0, atol=1e-12)
    assert np.all((lon > 103.9) & (lon < 104.2) & (lat > 30.5) & (lat < 30.8))
    s_lon, s_lat = to_wgs84(404000.0, 3393000.0, 32648)
    assert isinstance(s_lon, float)
    assert s_lon == pytest.approx(ref_lon[0, 0], abs=1e-12)
    assert s_lat == pytest.approx(ref_lat[0, 0], abs=1e-12)


def test_to_wgs84_cgcs2000_is_within_a_metre_of_wgs84():
    lon, lat = to_wgs84(104.07, 30.67, "epsg:4490")
    assert distance_m(lon, lat, 104.07, 30.67) < 1.0


@pytest.mark.parametrize("bad", ["mars", "gcj03", "EPSG:99999999", ""])
def test_unknown_crs_raises_value_error_naming_it(bad):
    with pytest.raises(ValueError) as excinfo:
        to_wgs84(104.07, 30.67, bad)
    message = str(excinfo.value)
    assert repr(bad) in message
    assert "gcj02" in message and "bd09" in message and "wgs84" in message
    with pytest.raises(ValueError, match="unknown coordinate reference system"):
        from_wgs84(104.07, 30.67, bad)


def test_from_wgs84():
    lon, lat = 104.07, 30.67
    assert from_wgs84(lon, lat, "wgs84") == (lon, lat)
    assert from_wgs84(lon, lat, "GCJ02") == wgs84_to_gcj02(lon, lat)
    assert from_wgs84(lon, lat, "bd09") == wgs84_to_bd09(lon, lat)
    x, y = from_wgs84(lon, lat, "EPSG:32648")
    assert to_wgs84(x, y, "EPSG:32648") == pytest.approx((lon, lat), abs=1e-9)
    g_lon, g_lat = from_wgs84([lon, 24.94], [lat, 60.17], "gcj-02")
    back_lon, back_lat = to_wgs84(g_lon, g_lat, "gcj-02")
    assert distance_m(back_lon, back_lat, [lon, 24.94], [lat, 60.17]).max() < 0.01


def _grid_distance(step_m: float):
    """Distance (m) from WGS-84 points to the lines of a perfect street grid anchored at (104, 30)."""
    import math

    def distance(lon, lat):
        x = (np.asarray(lon) - 104.0) * 111_320.0 * math.cos(math.radians(30.0))
        y = (np.asarray(lat) - 30.0) * 110_540.0
        dx = np.abs((x + step_m / 2) % step_m - step_m / 2)
        dy = np.abs((y + step_m / 2) % step_m - step_m / 2)
        return np.minimum(dx, dy)

    return distance


def test_suspect_datum_on_road_side_points():
    from netplan.coords import suspect_datum, wgs84_to_gcj02

    rng = np.random.default_rng(0)
    # an irregular street network: 25 north-south and 25 east-west streets at random places over 3 km
    xs, ys = np.sort(rng.uniform(0, 3000, 25)), np.sort(rng.uniform(0, 3000, 25))
    kx = 111_320.0 * np.cos(np.radians(30.0))

    def distance(lon, lat):
        x, y = (np.asarray(lon) - 104.0) * kx, (np.asarray(lat) - 30.0) * 110_540.0
        return np.minimum(np.abs(x[:, None] - xs[None, :]).min(axis=1), np.abs(y[:, None] - ys[None, :]).min(axis=1))

    # 40 points on those streets
    along = rng.uniform(0, 3000, 40)
    on_x = rng.integers(0, 25, 40)
    even = np.arange(40) % 2 == 0
    lon = 104.0 + np.where(even, xs[on_x], along) / kx
    lat = 30.0 + np.where(even, along, ys[on_x]) / 110_540.0
    assert suspect_datum(lon, lat, "wgs84", distance_m=distance) is None
    glon, glat = wgs84_to_gcj02(lon, lat)
    found = suspect_datum(glon, glat, "wgs84", distance_m=distance)
    assert found is not None and found[0] == "gcj02" and "from the roads" in found[1]
    assert suspect_datum(glon, glat, "gcj02", distance_m=distance) is None
    # projected systems and too few points are never suspected
    assert suspect_datum(glon[:2], glat[:2], "wgs84", distance_m=distance) is None
    assert suspect_datum(glon, glat, "EPSG:32648", distance_m=distance) is None


def test_block_centres_of_a_regular_grid_are_not_flagged_by_a_lucky_shift():
    """On a perfect grid, some shift puts every block centre on a street; other directions do as well: chance."""
    from netplan.coords import suspect_datum

    step = 150.0
    cx, cy = np.meshgrid(np.arange(8) * step + step / 2, np.arange(8) * step + step / 2)
    lon = 104.0 + cx.ravel() / (111_320.0 * np.cos(np.radians(30.0)))
    lat = 30.0 + cy.ravel() / 110_540.0
    for grid in (150.0, 137.0, 160.0):
        assert suspect_datum(lon, lat, "wgs84", distance_m=_grid_distance(grid)) is None, grid
