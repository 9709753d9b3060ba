"""The city stage: road graphs, OSM feature layers, snapping and travel matrices.

:func:`load_city` reads the scenario's ``city`` section and returns a
:class:`City` holding a drive network for trucks, a walk network for
residents, the OSM features (land use, buildings, amenities) where the source
has them, and a metric CRS chosen for the city. Everything it holds is in
WGS-84 except where a metric CRS is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from netplan import diagnostics
from netplan.city import cache
from netplan.city.graph import GraphReport, build_drive_graph, build_walk_graph
from netplan.city.network import Network, Snapped
from netplan.city.sources import RawCity, read_source
from netplan.errors import CityError
from netplan.scenario import CityConfig

__all__ = ["City", "Network", "Snapped", "load_city", "city_from_raw"]


@dataclass
class City:
    """A loaded city.

    Attributes
    ----------
    name
        Display name.
    source
        Description of where the roads came from.
    drive
        Truck network (access rules applied, one-way respected).
    walk
        Pedestrian network (both directions).
    features
        OSM features in WGS-84 (columns ``osm_type, osm_id, name, landuse,
        building, building:levels, amenity, geometry``) or None.
    crs
        Metric CRS for the city (its UTM zone).
    reports
        Per-graph :class:`GraphReport`.
    data_hull
        The convex hull (WGS-84) of every road node the source held, before
        any access rule or component step: the area the data covers.
    warnings
        What loading cut off or doubts (also reported to the run loading it),
        kept so that every run reusing this city reports it too.
    """

    name: str
    source: str
    drive: Network
    walk: Network
    features: gpd.GeoDataFrame | None
    crs: str
    reports: dict[str, GraphReport] = field(default_factory=dict)
    warnings: list[diagnostics.RunWarning] = field(default_factory=list)
    data_hull: shapely.Geometry | None = None

    def network(self, mode: str) -> Network:
        """Return the ``"drive"`` or ``"walk"`` network."""
        if mode not in ("drive", "walk"):
            raise ValueError(f"mode must be 'drive' or 'walk', not {mode!r}")
        return self.drive if mode == "drive" else self.walk

    def extent(self, margin_m: float = 1000.0) -> shapely.Polygon:
        """The area the city's data covers: the hull of all its road nodes grown by ``margin_m``, in WGS-84.

        The hull is taken over every road the source held, not only the parts
        kept in the graphs, so a point near a piece that was cut off (a bank
        reached only by a tunnel closed to trucks, a fragment at the data's
        edge) is inside the city; whether it can be served is the snapping's
        and the later stages' question.

        Parameters
        ----------
        margin_m
            Buffer around the hull.

        Returns
        -------
        shapely.Polygon
            The extent in WGS-84.
        """
        hull = self.data_hull
        if hull is None:
            xy = [(d["x"], d["y"]) for G in (self.walk.graph, self.drive.graph) for _, d in G.nodes(data=True)]
            hull = shapely.MultiPoint(xy).convex_hull
        grown = gpd.GeoSeries([hull], crs="EPSG:4326").to_crs(self.crs).buffer(margin_m)
        return grown.to_crs("EPSG:4326").iloc[0]

    def summary(self) -> dict[str, Any]:
        """Counts for ``netplan info`` and the KPI table."""
        out: dict[str, Any] = {"name": self.name, "source": self.source, "crs": self.crs}
        for mode, rep in self.reports.items():
            for key, value in rep.as_dict().items():
                if key != "mode":
                    out[f"{mode}_{key}"] = round(value, 3) if isinstance(value, float) else value
        if self.features is not None:
            f = self.features
            out["features"] = len(f)
            out["buildings"] = int(f["building"].notna().sum())
            out["residential_areas"] = int((f["landuse"] == "residential").sum())
            out["named_residential_areas"] = int(((f["landuse"] == "residential") & f["name"].notna()).sum())
            out["recycling_points"] = int((f["amenity"] == "recycling").sum())
        return out


def city_from_raw(raw: RawCity, config: CityConfig, name: str | None = None) -> City:
    """Build drive and walk networks from raw graphs.

    Parameters
    ----------
    raw
        What a reader returned.
    config
        The scenario's city settings (truck, walking speed).
    name
        Display name (defaults to ``config.name`` or the source label).

    Returns
    -------
    City
        The loaded city.
    """
    drive, drive_report = build_drive_graph(raw.directed, config.truck, raw.simplified)
    walk, walk_report = build_walk_graph(
        raw.bidirectional, config.walk_speed_kph, raw.simplified, min_component_km=config.walk_min_component_km
    )
    if drive.number_of_nodes() < 2:
        raise CityError(f"{raw.label}: no drivable road network is left after applying truck access rules")
    if walk.number_of_nodes() < 2:
        raise CityError(f"{raw.label}: no walkable road network")
    every = np.array([(d["x"], d["y"]) for G in (raw.directed, raw.bidirectional) for _, d in G.nodes(data=True)])
    hull = shapely.MultiPoint(every).convex_hull
    xy = np.array([(d["x"], d["y"]) for _, d in walk.nodes(data=True)])
    crs = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:4326").estimate_utm_crs().to_string()
    return City(
        name=name or config.name or raw.label,
        source=raw.label,
        drive=Network(drive, crs, "drive"),
        walk=Network(walk, crs, "walk"),
        features=raw.features,
        crs=crs,
        reports={"drive": drive_report, "walk": walk_report},
        data_hull=hull,
    )


def load_city(config: CityConfig, base_dir: str | Path = ".") -> City:
    """Load a city as the scenario's ``city`` section describes.

    Parameters
    ----------
    config
        The scenario's city settings.
    base_dir
        Folder that relative paths are resolved against (the scenario's).

    Returns
    -------
    City
        Drive and walk networks, features and metric CRS.

    Notes
    -----
    A city loaded from a local file is kept in a disk cache (:mod:`netplan.city.cache`) and read back
    on the next load of the same file with the same settings and code, warnings included.
    """
    outer = diagnostics.current()
    folder = cache.cache_dir(config, Path(base_dir))
    key = cache.cache_key(config, Path(base_dir))
    cached = cache.load(folder, key) if key else None
    if cached is not None:
        city = cached
        found = list(city.warnings)
    else:
        with diagnostics.collect() as found:
            raw = read_source(config, Path(base_dir))
            city = city_from_raw(raw, config)
        city.warnings = list(found)
        if key:
            for net in (city.drive, city.walk):
                net.edges()  # every run snaps to them: the cache keeps them projected
            cache.store(folder, key, city)
    for item in found:
        if outer is not None and item not in outer:
            outer.append(item)
        elif outer is None:
            diagnostics.warn(item.stage, item.code, item.message, item.ids, item.count)
    return city
