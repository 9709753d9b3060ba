"""Conversions between WGS-84 and China's obfuscated GCJ-02 and BD-09 coordinates.

Why this module exists
----------------------
Maps published in mainland China do not use plain WGS-84 longitude/latitude.
By regulation, online maps (AMap/Gaode, Tencent, Apple Maps in China, Google's
``.cn`` tiles) use **GCJ-02** ("Mars coordinates", 火星坐标), and Baidu applies a
second, proprietary layer on top of that, **BD-09**. Points geocoded by those
services, or positions recorded by Chinese apps, are therefore offset from the
true WGS-84 position by roughly 100-700 m, and a WGS-84 overlay drawn on a
GCJ-02 basemap is visibly misplaced by the same amount.

GCJ-02 and BD-09 are *not* geodetic datums: there is no ellipsoid change or
Helmert transformation that reproduces them, so they have no EPSG code and
pyproj/PROJ cannot convert them. They are deliberate, non-linear
obfuscations. The GCJ-02 forward function (a pair of trigonometric
polynomials in longitude/latitude, scaled on the Krasovsky ellipsoid,
a = 6378245.0 m, e^2 = 0.00669342162296594323) and the BD-09 function (a
small rotation/scaling in polar coordinates plus a constant offset) have been
public for many years and are implemented identically in eviltransform,
wandergis' coordtransform / coordTransform_py, prcoords and others. This
module implements the same published formulas, vectorised with numpy, so
that results agree with those libraries (and with the services themselves
to within the accuracy of the published algorithm, about 1 m for GCJ-02).

Out of China
------------
Following the published algorithm, a point whose coordinates fall outside a
rough bounding box of China (longitude 72.004..137.8347, latitude
0.8293..55.8271; see :func:`out_of_china`) is returned unchanged, because
the services do not shift coordinates abroad. The box is coarse: it also
contains e.g. Korea, most of Japan, Mongolia and parts of South-East Asia,
where the offset is applied although the real services would not apply it.
For arrays the test is made element by element.

Accuracy of the inverse
-----------------------
Only the forward functions (WGS-84 -> GCJ-02 -> BD-09) are defined. The
widely copied one-step inverse ("subtract the offset evaluated at the
shifted point") is wrong by up to a few metres for GCJ-02. Here the
inverses refine that crude estimate by fixed-point iteration,
``x <- x - (forward(x) - target)``, until the largest change is below
1e-10 degree (or 30 iterations), which makes round trips exact to well
under a millimetre anywhere inside China. The ``out_of_china`` test of an
inverse is made on its input (the shifted coordinates), as the published
code does; only within a few hundred metres of the bounding box edge can
that differ from the test made on the forward input.

All functions take longitude first and latitude second, in degrees, as
scalars or array-likes (broadcast against each other), and return
``(lon, lat)``: Python floats for scalar input, float arrays of the
broadcast shape otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "out_of_china",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "normalise_crs_name",
    "to_wgs84",
    "from_wgs84",
]

#: A float for scalar input, a float array otherwise.
FloatOrArray = float | NDArray[np.float64]
LonLat = tuple[FloatOrArray, FloatOrArray]

# Constants of the published algorithm.
_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid, metres
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0  # BD-09 constant

# Rough bounding box of China used by the published algorithm.
_LON_MIN, _LON_MAX = 72.004, 137.8347
_LAT_MIN, _LAT_MAX = 0.8293, 55.8271

# Fixed-point iteration of the inverses.
_INVERSE_TOL_DEG = 1e-10
_INVERSE_MAX_ITER = 30

_WGS84, _GCJ02, _BD09 = "wgs84", "gcj02", "bd09"
_ALIASES = {
    "wgs84": _WGS84,
    "wgs-84": _WGS84,
    "wgs_84": _WGS84,
    "wgs 84": _WGS84,
    "epsg:4326": _WGS84,
    "4326": _WGS84,
    "gcj02": _GCJ02,
    "gcj-02": _GCJ02,
    "gcj_02": _GCJ02,
    "bd09": _BD09,
    "bd-09": _BD09,
    "bd_09": _BD09,
    "bd09ll": _BD09,
}
_ACCEPTED = (
    '"wgs84" (or "wgs-84", "epsg:4326"), "gcj02" (or "gcj-02"), "bd09" (or "bd-09"), '
    'or any CRS pyproj understands, e.g. "EPSG:32648" or the integer 4490'
)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    """Return float arrays of the broadcast shape and whether the input was scalar."""
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    scalar = lon_a.ndim == 0 and lat_a.ndim == 0
    lon_b, lat_b = np.broadcast_arrays(lon_a, lat_a)
    # broadcast_arrays returns read-only views; make independent copies.
    return np.array(lon_b, dtype=float), np.array(lat_b, dtype=float), scalar


def _out(lon: np.ndarray, lat: np.ndarray, scalar: bool) -> LonLat:
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < _LON_MIN) | (lon > _LON_MAX) | (lat < _LAT_MIN) | (lat > _LAT_MAX)


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Published latitude polynomial; x = lon - 105, y = lat - 35."""
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Published longitude polynomial; x = lon - 105, y = lat - 35."""
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (dlon, dlat) in degrees at a WGS-84 point, no bounding box test."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = np.sin(radlat)
    magic = 1.0 - _EE * magic * magic
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj_raw(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS-84 coordinates to GCJ-02 (AMap/Gaode, Tencent, "Mars").

    Implements the published forward algorithm exactly. Points outside
    China (see :func:`out_of_china`) are returned unchanged.

    Parameters
    ----------
    lon : float or array_like
        WGS-84 longitude in degrees.
    lat : float or array_like
        WGS-84 latitude in degrees; broadcast against ``lon``.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        GCJ-02 longitude and latitude in degrees; floats for scalar input,
        arrays of the broadcast input shape otherwise.
    """
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_bd_raw(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 coordinates to BD-09 (Baidu).

    Implements the published formula: with ``x_pi = pi * 3000 / 180``,
    ``z = hypot(lon, lat) + 2e-5 sin(lat x_pi)``,
    ``theta = atan2(lat, lon) + 3e-6 cos(lon x_pi)``, the result is
    ``(z cos(theta) + 0.0065, z sin(theta) + 0.006)``. Points outside China
    are returned unchanged.

    Parameters
    ----------
    lon : float or array_like
        GCJ-02 longitude in degrees.
    lat : float or array_like
        GCJ-02 latitude in degrees; broadcast against ``lon``.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        BD-09 longitude and latitude in degrees; floats for scalar input,
        arrays of the broadcast input shape otherwise.
    """
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj_crude(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published one-step BD-09 -> GCJ-02 inverse."""
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _wgs_to_bd_raw(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS-84 coordinates to BD-09 (Baidu), via GCJ-02.

    Points outside China are returned unchanged.

    Parameters
    ----------
    lon : float or array_like
        WGS-84 longitude in degrees.
    lat : float or array_like
        WGS-84 latitude in degrees; broadcast against ``lon``.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        BD-09 longitude and latitude in degrees; floats for scalar input,
        arrays of the broadcast input shape otherwise.
    """
    return _gcj_to_bd_raw(*_wgs_to_gcj_raw(lon, lat))


def _invert(
    forward: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    lon_t: np.ndarray,
    lat_t: np.ndarray,
    lon0: np.ndarray,
    lat0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(lon, lat) == (lon_t, lat_t) by fixed-point iteration from (lon0, lat0)."""
    lon, lat = lon0, lat0
    for _ in range(_INVERSE_MAX_ITER):
        f_lon, f_lat = forward(lon, lat)
        step_lon = f_lon - lon_t
        step_lat = f_lat - lat_t
        lon = lon - step_lon
        lat = lat - step_lat
        change = np.maximum(np.abs(step_lon), np.abs(step_lat))
        finite = np.isfinite(change)  # NaN input stays NaN and must not block convergence
        if not finite.any() or change[finite].max() < _INVERSE_TOL_DEG:
            break
    return lon, lat


def _gcj_to_wgs_raw(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 coordinates to WGS-84, precisely.

    Starts from the published one-step inverse (error up to a few metres)
    and refines it by fixed-point iteration until
    ``wgs84_to_gcj02(result)`` reproduces the input to 1e-10 degree
    (about 0.01 mm). Points outside China are returned unchanged.

    Parameters
    ----------
    lon : float or array_like
        GCJ-02 longitude in degrees.
    lat : float or array_like
        GCJ-02 latitude in degrees; broadcast against ``lon``.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        WGS-84 longitude and latitude in degrees; floats for scalar input,
        arrays of the broadcast input shape otherwise.
    """
    dlon, dlat = _gcj_delta(lon, lat)  # crude inverse as the starting point
    return _invert(_wgs_to_gcj_raw, lon, lat, lon - dlon, lat - dlat)


def _bd_to_gcj_raw(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 (Baidu) coordinates to GCJ-02, precisely.

    Starts from the published one-step inverse (error of the order of
    0.1 m) and refines it by fixed-point iteration until
    ``gcj02_to_bd09(result)`` reproduces the input to 1e-10 degree.
    Points outside China are returned unchanged.

    Parameters
    ----------
    lon : float or array_like
        BD-09 longitude in degrees.
    lat : float or array_like
        BD-09 latitude in degrees; broadcast against ``lon``.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        GCJ-02 longitude and latitude in degrees; floats for scalar input,
        arrays of the broadcast input shape otherwise.
    """
    return _invert(_gcj_to_bd_raw, lon, lat, *_bd_to_gcj_crude(lon, lat))


def _bd_to_wgs_raw(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 (Baidu) coordinates to WGS-84, precisely, via GCJ-02.

    Both steps use the iterated inverses of :func:`bd09_to_gcj02` and
    :func:`gcj02_to_wgs84`. Points outside China are returned unchanged.

    Parameters
    ----------
    lon : float or array_like
        BD-09 longitude in degrees.
    lat : float or array_like
        BD-09 latitude in degrees; broadcast against ``lon``.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        WGS-84 longitude and latitude in degrees; floats for scalar input,
        arrays of the broadcast input shape otherwise.
    """
    return _gcj_to_wgs_raw(*_bd_to_gcj_raw(lon, lat))


_CHINESE = {_GCJ02: (_gcj_to_wgs_raw, _wgs_to_gcj_raw), _BD09: (_bd_to_wgs_raw, _wgs_to_bd_raw)}
"""Per Chinese datum, its (to WGS-84, from WGS-84) raw conversions."""


def _apply(
    raw: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    lon: ArrayLike,
    lat: ArrayLike,
) -> LonLat:
    """Apply ``raw`` to the points inside China, pass the others through."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    inside = ~_out_of_china(lon_a, lat_a)
    if inside.any():
        new_lon, new_lat = raw(lon_a[inside], lat_a[inside])
        lon_a[inside] = new_lon
        lat_a[inside] = new_lat
    return _out(lon_a, lat_a, scalar)


class _Conversion(Protocol):
    """A public datum conversion: longitudes and latitudes (scalars or arrays) in, converted ones out."""

    def __call__(self, lon: ArrayLike, lat: ArrayLike) -> LonLat: ...


def _public(raw: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]], name: str) -> _Conversion:
    """The public conversion ``name`` of the formula ``raw``, documented by ``raw``'s docstring.

    It takes scalars or array-likes (broadcast against each other) and passes points outside China through
    unchanged (see :func:`_apply`); ``raw`` itself works on float arrays of points inside China, so that the
    formulas compose and invert each other without the bounding-box test in between.
    """

    def convert(lon: ArrayLike, lat: ArrayLike) -> LonLat:
        return _apply(raw, lon, lat)

    convert.__name__ = convert.__qualname__ = name
    convert.__doc__ = raw.__doc__
    return convert


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> bool | NDArray[np.bool_]:
    """Test whether points lie outside the rough bounding box of China.

    This is the test of the published algorithm: a point is "out of China"
    when its longitude is outside 72.004..137.8347 or its latitude outside
    0.8293..55.8271 degrees. Such points are not shifted by any of the
    conversions in this module. NaN coordinates count as inside.

    Parameters
    ----------
    lon : float or array_like
        Longitude in degrees.
    lat : float or array_like
        Latitude in degrees; broadcast against ``lon``.

    Returns
    -------
    bool or numpy.ndarray of bool
        ``True`` where the point is outside the box: a Python ``bool`` for
        scalar input, a boolean array of the broadcast shape otherwise.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    result = _out_of_china(lon_a, lat_a)
    return bool(result) if scalar else result


# The datum conversions: each formula above carries the public docstring.
wgs84_to_gcj02 = _public(_wgs_to_gcj_raw, "wgs84_to_gcj02")
gcj02_to_wgs84 = _public(_gcj_to_wgs_raw, "gcj02_to_wgs84")
gcj02_to_bd09 = _public(_gcj_to_bd_raw, "gcj02_to_bd09")
bd09_to_gcj02 = _public(_bd_to_gcj_raw, "bd09_to_gcj02")
wgs84_to_bd09 = _public(_wgs_to_bd_raw, "wgs84_to_bd09")
bd09_to_wgs84 = _public(_bd_to_wgs_raw, "bd09_to_wgs84")


def normalise_crs_name(crs: str | int) -> str:
    """Normalise a coordinate reference system name.

    Parameters
    ----------
    crs : str or int
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` in any case, with or without a
        hyphen/underscore (``"GCJ-02"``, ``"bd_09"``), ``"epsg:4326"``, or
        anything :meth:`pyproj.crs.CRS.from_user_input` accepts: an
        authority string (``"EPSG:32648"``), an integer EPSG code
        (``4490``), a PROJ string, WKT, or a :class:`pyproj.crs.CRS`.

    Returns
    -------
    str
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"``, or for any other CRS its
        pyproj normalised string (``"EPSG:32648"``, or WKT when the CRS has
        no authority code). A CRS that pyproj identifies as EPSG:4326 is
        returned as ``"wgs84"``.

    Raises
    ------
    ValueError
        If ``crs`` is neither one of the names above nor understood by
        pyproj. The message names the value and lists what is accepted.
    """
    if isinstance(crs, str):
        key = " ".join(crs.strip().lower().split())
        if key in _ALIASES:
            return _ALIASES[key]
    elif isinstance(crs, bool) or crs is None:
        raise ValueError(f"unknown coordinate reference system {crs!r}; expected {_ACCEPTED}")
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(crs)
    except (CRSError, TypeError, ValueError) as exc:
        raise ValueError(f"unknown coordinate reference system {crs!r}; expected {_ACCEPTED}") from exc
    if parsed.to_epsg() == 4326:
        return _WGS84
    return parsed.to_string()


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str):
    # pyproj Transformers are thread-safe since pyproj 3.1, so caching is fine.
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def _pyproj_transform(src: str, dst: str, lon: ArrayLike, lat: ArrayLike) -> LonLat:
    x_a, y_a, scalar = _as_arrays(lon, lat)
    x_out, y_out = _transformer(src, dst).transform(x_a, y_a)
    return _out(np.asarray(x_out, dtype=float), np.asarray(y_out, dtype=float), scalar)


def _convert(crs: str | int, x: ArrayLike, y: ArrayLike, *, towards_wgs84: bool) -> LonLat:
    """Convert between WGS-84 and ``crs`` in either direction: this module's formulas or pyproj."""
    name = normalise_crs_name(crs)
    if name == _WGS84:
        return _out(*_as_arrays(x, y))
    if name in _CHINESE:
        return _apply(_CHINESE[name][0 if towards_wgs84 else 1], x, y)
    src, dst = (name, "EPSG:4326") if towards_wgs84 else ("EPSG:4326", name)
    return _pyproj_transform(src, dst, x, y)


def to_wgs84(x: ArrayLike, y: ArrayLike, crs: str | int) -> LonLat:
    """Convert coordinates in any supported system to WGS-84 longitude/latitude.

    Parameters
    ----------
    x : float or array_like
        Longitude in degrees for ``"wgs84"``, ``"gcj02"`` and ``"bd09"``;
        otherwise the first coordinate in pyproj's ``always_xy`` order
        (easting for projected CRSs, longitude for geographic ones).
    y : float or array_like
        Latitude in degrees, or the second coordinate (northing);
        broadcast against ``x``.
    crs : str or int
        The system of the input; see :func:`normalise_crs_name`. GCJ-02 and
        BD-09 use the precise inverses of this module; any other CRS is
        transformed to EPSG:4326 with a pyproj ``Transformer`` built with
        ``always_xy=True``.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        WGS-84 longitude and latitude in degrees; floats for scalar input,
        arrays of the broadcast input shape otherwise.

    Raises
    ------
    ValueError
        If ``crs`` is not recognised.
    """
    return _convert(crs, x, y, towards_wgs84=True)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str | int) -> LonLat:
    """Convert WGS-84 longitude/latitude to another system.

    Used, for example, to shift overlays onto GCJ-02 basemaps (AMap,
    Tencent) or BD-09 basemaps (Baidu).

    Parameters
    ----------
    lon : float or array_like
        WGS-84 longitude in degrees.
    lat : float or array_like
        WGS-84 latitude in degrees; broadcast against ``lon``.
    crs : str or int
        The target system: ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` (see
        :func:`normalise_crs_name` for accepted spellings), or any CRS
        pyproj understands, reached from EPSG:4326 with ``always_xy=True``.

    Returns
    -------
    x, y : float or numpy.ndarray
        Coordinates in ``crs`` (longitude/latitude in degrees for the three
        named systems, ``always_xy`` order otherwise); floats for scalar
        input, arrays of the broadcast input shape otherwise.

    Raises
    ------
    ValueError
        If ``crs`` is not recognised.
    """
    return _convert(crs, lon, lat, towards_wgs84=False)


def is_lonlat(crs: str | int) -> bool:
    """Whether coordinates in ``crs`` are longitude/latitude degrees (WGS-84, GCJ-02, BD-09 or any geographic CRS).

    Parameters
    ----------
    crs : str or int
        See :func:`normalise_crs_name`.

    Returns
    -------
    bool
        True for degrees, False for projected (metre) systems.
    """
    name = normalise_crs_name(crs)
    if name in (_WGS84, _GCJ02, _BD09):
        return True
    from pyproj import CRS

    return bool(CRS.from_user_input(name).is_geographic)


def first_out_of_range(lon: ArrayLike, lat: ArrayLike) -> int | None:
    """Index of the first pair that is not a longitude/latitude (|lon| > 180, |lat| > 90 or not finite), or None.

    Parameters
    ----------
    lon, lat : array_like
        Coordinates that are meant to be degrees.

    Returns
    -------
    int or None
        The first bad index in input order.
    """
    x, y, _ = _as_arrays(lon, lat)
    bad = ~np.isfinite(x) | ~np.isfinite(y) | (np.abs(x) > 180) | (np.abs(y) > 90)
    hits = np.flatnonzero(bad.ravel())
    return int(hits[0]) if len(hits) else None


DATUM_MIN_POINTS = 3
"""Fewer points than this say too little about a datum to warn."""
DATUM_MIN_DISTANCE_M = 20.0
"""Road-side points must lie at least this far off the roads as declared to be suspected by distance ..."""
DATUM_MAX_RATIO = 0.25
"""... and come to at most this share of that distance in another datum."""
DATUM_MIN_GAIN_SHARE = 0.3
"""Points inside mapped land use or buildings: another datum must put this much larger a share inside ..."""
DATUM_MIN_FACTOR = 2.0
"""... and at least this many times the declared share."""

_DATUM_NAMES = (_WGS84, _GCJ02, _BD09)


def suspect_datum(
    lon: ArrayLike,
    lat: ArrayLike,
    declared: str | int,
    *,
    distance_m: Callable[[np.ndarray, np.ndarray], np.ndarray],
    inside: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[str, str] | None:
    """Test whether points fit the city markedly better read in another Chinese datum.

    GCJ-02 (AMap, Tencent) and BD-09 (Baidu) coordinates read as WGS-84 lie
    300-700 m off their place. The raw coordinates are read as WGS-84, GCJ-02
    and BD-09 in turn and each reading is compared with the declared one on
    two kinds of evidence:

    * **distance to the roads** (median): decisive for points that stand on
      the street (gates, collection points, a zone drawn along roads). A
      reading is suspected when the declared one lies at least
      :data:`DATUM_MIN_DISTANCE_M` off the roads and the other comes to at
      most :data:`DATUM_MAX_RATIO` of it. Points inside blocks (compound
      centres) lie off the roads in every datum, so this alone rarely flags
      them.
    * **inside mapped features** (optional; share of points inside any mapped
      land-use area or building): decisive for compound centres and land
      parcels. Suspected when another reading puts at least
      :data:`DATUM_MIN_GAIN_SHARE` more of the points inside, and
      :data:`DATUM_MIN_FACTOR` times as many.

    Either way the datum must also beat chance: the declared points moved
    as far as the datum moves them but in eleven other directions (every
    30 degrees) must all fit clearly worse (by the same margins). On a
    regular street grid a shift can put every block centre on a street by
    chance; then other directions do so too and nothing is flagged.

    Parameters
    ----------
    lon, lat : array_like
        The raw coordinates as written in the file (degrees).
    declared : str or int
        The datum the file declares; only ``wgs84``, ``gcj02`` and ``bd09``
        (or EPSG:4326) are tested.
    distance_m : callable
        ``distance_m(lon, lat)`` -> metres from each WGS-84 point to the roads.
    inside : callable, optional
        ``inside(lon, lat)`` -> whether each WGS-84 point lies inside a mapped
        feature; None when the city has no features.

    Returns
    -------
    tuple of str or None
        ``(datum to declare, the evidence in words)``, or None.
    """
    x, y, _ = _as_arrays(lon, lat)
    x, y = x.ravel(), y.ravel()
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    name = normalise_crs_name(declared)
    if len(x) < DATUM_MIN_POINTS or name not in _DATUM_NAMES or bool(np.all(out_of_china(x, y))):
        return None
    readings = {d: tuple(np.asarray(v, dtype=float) for v in to_wgs84(x, y, d)) for d in _DATUM_NAMES}

    def shifts(datum: str) -> list[tuple[np.ndarray, np.ndarray]]:
        # the declared reading moved as far as the datum moves it, in other directions: what chance alone gives
        base_x, base_y = readings[name]
        dx, dy = np.median(readings[datum][0] - base_x), np.median(readings[datum][1] - base_y)
        size, turn = np.hypot(dx, dy), np.arctan2(dy, dx)
        angles = turn + np.deg2rad(np.arange(30, 360, 30))
        return [(base_x + size * np.cos(a), base_y + size * np.sin(a)) for a in angles]

    if inside is not None:
        share = {d: float(np.mean(inside(*readings[d]))) for d in _DATUM_NAMES}
        best = max(_DATUM_NAMES, key=lambda d: (share[d], d == name))
        if (
            best != name
            and share[best] >= share[name] + DATUM_MIN_GAIN_SHARE
            and share[best] >= DATUM_MIN_FACTOR * share[name]
        ):
            chance = max(float(np.mean(inside(*xy))) for xy in shifts(best))
            if share[best] >= chance + DATUM_MIN_GAIN_SHARE:
                return best, (
                    f"{share[name]:.0%} of the points lie inside mapped land use or buildings as declared "
                    f"({name}), {share[best]:.0%} read as {best}"
                )
    median = {d: float(np.median(distance_m(*readings[d]))) for d in _DATUM_NAMES}
    best = min(_DATUM_NAMES, key=lambda d: (median[d], d != name))
    if best != name and median[name] >= DATUM_MIN_DISTANCE_M and median[best] <= DATUM_MAX_RATIO * median[name]:
        chance = min(float(np.median(distance_m(*xy))) for xy in shifts(best))
        if median[best] <= DATUM_MAX_RATIO * chance:
            return best, (
                f"the points lie a median {median[name]:,.0f} m from the roads as declared ({name}), "
                f"{median[best]:,.0f} m read as {best}"
            )
    return None
