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
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from netplan.coords import first_out_of_range, is_lonlat, to_wgs84
from netplan.errors import NetplanError
from netplan.route.problem import Interval, merge

if TYPE_CHECKING:
    from netplan.city import City
    from netplan.scenario import Scenario

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
                geom = shapely.LineString(
                    [(graph.nodes[u]["x"], graph.nodes[u]["y"]), (graph.nodes[v]["x"], graph.nodes[v]["y"])]
                )
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


def zone_geometry(zone: dict[str, Any], base_dir: str | Path | None, key: str = "zone") -> shapely.Geometry | None:
    """A restriction zone as one WGS-84 geometry, with the checks a site file gets.

    Parameters
    ----------
    zone
        The scenario's ``zone`` entry: ``polygon`` ([[lon, lat], ...]) or
        ``path`` (+ ``layer``), and ``crs`` (EPSG code, or ``gcj02`` /
        ``bd09`` for Chinese web-map coordinates).
    base_dir
        Folder that a relative ``path`` is resolved against.
    key
        The zone's key path in the scenario (``restrictions[0].zone``), for messages.

    Returns
    -------
    shapely.Geometry or None
        The zone in WGS-84.

    Raises
    ------
    NetplanError
        A zone file that is missing, unreadable, without polygons or without
        a CRS (none in the file and no ``crs:``), or coordinates that are not
        longitude/latitude where the CRS says they are.
    """
    crs = zone.get("crs")
    if zone.get("polygon"):
        xy = np.asarray(zone["polygon"], dtype=float)
        declared = crs or "wgs84"
        xy = np.column_stack(_zone_to_wgs84(xy[:, 0], xy[:, 1], declared, None, f"{key}.polygon"))
        return shapely.make_valid(shapely.Polygon(xy))
    path = zone.get("path")
    if not path:
        return None
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    if not p.is_file():
        raise NetplanError("restriction zone file not found", p, f"{key}.path")
    try:
        frame = gpd.read_file(p, layer=zone.get("layer"), engine="pyogrio")
    except Exception as exc:  # pyogrio raises several kinds on malformed files
        raise NetplanError(f"cannot read the zone file: {exc}", p, f"{key}.path") from None
    polys = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty]
    polys = polys[polys.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polys.empty:
        raise NetplanError("the zone file has no polygon", p, f"{key}.path")
    declared = crs or (frame.crs.to_string() if frame.crs is not None else None)
    if declared is None:
        raise NetplanError(
            "the zone file has no CRS; declare it with crs: (wgs84, gcj02, bd09 or an EPSG code), as for site files",
            p,
            f"{key}.crs",
        )

    def convert(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(_zone_to_wgs84(coords[:, 0], coords[:, 1], declared, p, f"{key}.crs"))

    return shapely.make_valid(shapely.union_all(shapely.transform(polys.to_numpy(), convert)))


def _zone_to_wgs84(
    x: np.ndarray, y: np.ndarray, declared: str, path: Path | None, key: str
) -> tuple[np.ndarray, np.ndarray]:
    """Vertices to WGS-84; degrees out of range (metres labelled as degrees) are an error, as is an unknown CRS."""
    try:
        lonlat = is_lonlat(declared)
    except ValueError as exc:
        raise NetplanError(str(exc), path, key) from None
    if lonlat:
        bad = first_out_of_range(x, y)
        if bad is not None:
            raise NetplanError(
                f"vertex ({x[bad]:.6g}, {y[bad]:.6g}) is not a longitude/latitude although the zone's CRS is "
                f"{declared}; projected coordinates (metres) need their EPSG code in crs:",
                path,
                key,
            )
    lon, lat = to_wgs84(x, y, declared)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    bad = first_out_of_range(lon, lat)
    if bad is not None:
        raise NetplanError(
            f"vertex ({x[bad]:.6g}, {y[bad]:.6g}) in {declared} lies off the globe in WGS-84; check crs:", path, key
        )
    return lon, lat


_DATUM_VERTICES = 400  # vertices of a zone tested for a datum shift (spread along its outline)


def restriction_coverage(city: City, scenario: Scenario, report: bool = True) -> list[dict[str, Any]]:
    """Read every restriction's zone and measure how much of the city's truck roads it covers.

    Reading the zones here, right after the city is loaded, makes a bad zone
    file an error before any solving. A restriction that covers no truck
    road binds nothing (a ban of another city, or a zone in the wrong CRS)
    and is reported as ``route.ban_unused``; a zone whose outline fits the
    truck roads markedly better in another Chinese datum is reported as
    ``route.zone_datum_suspect``, naming the ``crs:`` to declare.

    Parameters
    ----------
    city
        The loaded city (its drive graph is the truck road network).
    scenario
        The scenario (``restrictions``, ``base_dir``).
    report
        Issue the warnings (the KPI stage calls it again with False).

    Returns
    -------
    list of dict
        Per restriction, in scenario order: ``name``, ``truck_km`` (length of
        truck-road edges inside the zone or on its ways) and ``share`` of the
        truck network's length.
    """
    from netplan import diagnostics
    from netplan.coords import from_wgs84, suspect_datum

    if not scenario.restrictions:
        return []
    edges = city.drive.edges()
    lines = edges.geometry.to_numpy()
    lengths = shapely.length(lines)
    total = float(lengths.sum())
    osmids = edges["osmid"].to_numpy() if "osmid" in edges.columns else np.full(len(edges), None, dtype=object)
    out = []
    for i, r in enumerate(scenario.restrictions):
        key = f"restrictions[{i}].zone"
        covered = np.zeros(len(edges))
        zone = zone_geometry(r.zone.model_dump(), scenario.base_dir, key) if r.zone is not None else None
        if r.zone is not None and zone is not None and not zone.is_empty:  # zone is None when r.zone is
            local = gpd.GeoSeries([zone], crs=WGS84).to_crs(city.crs).iloc[0]
            hit = shapely.intersects(lines, local)
            covered[hit] = shapely.length(shapely.intersection(lines[hit], local))
            if report:
                _zone_datum(
                    zone,
                    r.zone.crs or _file_crs(r.zone, scenario) or "wgs84",
                    city,
                    r.name,
                    key,
                    suspect_datum,
                    from_wgs84,
                )
        if r.osm_ways:
            wanted = {int(w) for w in r.osm_ways}
            on_way = np.array(
                [
                    bool(wanted & {int(v) for v in (o if isinstance(o, (list, tuple, set)) else [o]) if v is not None})
                    for o in osmids
                ],
                dtype=bool,
            )
            covered[on_way] = lengths[on_way]
        km = float(covered.sum()) / 1000.0
        out.append({"name": r.name, "truck_km": km, "share": km * 1000.0 / total if total > 0 else 0.0})
        if report and km == 0.0:
            what = "its zone" if r.zone is not None else "its osm_ways"
            what += " and ways" if r.zone is not None and r.osm_ways else ""
            diagnostics.warn(
                "route",
                "route.ban_unused",
                f"restriction {r.name!r}: {what} cover none of the city's truck roads, so it binds "
                f"nothing; is it a ban of another city, or is {key}.crs wrong?",
                ids=[r.name],
            )
    return out


def _file_crs(zone: Any, scenario: Scenario) -> str | None:
    """The CRS written in a zone file, when the scenario declares none (for the datum test)."""
    if not zone.path:
        return None
    frame = gpd.read_file(scenario.resolve(zone.path), layer=zone.layer, engine="pyogrio", rows=1)
    return frame.crs.to_string() if frame.crs is not None else None


def _zone_datum(zone: shapely.Geometry, declared: str, city: City, name: str, key: str, suspect, from_wgs84) -> None:
    from netplan import diagnostics

    rings = [shapely.get_exterior_ring(p) for p in getattr(zone, "geoms", [zone]) if p.geom_type == "Polygon"]
    xy = np.vstack([shapely.get_coordinates(r) for r in rings]) if rings else np.empty((0, 2))
    if len(xy) > _DATUM_VERTICES:
        xy = xy[np.linspace(0, len(xy) - 1, _DATUM_VERTICES).round().astype(int)]
    try:
        raw_x, raw_y = from_wgs84(xy[:, 0], xy[:, 1], declared)
    except ValueError:
        return

    def distance(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return city.drive.snap(gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=WGS84), np.inf).snap_m

    found = suspect(np.asarray(raw_x), np.asarray(raw_y), declared, distance_m=distance)
    if found:
        datum, evidence = found
        diagnostics.warn(
            "route",
            "route.zone_datum_suspect",
            f"restriction {name!r}: {evidence.replace('the points', 'the zone outline')}; if the zone was "
            f"drawn on {_DATUM_SOURCE[datum]}, set {key}.crs: {datum}",
            ids=[name],
        )


_DATUM_SOURCE = {
    "gcj02": "AMap or Tencent maps (GCJ-02)",
    "bd09": "Baidu maps (BD-09)",
    "wgs84": "GPS or OpenStreetMap (WGS-84)",
}
