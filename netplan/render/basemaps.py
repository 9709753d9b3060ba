"""Basemaps: OpenStreetMap, AMap (Gaode, GCJ-02), Tianditu (CGCS2000) or none.

AMap tiles are drawn in GCJ-02, China's obfuscated coordinates (see
:mod:`netplan.coords`): a WGS-84 overlay on them sits 100-700 m off in
mainland China, so every overlay coordinate is shifted with
:func:`netplan.coords.from_wgs84` first. Tianditu publishes in CGCS2000,
which agrees with WGS-84 to centimetres, so nothing is shifted; its tiles need
a user token (a free "browser" key from https://console.tianditu.gov.cn),
given with ``--tianditu-token``, the ``TIANDITU_TOKEN`` environment variable
or ``outputs.tianditu_token`` in the scenario. ``none`` draws no tiles at all
(roads come from the city graph): the only choice for offline maps.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from netplan.coords import from_wgs84
from netplan.errors import NetplanError
from netplan.render.labels import label

BASEMAPS = ("osm", "amap", "tianditu", "none")


@dataclass
class Basemap:
    """A tile source and the coordinate system overlays must be drawn in."""

    key: str
    crs: str = "wgs84"
    tiles: list[dict] = field(default_factory=list)
    attribution: list[str] = field(default_factory=list)

    @property
    def shift(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """Coordinate shift for overlays ((n, 2) lon/lat array -> same), or None."""
        if self.crs == "wgs84":
            return None
        crs = self.crs

        def shifted(xy: np.ndarray) -> np.ndarray:
            lon, lat = from_wgs84(xy[:, 0], xy[:, 1], crs)
            return np.column_stack([lon, lat])

        return shifted


def tianditu_token(explicit: str | None = None, scenario_token: str | None = None) -> str | None:
    """The Tianditu token: given explicitly, else ``TIANDITU_TOKEN``, else the scenario's."""
    return explicit or os.environ.get("TIANDITU_TOKEN") or scenario_token or None


def basemap(key: str, lang: str, offline: bool = False, token: str | None = None) -> Basemap:
    """Describe basemap ``key`` (``osm``, ``amap``, ``tianditu`` or ``none``).

    Parameters
    ----------
    key
        The basemap.
    lang
        ``zh`` or ``en`` (attribution text, Tianditu's label layer).
    offline
        Offline maps request nothing: the basemap is always ``none``.
    token
        Tianditu token (required for ``tianditu``).

    Raises
    ------
    NetplanError
        For an unknown basemap, or Tianditu without a token.
    """
    if key not in BASEMAPS:
        raise NetplanError(f"unknown basemap {key!r}; choose one of {', '.join(BASEMAPS)}")
    osm_credit = label(lang, "credit")
    if offline or key == "none":
        return Basemap("none", attribution=[osm_credit])
    if key == "osm":
        return Basemap(
            "osm",
            tiles=[
                {
                    "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "maxNativeZoom": 19,
                    "maxZoom": 20,
                    "subdomains": "abc",
                }
            ],
            attribution=['<a href="https://www.openstreetmap.org/copyright">' + osm_credit + "</a>"],
        )
    if key == "amap":
        return Basemap(
            "amap",
            crs="gcj02",
            tiles=[
                {
                    "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang="
                    + ("zh_cn" if lang == "zh" else "en")
                    + "&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                    "subdomains": "1234",
                    "maxNativeZoom": 18,
                    "maxZoom": 20,
                }
            ],
            attribution=[label(lang, "credit_amap"), osm_credit],
        )
    if not token:
        raise NetplanError(
            "the Tianditu basemap needs a token: get a free browser key at https://console.tianditu.gov.cn and pass "
            "--tianditu-token KEY, set TIANDITU_TOKEN, or set outputs.tianditu_token in the scenario"
        )
    base = (
        "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk="
        + token
    )
    labels = "cva" if lang == "zh" else "eva"
    return Basemap(
        "tianditu",
        tiles=[
            {"url": base.replace("{layer}", "vec"), "subdomains": "01234567", "maxNativeZoom": 18, "maxZoom": 20},
            {"url": base.replace("{layer}", labels), "subdomains": "01234567", "maxNativeZoom": 18, "maxZoom": 20},
        ],
        attribution=[label(lang, "credit_tianditu"), osm_credit],
    )
