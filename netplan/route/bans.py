"""Restricted-traffic bans: which vehicles they bind, and which roads and places they cover.

A :class:`Ban` is one rule: banned hours, a minimum vehicle weight, and a
zone polygon and/or a set of OSM ways. :class:`RoadBans` resolves bans on
a road graph: the edges each ban covers (an edge whose geometry touches the
zone, or which belongs to a banned way) and the nodes inside each zone.
Both the travel profiles (:mod:`netplan.route.roads`) and the schedule
simulator read bans through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from netplan.coords import to_wgs84
from netplan.errors import NetplanError
from netplan.route.problem import Interval, merge

WGS84 = "EPSG:4326"


@dataclass(frozen=True)
class Ban:
    """A restricted-traffic window.

    Attributes
    ----------
    name
        Shown in reports and violations.
    intervals
        Banned hours (seconds after midnight).
    min_weight_t
        Vehicles at least this heavy are bound (0: every vehicle).
    zone
        Polygon (in the road graph's coordinates), or None.
    ways
        OSM way ids closed by the ban.
    """

    name: str
    intervals: tuple[Interval, ...]
    min_weight_t: float = 0.0
    zone: BaseGeometry | None = None
    ways: frozenset[int] = field(default_factory=frozenset)

    def applies_to(self, weight_t: float, permit: bool) -> bool:
        """Whether a vehicle of this weight, with or without a permit, is bound by the ban."""
        return not permit and weight_t >= self.min_weight_t

    def overlaps(self, shift: Interval) -> bool:
        """Whether any banned interval falls within ``shift``."""
        return any(iv.overlaps(shift) for iv in self.intervals)


def banned_hours(bans: list[Ban]) -> list[Interval]:
    """The union of the bans' intervals."""
    return merge(iv for ban in bans for iv in ban.intervals)


class RoadBans:
    """Bans resolved on a road graph.

    Parameters
    ----------
    bans
        The bans.
    graph
        An osmnx-style MultiDiGraph whose nodes carry ``x``/``y`` and edges
        optionally ``geometry`` and ``osmid``, in the bans' coordinates.
    """

    def __init__(self, bans: list[Ban], graph: nx.MultiDiGraph):
        self.bans = list(bans)
        self._edges: dict[str, set[tuple[int, int]]] = {}
        self._nodes: dict[str, set[int]] = {}
        lines, keys = [], []
        for u, v, data in graph.edges(data=True):
            geom = data.get("geometry")
            if geom is None:
                geom = shapely.LineString([(graph.nodes[u]["x"], graph.nodes[u]["y"]), (graph.nodes[v]["x"], graph.nodes[v]["y"])])
            lines.append(geom)
            keys.append((u, v, data.get("osmid")))
        node_ids = list(graph.nodes)
        points = shapely.points([graph.nodes[n]["x"] for n in node_ids], [graph.nodes[n]["y"] for n in node_ids])
        for ban in self.bans:
            edges: set[tuple[int, int]] = set()
            nodes: set[int] = set()
            if ban.zone is not None:
                hit = shapely.intersects(lines, ban.zone)
                edges.update((u, v) for (u, v, _), h in zip(keys, hit) if h)
                inside = shapely.intersects(points, ban.zone)
                nodes.update(n for n, h in zip(node_ids, inside) if h)
            if ban.ways:
                for u, v, osmid in keys:
                    ids = osmid if isinstance(osmid, (list, tuple, set)) else [osmid]
                    if any(i in ban.ways for i in ids if i is not None):
                        edges.add((u, v))
            self._edges[ban.name] = edges
            self._nodes[ban.name] = nodes

    def covers_edge(self, ban: Ban, u: int, v: int) -> bool:
        """Whether driving ``u -> v`` is covered by ``ban``."""
        return (u, v) in self._edges[ban.name]

    def covers_node(self, ban: Ban, node: int | None) -> bool:
        """Whether ``node`` lies inside ``ban``'s zone."""
        return node is not None and node in self._nodes[ban.name]

    def nodes(self, ban: Ban) -> set[int]:
        """Graph nodes inside ``ban``'s zone."""
        return self._nodes[ban.name]

    def edges(self, bans: list[Ban]) -> set[tuple[int, int]]:
        """Edges covered by any of ``bans``."""
        out: set[tuple[int, int]] = set()
        for ban in bans:
            out |= self._edges[ban.name]
        return out

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per ban: (edges covered, nodes inside its zone)."""
        return {b.name: (len(self._edges[b.name]), len(self._nodes[b.name])) for b in self.bans}


def zone_geometry(zone: dict[str, Any], base_dir: str | Path | None) -> shapely.Geometry | None:
    """A restriction zone as one WGS-84 geometry.

    Parameters
    ----------
    zone
        The scenario's ``zone`` entry: ``polygon`` ([[lon, lat], ...]) or
        ``path`` (+ ``layer``), and ``crs`` (EPSG code, or ``gcj02`` /
        ``bd09`` for Chinese web-map coordinates).
    base_dir
        Folder that a relative ``path`` is resolved against.

    Returns
    -------
    shapely.Geometry or None
        The zone in WGS-84.
    """
    crs = zone.get("crs")
    if zone.get("polygon"):
        xy = np.asarray(zone["polygon"], dtype=float)
        if crs:
            lon, lat = to_wgs84(xy[:, 0], xy[:, 1], crs)
            xy = np.column_stack([lon, lat])
        return shapely.make_valid(shapely.Polygon(xy))
    path = zone.get("path")
    if not path:
        return None
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    if not p.is_file():
        raise NetplanError("restriction zone file not found", p)
    frame = gpd.read_file(p, layer=zone.get("layer"), engine="pyogrio")
    geoms = frame.geometry
    if crs and str(crs).lower().replace("-", "") in ("gcj02", "bd09"):
        geoms = gpd.GeoSeries(shapely.transform(geoms.to_numpy(), lambda c: np.column_stack(to_wgs84(c[:, 0], c[:, 1], crs))), crs=WGS84)
    elif crs and frame.crs is None:
        geoms = geoms.set_crs(crs).to_crs(WGS84)
    elif frame.crs is not None:
        geoms = geoms.to_crs(WGS84)
    return shapely.union_all(geoms.to_numpy())
